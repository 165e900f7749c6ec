// Deleting backups without breaking a chain: refuse when others depend on them, merge them into their
// only child, or cascade to the dependents; every removal runs through the crash-safe journal.
import type { Connection } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { scanCatalog, type CatalogScan } from '../catalog/scan';
import { dependents, findSet, type Catalog } from '../catalog/chains';
import { lockDomain } from '../shared/domain-lock';
import { PoolCache } from '../../pool/pool-layer';
import { isOwnMetadataCopy, volumesToDelete } from './ownership';
import { SetIndex } from './known-sets';
import { refuseLiveReads } from './live-guard';
import { refuseKeylessMerges, type EncryptedMerge } from './merge-keys';
import type { CatalogLinks, LiveCatalog } from './live-catalog';
import {
  findIntents,
  recoverIntents,
  remainingSet,
  rewrittenChild,
  runRemoval,
  type DiskMerge,
  type RecoveryReport,
  type RemovalStep,
} from './journal';

export type { DiskMerge, RecoveryReport, RemovalStep } from './journal';

const log = logger('delete');

/**
 * What to do with backups that depend on the one being deleted.
 * - `refuse`: fail with ERR_CONFLICT naming them (nothing is touched).
 * - `merge`: fold the deleted data into the only child of each deleted disk backup, which stays with
 *   the same content (a child of a deleted full becomes a full). Refused when a disk backup has more
 *   than one child.
 * - `cascade`: delete the dependents too.
 */
export type DependentsMode = 'refuse' | 'merge' | 'cascade';

export interface DeleteOptions {
  /** Backup set id, or a prefix of it that matches exactly one set. */
  setId: string;
  /** Disk targets (`vda`) whose backups in the set go; the whole set when absent or when all are named. */
  disks?: string[];
  dependents: DependentsMode;
  /** Plan only: nothing in any pool or domain changes. */
  dryRun?: boolean;
  /** Pools to look in; every active pool of a supported type when absent. */
  pools?: readonly string[];
  /** Directory of the per-domain job locks (tests use their own). */
  lockDir?: string;
}

export interface DeleteResult {
  /** The removals in execution order (a cascade: dependents first). */
  plan: RemovalStep[];
  /** What was removed (empty for a dry run). */
  removed: Array<{ setId: string; diskIds: string[]; wholeSet: boolean }>;
  /** Disk backups that absorbed a deleted parent (empty for a dry run). */
  merged: DiskMerge[];
  /** Interrupted removals of this domain that were finished first (absent for a dry run). */
  recovered?: RecoveryReport;
}

function conflict(message: string, hint?: string): VolbackError {
  return new VolbackError(ErrorCodes.CONFLICT, message, { fault: 'user', hint });
}

/** Resolves a set id or unique prefix (any case) among the catalogued sets. Pure. */
export function resolveSetId(catalog: Catalog, idOrPrefix: string): string {
  return findSet(catalog, idOrPrefix).set.id;
}

const byNewest =
  (catalog: CatalogLinks) =>
  (a: string, b: string): number =>
    catalog.sets.get(b)!.set.createdAt.getTime() - catalog.sets.get(a)!.set.createdAt.getTime() ||
    (a < b ? 1 : -1);

/**
 * Decides how to remove set `setId` (or the backups of some of its disks) under `mode`, without
 * touching anything. Returns the removals in a safe execution order (a cascade lists dependents
 * before what they stand on). Throws ERR_NOT_FOUND (set or disk), ERR_CONFLICT (dependents with
 * `refuse`; a disk backup with several children, or a set that is not restorable, with `merge`). Pure.
 */
