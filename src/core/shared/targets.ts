// Where a run's volumes go, decided once: the location pool (the definition's, else the configured
// default), what each candidate pool's driver declares, and the pools opened with room checked.
import type { Connection } from '../../libvirt';
import type { BackupDefinition, BackupLocation } from '../../model';
import type { PoolDriverCapabilities } from '../../pool/driver';
import {
  assertRoom,
  closePools,
  ensureLocationPool,
  openPool,
  poolTypeOf,
  type OpenPool,
} from '../../pool/pool-layer';
import { driverFor } from '../../pool/registry';

/** The configured default location: where disks without a target go, created on first use. */
export interface DefaultLocation {
  pool: string;
  path: string;
}

/**
 * The location of a run: the definition's `<location>` when it has one, else the default. A
 * location pool that does not exist is created only when a path says where: the definition's, or
 * the default's for the default pool; otherwise it must exist. Pure.
 */
export function resolveLocation(definition: BackupDefinition, defaults: DefaultLocation): BackupLocation {
  const pool = definition.location?.pool ?? defaults.pool;
  const path = definition.location?.path ?? (pool === defaults.pool ? defaults.path : undefined);
  return path === undefined ? { pool } : { pool, path };
}

/**
 * The capabilities of each pool a plan may use, read before anything is created: an existing pool's
 * driver's, or for a location pool that does not exist yet those it would be created with. A
 * `required` pool (where disks are asked to go) that neither exists nor can be created is
 * ERR_NOT_FOUND; an `optional` one (where a base's volumes were) is simply unknown.
 */
export async function capabilitiesOf(
  conn: Connection,
  pools: { required: Iterable<string>; optional: Iterable<string> },
  location: BackupLocation,
): Promise<(pool: string) => PoolDriverCapabilities | undefined> {
  const known = new Map<string, PoolDriverCapabilities>();
  const read = async (name: string): Promise<void> => {
    if (!known.has(name))
      known.set(name, driverFor(await poolTypeOf(conn, name, location), name).capabilities);
  };
  for (const name of pools.required) await read(name);
  for (const name of pools.optional) await read(name).catch(() => undefined);
  return (pool) => known.get(pool);
}

/** What a run writes into one pool: at most `bytes`, for `what` (named in a refusal). */
export interface PoolNeed {
  pool: string;
  bytes: number;
  what: string;
}

/**
 * Opens every pool a run writes to, the location pool created when it is missing, and refuses one
 * without room for what the run puts there. On failure nothing stays open.
 */
export async function openRunPools(
  conn: Connection,
  needs: readonly PoolNeed[],
  location: BackupLocation,
): Promise<Map<string, OpenPool>> {
  const pools = new Map<string, OpenPool>();
  try {
    for (const name of new Set(needs.map((n) => n.pool))) {
      pools.set(
        name,
        name === location.pool ? await ensureLocationPool(conn, location) : await openPool(conn, name),
      );
    }
    for (const [name, pool] of pools) {
      const mine = needs.filter((n) => n.pool === name);
      await assertRoom(
        pool,
        mine.reduce((sum, n) => sum + n.bytes, 0),
        mine.map((n) => n.what).join(', '),
      );
    }
    return pools;
  } catch (err) {
    closePools([...pools.values()]);
    throw err;
  }
}
