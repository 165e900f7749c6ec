// The catalog scan: finds every backup set stored in the chosen pools, validates each metadata
// document, and builds chains. Only what the pools hold is used, so a fresh host sees every backup.
import type { Connection } from '../libvirt';
import { ErrorCodes, VolbackError } from '../errors';
import { logger } from '../log';
import type { BackupSet } from '../model';
import { closePools, openActivePools, type OpenPool } from '../pool/pool-layer';
import { readIndex, writeIndex } from '../pool/catalog-index';
import { parseBackupVolumeName, parseMetadataVolumeName } from '../pool/volume-names';
import { parseBackupSets } from '../xml';
import { buildCatalog, filterSets, type Catalog, type SetFilter } from './chains';

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
  /** Data volumes that no valid metadata names (an interrupted backup, or a set whose metadata is bad). */
  strayVolumes: Array<{ pool: string; volume: string }>;
  /** Pools scanned. */
  pools: string[];
  /** Pools of an all-pools scan that could not be read; their backups are missing from this scan. */
  unreadable: Array<{ pool: string; error: Error }>;
}

export interface ScanOptions {
  /** Pools to scan; every active pool of a supported type when absent. */
  pools?: readonly string[];
}

async function scanPool(pool: OpenPool): Promise<Pick<CatalogScan, 'stored' | 'invalid' | 'strayVolumes'>> {
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
  for (const read of await pool.driver.readMetadata(pool, misses)) {
    if ('error' in read) invalid.push({ pool: pool.name, volume: read.name, error: read.error });
    else docs.push({ xml: read.xml, source: `volume ${read.name} in pool ${pool.name}`, volume: read.name });
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
  const referenced = new Set(
    stored.flatMap(({ set }) =>
      set.disks.filter((d) => d.volume?.pool === pool.name).map((d) => d.volume!.name),
    ),
  );
  const strayVolumes = names
    .filter((name) => parseBackupVolumeName(name) !== undefined && !referenced.has(name))
    .map((volume) => ({ pool: pool.name, volume }));
  for (const bad of invalid)
    log.warn(`metadata ${bad.volume} in pool ${bad.pool} is not a valid backup: ${bad.error.message}`);
  return { stored, invalid, strayVolumes };
}

/**
 * Scans pools for backup sets. A named pool that cannot be read fails the scan with its name; when
 * every active pool is scanned, one that cannot be read (stopped or removed meanwhile, say) is
 * reported in `unreadable` and the others are still listed.
 */
export async function scanCatalog(conn: Connection, options: ScanOptions = {}): Promise<CatalogScan> {
  const pools = await openActivePools(conn, options.pools);
  try {
    const unreadable: CatalogScan['unreadable'] = [];
    const results = await Promise.all(
      pools.map((pool) =>
        scanPool(pool).catch((err: unknown) => {
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
          return { stored: [], invalid: [], strayVolumes: [] };
        }),
      ),
    );
    const stored = results.flatMap((r) => r.stored);
    return {
      catalog: buildCatalog(stored.map((s) => s.set)),
      stored,
      invalid: results.flatMap((r) => r.invalid),
      strayVolumes: results.flatMap((r) => r.strayVolumes),
      pools: pools.map((p) => p.name).filter((name) => !unreadable.some((u) => u.pool === name)),
      unreadable,
    };
  } finally {
    closePools(pools);
  }
}

/** The sets of a scan that match a filter, newest first, each once. */
export function selectSets(scan: CatalogScan, filter: SetFilter = {}): BackupSet[] {
  const unique = [...scan.catalog.sets.values()].map((entry) => entry.set);
  return filterSets(unique, filter).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}
