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
  poolExists,
  poolTypeOf,
  type OpenPool,
} from '../../pool/pool-layer';
import { driverFor } from '../../pool/registry';
import { domainOfPool, domainPoolName, domainPoolPath, type DefaultLayout } from '../../pool/default-layout';
import { ErrorCodes, VolbackError } from '../../errors';

/** The configured default location: where disks without a target go, created on first use. */
export interface DefaultLocation {
  /** The root pool; with the per-domain layout each domain's sets go to `<pool>-<domain uuid>`. */
  pool: string;
  path: string;
  /** `per-domain` (config `default_pool_layout`, its default) or `single` (absent: single). */
  layout?: DefaultLayout;
}

/**
 * Where a run writes: a location, and for a domain's pool of the per-domain layout the root pool
 * whose directory holds it (created first, so any host finds the domain's directory through it).
 */
export interface RunLocation extends BackupLocation {
  root?: { pool: string; path: string };
}

/**
 * The location of a run: the definition's `<location>` when it has one, else the default — with the
 * per-domain layout the domain's own pool. A location pool that does not exist is created only when a
 * path says where: the definition's, or the default's for the default pool; otherwise it must exist.
 * A definition that sends disks into another domain's pool of the layout is refused: a scan for one
 * domain reads only its own (docs/scale.md). Pure.
 */
export function resolveLocation(
  definition: BackupDefinition,
  defaults: DefaultLocation,
  domainUuid?: string,
): RunLocation {
  for (const named of [definition.location?.pool, ...definition.disks.map((d) => d.target?.pool)]) {
    const owner = named === undefined ? undefined : domainOfPool(defaults.pool, named);
    if (owner !== undefined && owner !== domainUuid?.toLowerCase()) {
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `pool '${named}' holds the backups of domain ${owner} only; name another pool in the definition`,
        { fault: 'user' },
      );
    }
  }
  if (definition.location === undefined && defaults.layout === 'per-domain' && domainUuid !== undefined) {
    return {
      pool: domainPoolName(defaults.pool, domainUuid),
      path: domainPoolPath(defaults.path, domainUuid),
      root: { pool: defaults.pool, path: defaults.path },
    };
  }
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
  location: RunLocation,
): Promise<Map<string, OpenPool>> {
  const pools = new Map<string, OpenPool>();
  try {
    for (const name of new Set(needs.map((n) => n.pool))) {
      pools.set(
        name,
        name === location.pool ? await ensureRunLocation(conn, location) : await openPool(conn, name),
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

/**
 * Opens a run's location pool, creating (or starting) the root pool first when it has one. A domain
 * pool made now is in the root's listing at once (the root is refreshed), so a scan that finds its
 * definition gone can name it (docs/scale.md).
 */
export async function ensureRunLocation(conn: Connection, location: RunLocation): Promise<OpenPool> {
  if (!location.root) return ensureLocationPool(conn, location);
  const root = await ensureLocationPool(conn, location.root);
  try {
    const isNew = !(await poolExists(conn, location.pool));
    const pool = await ensureLocationPool(conn, { pool: location.pool, path: location.path });
    if (isNew) await root.pool.refresh().catch(() => undefined);
    return pool;
  } finally {
    closePools([root]);
  }
}
