// How a restore fills a new volume from a backup chain, flattened: qemu-img on this machine, libvirt
// on the volume's host, or a stream between two hosts. Which one follows from where volback runs and
// which host the new volume is on; every way is refused before anything is made when the target
// pool's driver cannot take it.
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, VolbackError } from '../../errors';
import { kindOf } from '../../host/connection-kind';
import type { StorageVolume } from '../../libvirt';
import type { SparseChunk } from '../../libvirt/streams';
import type { VolumeFormat } from '../../model';
import type { ChainKey, NewPlainVolume, VolumeReader } from '../../pool/driver';
import type { OpenPool } from '../../pool/pool-layer';
import { convertImage, type ImageRef } from '../../tools/qemu-img';
import type { UndoStack } from '../shared/undo';
import { throwIfAborted } from './common';

/**
 * `convert`: qemu-img here opens both images (a local connection). `host`: the target driver's
 * copyVolume, libvirt copying on the host (a remote one, where volback has no files). `stream`: the
 * backup's guest bytes are read here through its driver and uploaded (another host, or a source
 * libvirt cannot flatten).
 */
export type CopyWay = 'convert' | 'host' | 'stream';

/** How a new volume gets its content: one of the copies, or (`live`) a layer over the source. */
export type FillWay = CopyWay | 'live';

/**
 * How a volume of `source`'s pool is restored into `target`: qemu-img here when volback has the
 * files; libvirt's copy on the host when both pools are on that host and libvirt reads the source as
 * a guest does; else a stream through volback's reader. An `encrypted` chain never goes through
 * libvirt's copy: libvirt hands qemu-img the key of the top layer only, so a chain's parents do not
 * open (seen with libvirt 9.0). Refused when the target can take none.
 */
export async function copyWayFor(source: OpenPool, target: OpenPool, encrypted = false): Promise<CopyWay> {
  const sameHost = source.conn === target.conn;
  if (sameHost && (await kindOf(target.conn)).local) return 'convert';
  if (sameHost && !encrypted && target.driver.copyVolume && source.driver.capabilities.hostCopySource)
    return 'host';
  if (target.driver.openUpload) return 'stream';
  throw new VolbackError(
    ErrorCodes.POOL_UNSUPPORTED,
    sameHost
      ? `pool '${target.name}' (${target.type}) cannot take a restore of pool '${source.name}' (${source.type}) on a remote host: libvirt can neither copy into it from there nor upload into it`
      : `pool '${target.name}' (${target.type}) cannot take a restore from another host: libvirt cannot upload into it`,
    { fault: 'user', hint: 'restore into a dir pool of that host, or run volback on the host itself' },
  );
}

/**
 * The new volume's format: the asked one if the target takes it, else the target's preferred one. A
 * stream uploads guest bytes as they are, so it writes raw volumes only.
 */
export function restoredFormat(way: CopyWay, target: OpenPool, asked?: VolumeFormat): VolumeFormat {
  const formats =
    way === 'stream'
      ? target.driver.capabilities.fullFormats.filter((f) => f === 'raw')
      : target.driver.capabilities.fullFormats;
  if (asked && !formats.includes(asked)) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      way === 'stream'
        ? `this restore uploads raw guest bytes: pool '${target.name}' gets a raw volume, not ${asked}`
        : `pool '${target.name}' (${target.type}) keeps volumes as ${formats.join(' or ')}, not ${asked}`,
      { fault: 'user' },
    );
  }
  if (!formats.length)
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `pool '${target.name}' (${target.type}) keeps no raw volumes, which a streamed restore writes`,
      { fault: 'user' },
    );
  return asked ?? formats[0];
}

/** Where a restore reads from: the backup's top layer in its pool, and its image for qemu-img. */
export interface CopySource {
  pool: OpenPool;
  volume: StorageVolume;
  image: ImageRef;
  /** An encrypted chain's key, for a stream (`image` carries it for qemu-img). */
  key?: ChainKey;
}

