// What `volback pool list|init` show: every storage pool of a connection as volback sees it.
import { virConnectListAllStoragePoolsFlags, type Connection } from '../libvirt';
import { ErrorCodes, VolbackError } from '../errors';
import { parsePoolIdentity } from '../xml/libvirt-storage';
import { absNormalizedPathProblem } from '../xml/names';
import { closePools, ensureLocationPool } from './pool-layer';
import { driverFor, supportedPoolTypes } from './registry';

/** A libvirt storage pool as volback sees it. */
export interface PoolSummary {
  name: string;
  uuid: string;
  type: string;
  active: boolean;
  autostart: boolean;
  /** Where the volumes live, when that is a local path (its driver says; absent for unsupported types). */
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
      const { name, type } = await parsePoolIdentity(xml);
      const path = supported.has(type) ? (await driverFor(type, name).describePool(xml)).path : undefined;
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
 * Makes sure a backup pool exists and is active: creates it at `path` (as the location pool type,
 * see ensureLocationPool) when missing, starts it when inactive, and leaves it alone otherwise.
 */
export async function initPool(
  conn: Connection,
  location: { name: string; path: string },
): Promise<PoolSummary> {
  // As <location path>: a path with '..' would put the pool wherever the segments lead.
  const pathProblem = absNormalizedPathProblem(location.path);
  if (pathProblem)
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `pool path '${location.path}' ${pathProblem}`);
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
