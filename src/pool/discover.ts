// `volback pool discover`: defines the per-domain pools of the default location that a host does
// not know yet, from the root pool's directory alone (libvirt lists its sub-directories as volumes).
import type { Connection } from '../libvirt';
import { logger } from '../log';
import { domainPoolName, domainPoolPath, isDomainUuid } from './default-layout';
import { closePools, ensureLocationPool, openPool } from './pool-layer';

const log = logger('pool');

/** One domain pool found under the root, and what discovery did to it. */
export interface DiscoveredPool {
  pool: string;
  domainUuid: string;
  path: string;
  /** `defined`: created here now; `started`: it was defined but inactive; `active`: left alone. */
  action: 'defined' | 'started' | 'active';
}

/**
 * Makes the root pool (created at `root.path` when missing), refreshes it so directories other
 * hosts made are seen, and makes every uuid-named directory in it a dir pool `<root>-<uuid>`
 * (defined, started, autostarted, as on first use; a directory others can write is refused by the
 * dir driver). Idempotent: pools already active are left alone. `dryRun` changes nothing but the
 * root's refresh (the root pool must then exist).
 */
export async function discoverDomainPools(
  conn: Connection,
  root: { pool: string; path: string },
  options: { dryRun?: boolean } = {},
): Promise<DiscoveredPool[]> {
  const open = options.dryRun ? await openPool(conn, root.pool) : await ensureLocationPool(conn, root);
  let names: string[];
  let rootPath: string;
  try {
    await open.pool.refresh();
    names = await open.pool.listVolumeNames();
    rootPath = (await open.driver.describePool(open.xml)).path ?? root.path;
  } finally {
    closePools([open]);
  }
  const found: DiscoveredPool[] = [];
  for (const uuid of names.filter(isDomainUuid).sort()) {
    const pool = domainPoolName(root.pool, uuid);
    const path = domainPoolPath(rootPath, uuid);
    const action = await stateOf(conn, pool);
    if (action !== 'active' && !options.dryRun) {
      log.info(`${action === 'defined' ? 'defining' : 'starting'} the domain pool '${pool}' at ${path}`);
      closePools([await ensureLocationPool(conn, { pool, path })]);
    }
    found.push({ pool, domainUuid: uuid, path, action });
  }
  return found;
}

async function stateOf(conn: Connection, name: string): Promise<DiscoveredPool['action']> {
  const pool = await conn.lookupStoragePoolByName(name).catch(() => undefined);
  if (!pool) return 'defined';
  try {
    return (await pool.isActive()) ? 'active' : 'started';
  } finally {
    pool.free();
  }
}
