// Crash-safe removal of backup sets and disk backups: an intent journal kept in the pool, one step runner
// that finishes a removal from its intent, and recovery of removals a killed process left half done.
// The design (why each step is where it is) is in docs/delete-and-prune.md.
import { isLibvirtNotFound, type Connection } from '../../libvirt';
import { ErrorCodes, isVolbackError, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupSet, DiskBackup } from '../../model';
import {
  closePools,
  deleteVolumeIfPresent,
  findVolume,
  getVolume,
  openActivePools,
  PoolCache,
} from '../../pool/pool-layer';
import type { ChainKey } from '../../pool/driver';
import { METADATA_VOLUME_SUFFIX } from '../../pool/volume-names';
import { formatBackupSet, parseBackupSet } from '../../xml';
import { scanCatalog } from '../catalog/scan';
import { buildCatalog, type Catalog } from '../catalog/chains';
import { removeCheckpoint } from '../shared/checkpoints';
import { CutShortDocument, readDocuments, writeDocument } from '../../pool/documents';
import { damageVolumeName } from '../catalog/damage';
import { replaceCheckpointParent } from '../../xml/libvirt-backup';
import { mergedChecksums, removedChecksumDocuments } from '../shared/checksum-removal';
import { crashPoint } from '../../crash-point';
import { knownSets, type KnownSets, type SetIndex } from './known-sets';
import { openMergeKeys, wipeMergeKeys } from './merge-keys';
import {
  isOwnMetadataCopy,
  withClaimsOf,
  proveDataVolume,
  volumesToDelete,
  type KeptVolume,
  type VolumeRef,
} from './ownership';

const log = logger('journal');

export type { VolumeRef } from './ownership';

/** One disk backup that absorbs the data of a removed parent. */
export interface DiskMerge {
  /** The removed disk backup. */
  from: string;
  /** Its only child disk backup, which stays. */
  into: string;
  /** The set holding `into`. */
  intoSet: string;
  /** The parent of `from`, which `into` stands on afterwards; absent: `into` becomes a full. */
  newParent?: string;
}

/**
 * What one removal does to one set, decided before anything is touched (pure data; see `planRemoval`
 * in delete.ts). Steps of a cascade are separate removals, run leaves first.
 */
export interface RemovalStep {
  setId: string;
  /** Disk backups of the set that go. All of them: the whole set goes (metadata and checkpoint too). */
  removeDisks: string[];
  wholeSet: boolean;
  /** Disk backups whose data moves into their only child before they go. */
  merges: DiskMerge[];
  /** Child sets that stay; when the whole set goes they stand on its parent (or become fulls). */
  reparent: string[];
  /**
   * The data volumes it deletes, and those it keeps because volback cannot prove they are the set's
   * own (ownership.ts) — what a plan shows. The removal itself decides again from the documents.
   */
  volumes?: VolumeRef[];
  kept?: KeptVolume[];
}

/** The journal record of a removal, stored next to every metadata copy of the removed set. */
export interface RemovalIntent {
  format: 'volback-removal-intent';
  version: 1;
  startedAt: string;
  domainUuid: string;
  step: RemovalStep;
  /** The removed set's document before the removal, and where its copies live. */
  set: { xml: string; copies: VolumeRef[] };
  /** Every set whose metadata the removal rewrites (children), as it was before, and its copies. */
  rewrites: Array<{ setId: string; xml: string; copies: VolumeRef[] }>;
  /** Data volumes of the merges: the child's volume and its new backing (absent: none). */
  rebases: Array<{ volume: VolumeRef; newBacking?: VolumeRef }>;
}

/** Names of the points a removal passes; `VOLBACK_TEST_CRASH_AT` may name one (see `crashPoint`). */
export const REMOVAL_STEPS = [
  'intent',
  'mark',
  'rebase',
  'children',
  'checkpoint',
  'volumes',
  'metadata',
  'done',
] as const;
export type RemovalStepName = (typeof REMOVAL_STEPS)[number];

export const INTENT_VOLUME_SUFFIX = '.volback-intent.json';

