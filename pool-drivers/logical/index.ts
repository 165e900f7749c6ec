// The LVM (logical) pool driver (docs/lvm-driver.md): a full is a raw LV, written as a block target;
// an incremental is qcow2 inside an LV whose backing file is its parent's LV, the way oVirt's block
// storage domains keep snapshots; documents are small raw LVs. libvirt calls every LV raw and reads
// no header, so the driver knows a layer's format from volback's own name and its backing from the
// qcow2 header, checked to name a volume of the same pool.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { isLibvirtNotFound, type StorageVolume } from '../../src/libvirt';
import { crashPoint } from '../../src/crash-point';
import { ErrorCodes, VolbackError } from '../../src/errors';
import { streamIntoVolume } from '../../src/host/block-stream';
import { logger } from '../../src/log';
import type { SparseChunk } from '../../src/libvirt/streams';
import type { PoolDriver, PoolDriverFactory, PoolRef } from '../../src/pool/driver';
import type { PoolDriverRegistry } from '../../src/pool/registry';
import { refreshPool } from '../../src/pool/refresh';
import {
  backingProblems,
  descriptorTarget,
  hostImageReads,
  isLocalPool,
  remoteBacking,
  withRemoteChain,
} from '../../src/pool/host-images';
import type { ChainView } from '../../src/pool/remote-image';
import { mergeStagingVolumeName } from '../../src/pool/volume-names';
import { downloadVolumes, uploadNewVolume } from '../../src/pool/volume-streams';
import { run } from '../../src/tools/exec';
import { checkImage, imageInfo, type ImageRef } from '../../src/tools/qemu-img';
import {
  parsePoolIdentity,
  parsePoolTargetPath,
  parseVolumeXml,
  volumeXml,
} from '../../src/xml/libvirt-storage';
import {
  incrementalLvBytes,
  layerFormatOf,
  layerHeaderArgv,
  mergeLvBytes,
  mergeSteps,
  type MergeHeader,
  type MergeStep,
} from './layer';

const log = logger('logical-driver');

/** How the driver's volumes are read through libvirt: format by name, backing from the header. */
const VIEW: ChainView = { formatOf: layerFormatOf, backingFromHeader: true };

/** An LV of `bytes` (LVM rounds it up to its extent); libvirt's logical backend takes no format. */
const lvXml = (name: string, bytes: number): string => volumeXml({ name, capacity: bytes, format: 'raw' });

/** The LV's device path and the format volback stored in it. */
async function imageOf(volume: StorageVolume): Promise<ImageRef & { format: 'qcow2' | 'raw' }> {
  const { name, path } = await parseVolumeXml(await volume.getXMLDesc());
  return { path: path ?? (await volume.getPath()), format: layerFormatOf(name) };
}

