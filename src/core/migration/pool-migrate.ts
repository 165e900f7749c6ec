// `volback pool migrate`: moves a single-pool installation's sets out of the root pool into the
// per-domain pools (docs/scale.md). Per chain, crash-safe: copy every layer and its checksums, compare
// each copied point's guest view with the original, write the new metadata (the commit), and only
// then delete the root's copies of what was moved. A rerun finishes whatever a crash left.
import isEqual from 'lodash/isEqual';
import type { Connection, StorageVolume } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupKind, BackupSet } from '../../model';
import { crashPoint } from '../../crash-point';
import { domainPoolName, domainPoolPath } from '../../pool/default-layout';
import { readDocuments, writeDocument } from '../../pool/documents';
import { checksumDocumentVolume } from '../../pool/checksums';
import {
  closePools,
  deleteVolumeIfPresent,
  findVolume,
  getVolume,
  LOCATION_POOL_TYPE,
  openPool,
  type OpenPool,
} from '../../pool/pool-layer';
import { driverFor } from '../../pool/registry';
import type { ChainKey } from '../../pool/driver';
import { imagesEqual } from '../../tools/qemu-img';
import { formatBackupSet } from '../../xml';
import { scanCatalog, type CatalogScan, type StoredSet } from '../catalog/scan';
import { lockDomain } from '../shared/domain-lock';
import { openSetKey, wipeKey } from '../shared/encryption';
import { ensureRunLocation } from '../shared/targets';
import {
  claimants,
  claimsOf,
  isOwnMetadataCopy,
  proveDataVolume,
  volumesToDelete,
  type Claims,
  type KeptVolume,
} from '../removal/ownership';

const log = logger('migrate');

/**
 * Where a migration stops when VOLBACK_TEST_CRASH_AT names it: a chain copied and checked; its new
 * metadata written, its root copies not yet deleted; the newest set's root data volumes deleted, its
 * root metadata not yet.
 */
export const MIGRATE_CRASH_POINTS = ['migrate-copied', 'migrate-committed', 'migrate-deleting'] as const;

export interface MigrateOptions {
  /** The default location's root pool (config `default_pool`, `default_pool_path`). */
  root: { pool: string; path: string };
  /** Only say what would be done. */
  dryRun?: boolean;
  /** Only the sets of this domain: its uuid, or the name its sets record. */
  domain?: string;
  lockDir?: string;
}

/**
 * One set of the root and what migration did with it. `moved`: copied, checked, committed in its
 * domain's pool, its root copy deleted; `finished`: an earlier run had committed it, its root copy is
 * deleted now; `kept`: left in the root, `reason` says why (nothing of its chain was changed).
 */
export interface MigratedSet {
  setId: string;
  domain: { name: string; uuid: string };
  kind: BackupKind;
  createdAt: Date;
  pool: string;
  action: 'moved' | 'finished' | 'kept' | 'would-move' | 'would-finish';
  reason?: string;
}

export interface MigrateReport {
  dryRun: boolean;
  sets: MigratedSet[];
  /** Root volumes a moved set's metadata names but that volback cannot prove its own: left in place. */
  keptVolumes: KeptVolume[];
}

/** A set as its domain pool's copy records it: each data volume in that pool. Pure. */
export function retargetSet(set: BackupSet, pool: string): BackupSet {
  return { ...set, disks: set.disks.map((d) => (d.volume ? { ...d, volume: { ...d.volume, pool } } : d)) };
}

/** Why a root set cannot be moved (its whole chain then stays), or undefined. Pure. */
export function migrationRefusal(set: BackupSet, root: string): string | undefined {
  if (set.state !== 'complete') return `it is in state ${set.state}`;
  const outside = set.disks.find((d) => d.volume?.pool !== root);
  if (outside)
    return outside.volume
      ? `its ${outside.target} backup is in pool ${outside.volume.pool}, not in ${root}`
      : `its ${outside.target} backup has no volume in a pool (external)`;
  return undefined;
}

/** The chains of `sets` (one domain's root copies), each oldest first; sets whose parent is not among them start a chain. Pure. */
export function chainsOf(sets: readonly BackupSet[]): BackupSet[][] {
  const ids = new Set(sets.map((s) => s.id));
  const children = new Map<string, BackupSet[]>();
  const starts: BackupSet[] = [];
  const byTime = [...sets].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  for (const set of byTime) {
    if (set.parentId !== undefined && ids.has(set.parentId)) {
      children.set(set.parentId, [...(children.get(set.parentId) ?? []), set]);
    } else starts.push(set);
  }
  return starts.map((start) => {
    const chain: BackupSet[] = [];
    const walk = (set: BackupSet): void => {
      chain.push(set);
      for (const child of children.get(set.id) ?? []) walk(child);
    };
    walk(start);
    return chain;
  });
}

