// The generic pool layer: opens pools with their driver, creates the location pool on first use,
// checks room, finds and deletes volumes, and keeps each pool's generation marker. It never branches
// on a pool type: whatever differs is a driver method or capability (driver.ts).
import { randomBytes } from 'node:crypto';
import {
  isLibvirtNotFound,
  virConnectListAllStoragePoolsFlags,
  type Connection,
  type StoragePool,
  type StorageVolume,
} from '../libvirt';
import { ErrorCodes, VolbackError } from '../errors';
import { logger } from '../log';
import type { BackupLocation } from '../model';
import type { ImageRef } from '../tools/qemu-img';
import { parsePoolIdentity } from '../xml/libvirt-storage';
import type { PoolDriver, PoolRef } from './driver';
import { mapBounded, POOL_CONCURRENCY } from './bounded-map';
import { driverFor } from './registry';
import { startPool } from './start';
import { parseMetadataVolumeName } from './volume-names';

const log = logger('pool');

/** An open pool together with the driver of its type. */
export interface OpenPool extends PoolRef {
  readonly driver: PoolDriver;
}

/** The pool type volback creates its location pool as, when the location names a path. */
export const LOCATION_POOL_TYPE = 'dir';

async function describe(conn: Connection, pool: StoragePool): Promise<OpenPool> {
  const xml = await pool.getXMLDesc();
  const { type, name } = await parsePoolIdentity(xml);
  return { conn, pool, name, type, xml, driver: driverFor(type, name) };
}

async function lookupPool(conn: Connection, name: string): Promise<StoragePool | undefined> {
  try {
    return await conn.lookupStoragePoolByName(name);
  } catch (err) {
    if (isLibvirtNotFound(err)) return undefined;
    throw err;
  }
}

/** True when pool `name` is defined (active or not). */
export async function poolExists(conn: Connection, name: string): Promise<boolean> {
  const pool = await lookupPool(conn, name);
  pool?.free();
  return pool !== undefined;
}

const missingPool = (name: string): VolbackError =>
  new VolbackError(ErrorCodes.NOT_FOUND, `storage pool '${name}' does not exist`, {
    fault: 'user',
    hint: `list the pools with \`volback pool list\`; create a dir pool with \`volback pool init ${name} --path DIR\``,
  });

/** Opens an active pool by name; a missing, inactive or unsupported pool is a clear user error. */
export async function openPool(conn: Connection, name: string): Promise<OpenPool> {
  const pool = await lookupPool(conn, name);
  if (!pool) throw missingPool(name);
  if (!(await pool.isActive())) {
    pool.free();
    throw new VolbackError(ErrorCodes.POOL_UNAVAILABLE, `storage pool '${name}' is not active`, {
      fault: 'user',
      hint: `start it with: virsh pool-start ${name}`,
    });
  }
  try {
    return await describe(conn, pool);
  } catch (err) {
    pool.free();
    throw err;
  }
}

/**
 * The libvirt type of pool `name`, or, when it does not exist yet, the type it would be created as
 * for `location` (its driver's capabilities then decide a plan before anything is created).
 * Throws the missing-pool error when it neither exists nor can be created.
 */
export async function poolTypeOf(conn: Connection, name: string, location?: BackupLocation): Promise<string> {
  const pool = await lookupPool(conn, name);
  if (!pool) {
    if (location?.pool === name && location.path !== undefined) return LOCATION_POOL_TYPE;
    throw missingPool(name);
  }
  try {
    return (await parsePoolIdentity(await pool.getXMLDesc())).type;
  } finally {
    pool.free();
  }
}

/**
 * Opens the pool of a backup location. A location with a `path` whose pool does not exist yet is
 * created by the LOCATION_POOL_TYPE driver (defined, built, started, autostarted); a defined but
 * inactive one is started. A location without a path names a pool that must exist.
 */
export function ensureLocationPool(conn: Connection, location: BackupLocation): Promise<OpenPool> {
  const key = `${conn.uri} ${location.pool}`;
  const mine = (ensuring.get(key) ?? Promise.resolve()).then(() => ensureLocationPoolNow(conn, location));
  const settled = mine.then(
    () => undefined,
    () => undefined,
  );
  ensuring.set(key, settled);
  void settled.then(() => {
    if (ensuring.get(key) === settled) ensuring.delete(key);
  });
  return mine;
}

/**
 * The runs of one process (backup create --all) ensure one location's pool one at a time. Two at
 * once raced: one started the pool the other had just defined, the other's start then failed, and
 * its clean-up undefined the pool both needed (seen in a CI run of backup-many.test.ts).
 */
