// The default location's per-domain layout (docs/scale.md): one dir pool per backed-up domain,
// `<root>-<domain uuid>` at `<root path>/<domain uuid>`, beside the root pool `<root>` whose directory
// holds them. Pure: names and which pools a scan must read.

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** How the default location stores sets: one pool per domain (the default), or the root pool alone. */
export type DefaultLayout = 'per-domain' | 'single';

/** True when `text` is a domain uuid as libvirt prints it (lower-case, dashed). */
export function isDomainUuid(text: string): boolean {
  return UUID_RE.test(text);
}

/** The pool that holds the default location's sets of one domain. */
export function domainPoolName(root: string, domainUuid: string): string {
  return `${root}-${domainUuid.toLowerCase()}`;
}

/** The directory of a domain's pool: a child of the root pool's directory, named by the uuid. */
export function domainPoolPath(rootPath: string, domainUuid: string): string {
  return `${rootPath.replace(/\/+$/, '')}/${domainUuid.toLowerCase()}`;
}

/**
 * The domain a pool of the layout belongs to (its uuid), or undefined for the root and for every
 * other pool. Only a full uuid counts, so a pool an admin named `volback-rbd` is never taken for one.
 */
export function domainOfPool(root: string, pool: string): string | undefined {
  const prefix = `${root}-`;
  if (!pool.startsWith(prefix)) return undefined;
  const uuid = pool.slice(prefix.length);
  return isDomainUuid(uuid) ? uuid : undefined;
}

/**
 * The pools a scan for `domainUuid`'s sets reads, out of the active pools: every pool except the
 * per-domain pools of other domains (volback writes only a domain's own sets into its pool; the root
 * keeps sets of the single-pool layout; any other pool may hold sets a definition sent there).
 * Without a domain, every pool. Pure; keeps `pools`' order.
 */
export function poolsForDomain(pools: readonly string[], root: string, domainUuid?: string): string[] {
  if (domainUuid === undefined) return [...pools];
  const own = domainUuid.toLowerCase();
  return pools.filter((pool) => {
    const owner = domainOfPool(root, pool);
    return owner === undefined || owner === own;
  });
}

/**
 * Domain pools whose directory the root pool lists but which are not active here (a fresh host that
 * has only the directory tree, or a pool undefined by hand): `volback pool discover` defines them.
 * `rootVolumes` are the root pool's volume names (libvirt lists sub-directories as volumes). Pure.
 */
export function undefinedDomainPools(
  root: string,
  rootVolumes: readonly string[],
  activePools: readonly string[],
): Array<{ pool: string; domainUuid: string }> {
  const active = new Set(activePools);
  return rootVolumes
    .filter(isDomainUuid)
    .map((uuid) => ({ pool: domainPoolName(root, uuid), domainUuid: uuid }))
    .filter(({ pool }) => !active.has(pool))
    .sort((a, b) => a.pool.localeCompare(b.pool));
}