/**
 * Moves the root pool's sets into their domains' pools, domain by domain under each domain's lock.
 * A chain that cannot be moved whole stays whole in the root (`kept`, with the reason). A copy that
 * does not compare equal to its original fails the run before its metadata is written; what it
 * copied stays as strays the next run replaces. Idempotent: a rerun moves nothing twice and
 * finishes a run stopped between a chain's commit and its root copies' deletion.
 */
export async function migrateRootPool(conn: Connection, options: MigrateOptions): Promise<MigrateReport> {
  const report: MigrateReport = { dryRun: options.dryRun === true, sets: [], keptVolumes: [] };
  const first = await scanCatalog(conn, { pools: [options.root.pool] });
  const wanted = options.domain?.toLowerCase();
  const domains = [
    ...new Set(
      first.stored
        .map((s) => s.set.domain)
        .filter((d) => wanted === undefined || d.uuid.toLowerCase() === wanted || d.name === options.domain)
        .map((d) => d.uuid.toLowerCase()),
    ),
  ].sort();
  if (domains.length) await refuseUncopyable(conn, options.root.pool);
  for (const uuid of domains) {
    let lock: ReturnType<typeof lockDomain> | undefined;
    try {
      lock = options.dryRun ? undefined : lockDomain(uuid, 'pool migrate', options.lockDir);
    } catch (err) {
      // Another job holds the domain (a backup running): its sets stay for the next run.
      if (!(err instanceof VolbackError) || err.code !== ErrorCodes.CONFLICT) throw err;
      report.sets.push(...keptAll(first, uuid, options.root.pool, err.message));
      continue;
    }
    try {
      await migrateDomain(conn, options, uuid, report);
    } finally {
      lock?.release();
    }
  }
  return report;
}

/** Every root set of domain `uuid` in `scan`, kept for `reason`. */
function keptAll(scan: CatalogScan, uuid: string, root: string, reason: string): MigratedSet[] {
  return scan.stored
    .filter((s) => s.pool === root && s.set.domain.uuid.toLowerCase() === uuid)
    .map((s) => ({
      setId: s.set.id,
      domain: s.set.domain,
      kind: s.set.kind,
      createdAt: s.set.createdAt,
      pool: root,
      action: 'kept' as const,
      reason,
    }));
}

/**
 * Refuses, before anything changes (no domain pool is created), a root whose layers the domain
 * pools' driver (the type volback creates them as) cannot copy over this connection: a driver
 * without `copyLayer`, or one refusing this root (another pool type, another host).
 */
async function refuseUncopyable(conn: Connection, root: string): Promise<void> {
  const pool = await openPool(conn, root);
  try {
    const driver = driverFor(LOCATION_POOL_TYPE, root);
    const refusal = driver.copyLayer
      ? await driver.copyLayerRefusal?.(pool)
      : `the ${LOCATION_POOL_TYPE} driver of the domain pools cannot copy layers`;
    if (refusal)
      throw new VolbackError(
        ErrorCodes.POOL_UNSUPPORTED,
        `cannot migrate pool '${root}' (type ${pool.type}): ${refusal}`,
        { fault: 'user', hint: 'nothing was changed' },
      );
  } finally {
    closePools([pool]);
  }
}