/** The intent volume of a set stored in `metadataVolume`: same name, another suffix the catalog ignores. Pure. */
export function intentVolumeName(metadataVolume: string): string {
  if (!metadataVolume.endsWith(METADATA_VOLUME_SUFFIX)) {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `${metadataVolume} is not a metadata volume name`);
  }
  return metadataVolume.slice(0, -METADATA_VOLUME_SUFFIX.length) + INTENT_VOLUME_SUFFIX;
}

const isRef = (v: unknown): v is VolumeRef =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as VolumeRef).pool === 'string' &&
  typeof (v as VolumeRef).name === 'string';
const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Reads an intent document; anything cut short or malformed is an error (the caller drops it). Pure. */
export function parseIntent(text: string, source: string): RemovalIntent {
  const bad = (why: string): VolbackError =>
    new VolbackError(ErrorCodes.XML_INVALID, `${source}: not a removal intent (${why})`);
  let doc: RemovalIntent;
  try {
    doc = JSON.parse(text) as RemovalIntent;
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (doc?.format !== 'volback-removal-intent' || doc.version !== 1) throw bad('unknown format or version');
  const s = doc.step;
  if (
    typeof doc.domainUuid !== 'string' ||
    typeof doc.startedAt !== 'string' ||
    typeof s?.setId !== 'string' ||
    typeof s.wholeSet !== 'boolean' ||
    !isStringArray(s.removeDisks) ||
    !isStringArray(s.reparent) ||
    !Array.isArray(s.merges) ||
    !s.merges.every(
      (m) => typeof m.from === 'string' && typeof m.into === 'string' && typeof m.intoSet === 'string',
    ) ||
    typeof doc.set?.xml !== 'string' ||
    !Array.isArray(doc.set.copies) ||
    !doc.set.copies.every(isRef) ||
    !Array.isArray(doc.rewrites) ||
    !doc.rewrites.every(
      (r) => typeof r.setId === 'string' && typeof r.xml === 'string' && r.copies.every(isRef),
    ) ||
    !Array.isArray(doc.rebases) ||
    !doc.rebases.every((r) => isRef(r.volume) && (r.newBacking === undefined || isRef(r.newBacking)))
  ) {
    throw bad('missing or mistyped fields');
  }
  return doc;
}

/** The removed set while the removal runs: not restorable (the catalog reports it `incomplete`). Pure. */
export function markedSet(set: BackupSet, step: RemovalStep): BackupSet {
  return { ...set, state: step.merges.length > 0 ? 'merging' : 'deleting' };
}

/** The set after a removal of some of its disks: the others, in the state it had before. Pure. */
export function remainingSet(set: BackupSet, step: RemovalStep): BackupSet {
  const gone = new Set(step.removeDisks);
  return { ...set, disks: set.disks.filter((d) => !gone.has(d.id)) };
}

/**
 * A child set after the removal of (part of) `removed`: each disk that stood on a removed disk
 * backup stands on that one's parent (or becomes a full); when the whole set goes, the child stands
 * on its parent (a child of a removed full becomes a full), and its checkpoint's recorded parent is
 * the removed checkpoint's parent, as libvirt re-parents it. Applying it twice changes nothing. Pure.
 */
export function rewrittenChild(child: BackupSet, removed: BackupSet, step: RemovalStep): BackupSet {
  const gone = new Set(step.removeDisks);
  const disks = child.disks.map((d): DiskBackup => {
    if (d.kind === 'full' || d.parentId === undefined || !gone.has(d.parentId)) return d;
    const merge = step.merges.find((m) => m.into === d.id);
    if (!merge) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `disk backup ${d.id} of set ${child.id} stands on removed ${d.parentId} and is not merged`,
      );
    }
    const { parentId: _old, ...rest } = d;
    return merge.newParent === undefined
      ? { ...rest, kind: 'full' }
      : { ...rest, kind: 'incremental', parentId: merge.newParent };
  });
  const out: BackupSet = { ...child, disks };
  if (step.wholeSet && child.parentId === removed.id) {
    if (removed.kind === 'full' || removed.parentId === undefined) {
      delete out.parentId;
      out.kind = 'full';
    } else {
      out.parentId = removed.parentId;
    }
    if (out.kind === 'full' && disks.some((d) => d.kind !== 'full')) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `set ${child.id} would become a full but still has incremental disks`,
      );
    }
    if (removed.checkpoint && child.checkpoint?.parent === removed.checkpoint.name) {
      const to = removed.checkpoint.parent;
      const { parent: _p, ...checkpoint } = child.checkpoint;
      out.checkpoint = {
        ...checkpoint,
        ...(to === undefined ? {} : { parent: to }),
        xml: replaceCheckpointParent(child.checkpoint.xml, removed.checkpoint.name, to),
      };
    }
  }
  return out;
}

