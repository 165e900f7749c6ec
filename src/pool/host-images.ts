// What the drivers whose volumes are image files or block devices on the pool's host (dir, logical)
// share: QEMU's tools where volback runs on that host, libvirt's downloads and volback's qcow2 reader
// (remote-image.ts) where it does not; a descriptor target for the QMP engine; the chain check.
import { closeSync, constants, fsyncSync, openSync } from 'node:fs';
import type { StorageVolume } from '../libvirt';
import { kindOf } from '../host/connection-kind';
import { openImageReader } from '../tools/nbd';
import { storedDataBytes, storedRanges, type ImageRef } from '../tools/qemu-img';
import type { ChainKey, CopyTarget, PoolDriver, PoolRef } from './driver';
import { RemoteChain, type ChainView } from './remote-image';

/** Whether the pool's host is this machine, where volback may run QEMU's tools on its volumes. */
export const isLocalPool = async (pool: PoolRef): Promise<boolean> => (await kindOf(pool.conn)).local;

/** Runs `use` on `volume`'s chain read through libvirt, and closes it. */
export async function withRemoteChain<T>(
  pool: PoolRef,
  volume: StorageVolume,
  view: ChainView,
  use: (chain: RemoteChain) => Promise<T>,
  key?: ChainKey,
): Promise<T> {
  const chain = await RemoteChain.open(pool.conn, volume, view, key);
  try {
    return await use(chain);
  } finally {
    chain.close();
  }
}

/**
 * storedBytes, layerExtents and openReader of a driver whose `imageOf` gives a volume's path on the
 * host: qemu-img and qemu-nbd (read-only) locally, the chain through libvirt (as `view` reads it)
 * on a remote host, where volback's reader decrypts an encrypted chain with `key`.
 */
export function hostImageReads(
  imageOf: (volume: StorageVolume, key?: ChainKey) => Promise<ImageRef>,
  view: ChainView = {},
): Pick<PoolDriver, 'storedBytes' | 'layerExtents' | 'openReader'> {
  return {
    async storedBytes(pool, volume, key) {
      if (await isLocalPool(pool)) return storedDataBytes(await imageOf(volume, key));
      const ranges = await withRemoteChain(pool, volume, view, (chain) => chain.topLayerRanges('data'), key);
      return ranges.reduce((sum, r) => sum + r.length, 0);
    },
    async layerExtents(pool, volume, key) {
      if (await isLocalPool(pool)) return storedRanges(await imageOf(volume, key));
      return withRemoteChain(pool, volume, view, (chain) => chain.topLayerRanges('stored'), key);
    },
    async openReader(pool, volume, key) {
      if (await isLocalPool(pool)) return openImageReader(await imageOf(volume, key));
      return (await RemoteChain.open(pool.conn, volume, view, key)).asImageReader();
    },
  };
}

/**
 * The copy target of a file or block device on the host: libvirt's job writes it by path, and QEMU
 * gets a descriptor volback opens (a local connection only), so it needs no access of its own.
 */
export function descriptorTarget(
  path: string,
  format: CopyTarget['format'],
  type: 'file' | 'block',
): CopyTarget {
  return {
    format,
    libvirt: { type, path },
    qemu: {
      via: 'fd',
      protocol: type === 'file' ? 'file' : 'host_device',
      async open() {
        const fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW);
        return {
          fd,
          async close(commit) {
            try {
              if (commit) fsyncSync(fd);
            } finally {
              closeSync(fd);
            }
          },
        };
      },
    },
  };
}

/**
 * The backing file of `volume`'s top layer as its chain, read through libvirt, names it (opening
 * the chain checks every header), or the problems that kept the chain from opening.
 */
export async function remoteBacking(
  pool: PoolRef,
  volume: StorageVolume,
  view: ChainView,
  path: string,
): Promise<{ backing?: string } | string[]> {
  return withRemoteChain(pool, volume, view, async (chain) => ({ backing: chain.backingPath })).catch(
    (err: Error) => [`${path}: ${err.message}`],
  );
}

/** What is wrong when the layer at `path` stands on `actual` where it should stand on `expected`. */
export function backingProblems(path: string, actual?: string, expected?: string): string[] {
  if (actual === expected) return [];
  return [
    expected
      ? `${path} stands on ${actual ?? 'nothing'}, not on its parent ${expected}`
      : `${path} stands on ${actual}, but it should stand alone`,
  ];
}