/**
 * Makes the restored volume `spec` in `target` from `source`, flattened, and registers its removal
 * on `undo`. `convert` and `stream` create the empty volume first and fill it (progress and cancel as
 * they go); `host` has libvirt create and fill it in one call, which can be neither watched nor
 * interrupted, so cancel is checked after it. `live` makes a copy-on-write layer over `source`
 * instead (the driver's createLiveRestoreVolume): nothing is copied. `targetKey`: the key of an
 * encrypted `spec` (only `convert` writes one; checkEncryptedTarget refused the others).
 */
export async function copyIntoNewVolume(
  way: FillWay,
  target: OpenPool,
  spec: NewPlainVolume,
  source: CopySource,
  targetKey: ChainKey | undefined,
  options: { undo: UndoStack; signal?: AbortSignal; onProgress: (fraction: number) => void },
): Promise<StorageVolume> {
  const undoVolume = (volume: StorageVolume): void =>
    options.undo.push(`restored volume ${spec.name} in pool ${target.name}`, () =>
      target.driver.deleteVolume(target, volume).finally(() => volume.free()),
    );
  if (way === 'live') {
    const backing = await source.pool.driver.diskSource(source.pool, source.volume);
    const volume = await target.driver.createLiveRestoreVolume!(target, spec, backing);
    undoVolume(volume);
    return volume;
  }
  if (way === 'host') {
    const volume = await target.driver.copyVolume!(target, spec, source.volume);
    undoVolume(volume);
    throwIfAborted(options.signal);
    return volume;
  }
  const volume = await target.driver.createRestoreVolume(target, spec);
  undoVolume(volume);
  if (way === 'convert') {
    // An encrypted target (spec.encryption) is written through its key, as QEMU will read it.
    const image = await target.driver.image(target, volume, targetKey);
    await convertImage(
      source.image,
      { ...image, format: spec.format },
      { targetExists: true, signal: options.signal, onProgress: options.onProgress },
    );
    return volume;
  }
  const reader = await source.pool.driver.openReader(source.pool, source.volume, source.key);
  try {
    const upload = await target.driver.openUpload!(target, volume, spec.capacity);
    await pipeline(guestChunks(reader, spec.capacity, options), upload);
  } finally {
    await reader.close();
  }
  return volume;
}

/** Bytes read from the source per step of a stream restore. */
const STEP = 4 * 1024 * 1024;
/** Zero runs shorter than this go as data: a hole per small run costs more than its bytes. */
const HOLE_GRANULE = 64 * 1024;

/**
 * The guest bytes of `reader` as sparse chunks: runs of whole zero granules become holes, so a
 * sparse disk stays sparse on the other host.
 */
export async function* guestChunks(
  reader: VolumeReader,
  size: number,
  options: { signal?: AbortSignal; onProgress: (fraction: number) => void },
): AsyncGenerator<SparseChunk> {
  for (let offset = 0; offset < size; offset += STEP) {
    throwIfAborted(options.signal);
    const length = Math.min(STEP, size - offset);
    const parts: Buffer[] = [];
    await reader.read(offset, length, (chunk) => parts.push(Buffer.from(chunk)));
    yield* sparseRuns(Buffer.concat(parts, length));
    options.onProgress((offset + length) / size);
  }
}

/** `bytes` cut into data and hole runs at granule boundaries. Pure. */
export function* sparseRuns(bytes: Buffer): Generator<SparseChunk> {
  let start = 0;
  let zero: boolean | undefined;
  for (let at = 0; at < bytes.length; at += HOLE_GRANULE) {
    const end = Math.min(at + HOLE_GRANULE, bytes.length);
    const isZero = isAllZero(bytes.subarray(at, end));
    if (zero !== undefined && isZero !== zero) {
      yield zero ? { kind: 'hole', length: at - start } : { kind: 'data', data: bytes.subarray(start, at) };
      start = at;
    }
    zero = isZero;
  }
  if (start < bytes.length)
    yield zero
      ? { kind: 'hole', length: bytes.length - start }
      : { kind: 'data', data: bytes.subarray(start) };
}

const ZEROS = Buffer.alloc(HOLE_GRANULE);
const isAllZero = (b: Buffer): boolean => ZEROS.subarray(0, b.length).equals(b);
