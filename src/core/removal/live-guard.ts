// A removal never takes a backup from under a live restore: a domain runs on layers over it until
// its copy finishes, and a merge would rewrite a volume QEMU holds open as a backing image.
import { ErrorCodes, VolbackError } from '../../errors';
import type { PoolCache } from '../../pool/pool-layer';
import { liveRestoresIn, type FoundLiveRestore, type UnreadableLiveRecord } from '../shared/live-records';
import type { SetIndex } from './known-sets';
import type { RemovalStep } from './journal';

/** The disk backups a step deletes or rewrites. Pure. */
const touched = (step: RemovalStep): string[] => [
  ...step.removeDisks,
  ...step.merges.flatMap((m) => [m.from, m.into]),
];

/**
 * Why `steps` must not run, or undefined: a step deletes or merges a disk backup a live restore
 * reads, or a record in the pools cannot be read (it may name one: refusing is the safe side). Pure.
 */
export function liveReadConflict(
  steps: readonly RemovalStep[],
  records: readonly FoundLiveRestore[],
  unreadable: readonly UnreadableLiveRecord[],
): { message: string; hint: string } | undefined {
  const bad = unreadable[0];
  if (bad && steps.length)
    return {
      message: `live restore record ${bad.volume} in pool '${bad.pool}' cannot be read (${bad.error}): it may name backups a running domain reads, so nothing is removed`,
      hint: `if no live restore is running from this pool, remove that volume (virsh vol-delete ${bad.volume} --pool ${bad.pool})`,
    };
  for (const step of steps) {
    const ids = new Set(touched(step));
    for (const { pool, volume, restore } of records) {
      const reader = restore.disks.find((d) => d.reads.some((r) => ids.has(r.diskId)));
      if (reader)
        return {
          message: `backup set ${step.setId} is read by the live restore of domain ${restore.domain} (disk ${reader.target}, started ${restore.startedAt} on ${restore.host}): it cannot be removed or merged until that restore has copied its disks`,
          hint: `see \`volback backup restore --status\`; the restore's record is ${volume} in pool '${pool}'`,
        };
    }
  }
  return undefined;
}

/**
 * Refuses (ERR_CONFLICT, before anything changes) removal steps a live restore recorded in the pools
 * of their sets stands against (`liveReadConflict`). Records of every host count: another host
 * sharing the pool may run a domain on these backups, and a record nobody signed still only stops
 * a removal.
 */
export async function refuseLiveReads(
  pools: PoolCache,
  index: SetIndex,
  steps: readonly RemovalStep[],
): Promise<void> {
  const names = new Set<string>();
  for (const step of steps)
    for (const id of [step.setId, ...step.merges.map((m) => m.intoSet)])
      for (const disk of index.get(id)?.set.disks ?? []) if (disk.volume) names.add(disk.volume.pool);
  const records: FoundLiveRestore[] = [];
  const unreadable: UnreadableLiveRecord[] = [];
  for (const name of names) {
    const read = await liveRestoresIn(await pools.get(name));
    records.push(...read.found);
    unreadable.push(...read.unreadable);
  }
  const conflict = liveReadConflict(steps, records, unreadable);
  if (conflict)
    throw new VolbackError(ErrorCodes.CONFLICT, conflict.message, { fault: 'user', hint: conflict.hint });
}
