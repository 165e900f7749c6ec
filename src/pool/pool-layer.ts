// The generic pool layer: opens pools with their driver, creates the default backup pool on first use,
// checks room, and finds and reads backup metadata volumes. It never branches on a pool type.
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
import { parsePoolXml } from '../xml/libvirt-domain';
import type { PoolDriver, PoolRef } from './driver';
import { driverFor } from './registry';
import { escapeXml } from '../xml/escape';

const log = logger('pool');

/** An open pool together with the driver of its type. */
export interface OpenPool extends PoolRef {
  readonly driver: PoolDriver;
}

async function describe(conn: Connection, pool: StoragePool): Promise<OpenPool> {
  const { type, name, path } = await parsePoolXml(await pool.getXMLDesc());
  return { conn, pool, name, type, path, driver: driverFor(type, name) };
}

async function lookupPool(conn: Connection, name: string): Promise<StoragePool | undefined> {
  try {
    return await conn.lookupStoragePoolByName(name);
  } catch (err) {
    if (isLibvirtNotFound(err)) return undefined;
    throw err;
  }
}

/** Opens an active pool by name; a missing, inactive or unsupported pool is a clear user error. */
export async function openPool(conn: Connection, name: string): Promise<OpenPool> {
  const pool = await lookupPool(conn, name);
  if (!pool) {
    throw new VolbackError(ErrorCodes.POOL_UNAVAILABLE, `storage pool '${name}' does not exist`, {
      fault: 'user',
      hint: `create it (virsh pool-define-as ...) or use 'volback pool init ${name}'`,
    });
  }
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

/** XML of the dir pool volback creates as its default location. Pure. */
export function defaultPoolXml(location: Required<BackupLocation>): string {
  // 0711: QEMU (libvirt-qemu) must reach the volumes of a running job, nobody needs to list them.
  return (
    `<pool type='dir'><name>${escapeXml(location.pool)}</name>` +
    `<target><path>${escapeXml(location.path)}</path>` +
    `<permissions><mode>0711</mode></permissions></target></pool>`
  );
}

/**
 * Opens the pool of a backup location, creating it as a dir pool (defined, built, started,
 * autostarted) when it does not exist, and starting it when it is defined but inactive.
 */
export async function ensureLocationPool(
  conn: Connection,
  location: Required<BackupLocation>,
): Promise<OpenPool> {
  let pool = await lookupPool(conn, location.pool);
  if (!pool) {
    log.info(`creating the backup pool '${location.pool}' at ${location.path}`);
    pool = await conn.defineStoragePool(defaultPoolXml(location));
    try {
      await pool.build();
      await pool.create();
      await pool.setAutostart(true);
    } catch (err) {
      await pool.undefine().catch(() => undefined);
      pool.free();
      throw new VolbackError(
        ErrorCodes.POOL_UNAVAILABLE,
        `cannot create the backup pool '${location.pool}' at ${location.path}`,
        {
          cause: err,
        },
      );
    }
  } else if (!(await pool.isActive())) {
    log.info(`starting the backup pool '${location.pool}'`);
    await pool.create();
  }
  pool.free();
  return openPool(conn, location.pool);
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

/** Every active pool whose type volback supports (others are skipped, at debug level). */
export async function openActivePools(conn: Connection, names?: readonly string[]): Promise<OpenPool[]> {
  if (names) return Promise.all(names.map((name) => openPool(conn, name)));
  const pools = await conn.listAllStoragePools(
    virConnectListAllStoragePoolsFlags.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE,
  );
  const open: OpenPool[] = [];
  for (const pool of pools) {
    try {
      open.push(await describe(conn, pool));
    } catch (err) {
      log.debug(`skipping pool: ${(err as Error).message}`);
      pool.free();
    }
  }
  return open;
}

/** Releases the libvirt handles of opened pools. */
export function closePools(pools: readonly OpenPool[]): void {
  for (const pool of pools) pool.pool.free();
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

/** The named volume of a pool, or undefined when it does not exist. The caller frees it. */
export async function findVolume(pool: PoolRef, name: string): Promise<StorageVolume | undefined> {
  try {
    return await pool.pool.lookupVolumeByName(name);
  } catch (err) {
    if (isLibvirtNotFound(err)) return undefined;
    throw err;
  }
}

/** Deletes the named volume through the pool's driver; a volume already gone is fine. */
export async function deleteVolumeIfPresent(pool: OpenPool, name: string): Promise<void> {
  const volume = await findVolume(pool, name);
  if (!volume) return;
  try {
    await pool.driver.deleteVolume(pool, volume);
  } catch (err) {
    if (!isLibvirtNotFound(err)) throw err;
  } finally {
    volume.free();
  }
}

/** Volume XML of a raw volume holding exactly `bytes` bytes, readable by its owner only. Pure. */
export function rawVolumeXml(name: string, bytes: number): string {
  return (
    `<volume type='file'><name>${escapeXml(name)}</name>` +
    `<capacity unit='bytes'>${bytes}</capacity><allocation unit='bytes'>0</allocation>` +
    `<target><format type='raw'/><permissions><mode>0600</mode></permissions></target></volume>`
  );
}