/** The qcow2 header of a layer on `backing`, made here with qemu-img, as bytes. */
async function layerHeader(virtualSize: number, backing: ImageRef): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'volback-lvm-header-'));
  try {
    const file = join(dir, 'header.qcow2');
    await run(layerHeaderArgv(file, virtualSize, backing.path, backing.format as 'qcow2' | 'raw'));
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * An upload of `length` guest bytes into an LV from `offset`: a new LV holds whatever an earlier one
 * left on the disk, so a hole is sent as zeros, never skipped. It finishes when libvirt's stream
 * has (a writer awaiting it knows the bytes are in the LV).
 */
function zeroFilledUpload(volume: StorageVolume, length: number, offset = 0): Writable {
  const ZERO = Buffer.alloc(4 * 1024 * 1024);
  const upload = volume.upload({ offset, length });
  const send = (bytes: Buffer): Promise<void> =>
    new Promise((resolve, reject) => upload.write(bytes, (err) => (err ? reject(err) : resolve())));
  return new Writable({
    objectMode: true,
    write(chunk: SparseChunk, _enc, done) {
      const sent =
        chunk.kind === 'data'
          ? send(chunk.data)
          : (async () => {
              for (let left = chunk.length; left > 0; left -= ZERO.length)
                await send(left >= ZERO.length ? ZERO : ZERO.subarray(0, left));
            })();
      sent.then(() => done(), done);
    },
    final(done) {
      upload.end();
      finished(upload).then(() => done(), done);
    },
    destroy(err, done) {
      upload.destroy(err ?? undefined);
      done(err);
    },
  });
}

/**
 * The LV a restore of a `capacity`-byte disk writes: LVM rounds it up to its extent, and a domain
 * on it sees the rest past the disk as its disk's end, so that rest is written with zeros here —
 * it holds whatever an earlier LV left there — whichever way the restore then fills the disk.
 */
async function restoreLv(pool: PoolRef, name: string, capacity: number): Promise<StorageVolume> {
  const volume = await pool.pool.createVolume(lvXml(name, capacity));
  try {
    const rest = (await volume.getInfo()).capacity - capacity;
    if (rest > 0) {
      const hole: SparseChunk = { kind: 'hole', length: rest };
      await pipeline(Readable.from([hole]), zeroFilledUpload(volume, rest, capacity));
    }
    return volume;
  } catch (err) {
    await volume.delete().catch(() => undefined);
    volume.free();
    throw err;
  }
}

/** The pool's LV `name`, or undefined when libvirt lists none (the caller frees it). */
async function lvNamed(pool: PoolRef, name: string): Promise<StorageVolume | undefined> {
  try {
    return await pool.pool.lookupVolumeByName(name);
  } catch (err) {
    if (isLibvirtNotFound(err)) return undefined;
    throw err;
  }
}

/** What the qcow2 header of LV `name` names, read through libvirt with the chain it opens. */
async function mergeHeader(pool: PoolRef, name: string): Promise<MergeHeader> {
  const volume = await lvNamed(pool, name);
  if (!volume) return 'missing';
  try {
    const opened = await remoteBacking(pool, volume, VIEW, name);
    return Array.isArray(opened) ? 'unreadable' : { backing: opened.backing };
  } finally {
    volume.free();
  }
}

/** Deletes LV `name` if the pool has it. */
async function deleteLv(pool: PoolRef, name: string): Promise<void> {
  const volume = await lvNamed(pool, name);
  if (!volume) return;
  try {
    await volume.delete();
  } finally {
    volume.free();
  }
}

/**
 * The stored bytes of `child` and of every layer under it down to (not including) `base`: what a
 * merge onto `base` gathers into one layer. Throws ERR_CHAIN_BROKEN when `base` is not under it.
 */
async function skippedLayerBytes(pool: PoolRef, child: StorageVolume, base: string): Promise<number[]> {
  const bytes: number[] = [];
  const read = hostImageReads(imageOf, VIEW);
  let volume = child;
  try {
    for (;;) {
      bytes.push(await read.storedBytes(pool, volume));
      const opened = await remoteBacking(pool, volume, VIEW, (await imageOf(volume)).path);
      if (Array.isArray(opened)) throw new VolbackError(ErrorCodes.CHAIN_BROKEN, opened.join('; '));
      if (opened.backing === base) return bytes;
      if (opened.backing === undefined)
        throw new VolbackError(
          ErrorCodes.CHAIN_BROKEN,
          `${base} is not in the backing chain of ${await child.getName()}`,
        );
      if (volume !== child) volume.free();
      volume = await pool.conn.lookupVolumeByPath(opened.backing);
    }
  } finally {
    if (volume !== child) volume.free();
  }
}

/**
 * Merges into the qcow2 LV `name` (C) so that it stands on `base` (an LV path of its chain) or alone,
 * through a staging LV T large enough for the result (libvirt 9.0 cannot grow an LV, nor rename
 * one): T gets a header on C and QEMU's block-stream, in a paused helper domain, copies into it what
 * C and the layers it skips hold until T's header names the base; C is then deleted and made again
 * from T by libvirt's volume copy (an LV's bytes, header and all, verbatim), and T deleted. Every
 * step is decided from the headers (`mergeSteps`), so a rerun finishes an interrupted run.
 */
async function mergeInto(pool: PoolRef, name: string, base: string | undefined): Promise<void> {
  if (layerFormatOf(name) !== 'qcow2')
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `cannot rebase ${name}: only qcow2 volumes have a backing file`,
      { fault: 'user' },
    );
  const stagingName = mergeStagingVolumeName(name);
  const dir = await parsePoolTargetPath(pool.xml);
  const childPath = dir ? `${dir}/${name}` : name;
  // An interrupted run may have changed any LV since libvirt last listed the pool.
  await refreshPool(pool);
  const steps = mergeSteps({
    childPath,
    base,
    child: await mergeHeader(pool, name),
    staging: await mergeHeader(pool, stagingName),
  });
  if (steps.length) log.debug(`merge into ${name} onto ${base ?? 'nothing'}: ${steps.join(', ')}`);
  await runMergeSteps(pool, name, base, steps);
}