/** Open pools by name for one run; `close()` frees them all. */
/** Deletes a volume named by its pool and name, if it is still there. */
async function deleteRef(pools: PoolCache, ref: VolumeRef): Promise<void> {
  await deleteVolumeIfPresent(await pools.get(ref.pool), ref.name);
}

async function writeCopies(pools: PoolCache, copies: readonly VolumeRef[], set: BackupSet): Promise<void> {
  const xml = await formatBackupSet(set);
  for (const copy of copies) {
    const pool = await pools.get(copy.pool);
    await writeDocument(pool, copy.name, xml);
  }
}

async function rebaseOne(
  pools: PoolCache,
  volume: VolumeRef,
  newBacking: VolumeRef | undefined,
  key: ChainKey | undefined,
): Promise<void> {
  const pool = await pools.get(volume.pool);
  if (!pool.driver.rebase) {
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `pool '${pool.name}' (${pool.type}) cannot merge backups (no rebase)`,
      {
        fault: 'user',
      },
    );
  }
  const backing = newBacking && (await getVolume(await pools.get(newBacking.pool), newBacking.name));
  try {
    const child = await findVolume(pool, volume.name);
    // A driver that replaces the volume to rebase it (logical) may have been stopped while it was gone.
    if (!child) {
      if (await pool.driver.finishRebase?.(pool, volume.name, backing)) return;
      throw new VolbackError(
        ErrorCodes.NOT_FOUND,
        `volume ${volume.name} does not exist in pool '${pool.name}'`,
        { fault: 'user' },
      );
    }
    try {
      await pool.driver.rebase(pool, child, backing, key);
    } finally {
      child.free();
    }
  } finally {
    backing?.free();
  }
}

async function removeSetCheckpoint(conn: Connection, domainUuid: string, checkpoint: string): Promise<void> {
  let domain;
  try {
    domain = await conn.lookupDomainByUUID(domainUuid);
  } catch (err) {
    if (isLibvirtNotFound(err)) return; // the domain is gone, and its checkpoints with it
    throw err;
  }
  try {
    await removeCheckpoint(domain, checkpoint);
  } finally {
    domain.free();
  }
}

/** What one removal deletes, rewrites and rebases, once proven (see `removalTouches`). */
export interface RemovalTouches {
  copies: VolumeRef[];
  foreignCopies: VolumeRef[];
  volumes: VolumeRef[];
  kept: KeptVolume[];
  /** The checkpoint to delete from the domain, or why it stays. */
  checkpoint?: { name: string; keptBecause?: string };
}

/**
 * What a removal may touch, decided from the documents alone (the intent's and the catalog's), never
 * from what a document claims: metadata copies named as the set's metadata, data volumes provably the
 * set's own (ownership.ts), rebases only of a merged child's own volume onto its catalogued parent's.
 * Throws ERR_CONFLICT when a rebase the intent asks for is not that: nothing is touched then.
 */
