// Merging into a volume of an encrypted chain in a dir pool (docs/encryption.md). `qemu-img rebase`
// cannot do it: QEMU 7.2 opens the new backing file by its name alone, with no key. So the merged
// layer is built beside the volume, in a staging file encrypted with the chain's key: `qemu-img
// convert -B` copies in the layers the merge skips, then the volume's own, one layer each; once
// `qemu-img compare` shows it holds the volume's guest bytes it is made durable and renamed over the
// volume. The volume is its old self or the merged one at every moment, so a rerun (the removal
// journal's) finishes an interrupted run, and a staging file a killed run left is made again.
import { closeSync, existsSync, fsyncSync, openSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { StorageVolume } from '../../src/libvirt';
import { ErrorCodes, VolbackError } from '../../src/errors';
import type { ChainKey, PoolRef } from '../../src/pool/driver';
import { refreshPool } from '../../src/pool/refresh';
import { mergeStagingVolumeName } from '../../src/pool/volume-names';
import { run } from '../../src/tools/exec';
import {
  convertArgv,
  createEncryptedQcow2,
  imageInfo,
  imagesEqual,
  keyedImage,
  secretPipes,
  type ImageRef,
} from '../../src/tools/qemu-img';

/** Flushes a file (or a directory's entries) to the disk: the rename must not outrun the data. */
function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The files of `image`'s chain above `base` (every layer when absent), top first, from the headers (no key). */
async function layersAbove(image: ImageRef, base: string | undefined): Promise<string[]> {
  const layers: string[] = [];
  let file: string | undefined = image.path;
  while (file !== undefined && file !== base) {
    layers.push(file);
    file = (await imageInfo({ path: file, format: 'qcow2' })).backingFile;
  }
  if (base !== undefined && file !== base)
    throw new VolbackError(ErrorCodes.CHAIN_BROKEN, `${base} is not in the backing chain of ${image.path}`);
  return layers;
}

/**
 * Makes `image` (an encrypted qcow2 volume's file, with `volume` its libvirt volume in `pool`) stand
 * on `newBacking` (a file of its chain) or on nothing, keeping its guest bytes and its encryption
 * with `key`. `createFile` makes an empty volume of that name and capacity in the pool (its mode and
 * owner are the merged volume's). The caller has checked that the header does not name
 * `newBacking` already, and refreshes the pool afterwards.
 */
export async function mergeEncryptedLayers(
  pool: PoolRef,
  image: ImageRef,
  newBacking: ImageRef | undefined,
  key: ChainKey,
  createFile: (name: string, capacity: number) => Promise<StorageVolume>,
): Promise<void> {
  const layers = await layersAbove(image, newBacking?.path);
  const name = mergeStagingVolumeName(basename(image.path));
  const path = join(dirname(image.path), name);
  if (existsSync(path)) {
    // A killed run's staging file: libvirt may not have seen it yet.
    await refreshPool(pool, { required: true });
    const left = await pool.pool.lookupVolumeByName(name);
    try {
      await left.delete();
    } finally {
      left.free();
    }
  }
  const { virtualSize } = await imageInfo(image);
  const staging = await createFile(name, virtualSize);
  try {
    await createEncryptedQcow2(path, virtualSize, key, newBacking);
    const target = await keyedImage({ path, format: 'qcow2' }, key);
    const sources = await Promise.all(layers.map((f) => keyedImage({ path: f, format: 'qcow2' }, key)));
    // Bottom up, so that a layer's data covers what the layers under it stored.
    for (const source of newBacking ? [...sources].reverse() : [sources[0]]) {
      const argv = newBacking
        ? convertArgv(
            source,
            { ...target, format: 'qcow2' },
            { targetExists: true, topLayerOver: newBacking },
          )
        : convertArgv(source, { ...target, format: 'qcow2' }, { targetExists: true });
      await run(argv, secretPipes(source, target));
    }
    if (!(await imagesEqual(sources[0], target)))
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `the merged copy of ${image.path} does not show its guest bytes: the volume was left as it was`,
      );
    syncPath(path);
    renameSync(path, image.path);
  } catch (err) {
    await staging.delete().catch(() => undefined);
    throw err;
  } finally {
    staging.free();
  }
  syncPath(dirname(image.path));
}