const ensuring = new Map<string, Promise<void>>();

async function ensureLocationPoolNow(conn: Connection, location: BackupLocation): Promise<OpenPool> {
  const pool = await lookupPool(conn, location.pool);
  if (!pool) {
    if (location.path === undefined) throw missingPool(location.pool);
    const driver = driverFor(LOCATION_POOL_TYPE);
    if (!driver.createPool) {
      throw new VolbackError(
        ErrorCodes.POOL_UNSUPPORTED,
        `pools of type ${driver.type} cannot be created by volback`,
      );
    }
    log.info(`creating the backup pool '${location.pool}' (${driver.type}) at ${location.path}`);
    try {
      await driver.createPool(conn, { name: location.pool, path: location.path });
    } catch (err) {
      // Two runs at once (backup create --all) may both find no pool: the one that lost the race
      // uses the pool the other made, once that one has started it.
      if (await madeMeanwhile(conn, location.pool)) return openPool(conn, location.pool);
      // A refusal of the path itself (unsafe directory, not absolute) stays the user's input error.
      const refused = err instanceof VolbackError && err.fault === 'user';
      throw new VolbackError(
        refused ? err.code : ErrorCodes.POOL_UNAVAILABLE,
        `cannot create the backup pool '${location.pool}' at ${location.path}: ${(err as Error).message}`,
        { cause: err, fault: refused ? 'user' : 'system', hint: refused ? err.hint : undefined },
      );
    }
  } else if (!(await pool.isActive())) {
    log.info(`starting the backup pool '${location.pool}'`);
    // Another process may be starting the pool it has just defined.
    await startPool(pool);
  }
  pool?.free();
  return openPool(conn, location.pool);
}