export function removalTouches(
  original: BackupSet,
  intent: Pick<RemovalIntent, 'step' | 'set' | 'rebases'> & {
    rewrites: Array<{ set: BackupSet; copies: VolumeRef[] }>;
  },
  known: KnownSets,
): RemovalTouches {
  const claims = withClaimsOf(known.claims, original);
  const copies = intent.set.copies.filter((c) => isOwnMetadataCopy(original, c));
  const foreignCopies = intent.set.copies.filter((c) => !isOwnMetadataCopy(original, c));
  const { delete: volumes, kept } = volumesToDelete(original, intent.step.removeDisks, copies, claims);
  // One rebase per merge, each proven below: an intent is a document anyone could have written.
  if (intent.rebases.length !== intent.step.merges.length) {
    throw new VolbackError(
      ErrorCodes.CONFLICT,
      `the removal of set ${original.id} asks for ${intent.rebases.length} rebase(s) for ${intent.step.merges.length} merge(s)`,
      { fault: 'user' },
    );
  }
  intent.step.merges.forEach((m, i) => {
    const rebase = intent.rebases[i];
    const refuse = (why: string): never => {
      throw new VolbackError(
        ErrorCodes.CONFLICT,
        `the removal of set ${original.id} asks to rebase ${rebase?.volume.name ?? '?'}: ${why}`,
        {
          fault: 'user',
        },
      );
    };
    const child =
      intent.rewrites.find((r) => r.set.id === m.intoSet) ?? refuse(`set ${m.intoSet} is not in the intent`);
    const into =
      child.set.disks.find((d) => d.id === m.into && d.volume) ??
      refuse(`disk backup ${m.into} is not in set ${m.intoSet}`);
    const own = proveDataVolume(
      child.set,
      into,
      child.copies.filter((c) => isOwnMetadataCopy(child.set, c)),
      claims,
    );
    if (!own.mine) refuse(own.kept.reason);
    if (!rebase || rebase.volume.pool !== into.volume!.pool || rebase.volume.name !== into.volume!.name)
      refuse(`it is not the volume of disk backup ${m.into}`);
    const parent =
      m.newParent === undefined
        ? undefined
        : (known.disk(m.newParent) ?? original.disks.find((d) => d.id === m.newParent));
    const expected = parent?.volume && { pool: parent.volume.pool, name: parent.volume.name };
    if (m.newParent !== undefined && !expected) refuse(`its new parent ${m.newParent} is not in the catalog`);
    if (expected?.pool !== rebase.newBacking?.pool || expected?.name !== rebase.newBacking?.name)
      refuse(`its new backing is not the volume of disk backup ${m.newParent ?? '(none)'}`);
  });
  return {
    copies,
    foreignCopies,
    volumes,
    kept,
    checkpoint: checkpointToRemove(original, intent.step, known),
  };
}

/**
 * The libvirt checkpoint a whole-set removal deletes: the set's own, unless another set of the same
 * domain records it too (then it is not provably this set's, and a later incremental may need it).
 */
function checkpointToRemove(
  original: BackupSet,
  step: RemovalStep,
  known: KnownSets,
): RemovalTouches['checkpoint'] {
  const name = original.checkpoint?.name;
  if (!step.wholeSet || name === undefined) return undefined;
  const other = known.recordingCheckpoint(original.domain.uuid, name).find((s) => s.id !== original.id);
  return other ? { name, keptBecause: `set ${other.id} records it too` } : { name };
}

/**
 * Finishes a removal from its intent, from whatever point a previous run reached: every step is
 * idempotent (documents are rewritten from the intent's copy of the original, rebases skip volumes
 * already on their target, deletes ignore what is gone). Data volumes are deleted only after every
 * child stands without them, and the removed set's metadata only after its volumes. Returns the
 * children's metadata as written (set id → set).
 */
