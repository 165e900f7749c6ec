// What an incremental builds on: the one chooser of a base set for push and pull backups, and the
// base's chain. Pure.
import { ErrorCodes, VolbackError } from '../../errors';
import type { BackupDefinition, BackupSet } from '../../model';

/** A set as the catalog judged it. */
export interface BaseCandidate {
  set: BackupSet;
  restorable: boolean;
  problems?: ReadonlyArray<{ message: string }>;
}

/**
 * What a base must give: `volumes` (a push incremental stands on the base's data volumes, so the base
 * is a restorable push set) or `checkpoint` (a pull incremental only needs the base's checkpoint, so
 * push and external sets both serve).
 */
export type BaseNeed = 'volumes' | 'checkpoint';

/**
 * The set an incremental builds on: the definition's named set, or with `latest` (the default) the
 * domain's newest restorable set with a checkpoint that serves `need`. None for a full. A named set
 * that does not exist for this domain is ERR_NOT_FOUND; one that cannot serve is ERR_CHAIN_BROKEN.
 */
export function chooseBase(
  sets: readonly BaseCandidate[],
  uuid: string,
  definition: BackupDefinition,
  need: BaseNeed,
): BackupSet | undefined {
  if (definition.kind === 'full') return undefined;
  const from = definition.incrementalFrom;
  if (from && from !== 'latest') {
    const entry = sets.find((e) => e.set.id === from);
    if (!entry || entry.set.domain.uuid !== uuid) {
      throw new VolbackError(
        ErrorCodes.NOT_FOUND,
        `backup set ${from} of this domain was not found in any active pool`,
        {
          fault: 'user',
        },
      );
    }
    if (need === 'volumes' && entry.set.state === 'external') {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `backup set ${from} is an external (pull-mode) backup: its data is not in a pool, so a push incremental cannot build on it`,
        { fault: 'user', hint: "name a push backup set, or use 'latest'" },
      );
    }
    if (need === 'volumes' && !entry.restorable) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `backup set ${from} is not restorable: ${(entry.problems ?? []).map((p) => p.message).join('; ')}`,
        { fault: 'user' },
      );
    }
    if (need === 'checkpoint' && !entry.set.checkpoint) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `backup set ${from} recorded no checkpoint: an incremental cannot start from it`,
        { fault: 'user' },
      );
    }
    return entry.set;
  }
  const serves = (set: BackupSet): boolean =>
    set.state === 'complete' || (need === 'checkpoint' && set.state === 'external');
  return sets
    .filter((e) => e.restorable && e.set.domain.uuid === uuid && serves(e.set) && e.set.checkpoint)
    .map((e) => e.set)
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
}

/** The chain of `set` from its full to itself, through the sets `byId` knows. */
export function ancestry(byId: ReadonlyMap<string, { set: BackupSet }>, set: BackupSet): BackupSet[] {
  const chain: BackupSet[] = [];
  for (let current: BackupSet | undefined = set; current;) {
    chain.unshift(current);
    current = current.parentId ? byId.get(current.parentId)?.set : undefined;
  }
  return chain;
}
