// A removal never takes a backup from under a live restore: a domain runs on layers over it until
// its block pulls finish, and a merge would rewrite a volume QEMU holds open as a backing image.
import { ErrorCodes, VolbackError } from '../../errors';
import type { PoolCache } from '../../pool/pool-layer';
import { liveRestoresIn, type FoundLiveRestore } from '../shared/live-records';
import type { SetIndex } from './known-sets';
import type { RemovalStep } from './journal';

/** The disk backups a step deletes or rewrites. Pure. */
const touched = (step: RemovalStep): string[] => [
  ...step.removeDisks,
  ...step.merges.flatMap((m) => [m.from, m.into]),
];

/**
 * Refuses (ERR_CONFLICT, before anything changes) steps that delete or merge a disk backup a live
 * restore recorded in the pools reads, naming the domain. Records of every host count: another host
 * sharing the pool may run a domain on these backups, and a record nobody signed still only stops a
 * removal (the message names it, for an admin who knows it is stale).
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
  for (const name of names) records.push(...(await liveRestoresIn(await pools.get(name))));
  if (!records.length) return;
  for (const step of steps) {
    const ids = new Set(touched(step));
    for (const { pool, volume, restore } of records) {
      const reader = restore.disks.find((d) => d.reads.some((r) => ids.has(r.diskId)));
      if (!reader) continue;
      throw new VolbackError(
        ErrorCodes.CONFLICT,
        `backup set ${step.setId} is read by the live restore of domain ${restore.domain} (disk ${reader.target}, started ${restore.startedAt} on ${restore.host}): it cannot be removed or merged until that restore has copied its disks`,
        {
          fault: 'user',
          hint: `see \`volback backup restore --status\`; the restore's record is ${volume} in pool '${pool}'`,
        },
      );
    }
  }
}