export function planRemoval(
  catalog: CatalogLinks,
  setId: string,
  options: { disks?: readonly string[]; dependents: DependentsMode },
): RemovalStep[] {
  const node = catalog.sets.get(setId);
  if (!node)
    throw new VolbackError(ErrorCodes.NOT_FOUND, `backup set ${setId} is not in the catalog`, {
      fault: 'user',
    });
  const { set } = node;
  const targets = options.disks ?? set.disks.map((d) => d.target);
  for (const t of targets) {
    if (!set.disks.some((d) => d.target === t)) {
      throw new VolbackError(
        ErrorCodes.NOT_FOUND,
        `backup set ${setId} holds no backup of disk ${t} (it has ${set.disks.map((d) => d.target).join(', ')})`,
        {
          fault: 'user',
        },
      );
    }
  }
  const removeDisks = set.disks.filter((d) => targets.includes(d.target)).map((d) => d.id);
  const wholeSet = removeDisks.length === set.disks.length;
  const childDisks = (id: string): string[] => catalog.disks.get(id)?.childIds.slice() ?? [];
  const owner = (diskId: string): string => catalog.disks.get(diskId)!.setId;
  const target = (diskId: string): string => catalog.disks.get(diskId)!.disk.target;

  // Who depends on what goes: for a whole set every dependent set; for disks, the disk descendants.
  const directDiskChildren = removeDisks.flatMap(childDisks);
  const dependentSets = wholeSet
    ? dependents(catalog, setId).map((s) => s.id)
    : [...new Set(directDiskChildren.map(owner))];
  const single: RemovalStep = { setId, removeDisks, wholeSet, merges: [], reparent: [] };
  if (dependentSets.length === 0) return [single];

  if (options.dependents === 'refuse') {
    const what = wholeSet
      ? `backup set ${setId} has dependents ${dependentSets.join(', ')}`
      : `the backups of ${targets.join(', ')} in set ${setId} have dependents: ` +
        directDiskChildren.map((c) => `${c} (${target(c)}, set ${owner(c)})`).join(', ');
    throw conflict(
      what,
      "use dependents 'merge' to fold it into its child, or 'cascade' to delete the dependents too",
    );
  }

  if (options.dependents === 'cascade') {
    // Closure over disk descendants; a set that loses every disk goes whole, with all its dependents.
    const removing = new Map<string, Set<string>>([[setId, new Set(removeDisks)]]);
    const whole = new Set<string>(wholeSet ? [setId, ...dependentSets] : []);
    for (const id of whole) removing.set(id, new Set(catalog.sets.get(id)!.set.disks.map((d) => d.id)));
    const queue = [...removeDisks];
    while (queue.length > 0) {
      for (const child of childDisks(queue.shift()!)) {
        const s = owner(child);
        const disks = removing.get(s) ?? new Set<string>();
        if (disks.has(child)) continue;
        disks.add(child);
        removing.set(s, disks);
        queue.push(child);
        if (disks.size === catalog.sets.get(s)!.set.disks.length && !whole.has(s)) {
          for (const dep of [s, ...dependents(catalog, s).map((d) => d.id)]) {
            whole.add(dep);
            const all = catalog.sets.get(dep)!.set.disks.map((d) => d.id);
            const known = removing.get(dep) ?? new Set<string>();
            for (const d of all)
              if (!known.has(d)) {
                known.add(d);
                queue.push(d);
              }
            removing.set(dep, known);
          }
        }
      }
    }
    return [...removing.keys()].sort(byNewest(catalog)).map((id) => {
      const s = catalog.sets.get(id)!.set;
      const gone = removing.get(id)!;
      return {
        setId: id,
        removeDisks: s.disks.filter((d) => gone.has(d.id)).map((d) => d.id),
        wholeSet: whole.has(id) || gone.size === s.disks.length,
        merges: [],
        reparent: [],
      };
    });
  }

  // merge
  if (!node.restorable) {
    throw conflict(
      `backup set ${setId} is not restorable (${node.problems.map((p) => p.message).join('; ')}), so its data cannot be merged into its child`,
      "use dependents 'cascade', or repair the chain first",
    );
  }
  const merges: DiskMerge[] = [];
  for (const id of removeDisks) {
    const children = childDisks(id);
    if (children.length === 0) continue;
    if (children.length > 1) {
      throw conflict(
        `cannot merge the backup of ${target(id)} in set ${setId} into its child: it has ${children.length} child backups ` +
          `(${children.map((c) => `${c} in set ${owner(c)}`).join(', ')}); a merge needs exactly one child chain per disk`,
        "delete one branch first, or use dependents 'cascade'",
      );
    }
    const disk = catalog.disks.get(id)!;
    if (!disk.disk.volume || !catalog.disks.get(children[0])!.disk.volume) {
      throw conflict(
        `disk backup ${id} or its child ${children[0]} has no volume (external backup): nothing to merge`,
      );
    }
    merges.push({
      from: id,
      into: children[0],
      intoSet: owner(children[0]),
      ...(disk.parentId !== undefined ? { newParent: disk.parentId } : {}),
    });
  }
  const reparent = wholeSet ? node.childIds.filter((c) => !merges.some((m) => m.intoSet === c)) : [];
  return [{ ...single, merges, reparent }];
}