export async function finishRemoval(
  conn: Connection,
  pools: PoolCache,
  intent: RemovalIntent,
  known: KnownSets,
): Promise<Map<string, BackupSet>> {
  const { step } = intent;
  const original = await parseBackupSet(intent.set.xml, `intent of set ${step.setId}`);
  const rewrites = await Promise.all(
    intent.rewrites.map(async (r) => ({
      ...r,
      set: await parseBackupSet(r.xml, `intent copy of set ${r.setId}`),
    })),
  );
  const touch = removalTouches(original, { ...intent, rewrites }, known);
  for (const copy of touch.foreignCopies)
    log.warn(
      `removal of set ${step.setId}: leaving ${copy.name} in pool ${copy.pool}: it is not named as that set's metadata`,
    );
  for (const v of touch.kept)
    log.warn(`removal of set ${step.setId}: keeping volume ${v.name} in pool ${v.pool}: ${v.reason}`);
  await writeCopies(pools, touch.copies, markedSet(original, step));
  crashPoint('mark');
  // An encrypted chain's merge opens every layer with the chain's key (merge-keys.ts).
  const keys = await openMergeKeys(
    conn,
    step.merges.map((m) => rewrites.find((r) => r.setId === m.intoSet)?.set.encryption),
    `cannot merge into the backups of set ${step.setId}`,
  );
  try {
    for (const [i, rebase] of intent.rebases.entries())
      await rebaseOne(pools, rebase.volume, rebase.newBacking, keys[i]);
  } finally {
    wipeMergeKeys(keys);
  }
  crashPoint('rebase');
  // A disk that absorbs a merged parent takes the parent's checksums too (checksum-removal.ts).
  const sums = await mergedChecksums(
    pools,
    original,
    rewrites.map((r) => r.set),
    step,
  );
  const written = new Map<string, BackupSet>();
  for (const rewrite of rewrites) {
    const copies = rewrite.copies.filter((c) => isOwnMetadataCopy(rewrite.set, c));
    written.set(rewrite.setId, sums.apply(rewrittenChild(rewrite.set, original, step)));
    await writeCopies(pools, copies, written.get(rewrite.setId)!);
  }
  crashPoint('children');
  if (touch.checkpoint?.keptBecause)
    log.warn(
      `removal of set ${step.setId}: keeping checkpoint ${touch.checkpoint.name}: ${touch.checkpoint.keptBecause}`,
    );
  else if (touch.checkpoint) await removeSetCheckpoint(conn, original.domain.uuid, touch.checkpoint.name);
  crashPoint('checkpoint');
  for (const ref of touch.volumes) await deleteRef(pools, ref);
  for (const ref of removedChecksumDocuments(touch.volumes, sums)) await deleteRef(pools, ref);
  crashPoint('volumes');
  if (step.wholeSet) for (const copy of touch.copies) await deleteRef(pools, copy);
  else await writeCopies(pools, touch.copies, remainingSet(original, step));
  crashPoint('metadata');
  for (const copy of touch.copies) {
    await deleteRef(pools, { pool: copy.pool, name: intentVolumeName(copy.name) });
    if (step.wholeSet) await deleteRef(pools, { pool: copy.pool, name: damageVolumeName(copy.name) });
  }
  crashPoint('done');
  return written;
}

/** Where each set's metadata copies are, from a scan. */
export type CopyIndex = ReadonlyMap<string, { set: BackupSet; copies: VolumeRef[] }>;

/**
 * Builds the intent of `step` from the current sets and runs it: the intent is written next to every
 * metadata copy of the set before anything else, so from then on any run can finish the removal.
 * Returns the rewritten children as written (see finishRemoval).
 */
export async function runRemoval(
  conn: Connection,
  pools: PoolCache,
  index: SetIndex,
  step: RemovalStep,
): Promise<Map<string, BackupSet>> {
  const entry = index.get(step.setId);
  if (!entry)
    throw new VolbackError(ErrorCodes.NOT_FOUND, `backup set ${step.setId} is not in the catalog`, {
      fault: 'user',
    });
  const diskVolume = (id: string | undefined): VolumeRef | undefined => {
    const disk = id === undefined ? undefined : index.disk(id);
    return disk?.volume ? { pool: disk.volume.pool, name: disk.volume.name } : undefined;
  };
  const rewriteIds = [...new Set([...step.merges.map((m) => m.intoSet), ...step.reparent])];
  const intent: RemovalIntent = {
    format: 'volback-removal-intent',
    version: 1,
    startedAt: new Date().toISOString(),
    domainUuid: entry.set.domain.uuid,
    step,
    set: { xml: await formatBackupSet(entry.set), copies: entry.copies },
    rewrites: await Promise.all(
      rewriteIds.map(async (id) => {
        const child = index.get(id)!;
        return { setId: id, xml: await formatBackupSet(child.set), copies: child.copies };
      }),
    ),
    rebases: step.merges.map((m) => {
      const volume = diskVolume(m.into);
      if (!volume)
        throw new VolbackError(ErrorCodes.CONFLICT, `disk backup ${m.into} has no volume to merge into`, {
          fault: 'user',
        });
      const newBacking = diskVolume(m.newParent);
      if (m.newParent !== undefined && !newBacking) {
        throw new VolbackError(ErrorCodes.CONFLICT, `disk backup ${m.newParent} has no volume to stand on`, {
          fault: 'user',
        });
      }
      return newBacking ? { volume, newBacking } : { volume };
    }),
  };
  const text = JSON.stringify(intent, null, 1);
  for (const copy of entry.copies) {
    const pool = await pools.get(copy.pool);
    await writeDocument(pool, intentVolumeName(copy.name), text);
  }
  crashPoint('intent');
  log.info(
    `removing ${step.wholeSet ? 'backup set' : `disks ${step.removeDisks.join(', ')} of backup set`} ${step.setId}` +
      (step.merges.length ? ` (merging into ${step.merges.map((m) => m.into).join(', ')})` : ''),
  );
  return finishRemoval(conn, pools, intent, index);
}

