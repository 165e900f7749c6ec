// volback's library API: typed, promise-based; the `volback` CLI is a thin layer over exactly this.
//
// Long operations report progress through `onProgress` callbacks and stop through an AbortSignal
// (`signal`); every error is a VolbackError with a stable `code` (see ErrorCodes) and a `fault`.
import { Connection, virConnectListAllStoragePoolsFlags } from './libvirt';
import { ErrorCodes, VolbackError } from './errors';
import type { ResolvedConfig } from './config';
import type { BackupKind, BackupSet } from './model';
import type { BackupDefaults } from './core/backup';
import { scanCatalog, selectSets, type CatalogScan } from './core/catalog';
import { findSet, type ChainProblem } from './core/chains';
import { closePools, ensureLocationPool } from './pool/pool-layer';
import { supportedPoolTypes } from './pool/registry';
import { parsePoolXml } from './xml/libvirt-domain';

export { Connection, LibvirtError, isLibvirtError, isLibvirtNotFound } from './libvirt';
export {
  ErrorCodes,
  VolbackError,
  XmlValidationError,
  isCancelled,
  isNotFound,
  isVolbackError,
  type ErrorCode,
  type Fault,
} from './errors';
export {
  DEFAULT_CONFIG_PATH,
  loadConfig,
  type ConfigSource,
  type LoadConfigOptions,
  type ResolvedConfig,
  type RetentionDefaults,
  type VolbackConfig,
} from './config';
export { addLogFile, logger, setLogLevel, type LogLevel } from './log';
export type * from './model';
export { parseBackupDefinition, formatBackupDefinition } from './xml';
export {
  createBackup,
  type BackupDefaults,
  type BackupPhase,
  type BackupProgress,
  type BackupResult,
  type CreateBackupOptions,
} from './core/backup';
export {
  deleteBackup,
  recoverInterrupted,
  type DeleteOptions,
  type DeleteResult,
  type DependentsMode,
  type DiskMerge,
  type RecoveryReport,
  type RemovalStep,
} from './core/delete';
export {
  restoreBackup,
  restoreDomain,
  type RestoreDomainOptions,
  type RestoreDomainResult,
  type RestoredVolume,
  type RestoreOptions,
  type RestoreProgress,
  type RestoreResult,
} from './core/restore';
export { pruneBackups, type ExecutedRemoval, type PruneBackupsOptions, type PruneResult } from './core/prune';
export type { PrunePlan, PruneKeep, PruneRemoval, PruneUntouched, RetentionPolicy } from './core/retention';
export {
  beginExternalBackup,
  endExternalBackup,
  inspectExternalBackup,
  type BeginExternalOptions,
  type EndExternalOptions,
  type EndExternalResult,
  type ExternalDiskExport,
  type ExternalSession,
} from './core/external';
export type { CatalogScan, StoredSet } from './core/catalog';
export type { ChainProblem, ChainProblemKind } from './core/chains';
export { verifyBackup, type VerifyOptions, type VerifyResult, type DiskVerification } from './core/verify';
export {
  chooseVirtType,
  hostCapabilities,
  type HostCapabilities,
  type VirtChoice,
  type VirtType,
} from './core/host';
export { VOLBACK_VERSION } from './version';

/**
 * Opens a libvirt connection (`qemu:///system`, `qemu+ssh://host/system`, …). The caller closes it
 * with `conn.close()` once every call on it has settled.
 */
export function openConnection(uri: string): Promise<Connection> {
  return Connection.open(uri);
}

/** The backup location createBackup uses for disks without a target, from the configuration. */
export function backupDefaults(config: ResolvedConfig): BackupDefaults {
  return { pool: config.defaultPool, path: config.defaultPoolPath, format: config.backupFormat };
}

export interface ListBackupsOptions {
  /** Pools to scan; every active pool of a supported type when absent. */
  pools?: readonly string[];
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
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
  const scan = await scanCatalog(conn, { pools: options.pools });
  const byUuid = options.domain !== undefined && UUID_RE.test(options.domain);
  const sets = selectSets(scan, {
    domainName: byUuid ? undefined : options.domain,
    domainUuid: byUuid ? options.domain : undefined,
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
  };
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

/** A libvirt storage pool as volback sees it. */
export interface PoolSummary {
  name: string;
  uuid: string;
  type: string;
  active: boolean;
  autostart: boolean;
  path?: string;
  /** Bytes; 0 when the pool is inactive. */
  capacity: number;
  allocation: number;
  available: number;
  /** True when volback has a driver for the pool's type (it can hold backups). */
  supported: boolean;
}

/** Every storage pool on the connection (active or not), by name. */
export async function listPools(conn: Connection): Promise<PoolSummary[]> {
  const pools = await conn.listAllStoragePools(
    virConnectListAllStoragePoolsFlags.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE |
      virConnectListAllStoragePoolsFlags.VIR_CONNECT_LIST_STORAGE_POOLS_INACTIVE,
  );
  const supported = new Set(supportedPoolTypes());
  try {
    const out: PoolSummary[] = [];
    for (const pool of pools) {
      const [xml, uuid, active, autostart, info] = await Promise.all([
        pool.getXMLDesc(),
        pool.getUUIDString(),
        pool.isActive(),
        pool.getAutostart(),
        pool.getInfo(),
      ]);
      const { name, type, path } = await parsePoolXml(xml);
      out.push({
        name,
        uuid,
        type,
        active,
        autostart,
        path,
        capacity: info.capacity,
        allocation: info.allocation,
        available: info.available,
        supported: supported.has(type),
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  } finally {
    for (const pool of pools) pool.free();
  }
}

/**
 * Makes sure a backup pool exists and is active: creates it as a dir pool at `path` (defined,
 * built, started, autostarted) when missing, starts it when inactive, and leaves it alone otherwise.
 */
export async function initPool(
  conn: Connection,
  location: { name: string; path: string },
): Promise<PoolSummary> {
  const open = await ensureLocationPool(conn, { pool: location.name, path: location.path });
  closePools([open]);
  const pool = (await listPools(conn)).find((p) => p.name === location.name);
  if (!pool)
    throw new VolbackError(
      ErrorCodes.POOL_UNAVAILABLE,
      `pool '${location.name}' vanished after it was created`,
    );
  return pool;
}