/**
 * The plan as it will run: each step with the data volumes it deletes and those it keeps because
 * volback cannot prove they are the set's own (ownership.ts). Pure.
 */
export function withVolumes(steps: readonly RemovalStep[], index: SetIndex): RemovalStep[] {
  const { claims } = index;
  return steps.map((step) => {
    const entry = index.get(step.setId);
    if (!entry) return step;
    const copies = entry.copies.filter((c) => isOwnMetadataCopy(entry.set, c));
    const { delete: volumes, kept } = volumesToDelete(entry.set, step.removeDisks, copies, claims);
    return { ...step, volumes, kept };
  });
}

export { SetIndex } from './known-sets';

/** Index of every set and its metadata copies, from a scan (one copy catalogued per set, as chains.ts). */
export function copyIndex(scan: CatalogScan): SetIndex {
  const index = new SetIndex();
  for (const s of scan.stored) {
    const entry = index.get(s.set.id);
    if (entry) entry.copies.push({ pool: s.pool, name: s.metadataVolume });
    else index.set(s.set.id, { set: s.set, copies: [{ pool: s.pool, name: s.metadataVolume }] });
  }
  return index;
}

/**
 * Runs removal steps in order against the live index (and `catalog`, when the caller plans more
 * removals on it), updating both after each one by what it changed: later steps see the sets
 * earlier ones rewrote, and no step costs a pass over every set. Returns the removed and merged parts.
 */
export async function executeSteps(
  conn: Connection,
  index: SetIndex,
  steps: readonly RemovalStep[],
  catalog?: LiveCatalog,
): Promise<Pick<DeleteResult, 'removed' | 'merged'>> {
  const pools = new PoolCache(conn);
  const removed: DeleteResult['removed'] = [];
  const merged: DiskMerge[] = [];
  try {
    await refuseLiveReads(pools, index, steps);
    await refuseUnmergeable(conn, pools, index, steps);
    for (const step of steps) {
      const written = await runRemoval(conn, pools, index, step);
      const original = index.get(step.setId)!.set;
      for (const id of new Set([...step.merges.map((m) => m.intoSet), ...step.reparent])) {
        const child = index.get(id)!;
        // As written: a merge also gave the child new checksum references.
        const set = written.get(id) ?? rewrittenChild(child.set, original, step);
        index.set(id, { ...child, set });
        catalog?.replace(set);
      }
      if (step.wholeSet) {
        index.delete(step.setId);
        catalog?.remove(step.setId);
      } else {
        const set = remainingSet(original, step);
        index.set(step.setId, { ...index.get(step.setId)!, set });
        catalog?.replace(set);
      }
      removed.push({ setId: step.setId, diskIds: step.removeDisks, wholeSet: step.wholeSet });
      merged.push(...step.merges);
    }
    return { removed, merged };
  } finally {
    pools.close();
  }
}

/**
 * Refuses, before any step runs, merges whose child volume's pool cannot rebase (a driver without
 * rebase, or one that cannot over this connection), and merges into an encrypted chain whose key
 * this host cannot give (merge-keys.ts): the journal would stop half way otherwise. Read-only: a
 * dry run asks it too.
 */
async function refuseUnmergeable(
  conn: Connection,
  pools: PoolCache,
  index: SetIndex,
  steps: readonly RemovalStep[],
): Promise<void> {
  const encrypted: EncryptedMerge[] = [];
  for (const merge of steps.flatMap((s) => s.merges)) {
    const into = index.get(merge.intoSet)?.set;
    const volume = into?.disks.find((d) => d.id === merge.into)?.volume;
    if (!volume) continue; // the journal proves each merge itself
    if (into?.encryption)
      encrypted.push({
        encryption: into.encryption,
        volume,
        label: `disk backup ${merge.from} into ${merge.into}`,
      });
    const pool = await pools.get(volume.pool);
    const refusal = pool.driver.rebase
      ? await pool.driver.rebaseRefusal?.(pool, into?.encryption !== undefined)
      : `pool type ${pool.type} cannot merge backups (no rebase)`;
    if (refusal)
      throw new VolbackError(
        ErrorCodes.POOL_UNSUPPORTED,
        `cannot merge disk backup ${merge.from} into ${merge.into} (volume ${volume.name} in pool '${pool.name}'): ${refusal}`,
        { fault: 'user', hint: 'nothing was changed' },
      );
  }
  await refuseKeylessMerges(conn, pools, encrypted);
}

