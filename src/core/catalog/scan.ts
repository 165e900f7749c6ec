// The catalog scan: finds every backup set stored in the chosen pools, validates each metadata
// document, and builds chains. Only what the pools hold is used, so a fresh host sees every backup.
import type { Connection } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupKind, BackupSet } from '../../model';
import { activePoolNames, closePools, openActivePools, type OpenPool } from '../../pool/pool-layer';
import { mapBounded, POOL_CONCURRENCY } from '../../pool/bounded-map';
import { poolsForDomain, undefinedDomainPools } from '../../pool/default-layout';
import { readIndex, writeIndex } from '../../pool/catalog-index';
import { parseBackupVolumeName, parseMetadataVolumeName } from '../../pool/volume-names';
import { parseBackupSets } from '../../xml';
import { checksumDocumentVolume } from '../../pool/checksums';
import {
  buildCatalog,
  filterSets,
  findSet,
  type Catalog,
  type ChainProblem,
  type DamageNote,
  type SetFilter,
} from './chains';
import { readDocuments } from '../../pool/documents';
import { liveRestoresIn, type FoundLiveRestore } from '../shared/live-records';
import { damagedMetadataVolume, damageMessage, readDamageRecords, type FoundDamage } from './damage';

const log = logger('catalog');

/** Where one copy of a set's metadata was found. */
export interface StoredSet {
  set: BackupSet;
  pool: string;
  metadataVolume: string;
}

export interface CatalogScan {
  /** Chains over every valid set found (problems included). */
  catalog: Catalog;
  /** Every valid metadata copy, with its pool and volume. */
  stored: StoredSet[];
  /** Metadata volumes that could not be read or failed their schema: never listed as backups. */
  invalid: Array<{ pool: string; volume: string; error: Error }>;
  /**
   * Volumes of backups that no valid metadata names (an interrupted backup, or a set whose metadata is
   * bad): data volumes, their checksum documents, damage records of sets that are gone.
   */
  strayVolumes: Array<{ pool: string; volume: string }>;
  /** Damage records (docs/architecture.md, "Checksums") of catalogued sets. */
  damage: FoundDamage[];
  /** Live restores recorded in the pools (docs/live-restore.md): what they read must stay. */
  liveRestores: FoundLiveRestore[];
  /** Pools scanned. */
  pools: string[];
  /** Pools of an all-pools scan that could not be read; their backups are missing from this scan. */
  unreadable: Array<{ pool: string; error: Error }>;
  /**
   * Domain pools of the per-domain layout whose directory the root pool lists but which are not
   * active here: their sets are missing from this scan until `volback pool discover` defines them.
   */
  undefinedDomainPools?: Array<{ pool: string; domainUuid: string }>;
}

export interface ScanOptions {
  /** Pools to scan; every active pool of a supported type when absent. */
  pools?: readonly string[];
  /** The default location's root pool (config `default_pool`): its domain pools are known by name. */
  root?: string;
  /**
   * Read only the pools that can hold this domain's sets: with `root`, the other domains' pools of
   * the per-domain layout are skipped (docs/scale.md, "Which pools a scan reads").
   */
  domainUuid?: string;
  /** Told each pool the scan reads, before it is read (the debug log says the same). */
  onPoolRead?: (pool: string) => void;
}

type PoolScan = Pick<CatalogScan, 'stored' | 'invalid' | 'strayVolumes' | 'damage' | 'liveRestores'> & {
  names?: string[];
};