/** An intent found in a pool, with where it was read. */
export interface FoundIntent {
  intent: RemovalIntent;
  volumes: VolumeRef[];
}

/** Every intent in the given (or all active) pools; unreadable ones are listed apart. */
export async function findIntents(
  conn: Connection,
  poolNames?: readonly string[],
): Promise<{ found: FoundIntent[]; unreadable: Array<VolumeRef & { error: Error }> }> {
  const pools = await openActivePools(conn, poolNames);
  try {
    const bySet = new Map<string, FoundIntent>();
    const unreadable: Array<VolumeRef & { error: Error }> = [];
    for (const pool of pools) {
      const names = (await pool.driver.listVolumeNames(pool)).filter((n) => n.endsWith(INTENT_VOLUME_SUFFIX));
      for (const read of await readDocuments(pool, names)) {
        const ref = { pool: pool.name, name: read.name };
        try {
          if ('error' in read) throw read.error;
          const intent = parseIntent(read.text, `volume ${read.name} in pool ${pool.name}`);
          const known = bySet.get(intent.step.setId);
          if (known) known.volumes.push(ref);
          else bySet.set(intent.step.setId, { intent, volumes: [ref] });
        } catch (err) {
          unreadable.push({ ...ref, error: err as Error });
        }
      }
    }
    return { found: [...bySet.values()], unreadable };
  } finally {
    closePools(pools);
  }
}

export interface RecoveryReport {
  /** Removals finished (set ids). */
  finished: string[];
  /** Removals that had not started (the set was still unmarked): their intents were dropped. */
  rolledBack: string[];
  /** Removals that cannot be finished safely, with why; the sets stay marked (not restorable). */
  unresolved: Array<{ setId: string; reason: string }>;
  /**
   * Intent volumes cut short by a crash while volback wrote them (nothing had started): deleted —
   * only when framed by volback and named after a metadata volume of their pool.
   */
  droppedUnreadable: VolumeRef[];
  /** Intent-named volumes that do not read as intents and that volback cannot prove it wrote: left alone. */
  unreadable: Array<VolumeRef & { reason: string }>;
}

/**
 * Whether a removal had begun: it has, unless every metadata copy of the set still reads back with
 * the state it had before (the marking step rewrites them all before any data is touched). Pure.
 */
export function removalStarted(copies: ReadonlyArray<BackupSet | undefined>): boolean {
  return copies.some((c) => c === undefined || (c.state !== 'complete' && c.state !== 'external'));
}

/**
 * Checks, against the current catalog, that finishing the removal breaks nothing: every disk backup
 * or set standing on what goes is merged, re-parented, or gone already. Returns the problem, if any. Pure.
 */
export function removalConflict(catalog: Catalog, intent: RemovalIntent): string | undefined {
  const { step } = intent;
  const gone = new Set(step.removeDisks);
  const merged = new Set(step.merges.map((m) => m.into));
  for (const id of step.removeDisks) {
    for (const child of catalog.disks.get(id)?.childIds ?? []) {
      const childSet = catalog.disks.get(child)!.setId;
      if (!gone.has(child) && !merged.has(child) && catalog.disks.get(child)!.disk.parentId === id) {
        return `disk backup ${child} of set ${childSet} stands on ${id}, which the removal deletes`;
      }
    }
  }
  if (step.wholeSet) {
    const node = catalog.sets.get(step.setId);
    const handled = new Set([...step.reparent, ...step.merges.map((m) => m.intoSet)]);
    const stray = (node?.childIds ?? []).filter(
      (c) => !handled.has(c) && catalog.sets.get(c)!.set.parentId === step.setId,
    );
    if (stray.length) return `sets ${stray.join(', ')} stand on ${step.setId}, which the removal deletes`;
  }
  return undefined;
}