/**
 * Runs `steps` of the merge into LV `name` onto `base` in order, as `mergeSteps` chose them (see
 * `mergeInto`). Exported for tests that stop a merge half way; anything else calls `rebase`.
 */
export async function runMergeSteps(
  pool: PoolRef,
  name: string,
  base: string | undefined,
  steps: readonly MergeStep[],
): Promise<void> {
  const stagingName = mergeStagingVolumeName(name);
  const run: Record<MergeStep, () => Promise<void>> = {
    stage: () => stage(pool, name, stagingName, base),
    'delete-child': () => deleteLv(pool, name),
    copy: async () => {
      // libvirt copies an LV's bytes raw: C gets T's header (naming the base) and clusters verbatim.
      const staging = await pool.pool.lookupVolumeByName(stagingName);
      try {
        const { capacity } = await staging.getInfo();
        (await pool.pool.createVolumeFrom(lvXml(name, capacity), staging)).free();
      } finally {
        staging.free();
      }
    },
    'delete-staging': () => deleteLv(pool, stagingName),
  };
  for (const step of steps) {
    await run[step]();
    crashPoint(`merge-${step}`);
  }
}

/** Makes staging LV `stagingName` on C (`name`) and streams C down to `base` into it. */
async function stage(
  pool: PoolRef,
  name: string,
  stagingName: string,
  base: string | undefined,
): Promise<void> {
  const child = await pool.pool.lookupVolumeByName(name);
  let bytes: number;
  let header: Buffer;
  try {
    const virtualSize = await withRemoteChain(pool, child, VIEW, async (chain) => chain.virtualSize);
    bytes = mergeLvBytes(virtualSize, base ? await skippedLayerBytes(pool, child, base) : undefined);
    header = await layerHeader(virtualSize, await imageOf(child));
  } finally {
    child.free();
  }
  const staging = await pool.pool.createVolume(lvXml(stagingName, Math.max(bytes, header.length)));
  try {
    await pipeline(Readable.from([header]), staging.upload({ offset: 0, length: header.length }));
    await streamIntoVolume(pool.conn, await staging.getPath(), base, { diskType: 'block' });
  } catch (err) {
    // An incomplete T is worth nothing (a rerun makes it again) and holds VG space.
    await staging.delete().catch(() => undefined);
    throw err;
  } finally {
    staging.free();
  }
}

/**
 * The LV of a raw full of a `capacity`-byte disk. QEMU copies a disk only into a target of its own
 * size, and an LV is whole extents: a disk of another size gets no LV (the one made is removed)
 * and a clear refusal before anything is copied.
 */
async function rawFullLv(pool: PoolRef, name: string, capacity: number): Promise<StorageVolume> {
  const volume = await pool.pool.createVolume(lvXml(name, capacity));
  let lvBytes: number;
  try {
    lvBytes = (await volume.getInfo()).capacity;
  } catch (err) {
    await volume.delete().catch(() => undefined);
    volume.free();
    throw err;
  }
  if (lvBytes === capacity) return volume;
  await volume.delete().catch((err: Error) => log.warn(`could not remove LV ${name}: ${err.message}`));
  volume.free();
  throw new VolbackError(
    ErrorCodes.INVALID_INPUT,
    `full backup ${name}: the disk is ${capacity} bytes, not a whole number of the volume group's extents ` +
      `(an LV for it has ${lvBytes}), and QEMU copies a disk only into a target of its own size`,
    { fault: 'user', hint: `back this disk up into a dir pool; pool '${pool.name}' holds raw LVs only` },
  );
}