async function migrateDomain(
  conn: Connection,
  options: MigrateOptions,
  uuid: string,
  report: MigrateReport,
): Promise<void> {
  const rootName = options.root.pool;
  const target = domainPoolName(rootName, uuid);
  const rootPool = await openPool(conn, rootName);
  let domainPool: OpenPool | undefined;
  try {
    // Read again under the lock: no backup or removal of this domain runs meanwhile. Every active
    // pool, as a removal reads them: a set in a third pool may name a root volume, which is then not
    // this chain's to delete. A domain pool that is defined but not active holds sets no scan sees:
    // nothing is written there.
    const targetState = await poolState(conn, target);
    const scan = await scanCatalog(conn);
    const own = (s: StoredSet): boolean => s.set.domain.uuid.toLowerCase() === uuid;
    const inRoot = scan.stored.filter((s) => s.pool === rootName && own(s));
    const inTarget = new Map(scan.stored.filter((s) => s.pool === target).map((s) => [s.set.id, s]));
    const targetClaims = claimsOf(scan.stored.filter((s) => s.pool === target).map((s) => s.set));
    const entry = (s: StoredSet, action: MigratedSet['action'], reason?: string): MigratedSet => ({
      setId: s.set.id,
      domain: s.set.domain,
      kind: s.set.kind,
      createdAt: s.set.createdAt,
      pool: action === 'kept' ? rootName : target,
      action,
      ...(reason ? { reason } : {}),
    });
    const stored = new Map(inRoot.map((s) => [s.set.id, s]));
    for (const chain of chainsOf(inRoot.map((s) => s.set))) {
      const members = chain.map((set) => stored.get(set.id)!);
      const refusal =
        targetState === 'inactive'
          ? `pool ${target} is defined but not active: start it (virsh pool-start ${target}) and run again`
          : (chainRefusal(scan, members, inTarget, targetClaims, target, rootName) ??
            (await uncopyable(rootPool, members, inTarget)));
      // An encrypted chain is copied and compared through its key (a dry run checks it opens too).
      const opened = refusal ? { refusal } : await openChainKey(conn, members, rootPool);
      if ('refusal' in opened) {
        report.sets.push(...members.map((s) => entry(s, 'kept', opened.refusal)));
        continue;
      }
      const { key } = opened;
      try {
        const committed = (s: StoredSet): boolean => inTarget.has(s.set.id);
        if (options.dryRun) {
          report.sets.push(...members.map((s) => entry(s, committed(s) ? 'would-finish' : 'would-move')));
          continue;
        }
        domainPool ??= await ensureRunLocation(conn, {
          pool: target,
          path: domainPoolPath(
            (await rootPool.driver.describePool(rootPool.xml)).path ?? options.root.path,
            uuid,
          ),
          root: options.root,
        });
        const pending = members.filter((s) => !committed(s));
        await copyChain(rootPool, domainPool, pending, key);
        // Committed copies too: a rerun deletes the root's, which may be the only bytes left.
        await checkCopies(rootPool, domainPool, members, key, committed);
        crashPoint('migrate-copied');
        for (const s of pending) {
          await writeDocument(
            domainPool,
            s.metadataVolume,
            await formatBackupSet(retargetSet(s.set, target)),
          );
          log.info(`backup set ${s.set.id} committed in pool ${target}`);
        }
        crashPoint('migrate-committed');
        const claims = claimsOf(scan.stored.map((s) => s.set));
        for (const s of [...members].reverse()) {
          report.keptVolumes.push(...(await deleteRootCopy(rootPool, s, claims)));
          report.sets.push(entry(s, committed(s) ? 'finished' : 'moved'));
        }
      } finally {
        wipeKey(key);
      }
    }
  } finally {
    closePools(domainPool ? [rootPool, domainPool] : [rootPool]);
  }
}

/**
 * The key of a chain (`members`, oldest first, all in `root`) when it is encrypted: every set of an
 * encrypted chain names the same secret, and the key must unlock the chain's newest layer. Otherwise
 * the refusal that keeps the chain in the root (no secret on this host, another passphrase, a chain
 * whose sets name different secrets).
 */
async function openChainKey(
  conn: Connection,
  members: readonly StoredSet[],
  root: OpenPool,
): Promise<{ key?: ChainKey } | { refusal: string }> {
  const encryption = members[0].set.encryption;
  const mixed = members.find((s) => s.set.encryption?.secretUuid !== encryption?.secretUuid);
  if (mixed)
    return { refusal: `set ${mixed.set.id} is not encrypted with the secret of its chain's first set` };
  if (!encryption) return {};
  // The key is tried on the newest layer still in the root (a killed run may have deleted newer ones).
  let volume: StorageVolume | undefined;
  for (const { set } of [...members].reverse()) {
    volume = await findVolume(root, set.disks[0].volume!.name);
    if (volume) break;
  }
  try {
    const what = `cannot migrate the encrypted backups of set ${members[0].set.id}'s chain`;
    return { key: await openSetKey(conn, encryption, what, volume && { pool: root, volume }) };
  } catch (err) {
    if (err instanceof VolbackError) return { refusal: err.message };
    throw err;
  } finally {
    volume?.free();
  }
}

/**
 * Why the driver will not copy one of the root data volumes of `members` that is not committed yet
 * (a symlink under a backup's name, say), or undefined: asked before anything is created.
 */
