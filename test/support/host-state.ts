// What a hostile input must not change, as one comparable snapshot: the volumes of the pools a test
// made (name, capacity, a content hash of the small ones), a domain's checkpoints, the domains and
// pools the test made, and the modes of directories.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { isLibvirtNotFound, type Connection } from '../../src/libvirt';
import { isCatalogVolume } from '../../src/pool/catalog-index';

/** Files up to this size are hashed whole (backup volumes of the test domains are a few MiB). */
const HASH_LIMIT = 64 * 1024 * 1024;

export interface HostState {
  /** `<pool>/<volume>` → `capacity=N sha256=H` (the hash of the file in a dir pool). */
  volumes: Record<string, string>;
  /** Checkpoint names of the watched domain. */
  checkpoints: string[];
  /** Domain name → `running` or `shut off`, for every domain whose name carries the tag. */
  domains: Record<string, string>;
  /** Pool name → `active` or `inactive`, for every pool whose name carries the tag. */
  pools: Record<string, string>;
  /** Directory → octal mode with its special bits. */
  modes: Record<string, string>;
}

export interface StateScope {
  /** Domains and pools whose names contain it are watched. */
  tag: string;
  /** Domain whose checkpoints are watched. */
  domain?: string;
  directories: readonly string[];
  /** Pools and domains left out (a case's own fixture). */
  exclude?: ReadonlySet<string>;
}

const sortedKeys = (r: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads the state of everything in `scope`. The catalog's own index and generation markers are caches, left out. */
export async function readHostState(conn: Connection, scope: StateScope): Promise<HostState> {
  const state: HostState = { volumes: {}, checkpoints: [], domains: {}, pools: {}, modes: {} };
  const skip = (name: string): boolean => !name.includes(scope.tag) || !!scope.exclude?.has(name);
  for (const pool of await conn.listAllStoragePools()) {
    try {
      const name = await pool.getName();
      if (skip(name)) continue;
      const active = await pool.isActive();
      state.pools[name] = active ? 'active' : 'inactive';
      if (!active) continue;
      await pool.refresh();
      for (const vol of await pool.listAllVolumes()) {
        try {
          const volName = await vol.getName();
          if (isCatalogVolume(volName)) continue;
          const info = await vol.getInfo();
          const file = await vol.getPath();
          let digest = 'unhashed';
          const stat = fs.statSync(file, { throwIfNoEntry: false });
          if (stat?.isFile() && stat.size <= HASH_LIMIT) digest = await hashFile(file);
          state.volumes[`${name}/${volName}`] = `capacity=${info.capacity} sha256=${digest}`;
        } catch (err) {
          if (!isLibvirtNotFound(err)) throw err;
        } finally {
          vol.free();
        }
      }
    } finally {
      pool.free();
    }
  }
  for (const dom of await conn.listAllDomains()) {
    try {
      const name = await dom.getName();
      if (name === scope.domain) {
        const cps = await dom.listAllCheckpoints();
        state.checkpoints = (await Promise.all(cps.map((c) => c.getName().finally(() => c.free())))).sort();
      }
      if (skip(name)) continue;
      state.domains[name] = (await dom.isActive()) ? 'running' : 'shut off';
    } finally {
      dom.free();
    }
  }
  for (const dir of scope.directories) {
    const stat = fs.statSync(dir, { throwIfNoEntry: false });
    state.modes[dir] = stat ? (stat.mode & 0o7777).toString(8).padStart(4, '0') : 'absent';
  }
  return {
    ...state,
    volumes: sortedKeys(state.volumes),
    pools: sortedKeys(state.pools),
    domains: sortedKeys(state.domains),
  };
}

/**
 * The state without what a case may change: volumes whose `<pool>/<name>` matches one of `mayChange`,
 * and the checkpoints, pools or domains when `mayChange` names them. Pure.
 */
export function comparable(state: HostState, mayChange: readonly string[]): HostState {
  const keywords = ['checkpoints', 'pools', 'domains'];
  const patterns = mayChange.filter((m) => !keywords.includes(m)).map((m) => new RegExp(`^(?:${m})$`));
  return {
    ...state,
    volumes: Object.fromEntries(
      Object.entries(state.volumes).filter(([key]) => !patterns.some((re) => re.test(key))),
    ),
    checkpoints: mayChange.includes('checkpoints') ? [] : state.checkpoints,
    pools: mayChange.includes('pools') ? {} : state.pools,
    domains: mayChange.includes('domains') ? {} : state.domains,
  };
}

/** The pools (by name) whose volumes differ between two states. Pure. */
export function poolsThatDiffer(a: HostState, b: HostState): Set<string> {
  const out = new Set<string>();
  for (const key of new Set([...Object.keys(a.volumes), ...Object.keys(b.volumes)])) {
    if (a.volumes[key] !== b.volumes[key]) out.add(key.slice(0, key.indexOf('/')));
  }
  return out;
}
