// What every restore shares: its options and results, the backup image it copies from, progress
// and cancel.
import { isLibvirtNotFound, type Domain } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import type { BackupEncryption, BackupSet, SecretRef, VolumeFormat } from '../../model';
import { findVolume, type PoolCache } from '../../pool/pool-layer';
import type { ImageRef } from '../../tools/qemu-img';
import type { RestoreAllowance, RestorePolicyResult } from '../../xml/restore-policy';
import { findRestorableSet, selectDisks, type DiskToRestore } from './plan';
import {
  checkView,
  closeChain,
  describeFinding,
  openChainState,
  type ChainState,
  type DamageFinding,
} from '../shared/checksums';
import type { ChainKey, VolumeReader } from '../../pool/driver';
import { openSetKey } from '../shared/encryption';
import { scanCatalog, type CatalogScan } from '../catalog/scan';
import { setOfDisk, type CatalogSet } from '../catalog/chains';
import { metadataCopies, recordDamage } from '../catalog/damage';
import type { Connection } from '../../libvirt';
import type { LiveRestoreState } from './live';

/**
 * What a restore restores, from a fresh scan of the pools: the set (restorable, or ERR_NOT_FOUND /
 * ERR_CHAIN_BROKEN), its disks to restore, and the damage policy the checks report to.
 */
export async function chooseRestore(
  conn: Connection,
  options: Pick<RestoreOptions, 'scanPools' | 'setId' | 'disks' | 'ignoreDamage'>,
): Promise<{ set: BackupSet; items: DiskToRestore[]; damage: DamagePolicy }> {
  const scan = await scanCatalog(conn, { pools: options.scanPools });
  const entry = findRestorableSet(scan.catalog, options.setId);
  const items = selectDisks(scan.catalog, entry.set, options.disks);
  return {
    set: entry.set,
    items,
    damage: new DamagePolicy(conn, scan, entry, options.ignoreDamage ?? false),
  };
}

/**
 * How one restore treats damage: it collects what the checks find, records it in the pools (as a
 * verify would), and refuses (ERR_DAMAGED) unless `ignoreDamage`.
 */
export class DamagePolicy implements RestoreChecks {
  readonly damage: DamageFinding[] = [];
  readonly notes: string[] = [];

  private readonly setId: string;

  /** Notes what the catalog recorded against `entry` (the set restored) before the restore began. */
  constructor(
    private readonly conn: Connection,
    private readonly scan: CatalogScan,
    entry: CatalogSet,
    readonly ignore: boolean,
  ) {
    this.setId = entry.set.id;
    for (const p of entry.problems)
      if (p.kind === 'damaged' || p.kind === 'damaged-ancestor')
        this.notes.push(`recorded before this restore: ${p.message}`);
  }

  /** The set a disk backup of the chain belongs to. */
  get setOf(): (diskBackupId: string) => string {
    return setOfDisk(this.scan.catalog);
  }

  /**
   * Takes findings of one disk: recorded in the pools, then either kept (ignoreDamage) or thrown as
   * ERR_DAMAGED naming every damaged range (the caller's undo then removes what the restore made).
   */
  async found(target: string, findings: readonly DamageFinding[]): Promise<void> {
    if (!findings.length) return;
    // Added to what the pools already record of the set (another disk's findings, an earlier verify's).
    await recordDamage(this.conn, metadataCopies(this.scan), findings, 'restore');
    if (this.ignore) {
      this.damage.push(...findings);
      return;
    }
    throw new VolbackError(
      ErrorCodes.DAMAGED,
      `restore of backup ${this.setId} refused: disk ${target} would get damaged data:\n` +
        findings.map((f) => `  ${describeFinding(f)}`).join('\n'),
      {
        hint: 'check the set with `volback backup verify <set> --deep`; --ignore-damage (ignoreDamage) restores anyway and lists the damaged ranges',
      },
    );
  }
}