async function uncopyable(
  root: OpenPool,
  members: readonly StoredSet[],
  inTarget: ReadonlyMap<string, StoredSet>,
): Promise<string | undefined> {
  if (!root.driver.copyLayerRefusal) return undefined;
  for (const { set } of members.filter((s) => !inTarget.has(s.set.id))) {
    for (const disk of set.disks) {
      const volume = await findVolume(root, disk.volume!.name);
      if (!volume) return `set ${set.id}: its data volume ${disk.volume!.name} is not in pool ${root.name}`;
      try {
        const refusal = await root.driver.copyLayerRefusal(root, volume);
        if (refusal) return `set ${set.id}: ${refusal}`;
      } finally {
        volume.free();
      }
    }
  }
  return undefined;
}

type PoolState = 'absent' | 'active' | 'inactive';

async function poolState(conn: Connection, name: string): Promise<PoolState> {
  const pool = await conn.lookupStoragePoolByName(name).catch(() => undefined);
  if (!pool) return 'absent';
  try {
    return (await pool.isActive()) ? 'active' : 'inactive';
  } finally {
    pool.free();
  }
}

/**
 * Why a chain stays in the root, or undefined when it can move. Checked before the first byte is
 * copied: the root's data volumes must be provably the set's own, as a removal proves them (the
 * root's copies are deleted at the end, and only volback's own names, which hold the set id, are
 * written into the domain pool), and no name a copy takes there may be one a set there names (a
 * volume there under this set's own name and named by no set is an interrupted run's leftover).
 */
export function chainRefusal(
  scan: CatalogScan,
  members: readonly StoredSet[],
  inTarget: ReadonlyMap<string, StoredSet>,
  targetClaims: Claims,
  target: string,
  root: string,
): string | undefined {
  const head = members[0].set;
  if (head.parentId !== undefined && !inTarget.has(head.parentId))
    return `its chain's parent set ${head.parentId} is not in pool ${root} or ${target}`;
  // Claims of every set read, wherever its metadata is: they name volumes by pool.
  const rootClaims = claimsOf(scan.stored.map((s) => s.set));
  for (const { set, metadataVolume } of members) {
    const refusal = migrationRefusal(set, root);
    if (refusal) return `set ${set.id}: ${refusal}`;
    if (!isOwnMetadataCopy(set, { pool: root, name: metadataVolume }))
      return `set ${set.id}: its metadata volume ${metadataVolume} is not named as volback names it`;
    const there = inTarget.get(set.id);
    if (there && !isEqual(there.set, retargetSet(set, target)))
      return `set ${set.id}: pool ${target} holds a copy of its metadata that differs in more than the pool`;
    const copies = [{ pool: root, name: metadataVolume }];
    const written = there ? [] : [metadataVolume];
    for (const disk of set.disks) {
      const verdict = proveDataVolume(set, disk, copies, rootClaims);
      if (!verdict.mine) return `set ${set.id}: volume ${disk.volume!.name}: ${verdict.kept.reason}`;
      const document = disk.checksums?.document;
      if (document !== undefined && checksumDocumentVolume(document) !== disk.volume!.name)
        return `set ${set.id}: its checksums ${document} are not named after their data volume`;
      if (!there) written.push(disk.volume!.name, ...(document === undefined ? [] : [document]));
    }
    for (const name of written) {
      const owners = claimants(targetClaims, { pool: target, name });
      if (owners.length)
        return `set ${set.id}: pool ${target} holds ${name}, a volume of set ${owners.join(', ')}`;
    }
    if (scan.damage.some((d) => d.pool === root && d.metadataVolume === metadataVolume))
      return `set ${set.id} is recorded as damaged`;
    if (scan.liveRestores.some((l) => l.restore.setId === set.id))
      return `set ${set.id} is read by a live restore`;
  }
  return undefined;
}

/**
 * Copies the layers and checksum documents of `pending` (a chain's sets not committed yet, oldest
 * first) into `to`, each incremental standing on its parent's copy. Leftovers of an interrupted run
 * (volumes under these sets' own names that no metadata there names: chainRefusal) are replaced.
 */
async function copyChain(
  from: OpenPool,
  to: OpenPool,
  pending: readonly StoredSet[],
  key: ChainKey | undefined,
): Promise<void> {
  const copyLayer = to.driver.copyLayer!.bind(to.driver);
  const held: StorageVolume[] = [];
  try {
    for (const { set } of pending) {
      for (const disk of set.disks) {
        const name = disk.volume!.name;
        const parentName =
          disk.parentId === undefined ? undefined : await parentVolume(to, disk.parentId, pending);
        const source = await getVolume(from, name);
        held.push(source);
        const backing = parentName === undefined ? undefined : await getVolume(to, parentName);
        if (backing) held.push(backing);
        await deleteVolumeIfPresent(to, name);
        log.info(`copying ${name} from pool ${from.name} into ${to.name}`);
        held.push(await copyLayer(to, name, { pool: from, volume: source }, backing, key));
        if (disk.checksums) await copyChecksums(from, to, disk.checksums.document, name);
      }
    }
  } finally {
    for (const v of held) v.free();
  }
}