async function scanPool(pool: OpenPool): Promise<PoolScan> {
  const names = await pool.driver.listVolumeNames(pool);
  const metadataNames = names.filter((name) => parseMetadataVolumeName(name) !== undefined);
  // Documents the index already holds were validated when they entered it and cannot have changed since.
  const index = await readIndex(pool, names);
  const found = new Map<string, BackupSet>();
  const misses: string[] = [];
  for (const name of metadataNames) {
    const set = index?.get(name);
    if (set) found.set(name, set);
    else misses.push(name);
  }
  const invalid: CatalogScan['invalid'] = [];
  const docs: Array<{ xml: string; source: string; volume: string }> = [];
  for (const read of await readDocuments(pool, misses)) {
    if ('error' in read) invalid.push({ pool: pool.name, volume: read.name, error: read.error });
    else docs.push({ xml: read.text, source: `volume ${read.name} in pool ${pool.name}`, volume: read.name });
  }
  const parsed = await parseBackupSets(docs);
  parsed.forEach((result, i) => {
    if (result.ok) found.set(docs[i].volume, result.set);
    else invalid.push({ pool: pool.name, volume: docs[i].volume, error: result.error });
  });
  // In listing order, whether a document came from the index or was read now.
  const stored: StoredSet[] = metadataNames
    .filter((name) => found.has(name))
    .map((name) => ({ set: found.get(name)!, pool: pool.name, metadataVolume: name }));
  if (parsed.some((r) => r.ok) || (index && index.size !== stored.length)) {
    await writeIndex(pool, names, new Map(stored.map((s) => [s.metadataVolume, s.set])));
  }
  const mine = stored.flatMap(({ set }) => set.disks.filter((d) => d.volume?.pool === pool.name));
  const referenced = new Set([
    ...mine.map((d) => d.volume!.name),
    ...mine.flatMap((d) => (d.checksums ? [d.checksums.document] : [])),
  ]);
  const metadataHere = new Set(stored.map((s) => s.metadataVolume));
  const ownedByBackup = (name: string): boolean =>
    parseBackupVolumeName(name) !== undefined ||
    parseBackupVolumeName(checksumDocumentVolume(name) ?? '') !== undefined;
  const strayVolumes = names
    .filter(
      (name) =>
        (ownedByBackup(name) && !referenced.has(name)) ||
        (damagedMetadataVolume(name) !== undefined && !metadataHere.has(damagedMetadataVolume(name)!)),
    )
    .map((volume) => ({ pool: pool.name, volume }));
  for (const bad of invalid)
    log.warn(`metadata ${bad.volume} in pool ${bad.pool} is not a valid backup: ${bad.error.message}`);
  const damage = (await readDamageRecords(pool, names)).filter((d) => metadataHere.has(d.metadataVolume));
  const liveRestores = (await liveRestoresIn(pool, names)).found;
  return { stored, invalid, strayVolumes, damage, liveRestores, names };
}

/**
 * Scans pools for backup sets. A named pool that cannot be read fails the scan with its name; when
 * every active pool is scanned, one that cannot be read (stopped or removed meanwhile, say) is
 * reported in `unreadable` and the others are still listed.
 */
export async function scanCatalog(conn: Connection, options: ScanOptions = {}): Promise<CatalogScan> {
  const { root, domainUuid } = options;
  const active = options.pools ? undefined : await activePoolNames(conn);
  const wanted = active && root !== undefined ? new Set(poolsForDomain(active, root, domainUuid)) : undefined;
  const pools = await openActivePools(conn, options.pools, wanted && ((name) => wanted.has(name)));
  try {
    const unreadable: CatalogScan['unreadable'] = [];
    const results = await mapBounded(pools, POOL_CONCURRENCY, (pool) => {
      log.debug(`reading pool ${pool.name}`);
      options.onPoolRead?.(pool.name);
      return scanPool(pool).catch((err: unknown) => {
        const error = new VolbackError(
          ErrorCodes.POOL_UNAVAILABLE,
          `cannot read backups in pool '${pool.name}'`,
          {
            cause: err,
          },
        );
        if (options.pools) throw error;
        log.warn(`${error.message}: ${(err as Error).message}`);
        unreadable.push({ pool: pool.name, error });
        return {
          stored: [],
          invalid: [],
          strayVolumes: [],
          damage: [],
          liveRestores: [],
          names: undefined,
        };
      });
    });
    const stored = results.flatMap((r) => r.stored);
    const damage = results.flatMap((r) => r.damage);
    const listed = new Map<string, Set<string>>();
    results.forEach((r, i) => {
      if (r.names) listed.set(pools[i].name, new Set(r.names));
    });
    return {
      // A volume a set names in a pool that was listed is known to be there or not.
      catalog: buildCatalog(
        stored.map((s) => s.set),
        {
          volumeExists: (pool, name) => listed.get(pool)?.has(name),
          damage: damageNotes(stored, damage),
        },
      ),
      stored,
      invalid: results.flatMap((r) => r.invalid),
      strayVolumes: results.flatMap((r) => r.strayVolumes),
      damage,
      liveRestores: results.flatMap((r) => r.liveRestores),
      pools: pools.map((p) => p.name).filter((name) => !unreadable.some((u) => u.pool === name)),
      unreadable,
      undefinedDomainPools:
        root !== undefined && active && listed.has(root)
          ? undefinedDomainPools(root, [...listed.get(root)!], active).filter(
              (p) => domainUuid === undefined || p.domainUuid === domainUuid.toLowerCase(),
            )
          : [],
    };
  } finally {
    closePools(pools);
  }
}