/** Creates the logical driver. */
export const createLogicalDriver: PoolDriverFactory = () => {
  const driver: PoolDriver = {
    type: 'logical',
    capabilities: {
      fullFormats: ['raw'],
      incremental: { kind: 'overlay', format: 'qcow2' },
      libvirtPushTarget: true,
      qmpTarget: 'fd',
      hostCopySource: false,
      // Fulls are raw LVs, and libvirt's logical backend refuses <encryption> on a new volume.
      encryptedVolumes: false,
      // Fulls are raw LVs, so a chain could never be compressed as a whole.
      compressedClusters: false,
    },

    async describePool(xml) {
      const { type } = await parsePoolIdentity(xml);
      if (type !== 'logical') throw new Error(`the logical driver cannot describe a pool of type ${type}`);
      return { path: await parsePoolTargetPath(xml) };
    },

    async createBackupVolume(pool, spec) {
      if (!spec.parent) {
        if (spec.format !== 'raw')
          throw new VolbackError(
            ErrorCodes.INVALID_INPUT,
            `full backup ${spec.name} must be raw: logical pools keep fulls as plain LVs`,
            { fault: 'user' },
          );
        return rawFullLv(pool, spec.name, spec.capacity);
      }
      if (spec.format !== 'qcow2' || layerFormatOf(spec.name) !== 'qcow2')
        throw new VolbackError(
          ErrorCodes.INVALID_INPUT,
          `incremental backup ${spec.name} must be qcow2 (named .qcow2): logical pools keep increments as qcow2 in an LV`,
          { fault: 'user' },
        );
      const header = await layerHeader(spec.capacity, await imageOf(spec.parent));
      const volume = await pool.pool.createVolume(
        lvXml(spec.name, Math.max(incrementalLvBytes(spec.capacity, spec.changedBytes), header.length)),
      );
      try {
        await pipeline(Readable.from([header]), volume.upload({ offset: 0, length: header.length }));
        return volume;
      } catch (err) {
        await volume.delete().catch(() => undefined);
        volume.free();
        throw err;
      }
    },

    createRestoreVolume(pool, spec) {
      if (spec.format !== 'raw')
        throw new VolbackError(
          ErrorCodes.INVALID_INPUT,
          `logical pools keep restored volumes raw, not ${spec.format}`,
          {
            fault: 'user',
          },
        );
      return restoreLv(pool, spec.name, spec.capacity);
    },

    async openUpload(_pool, volume, length) {
      return zeroFilledUpload(volume, length);
    },

    async copyTarget(_pool, volume) {
      const { path, format } = await imageOf(volume);
      return descriptorTarget(path, format, 'block');
    },

    ...hostImageReads(imageOf, VIEW),

    image(_pool, volume) {
      return imageOf(volume);
    },

    async diskSource(_pool, volume) {
      const { path, format } = await imageOf(volume);
      return { type: 'block', dev: path, format };
    },

    async checkLayer(pool, volume, parent) {
      const image = await imageOf(volume);
      let actual: string | undefined;
      if (await isLocalPool(pool)) {
        const problems = await checkImage(image);
        if (problems.length) return problems;
        actual = image.format === 'qcow2' ? (await imageInfo(image)).backingFile : undefined;
      } else {
        const opened = await remoteBacking(pool, volume, VIEW, image.path);
        if (Array.isArray(opened)) return opened;
        actual = opened.backing;
      }
      return backingProblems(image.path, actual, parent ? (await imageOf(parent)).path : undefined);
    },

    async rebase(pool, volume, newBacking) {
      const base = newBacking ? (await imageOf(newBacking)).path : undefined;
      await mergeInto(pool, await volume.getName(), base);
      await refreshPool(pool);
    },

    async finishRebase(pool, name, newBacking) {
      if (layerFormatOf(name) !== 'qcow2') return false;
      await refreshPool(pool);
      const staging = await lvNamed(pool, mergeStagingVolumeName(name));
      if (!staging) return false;
      staging.free();
      await mergeInto(pool, name, newBacking ? (await imageOf(newBacking)).path : undefined);
      await refreshPool(pool);
      return true;
    },

    deleteVolume(_pool, volume) {
      return volume.delete();
    },

    listVolumeNames(pool) {
      return pool.pool.listVolumeNames();
    },

    writeDocumentVolume(pool, name, bytes) {
      // LVM rounds the LV up to its extent and does not clear what an earlier LV left there: the
      // rest is written with zeros, so an empty document (a generation marker) reads as zeros.
      return uploadNewVolume(pool, lvXml(name, Math.max(bytes.length, 1)), name, bytes, { zeroRest: true });
    },

    readDocumentVolumes(pool, names, maxBytes) {
      return downloadVolumes(pool, names, maxBytes);
    },
  };
  return driver;
};

/** Registers the logical driver (libvirt pool type `logical`). */
export function registerLogicalDriver(registry: PoolDriverRegistry): void {
  registry.register({ type: 'logical', create: () => createLogicalDriver() });
}