/**
 * Finds removals a killed process left half done and finishes them (or drops those that had not
 * started). Newest sets first, so a cascade's leaves go before their parents. The caller holds the
 * domain locks (see `recoverInterrupted` in delete.ts for the locked entry point).
 */
export async function recoverIntents(
  conn: Connection,
  options: { pools?: readonly string[]; domainUuid?: string } = {},
): Promise<RecoveryReport> {
  const report: RecoveryReport = {
    finished: [],
    rolledBack: [],
    unresolved: [],
    droppedUnreadable: [],
    unreadable: [],
  };
  const { found, unreadable } = await findIntents(conn, options.pools);
  const pools = new PoolCache(conn);
  try {
    for (const bad of unreadable) {
      // Only a write volback began and was stopped in (its own frame, cut short) beside the set it names.
      const metadata = bad.name.slice(0, -INTENT_VOLUME_SUFFIX.length) + METADATA_VOLUME_SUFFIX;
      const beside = (
        await (await pools.get(bad.pool)).driver.listVolumeNames(await pools.get(bad.pool))
      ).includes(metadata);
      if (bad.error instanceof CutShortDocument && beside) {
        log.warn(`dropping intent ${bad.name} in pool ${bad.pool}, cut short before its removal began`);
        await deleteRef(pools, bad);
        report.droppedUnreadable.push({ pool: bad.pool, name: bad.name });
      } else {
        log.warn(
          `leaving ${bad.name} in pool ${bad.pool}: it does not read as a removal intent (${bad.error.message})`,
        );
        report.unreadable.push({ pool: bad.pool, name: bad.name, reason: bad.error.message });
      }
    }
    const mine = found.filter(
      (f) => options.domainUuid === undefined || f.intent.domainUuid === options.domainUuid,
    );
    const withTime = await Promise.all(
      mine.map(async (f) => ({
        f,
        createdAt: (await parseBackupSet(f.intent.set.xml, 'intent')).createdAt.getTime(),
      })),
    );
    withTime.sort((a, b) => b.createdAt - a.createdAt);
    for (const { f } of withTime) {
      const { intent } = f;
      const setId = intent.step.setId;
      const copies = await Promise.all(intent.set.copies.map((c) => readSetCopy(pools, c)));
      if (!removalStarted(copies)) {
        log.info(
          `backup set ${setId}: removal had not started (or had finished a disk removal); dropping its intent`,
        );
        for (const v of f.volumes) await deleteRef(pools, v);
        report.rolledBack.push(setId);
        continue;
      }
      const scan = await scanCatalog(conn, { pools: options.pools });
      const conflict = removalConflict(scan.catalog, intent);
      if (conflict) {
        log.warn(`backup set ${setId}: interrupted removal left as it is: ${conflict}`);
        report.unresolved.push({ setId, reason: conflict });
        continue;
      }
      log.info(`backup set ${setId}: finishing an interrupted removal started at ${intent.startedAt}`);
      try {
        await finishRemoval(
          conn,
          pools,
          intent,
          knownSets([...scan.catalog.sets.values()].map((e) => e.set)),
        );
      } catch (err) {
        if (!isVolbackError(err, ErrorCodes.CONFLICT)) throw err;
        log.warn(`backup set ${setId}: interrupted removal left as it is: ${(err as Error).message}`);
        report.unresolved.push({ setId, reason: (err as Error).message });
        continue;
      }
      report.finished.push(setId);
    }
    return report;
  } finally {
    pools.close();
  }
}

async function readSetCopy(pools: PoolCache, ref: VolumeRef): Promise<BackupSet | undefined> {
  const pool = await pools.get(ref.pool);
  const [read] = await readDocuments(pool, [ref.name]);
  if ('error' in read) return undefined;
  try {
    return await parseBackupSet(read.text, `volume ${ref.name} in pool ${ref.pool}`);
  } catch {
    return undefined;
  }
}

/** A catalog over an index of sets (after some removals ran). Pure. */
export function catalogOf(index: CopyIndex): Catalog {
  return buildCatalog([...index.values()].map((e) => e.set));
}
