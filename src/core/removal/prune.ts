// Executes a retention policy for one domain: planPrune decides (retention.ts), this runs the plan's
// deletes and merges in its order through the same crash-safe removals as deleteBackup.
import type { Connection } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { scanCatalog, type CatalogScan } from '../catalog/scan';
import { copyIndex, executeSteps, planRemoval, type DiskMerge, type RecoveryReport } from './delete';
import { lockDomain } from '../shared/domain-lock';
import { recoverIntents } from './journal';
import { LiveCatalog } from './live-catalog';
import { planPrune, type PrunePlan, type PruneOptions } from './retention';
import { refuseKeylessMerges, type EncryptedMerge } from './merge-keys';
import type { SetIndex } from './known-sets';
import { PoolCache } from '../../pool/pool-layer';
import type { RetentionPolicy } from '../../model';

const log = logger('prune');

export interface PruneBackupsOptions extends PruneOptions {
  /** Domain name (as recorded in its backups) or UUID; the domain itself need not exist any more. */
  domain: string;
  policy: RetentionPolicy;
  /** Plan only: nothing in any pool or domain changes. */
  dryRun?: boolean;
  /** The time `keepWithin` counts back from; now when absent. */
  now?: Date;
  /** Pools to look in; every active pool of a supported type when absent. */
  pools?: readonly string[];
  /** Directory of the per-domain job locks (tests use their own). */
  lockDir?: string;
}

export interface ExecutedRemoval {
  setId: string;
  action: 'delete' | 'merge-into-child';
  /** For a merge: the disk backups that absorbed the set's data. */
  merged: DiskMerge[];
}

export interface PruneResult {
  plan: PrunePlan;
  /** Removals done, in order (empty for a dry run). */
  executed: ExecutedRemoval[];
  /** Interrupted removals of this domain that were finished first (absent for a dry run). */
  recovered?: RecoveryReport;
}

/** The UUID of the domain named `nameOrUuid` among the catalogued backups. Pure. */
export function resolveDomain(scan: CatalogScan, nameOrUuid: string): string {
  const lower = nameOrUuid.toLowerCase();
  if (scan.catalog.domains.has(lower)) return lower;
  const uuids = [
    ...new Set(scan.stored.filter((s) => s.set.domain.name === nameOrUuid).map((s) => s.set.domain.uuid)),
  ];
  if (uuids.length === 1) return uuids[0];
  if (uuids.length === 0) {
    throw new VolbackError(ErrorCodes.NOT_FOUND, `no backups of domain '${nameOrUuid}' were found`, {
      fault: 'user',
    });
  }
  throw new VolbackError(
    ErrorCodes.INVALID_INPUT,
    `backups of ${uuids.length} different domains are named '${nameOrUuid}': ${uuids.join(', ')}`,
    {
      fault: 'user',
      hint: 'give the domain UUID instead',
    },
  );
}

/**
 * Refuses the plan (naming the secret) when it merges into an encrypted chain whose key this host
 * cannot give (merge-keys.ts). Read-only.
 */
async function refuseKeylessPlan(conn: Connection, plan: PrunePlan, index: SetIndex): Promise<void> {
  const merges: EncryptedMerge[] = [];
  for (const removal of plan.remove) {
    const encryption = removal.set.encryption;
    if (removal.action !== 'merge-into-child' || !encryption) continue;
    for (const m of removal.diskMerges ?? []) {
      const volume = index.disk(m.into)?.volume;
      if (volume) merges.push({ encryption, volume, label: `disk backup ${m.from} into ${m.into}` });
    }
  }
  if (!merges.length) return;
  const pools = new PoolCache(conn);
  try {
    await refuseKeylessMerges(conn, pools, merges);
  } finally {
    pools.close();
  }
}

const domainSets = (scan: CatalogScan, uuid: string) =>
  [...scan.catalog.sets.values()].filter((e) => e.set.domain.uuid === uuid).map((e) => e.set);

/**
 * Applies a retention policy to the backups of one domain. The plan comes from `planPrune`
 * (docs/retention.md); its removals run in the plan's order (every set after its descendants), each
 * through the crash-safe removal of deleteBackup, so a run stopped at any point leaves only
 * restorable chains and the next run finishes the removal in progress. Checkpoints of removed sets
 * are deleted from the domain when it still exists. `dryRun` returns the plan and changes nothing.
 * Throws ERR_INVALID_INPUT (policy), ERR_NOT_FOUND (domain), ERR_CONFLICT (the plan would remove
 * every backup, or another job holds the domain).
 */
export async function pruneBackups(conn: Connection, options: PruneBackupsOptions): Promise<PruneResult> {
  const now = options.now ?? new Date();
  let scan = await scanCatalog(conn, { pools: options.pools });
  const uuid = resolveDomain(scan, options.domain);
  const planOptions: PruneOptions = { merge: options.merge, allowRemoveAll: options.allowRemoveAll };
  if (options.dryRun) {
    const plan = planPrune(domainSets(scan, uuid), options.policy, now, planOptions);
    // A dry run says what the prune would do, and that includes refusing.
    await refuseKeylessPlan(conn, plan, copyIndex(scan));
    return { plan, executed: [] };
  }

  const lock = lockDomain(uuid, `prune of the backups of ${options.domain}`, options.lockDir);
  try {
    const recovered = await recoverIntents(conn, { pools: options.pools, domainUuid: uuid });
    if (recovered.finished.length + recovered.rolledBack.length + recovered.droppedUnreadable.length > 0) {
      scan = await scanCatalog(conn, { pools: options.pools });
    }
    const plan = planPrune(domainSets(scan, uuid), options.policy, now, planOptions);
    // One catalog read for the whole prune: later removals plan on the links earlier ones left.
    const index = copyIndex(scan);
    // Before the first removal: a merge the key is missing for would stop the prune half way.
    await refuseKeylessPlan(conn, plan, index);
    const catalog = new LiveCatalog(scan.catalog);
    const executed: ExecutedRemoval[] = [];
    for (const removal of plan.remove) {
      // Planned against the sets as earlier removals left them: a merge's child is then its direct child.
      const steps = planRemoval(catalog, removal.set.id, {
        dependents: removal.action === 'delete' ? 'refuse' : 'merge',
      });
      const expected = removal.diskMerges ?? [];
      const got = steps.flatMap((s) => s.merges);
      if (!expected.every((e) => got.some((g) => g.from === e.from && g.into === e.into))) {
        throw new VolbackError(
          ErrorCodes.CHAIN_BROKEN,
          `prune planned to merge ${removal.set.id} into ${removal.into}, but the chain now differs; nothing more was removed`,
        );
      }
      const done = await executeSteps(conn, index, steps, catalog);
      executed.push({ setId: removal.set.id, action: removal.action, merged: done.merged });
      log.info(`prune ${options.domain}: ${removal.action} ${removal.set.id} (${removal.reason})`);
    }
    return { plan, executed, recovered };
  } finally {
    lock.release();
  }
}
