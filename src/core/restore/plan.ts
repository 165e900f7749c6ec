// Pure decisions of a restore: which set (id or unique prefix), which disks, which domain disks to drop.
import { ErrorCodes, VolbackError } from '../../errors';
import type { BackupSet, DiskBackup } from '../../model';
import type { DomainDisk } from '../../xml/libvirt-domain';
import { findSet, isOnlyDamage, restorePath, type Catalog, type CatalogSet } from '../catalog/chains';

/**
 * The catalogued set whose id is `idOrPrefix` or starts with it (see findSet), which must be
 * restorable: ERR_CHAIN_BROKEN (with the catalog's reasons) otherwise. A set whose only problems are
 * recorded damage (its own or an ancestor's) is returned: the restore checks what it reads against
 * the checksums and refuses only if that is damaged.
 */
export function findRestorableSet(catalog: Catalog, idOrPrefix: string): CatalogSet {
  const entry = findSet(catalog, idOrPrefix);
  if (!entry.restorable && !isOnlyDamage(entry.problems)) {
    const why = entry.problems.map((p) => p.message);
    throw new VolbackError(
      ErrorCodes.CHAIN_BROKEN,
      `backup set ${entry.set.id} cannot be restored: ${why.length ? why.join('; ') : 'an ancestor is not restorable'}`,
      { fault: 'user', hint: 'see `volback backup show <id>`' },
    );
  }
  return entry;
}

/** One disk to restore: the asked-for disk backup and its chain, full first. */
export interface DiskToRestore {
  disk: DiskBackup;
  chain: DiskBackup[];
}

/**
 * The disks of `set` to restore (all when `targets` is absent, in the set's order), each with its
 * chain. Throws ERR_INVALID_INPUT for an empty or repeated selection, ERR_NOT_FOUND for a target the
 * set does not hold, ERR_CHAIN_BROKEN for a disk without a data volume or with a broken chain.
 */
export function selectDisks(catalog: Catalog, set: BackupSet, targets?: readonly string[]): DiskToRestore[] {
  if (targets !== undefined) {
    if (targets.length === 0) {
      throw new VolbackError(ErrorCodes.INVALID_INPUT, 'no disk selected to restore', { fault: 'user' });
    }
    const repeated = targets.find((t, i) => targets.indexOf(t) !== i);
    if (repeated) {
      throw new VolbackError(ErrorCodes.INVALID_INPUT, `disk ${repeated} is selected twice`, {
        fault: 'user',
      });
    }
    for (const target of targets) {
      if (!set.disks.some((d) => d.target === target)) {
        throw new VolbackError(
          ErrorCodes.NOT_FOUND,
          `backup set ${set.id} holds no backup of disk ${target} (it has ${set.disks.map((d) => d.target).join(', ')})`,
          { fault: 'user' },
        );
      }
    }
  }
  const chosen = targets ? set.disks.filter((d) => targets.includes(d.target)) : set.disks;
  return chosen.map((disk) => {
    const chain = restorePath(catalog, disk.id);
    const external = chain.find((d) => !d.volume);
    if (external) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `disk ${disk.target} of backup set ${set.id} cannot be restored from the pools: disk backup ${external.id} was external (its data is not in a pool)`,
        { fault: 'user' },
      );
    }
    return { disk, chain };
  });
}

/**
 * Upper bound of the bytes a flattened copy of `chain` allocates: the data every layer holds,
 * capped at the virtual size. Used to check room in the target pool before creating anything.
 */
export function restoreSizeEstimate(chain: readonly DiskBackup[]): number {
  const top = chain[chain.length - 1];
  const data = chain.reduce((sum, d) => sum + d.bytesCopied, 0);
  return Math.min(top.virtualSize, data);
}

/**
 * Disks of the stored domain XML to drop when defining the restored domain: every hard disk
 * (`disk`, `lun`) that was not restored. CD-ROMs and floppies stay: their media is not VM data.
 */
export function disksToDrop(domainDisks: readonly DomainDisk[], restored: readonly string[]): string[] {
  return domainDisks
    .filter((d) => (d.device === 'disk' || d.device === 'lun') && !restored.includes(d.target))
    .map((d) => d.target);
}

/** libvirt's name of a `virDomainState` value, for messages. */
export function domainStateName(state: number): string {
  return (
    ['no state', 'running', 'blocked', 'paused', 'shutting down', 'shut off', 'crashed', 'suspended (pm)'][
      state
    ] ?? `state ${state}`
  );
}