/** True when pool `name` exists and becomes active within 30 s (another run is creating it). */
async function madeMeanwhile(conn: Connection, name: string): Promise<boolean> {
  for (let waited = 0; waited < 30_000; waited += 250) {
    const pool = await lookupPool(conn, name);
    if (!pool) return false;
    try {
      if (await pool.isActive()) return true;
    } finally {
      pool.free();
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

/** Refuses, before anything is created, a pool without `bytes` of free space. */
export async function assertRoom(pool: OpenPool, bytes: number, what: string): Promise<void> {
  const info = await pool.pool.getInfo();
  if (info.available < bytes) {
    throw new VolbackError(
      ErrorCodes.POOL_UNAVAILABLE,
      `pool '${pool.name}' has ${info.available} bytes free but ${what} needs up to ${bytes}`,
      { fault: 'user', hint: 'free space in the pool or choose another target pool' },
    );
  }
}

/**
 * Every active pool whose type volback supports (others are skipped, at debug level), or the named
 * ones; `select` drops pools by name before any is described. Opened POOL_CONCURRENCY at a time.
 */
export async function openActivePools(
  conn: Connection,
  names?: readonly string[],
  select?: (name: string) => boolean,
): Promise<OpenPool[]> {
  if (names) return Promise.all(names.map((name) => openPool(conn, name)));
  const pools = await conn.listAllStoragePools(
    virConnectListAllStoragePoolsFlags.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE,
  );
  const wanted: StoragePool[] = [];
  for (const pool of pools) {
    if (!select || select(await pool.getName())) wanted.push(pool);
    else pool.free();
  }
  const described = await mapBounded(wanted, POOL_CONCURRENCY, (pool) =>
    describe(conn, pool).catch((err: unknown) => {
      log.debug(`skipping pool: ${(err as Error).message}`);
      pool.free();
      return undefined;
    }),
  );
  return described.filter((p): p is OpenPool => p !== undefined);
}

/** The names of the active pools (no pool is described). */
export async function activePoolNames(conn: Connection): Promise<string[]> {
  const pools = await conn.listAllStoragePools(
    virConnectListAllStoragePoolsFlags.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE,
  );
  try {
    return await Promise.all(pools.map((pool) => pool.getName()));
  } finally {
    for (const pool of pools) pool.free();
  }
}

/** Releases the libvirt handles of opened pools. */
export function closePools(pools: readonly OpenPool[]): void {
  for (const pool of pools) {
    void pool.driver.closePool?.(pool).catch(() => undefined);
    pool.pool.free();
  }
}

/** Opens pools by name once per operation, and closes them together at its end. */
export class PoolCache {
  private readonly open = new Map<string, OpenPool>();
  constructor(private readonly conn: Connection) {}

  async get(name: string): Promise<OpenPool> {
    let pool = this.open.get(name);
    if (!pool) {
      pool = await openPool(this.conn, name);
      this.open.set(name, pool);
    }
    return pool;
  }

  close(): void {
    closePools([...this.open.values()]);
    this.open.clear();
  }
}

async function lookupVolume(pool: PoolRef, name: string): Promise<StorageVolume | undefined> {
  try {
    return await pool.pool.lookupVolumeByName(name);
  } catch (err) {
    if (isLibvirtNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * The named volume of a pool, or undefined when it does not exist. The caller frees it. libvirt
 * knows the volumes it saw at its last refresh, and a shared pool (RBD) gains volumes other hosts
 * write: when libvirt does not know the name but the pool's driver says the pool holds it
 * (`holdsVolume`), the pool is refreshed and looked at again. A name that is free costs no
 * refresh (a refresh can take seconds, and races with other runs' volume builds).
 */
export async function findVolume(pool: OpenPool, name: string): Promise<StorageVolume | undefined> {
  const found = await lookupVolume(pool, name);
  if (found || !(await pool.driver.holdsVolume?.(pool, name))) return found;
  try {
    await pool.pool.refresh();
  } catch (err) {
    // libvirt refuses while one of its own volume builds runs in the pool (another volback run).
    log.debug(
      `pool '${pool.name}': no refresh after volume ${name} was not found: ${(err as Error).message}`,
    );
    return undefined;
  }
  return lookupVolume(pool, name);
}

/** The named volume of a pool; the caller frees it. @throws VolbackError ERR_NOT_FOUND naming the pool. */
export async function getVolume(pool: OpenPool, name: string): Promise<StorageVolume> {
  const volume = await findVolume(pool, name);
  if (!volume) {
    throw new VolbackError(ErrorCodes.NOT_FOUND, `volume ${name} does not exist in pool '${pool.name}'`, {
      fault: 'user',
    });
  }
  return volume;
}

/** The named volume of a pool as qemu-img reads it (its parents included), through the pool's driver. */
export async function volumeImage(conn: Connection, poolName: string, name: string): Promise<ImageRef> {
  const pool = await openPool(conn, poolName);
  try {
    const volume = await getVolume(pool, name);
    try {
      return await pool.driver.image(pool, volume);
    } finally {
      volume.free();
    }
  } finally {
    closePools([pool]);
  }
}

/**
 * Deletes the named volume through the pool's driver; a volume already gone is fine. Deleting a
 * metadata document first replaces the pool's generation marker, so no catalog index built before
 * can serve it again (catalog-index.ts).
 */
export async function deleteVolumeIfPresent(pool: OpenPool, name: string): Promise<void> {
  const volume = await findVolume(pool, name);
  if (!volume) return;
  try {
    if (parseMetadataVolumeName(name)) await bumpGeneration(pool);
    await pool.driver.deleteVolume(pool, volume);
  } catch (err) {
    if (!isLibvirtNotFound(err)) throw err;
  } finally {
    volume.free();
  }
}

const GENERATION_RE = /^volback-catalog\.[0-9a-f]{12}\.gen$/;

/** Generation markers: empty documents whose random names change whenever a metadata document goes. */
export const isGenerationMarker = (name: string): boolean => GENERATION_RE.test(name);

/** The generation markers in a pool listing, sorted: what an index built now is valid for. Pure. */
export const generationOf = (names: readonly string[]): string[] => names.filter(isGenerationMarker).sort();

/**
 * Replaces the pool's generation marker: every cached index becomes untrusted. The generic layer
 * calls it before any metadata document is deleted or rewritten; drivers never need to.
 */
export async function bumpGeneration(pool: OpenPool): Promise<void> {
  const old = generationOf(await pool.driver.listVolumeNames(pool));
  await pool.driver.writeDocumentVolume(
    pool,
    `volback-catalog.${randomBytes(6).toString('hex')}.gen`,
    Buffer.alloc(0),
  );
  // Only markers volback made go: they hold nothing (an LV or RBD image of one reads as zeros).
  const reads = await pool.driver.readDocumentVolumes(pool, old, MAX_MARKER_BYTES);
  for (const read of reads) {
    if ('bytes' in read && read.bytes.every((b) => b === 0)) await deleteVolumeIfPresent(pool, read.name);
    else
      log.warn(
        `leaving ${read.name} in pool ${pool.name}: named like a generation marker, but it holds data`,
      );
  }
}

/** A generation marker is empty; its volume is at most an extent (LV) or an object (RBD) large. */
const MAX_MARKER_BYTES = 16 * 1024 * 1024;
