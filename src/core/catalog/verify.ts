// Backup verification: every disk volume of a set exists, its driver finds each layer sound and
// standing on the parent the metadata names, and (deep) every byte of the flattened image can be read.
import type { Connection, StorageVolume } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { DiskBackup } from '../../model';
import { findVolume, PoolCache, type OpenPool } from '../../pool/pool-layer';
import { run } from '../../tools/exec';
import { readAllArgv } from '../../tools/qemu-img';
import { scanCatalog } from './scan';
import { restorePath } from './chains';

const log = logger('verify');

export interface VerifyOptions {
  /** Full backup set id. */
  setId: string;
  /** Also read every byte of each disk's flattened image (slow: as long as a restore). */
  deep?: boolean;
  signal?: AbortSignal;
  /** Called before each disk is verified. */
  onProgress?: (progress: { disk: string; index: number; count: number; step: 'check' | 'read' }) => void;
}

export interface DiskVerification {
  target: string;
  /** Where the disk's data should be; absent for external backups (nothing stored to verify). */
  volume?: { pool: string; name: string };
  /** Volume names of the chain from this disk's volume down to its full, as the metadata says. */
  chain: string[];
  ok: boolean;
  problems: string[];
}

export interface VerifyResult {
  setId: string;
  domain: string;
  deep: boolean;
  /** True when the set and every disk verified. */
  ok: boolean;
  /** Problems of the set as a whole (catalog problems). */
  problems: string[];
  disks: DiskVerification[];
}

/** Where a layer of a chain is: its volume, open in its pool (the caller frees it). */
interface OpenLayer {
  pool: OpenPool;
  volume: StorageVolume;
}

async function verifyDisk(
  pools: PoolCache,
  chain: DiskBackup[],
  options: VerifyOptions,
  position: { index: number; count: number },
): Promise<DiskVerification> {
  const disk = chain[chain.length - 1];
  const result: DiskVerification = {
    target: disk.target,
    volume: disk.volume && { pool: disk.volume.pool, name: disk.volume.name },
    chain: chain.map((d) => d.volume?.name ?? '(none)').reverse(),
    ok: true,
    problems: [],
  };
  const problem = (message: string): void => {
    result.ok = false;
    result.problems.push(message);
  };
  // Every layer, full first: it exists, and its driver finds it sound and standing on its parent.
  const layers: Array<OpenLayer | undefined> = [];
  try {
    for (const layer of chain) {
      if (!layer.volume) {
        problem(`disk backup ${layer.id} has no volume`);
        return result;
      }
      const { pool: poolName, name } = layer.volume;
      let pool: OpenPool;
      try {
        pool = await pools.get(poolName);
      } catch (err) {
        problem(`pool ${poolName} of volume ${name}: ${(err as Error).message}`);
        return result;
      }
      await pool.pool.refresh().catch(() => undefined);
      const volume = await findVolume(pool, name);
      if (!volume) problem(`volume ${name} is missing from pool ${poolName}`);
      layers.push(volume && { pool, volume });
    }
    if (!result.ok) return result;
    for (const [i, layer] of layers.entries()) {
      const parent = i > 0 ? layers[i - 1]!.volume : undefined;
      for (const p of await layer!.pool.driver.checkLayer(layer!.pool, layer!.volume, parent))
        problem(`${chain[i].volume!.name}: ${p}`);
    }
    if (!result.ok || !options.deep) return result;
    options.onProgress?.({ disk: disk.target, ...position, step: 'read' });
    const top = layers[layers.length - 1]!;
    const image = await top.pool.driver.image(top.pool, top.volume);
    const read = await run(readAllArgv(image, disk.virtualSize), {
      signal: options.signal,
      okExitCodes: [1],
    });
    if (read.exitCode !== 0)
      problem(`reading all of ${result.volume!.name} failed: ${read.stderr.trim().split('\n')[0]}`);
    return result;
  } finally {
    for (const layer of layers) layer?.volume.free();
  }
}

/**
 * Verifies one backup set. Problems are returned, not thrown: only an unknown set (ERR_NOT_FOUND),
 * a cancel (ERR_CANCELLED) or an unreadable pool rejects. Read-only: nothing is changed.
 */
export async function verifyBackup(conn: Connection, options: VerifyOptions): Promise<VerifyResult> {
  const scan = await scanCatalog(conn);
  const entry = scan.catalog.sets.get(options.setId);
  if (!entry) {
    throw new VolbackError(ErrorCodes.NOT_FOUND, `backup set ${options.setId} is not in any active pool`, {
      fault: 'user',
    });
  }
  const result: VerifyResult = {
    setId: entry.set.id,
    domain: entry.set.domain.name,
    deep: options.deep ?? false,
    ok: true,
    problems: entry.problems.map((p) => p.message),
    disks: [],
  };
  const pools = new PoolCache(conn);
  try {
    const disks = entry.set.disks;
    for (const [index, disk] of disks.entries()) {
      if (options.signal?.aborted)
        throw new VolbackError(ErrorCodes.CANCELLED, 'verify cancelled', { fault: 'user' });
      options.onProgress?.({ disk: disk.target, index, count: disks.length, step: 'check' });
      if (!disk.volume) {
        result.disks.push({ target: disk.target, chain: [], ok: true, problems: [] });
        continue;
      }
      let chain: DiskBackup[];
      try {
        chain = restorePath(scan.catalog, disk.id);
      } catch (err) {
        result.disks.push({
          target: disk.target,
          volume: { pool: disk.volume.pool, name: disk.volume.name },
          chain: [disk.volume.name],
          ok: false,
          problems: [(err as Error).message],
        });
        continue;
      }
      const verdict = await verifyDisk(pools, chain, options, { index, count: disks.length });
      log.info(`verify ${entry.set.id} ${disk.target}: ${verdict.ok ? 'ok' : verdict.problems.join('; ')}`);
      result.disks.push(verdict);
    }
  } finally {
    pools.close();
  }
  result.ok = result.problems.length === 0 && result.disks.every((d) => d.ok);
  return result;
}