/**
 * What the damage records say, per set: the set stored in the metadata volume beside each record. A
 * record that cannot be read (cut short while it was written) still marks its set: it was written
 * because damage was found. Pure.
 */
export function damageNotes(stored: readonly StoredSet[], damage: readonly FoundDamage[]): DamageNote[] {
  return damage.flatMap((d) => {
    const owner = stored.find((s) => s.pool === d.pool && s.metadataVolume === d.metadataVolume);
    if (!owner) return [];
    if (d.record && d.record.setId !== owner.set.id) return [];
    return [
      {
        setId: owner.set.id,
        message: d.record
          ? damageMessage(d.record)
          : `its damage record ${d.volume} in pool ${d.pool} cannot be read (${d.error?.message})`,
      },
    ];
  });
}

/** The sets of a scan that match a filter, newest first, each once. */
export function selectSets(scan: CatalogScan, filter: SetFilter = {}): BackupSet[] {
  const unique = [...scan.catalog.sets.values()].map((entry) => entry.set);
  return filterSets(unique, filter).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}

export interface ListBackupsOptions {
  /** Pools to scan; every active pool of a supported type when absent. */
  pools?: readonly string[];
  /**
   * The default location's root pool: with `domain`, only the pools that can hold that domain's
   * sets are read (its own pool of the per-domain layout, not the other domains').
   */
  root?: string;
  /** Told each pool the scan reads (see ScanOptions). */
  onPoolRead?: (pool: string) => void;
  /** Domain name or UUID. */
  domain?: string;
  /** Sets created at or after this time. */
  since?: Date;
  /** Sets created at or before this time. */
  until?: Date;
  kind?: BackupKind;
}

/** One backup set as listed: the metadata plus what the catalog knows about it. */
export interface ListedSet {
  set: BackupSet;
  /** Parent set id when it is catalogued. */
  parentId?: string;
  /** Child set ids (catalogued), oldest first. */
  childIds: string[];
  /** True when the set and every ancestor are free of problems. */
  restorable: boolean;
  problems: ChainProblem[];
  /** Every copy of the set's metadata (one per pool that holds a disk of the set). */
  metadata: Array<{ pool: string; volume: string }>;
  /** Live restores whose domains read this set's backups (its removal is refused until they finish). */
  liveRestores?: Array<{ id: string; domain: string; host: string; disks: string[] }>;
}

