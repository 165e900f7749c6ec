// Backup verification: every disk volume of a set exists, its image is sound, its backing chain is the
// one the metadata describes, and (deep) every byte of the flattened image can be read.
import { resolve } from 'node:path';
import { isLibvirtNotFound, type Connection } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { DiskBackup } from '../../model';
import { closePools, openPool, type OpenPool } from '../../pool/pool-layer';
import { run } from '../../tools/exec';
import type { ImageRef } from '../../tools/qemu-img';
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

/** `qemu-img check` of one image layer (its backing files are not checked). Pure. */
export const checkArgv = (image: ImageRef): string[] => [
  'qemu-img',
  'check',
  '-U',
  '--output=json',
  '-f',
  image.format,
  image.path,
];

/** Reads the whole flattened image into QEMU's null device: any unreadable cluster fails it. Pure. */
export const readAllArgv = (image: ImageRef, virtualSize: number): string[] => [
  'qemu-img',
  'convert',
  '-U',
  '-n',
  '-f',
  image.format,
  image.path,
  '--target-image-opts',
  `driver=null-co,size=${virtualSize}`,
];

/** `qemu-img info --backing-chain` of an image: the file name of each layer, top first. Pure. */
export const chainArgv = (image: ImageRef): string[] => [
  'qemu-img',
  'info',
  '-U',
  '--output=json',
  '--backing-chain',
  '-f',
  image.format,
  image.path,
];

async function verifyDisk(
  pools: Map<string, OpenPool>,
  conn: Connection,
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
  // Every layer, top first: exists, and passes qemu-img check.
  const paths: string[] = [];
  let top: ImageRef | undefined;
  for (const layer of [...chain].reverse()) {
    if (!layer.volume) {
      problem(`disk backup ${layer.id} has no volume`);
      return result;
    }
    const { pool: poolName, name, format } = layer.volume;
    let pool = pools.get(poolName);
    if (!pool) {
      try {
        pool = await openPool(conn, poolName);
        pools.set(poolName, pool);
      } catch (err) {
        problem(`pool ${poolName} of volume ${name}: ${(err as Error).message}`);
        return result;
      }
    }
    await pool.pool.refresh().catch(() => undefined);
    let image: ImageRef;
    try {
      const volume = await pool.pool.lookupVolumeByName(name);
      try {
        image = await pool.driver.image(pool, volume);
      } finally {
        volume.free();
      }
    } catch (err) {
      if (isLibvirtNotFound(err)) problem(`volume ${name} is missing from pool ${poolName}`);
      else problem(`volume ${name} in pool ${poolName}: ${(err as Error).message}`);
      continue;
    }
    paths.push(resolve(image.path));
    top ??= { path: image.path, format };
    const check = await run(checkArgv({ path: image.path, format }), {
      signal: options.signal,
      okExitCodes: [1, 2, 3],
    });
    if (check.exitCode !== 0) {
      problem(
        `qemu-img check of ${name} failed (exit ${check.exitCode}): ${(check.stderr || check.stdout).trim().split('\n')[0]}`,
      );
    }
  }
  if (!result.ok || !top) return result;

  // The image's own backing chain must be the metadata chain, layer by layer.
  const { stdout } = await run(chainArgv(top), { signal: options.signal });
  const actual = (JSON.parse(stdout) as Array<{ filename: string }>).map((l) => resolve(l.filename));
  if (actual.length !== paths.length || actual.some((file, i) => file !== paths[i])) {
    problem(
      `backing chain of ${result.volume!.name} is ${actual.join(' → ')}, but the metadata says ${paths.join(' → ')}`,
    );
    return result;
  }
  if (options.deep) {
    options.onProgress?.({ disk: disk.target, ...position, step: 'read' });
    const read = await run(readAllArgv(top, disk.virtualSize), { signal: options.signal, okExitCodes: [1] });
    if (read.exitCode !== 0)
      problem(`reading all of ${result.volume!.name} failed: ${read.stderr.trim().split('\n')[0]}`);
  }
  return result;
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
  const pools = new Map<string, OpenPool>();
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
      const verdict = await verifyDisk(pools, conn, chain, options, { index, count: disks.length });
      log.info(`verify ${entry.set.id} ${disk.target}: ${verdict.ok ? 'ok' : verdict.problems.join('; ')}`);
      result.disks.push(verdict);
    }
  } finally {
    closePools([...pools.values()]);
  }
  result.ok = result.problems.length === 0 && result.disks.every((d) => d.ok);
  return result;
}