/** Progress of one disk's copy; `bytesTotal` is the disk's virtual size. */
export interface RestoreProgress {
  target: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface RestoreOptions {
  /** Backup set id, or a unique prefix of it. Any set of a chain (full or incremental). */
  setId: string;
  /** Disk targets to restore (`vda`, ...); every disk of the set when absent. */
  disks?: string[];
  /** Pool for the new volumes (active, of a supported type); default: the pool each disk's backup is in. */
  pool?: string;
  /**
   * The host the new volumes go to (restoreDomain: and the domain), when it is another than the one
   * the backups are read from: the guest bytes stream between the two connections, into raw
   * volumes. Default: the backups' own connection. Not with `overwrite`.
   */
  targetConnection?: Connection;
  /**
   * Format of the new volumes; default: what the target pool's driver prefers (qcow2 in dir pools).
   * Ignored with `overwrite` (the disk keeps its format).
   */
  format?: VolumeFormat;
  /**
   * Make the new volumes LUKS-encrypted qcow2 with the passphrase of this libvirt secret (by UUID or
   * volume usage id), whether the backup is encrypted or plain (docs/encryption.md). Only into pools
   * whose driver declares `encryptedVolumes`, copied by qemu-img on this host; not with `overwrite`
   * or `live`. A secret this host cannot give is refused before anything is created.
   */
  encryptTarget?: SecretRef;
  /** Names of the new volumes per disk target; default `<domain>.<disk>.restored-<UTC time>.<format>`. */
  volumeNames?: Record<string, string>;
  /**
   * Write over the domain's current disk volumes instead of creating new ones. The domain must exist
   * and be shut off; its volback checkpoints (and their bitmaps) are deleted first, so its next
   * backup is a full one.
   */
  overwrite?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: RestoreProgress) => void;
  /** Directory of the per-domain job locks (taken with `overwrite`; tests use their own). */
  lockDir?: string;
  /** Pools to look for the set in (all the pools of its chain); every active pool when absent. */
  scanPools?: readonly string[];
  /**
   * Finish a restore whose data does not match its checksums (docs/architecture.md, "Checksums"):
   * the damaged ranges are listed in the result instead of the restore being refused and undone.
   */
  ignoreDamage?: boolean;
}

/** One restored disk. With `overwrite`, `pool` and `volume` are '' when the disk is a file outside any pool. */
export interface RestoredVolume {
  target: string;
  pool: string;
  volume: string;
  path: string;
  format: VolumeFormat;
  /** The volume is encrypted (`encryptTarget`) with the passphrase of this secret. */
  encryption?: BackupEncryption;
}

/** What a restore's checksum checks found (docs/architecture.md, "Checksums"). */
export interface RestoreChecks {
  /** Damaged ranges restored anyway (only with `ignoreDamage`; otherwise the restore is refused). */
  damage: DamageFinding[];
  /** What could not be checked, and recorded damage the restore did not meet. */
  notes: string[];
}

export interface RestoreResult extends RestoreChecks {
  /** The backup set restored (the full id, also when a prefix was given). */
  setId: string;
  volumes: RestoredVolume[];
}

export interface RestoreDomainOptions extends Omit<RestoreOptions, 'overwrite'> {
  /** Name of the restored domain; default the name stored with the backup. */
  name?: string;
  /** Give the domain a new UUID (and new interface MACs): a clone beside the original. */
  newUuid?: boolean;
  /**
   * Replace an existing domain with the same name (or, without `newUuid`, the same UUID): it is
   * undefined first (its disks are kept). Only a shut-off domain is replaced.
   */
  replace?: boolean;
  /** Start the domain once it is defined. */
  start?: boolean;
  /**
   * What the stored XML may keep of its old host (files, devices, programs, network, labels): none by
   * default. Anything it has that needs an allowance not given refuses the restore before anything
   * is created, unless `dropRefused`. docs/restore.md, "What a restored domain keeps".
   */
  allow?: readonly RestoreAllowance[];
  /** Drop what would need an allowance instead of refusing. */
  dropRefused?: boolean;
  /**
   * Live restore (docs/live-restore.md): each disk's new volume is a copy-on-write layer over the
   * backup, the domain starts on them at once (`start` is implied) and libvirt's block pulls copy the
   * rest while it runs. The call returns when the pulls are started; `finishLiveRestores` (with the
   * result's `live.id`) waits for them or, after a crash, resumes them.
   */
  live?: boolean;
  /** Live restore: bytes per second each disk's pull may copy; absent or 0 for no limit. */
  liveBandwidth?: number;
}

export interface RestoreDomainResult extends RestoreChecks {
  name: string;
  uuid: string;
  setId: string;
  volumes: RestoredVolume[];
  /** What the restore policy changed, dropped or kept of the stored XML, and what the admin must know. */
  policy: Omit<RestorePolicyResult, 'xml' | 'needsFlag'>;
  /** A live restore: its id (for finishLiveRestores) and where each disk's copy stands. */
  live?: LiveRestoreState;
}

/** The domain a lookup finds, or undefined when there is none. */
export async function findDomain(lookup: () => Promise<Domain>): Promise<Domain | undefined> {
  try {
    return await lookup();
  } catch (err) {
    if (isLibvirtNotFound(err)) return undefined;
    throw err;
  }
}