export interface BackupListing {
  /** Pools scanned. */
  pools: string[];
  /** Matching sets, newest first. */
  sets: ListedSet[];
  /** Chain problems of the matching sets (orphans, broken chains, …), in catalog order. */
  problems: ChainProblem[];
  /** Metadata volumes that could not be read or failed their schema (never listed as backups). */
  invalidMetadata: Array<{ pool: string; volume: string; error: string }>;
  /** Backup data volumes that no valid metadata names (an interrupted run, or bad metadata). */
  strayVolumes: Array<{ pool: string; volume: string }>;
  /** Active pools that could not be read (stopped or removed during the scan): their backups are missing. */
  unreadablePools: Array<{ pool: string; error: string }>;
  /** Domain pools the root's directory holds that are not active here (`volback pool discover`). */
  undefinedDomainPools?: Array<{ pool: string; domainUuid: string }>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The live restores that read a disk backup of `set`, each once. Pure. */
function readersOf(scan: CatalogScan, set: BackupSet): NonNullable<ListedSet['liveRestores']> {
  const ids = new Set(set.disks.map((d) => d.id));
  const out = new Map<string, NonNullable<ListedSet['liveRestores']>[number]>();
  for (const { restore } of scan.liveRestores) {
    const disks = restore.disks.filter((d) => d.reads.some((r) => ids.has(r.diskId))).map((d) => d.target);
    if (disks.length && !out.has(restore.id))
      out.set(restore.id, { id: restore.id, domain: restore.domain, host: restore.host, disks });
  }
  return [...out.values()];
}

function listed(scan: CatalogScan, set: BackupSet): ListedSet {
  const entry = scan.catalog.sets.get(set.id)!;
  return {
    set,
    parentId: entry.parentId,
    childIds: [...entry.childIds],
    restorable: entry.restorable,
    problems: [...entry.problems],
    metadata: scan.stored
      .filter((s) => s.set.id === set.id)
      .map((s) => ({ pool: s.pool, volume: s.metadataVolume })),
    liveRestores: readersOf(scan, set),
  };
}

/**
 * Lists the backup sets stored in the pools (only the pools are read: a fresh host sees every
 * backup), filtered, with the problems the scan found. Stray volumes and invalid metadata are
 * reported for every scanned pool; chain problems only for the matching sets.
 */
export async function listBackups(
  conn: Connection,
  options: ListBackupsOptions = {},
): Promise<BackupListing> {
  // With a root, a defined domain's name stands for its uuid: only its pools are read, so the sets
  // of an earlier domain of that name are listed by their uuid (docs/scale.md).
  const uuid =
    options.domain !== undefined && UUID_RE.test(options.domain)
      ? options.domain
      : options.root !== undefined
        ? await uuidOfDomain(conn, options.domain)
        : undefined;
  const scan = await scanCatalog(conn, {
    pools: options.pools,
    root: options.root,
    domainUuid: uuid,
    onPoolRead: options.onPoolRead,
  });
  const sets = selectSets(scan, {
    domainName: uuid === undefined ? options.domain : undefined,
    domainUuid: uuid,
    from: options.since,
    to: options.until,
    kind: options.kind,
  });
  const ids = new Set(sets.map((s) => s.id));
  return {
    pools: scan.pools,
    sets: sets.map((s) => listed(scan, s)),
    problems: scan.catalog.problems.filter((p) => ids.has(p.setId)),
    invalidMetadata: scan.invalid.map((i) => ({ pool: i.pool, volume: i.volume, error: i.error.message })),
    strayVolumes: scan.strayVolumes,
    unreadablePools: scan.unreadable.map((u) => ({ pool: u.pool, error: u.error.message })),
    undefinedDomainPools: scan.undefinedDomainPools ?? [],
  };
}

/**
 * The uuid of the defined domain named `name`, or undefined (no name, or no such domain here: its
 * sets may be in any domain pool, so the scan then reads them all).
 */
async function uuidOfDomain(conn: Connection, name: string | undefined): Promise<string | undefined> {
  if (name === undefined) return undefined;
  const domain = await conn.lookupDomainByName(name).catch(() => undefined);
  if (!domain) return undefined;
  try {
    return await domain.getUUIDString();
  } finally {
    domain.free();
  }
}

/**
 * Finds one backup set by its id or a unique prefix of it. Throws ERR_NOT_FOUND when nothing
 * matches and ERR_INVALID_INPUT when the prefix is ambiguous (listing the candidates).
 */
export async function findBackupSet(
  conn: Connection,
  idOrPrefix: string,
  options: { pools?: readonly string[] } = {},
): Promise<ListedSet> {
  const scan = await scanCatalog(conn, { pools: options.pools });
  return listed(scan, findSet(scan.catalog, idOrPrefix).set);
}