/**
 * Compares every point of `members` (a chain, oldest first) in `to` with the original in `from`: the
 * layer stands on its parent's copy and shows the original's guest view. Throws, before any metadata
 * is written and before any root copy is deleted, when one differs or is missing.
 */
async function checkCopies(
  from: OpenPool,
  to: OpenPool,
  members: readonly StoredSet[],
  key: ChainKey | undefined,
  committed: (s: StoredSet) => boolean,
): Promise<void> {
  const held: StorageVolume[] = [];
  try {
    for (const member of members) {
      const { set } = member;
      for (const disk of set.disks) {
        const name = disk.volume!.name;
        // A committed set's root volume may be gone already (a run killed while deleting the root's
        // copies): its copy is then the only one, and is checked on its own.
        const original = committed(member) ? await findVolume(from, name) : await getVolume(from, name);
        if (original) held.push(original);
        const copy = await getVolume(to, name);
        held.push(copy);
        const parentName =
          disk.parentId === undefined ? undefined : await parentVolume(to, disk.parentId, members);
        const parent = parentName === undefined ? undefined : await getVolume(to, parentName);
        if (parent) held.push(parent);
        const problems = await to.driver.checkLayer(to, copy, parent, key);
        const same =
          problems.length === 0 &&
          (!original ||
            (await imagesEqual(
              await from.driver.image(from, original, key),
              await to.driver.image(to, copy, key),
            )));
        if (!same) {
          throw new VolbackError(
            ErrorCodes.CHAIN_BROKEN,
            `the copy of ${name} in pool ${to.name} does not show the original's guest view${problems.length ? `: ${problems.join('; ')}` : ''}; set ${set.id} stays in pool ${from.name}`,
          );
        }
      }
    }
  } finally {
    for (const v of held) v.free();
  }
}

/** The name of a disk backup's data volume: a set of this run's chain, or one committed earlier. */
async function parentVolume(to: OpenPool, diskId: string, pending: readonly StoredSet[]): Promise<string> {
  for (const { set } of pending) {
    const disk = set.disks.find((d) => d.id === diskId);
    if (disk) return disk.volume!.name;
  }
  // The chain's head stands on a set an earlier run committed in `to`.
  const scan = await scanCatalog(to.conn, { pools: [to.name] });
  for (const { set } of scan.stored) {
    const disk = set.disks.find((d) => d.id === diskId);
    if (disk?.volume && (await findVolume(to, disk.volume.name).then((v) => (v?.free(), v !== undefined))))
      return disk.volume.name;
  }
  throw new VolbackError(ErrorCodes.CHAIN_BROKEN, `parent disk backup ${diskId} is not in pool ${to.name}`);
}

/** Copies a checksum document as its text (the metadata's sha256 covers the text, not the volume). */
async function copyChecksums(
  from: OpenPool,
  to: OpenPool,
  document: string,
  dataVolume: string,
): Promise<void> {
  if (checksumDocumentVolume(document) !== dataVolume) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `checksums ${document} are not named after their data volume ${dataVolume}; not migrated`,
    );
  }
  const [read] = await readDocuments(from, [document]);
  if ('error' in read) throw read.error;
  await writeDocument(to, document, read.text);
}

/**
 * Deletes the root's copy of a committed set: the data volumes and checksum documents it can prove
 * its own, then its metadata last (it stays the record of what to delete until then). Returns the
 * volumes it kept.
 */
async function deleteRootCopy(
  root: OpenPool,
  stored: StoredSet,
  claims: ReturnType<typeof claimsOf>,
): Promise<KeptVolume[]> {
  const { set, metadataVolume } = stored;
  const verdict = volumesToDelete(
    set,
    set.disks.map((d) => d.id),
    [{ pool: root.name, name: metadataVolume }],
    claims,
  );
  for (const ref of verdict.delete) {
    const disk = set.disks.find((d) => d.volume?.name === ref.name);
    await deleteVolumeIfPresent(root, ref.name);
    if (disk?.checksums && checksumDocumentVolume(disk.checksums.document) === ref.name)
      await deleteVolumeIfPresent(root, disk.checksums.document);
  }
  for (const kept of verdict.kept) log.warn(`leaving ${kept.name} in pool ${kept.pool}: ${kept.reason}`);
  crashPoint('migrate-deleting');
  await deleteVolumeIfPresent(root, metadataVolume);
  return verdict.kept;
}
