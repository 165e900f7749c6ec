// The LVM (logical) pool driver (docs/lvm-driver.md): a full is a raw LV, written as a block target;
// an incremental is qcow2 inside an LV whose backing file is its parent's LV, the way oVirt's block
// storage domains keep snapshots; documents are small raw LVs. libvirt calls every LV raw and reads
// no header, so the driver knows a layer's format from volback's own name and its backing from the
// qcow2 header, checked to name a volume of the same pool.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StorageVolume } from '../../src/libvirt';
import { ErrorCodes, VolbackError } from '../../src/errors';
import type { SparseChunk } from '../../src/libvirt/streams';
import type { PoolDriver, PoolDriverFactory } from '../../src/pool/driver';
import type { PoolDriverRegistry } from '../../src/pool/registry';
import {
  backingProblems,
  descriptorTarget,
  hostImageReads,
  isLocalPool,
  remoteBacking,
} from '../../src/pool/host-images';
import type { ChainView } from '../../src/pool/remote-image';
import { downloadVolumes, uploadNewVolume } from '../../src/pool/volume-streams';
import { run } from '../../src/tools/exec';
import { checkImage, imageInfo, type ImageRef } from '../../src/tools/qemu-img';
import {
  parsePoolIdentity,
  parsePoolTargetPath,
  parseVolumeXml,
  volumeXml,
} from '../../src/xml/libvirt-storage';
import { incrementalLvBytes, layerFormatOf, layerHeaderArgv } from './layer';

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
 * An upload of guest bytes into an LV: a new LV holds whatever an earlier one left on the disk, so
 * a hole is sent as zeros, never skipped.
 */
function zeroFilledUpload(volume: StorageVolume, length: number): Writable {
  const ZERO = Buffer.alloc(4 * 1024 * 1024);
  const fill = new Transform({
    writableObjectMode: true,
    transform(chunk: SparseChunk, _enc, done) {
      if (chunk.kind === 'data') return done(null, chunk.data);
      for (let left = chunk.length; left > 0; left -= ZERO.length)
        this.push(left >= ZERO.length ? ZERO : ZERO.subarray(0, left));
      done();
    },
  });
  const upload = volume.upload({ offset: 0, length });
  void pipeline(fill, upload).catch((err: Error) => fill.destroy(err));
  return fill;
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
      fullAllocation: 'thick',
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
        return pool.pool.createVolume(lvXml(spec.name, spec.capacity));
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
      return pool.pool.createVolume(lvXml(spec.name, spec.capacity));
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