/** The image of the asked-for backup (qemu-img follows its backing chain); checks every layer exists. */
export async function openChain(pools: PoolCache, item: DiskToRestore, key?: ChainKey): Promise<ImageRef> {
  let top: ImageRef | undefined;
  for (const layer of item.chain) {
    const where = layer.volume!;
    const pool = await pools.get(where.pool).catch((err: unknown) => {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `cannot restore ${item.disk.target}: pool '${where.pool}' of disk backup ${layer.id} is not usable`,
        {
          fault: 'user',
          cause: err,
        },
      );
    });
    const volume = await findVolume(pool, where.name);
    if (!volume) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `cannot restore ${item.disk.target}: data volume ${where.name} of disk backup ${layer.id} is missing from pool '${where.pool}'`,
        { fault: 'user' },
      );
    }
    try {
      if (layer === item.disk) top = await pool.driver.image(pool, volume, key);
    } finally {
      volume.free();
    }
  }
  return top!;
}

export function progressReporter(
  options: RestoreOptions,
  target: string,
  total: number,
): (fraction: number) => void {
  return (fraction) =>
    options.onProgress?.({ target, bytesDone: Math.round(fraction * total), bytesTotal: total });
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new VolbackError(ErrorCodes.CANCELLED, 'restore cancelled', { fault: 'user' });
}

/**
 * Refuses a chain whose layers are unsound or do not stand on each other as the metadata says (a
 * header another tool rewrote could name any file of the host as backing): before any byte is copied.
 */
async function checkLayers(item: DiskToRestore, chain: ChainState): Promise<void> {
  for (const [i, layer] of chain.layers.entries()) {
    const parent = i > 0 ? chain.layers[i - 1].volume : undefined;
    const problems = await layer.pool.driver.checkLayer(layer.pool, layer.volume, parent, chain.key);
    if (problems.length) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `cannot restore ${item.disk.target}: volume ${layer.disk.volume!.name} in pool '${layer.pool.name}' is not a sound layer of its chain: ${problems.join('; ')}`,
        { fault: 'user', hint: 'see `volback backup verify` of the set' },
      );
    }
  }
}

/**
 * Opens the chain of `item` for checking: damage its layers show before any data is read (a checksum
 * document not as recorded, data no checksum lists) goes to `damage` (which refuses unless told to
 * ignore it), and a chain without checksums is noted. The caller closes it (`closeChain`).
 */
export async function openCheckedChain(
  pools: PoolCache,
  item: DiskToRestore,
  damage: DamagePolicy,
  key?: ChainKey,
): Promise<ChainState> {
  const chain = await openChainState(pools, item.chain, damage.setOf, key);
  try {
    await checkLayers(item, chain);
    await damage.found(item.disk.target, chain.findings);
  } catch (err) {
    closeChain(chain.layers);
    throw err;
  }
  if (chain.extentSize === undefined)
    damage.notes.push(
      `disk ${item.disk.target}: no checksums (taken before volback recorded them): restored unchecked`,
    );
  return chain;
}

/**
 * Reads every extent of `reader` (the backup's view, or with `copyOf` a restored copy of it) and
 * hands what differs from the checksums to `damage`; extents from layers without checksums are noted.
 */
export async function checkReadData(
  reader: VolumeReader,
  chain: ChainState,
  target: string,
  damage: DamagePolicy,
  options: { signal?: AbortSignal; copyOf?: string },
): Promise<void> {
  if (chain.extentSize === undefined) return;
  const checked = await checkView(reader, chain, options);
  if (checked.unchecked)
    damage.notes.push(
      `disk ${target}: ${checked.unchecked} of ${checked.extents} extents come from layers without checksums: restored unchecked`,
    );
  await damage.found(target, checked.findings);
}

/**
 * The key of an encrypted set (docs/encryption.md), read from the secret its metadata names and
 * checked to unlock the first disk's chain, before any volume is created; undefined for a plain set.
 * The caller wipes it (wipeKey) when the restore is done.
 */
export async function openRestoreKey(
  pools: PoolCache,
  set: BackupSet,
  items: readonly DiskToRestore[],
): Promise<ChainKey | undefined> {
  if (!set.encryption || !items.length) return undefined;
  const where = items[0].disk.volume!;
  const pool = await pools.get(where.pool);
  const volume = await findVolume(pool, where.name);
  try {
    return await openSetKey(
      pool.conn,
      set.encryption,
      `cannot restore encrypted backup ${set.id}`,
      volume ? { pool, volume } : undefined,
    );
  } finally {
    volume?.free();
  }
}