/**
 * Deletes a backup set, or the backups of some of its disks, never breaking a chain (see
 * `DependentsMode`). Takes the domain's job lock, first finishes any removal of that domain a
 * killed process left half done, then runs each removal through the journal: a crash at any point
 * leaves no listed backup with wrong content, and the next delete, prune or `recoverInterrupted`
 * finishes it. Checkpoints of removed sets are deleted from the domain (when it still exists) with
 * their bitmaps merged into their parents'. `dryRun` returns the plan and changes nothing.
 * Throws ERR_NOT_FOUND, ERR_INVALID_INPUT (ambiguous prefix), ERR_CONFLICT (see `planRemoval`, or
 * another job holds the domain).
 */
export async function deleteBackup(conn: Connection, options: DeleteOptions): Promise<DeleteResult> {
  let scan = await scanCatalog(conn, { pools: options.pools });
  const setId = resolveSetId(scan.catalog, options.setId);
  const domainUuid = scan.catalog.sets.get(setId)!.set.domain.uuid;
  if (options.dryRun) {
    const index = copyIndex(scan);
    const plan = withVolumes(planRemoval(scan.catalog, setId, options), index);
    // A dry run says what the removal would do, and that includes refusing.
    const pools = new PoolCache(conn);
    try {
      await refuseLiveReads(pools, index, plan);
      await refuseUnmergeable(conn, pools, index, plan);
    } finally {
      pools.close();
    }
    return { plan, removed: [], merged: [] };
  }
  const lock = lockDomain(domainUuid, `delete of backup set ${setId}`, options.lockDir);
  try {
    const recovered = await recoverIntents(conn, { pools: options.pools, domainUuid });
    if (recovered.finished.length + recovered.rolledBack.length + recovered.droppedUnreadable.length > 0) {
      scan = await scanCatalog(conn, { pools: options.pools });
    }
    if (!scan.catalog.sets.has(setId)) {
      throw new VolbackError(
        ErrorCodes.NOT_FOUND,
        `backup set ${setId} was removed by the recovery of an interrupted delete`,
        {
          fault: 'user',
        },
      );
    }
    const plan = withVolumes(planRemoval(scan.catalog, setId, options), copyIndex(scan));
    const done = await executeSteps(conn, copyIndex(scan), plan);
    log.info(
      `deleted ${done.removed.length} backup set part(s) starting from ${setId}; ${done.merged.length} disk merge(s)`,
    );
    return { plan, ...done, recovered };
  } finally {
    lock.release();
  }
}

/**
 * Finishes (or drops, when they had not started) the removals that killed processes left half done,
 * taking each domain's job lock. Safe to run at any time; a removal that would now break a backup
 * is left as it is and reported in `unresolved`.
 */
export async function recoverInterrupted(
  conn: Connection,
  options: { pools?: readonly string[]; lockDir?: string } = {},
): Promise<RecoveryReport> {
  const { found } = await findIntents(conn, options.pools);
  const domains = [...new Set(found.map((f) => f.intent.domainUuid))];
  const total: RecoveryReport = {
    finished: [],
    rolledBack: [],
    unresolved: [],
    droppedUnreadable: [],
    unreadable: [],
  };
  // Unreadable intents belong to no known domain: dropped by the first pass (or by a pass of its own).
  for (const domainUuid of domains.length ? domains : [undefined]) {
    const lock = domainUuid
      ? lockDomain(domainUuid, 'recovery of interrupted deletes', options.lockDir)
      : undefined;
    try {
      const report = await recoverIntents(conn, { pools: options.pools, domainUuid });
      total.finished.push(...report.finished);
      total.rolledBack.push(...report.rolledBack);
      total.unresolved.push(...report.unresolved);
      total.droppedUnreadable.push(...report.droppedUnreadable);
      for (const u of report.unreadable)
        if (!total.unreadable.some((t) => t.pool === u.pool && t.name === u.name)) total.unreadable.push(u);
    } finally {
      lock?.release();
    }
  }
  return total;
}
