// The LVM (logical) pool driver (docs/lvm-driver.md): a full is a raw LV, written as a block target;
// an incremental is qcow2 inside an LV whose backing file is its parent's LV, the way oVirt's block
// storage domains keep snapshots; documents are small raw LVs. libvirt calls every LV raw and reads
// no header, so the driver knows a layer's format from volback's own name and its backing from the
// qcow2 header, checked to name a volume of the same pool.
import { closeSync, constants, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StorageVolume } from '../../src/libvirt';
import { ErrorCodes, VolbackError } from '../../src/errors';
import { kindOf } from '../../src/host/connection-kind';
import type { SparseChunk } from '../../src/libvirt/streams';
import type { CopyTarget, PoolDriver, PoolDriverFactory, PoolRef } from '../../src/pool/driver';
import type { PoolDriverRegistry } from '../../src/pool/registry';
import { RemoteChain, type ChainView } from '../../src/pool/remote-image';
import { downloadVolumes } from '../../src/pool/volume-streams';
import { run } from '../../src/tools/exec';
import { openImageReader } from '../../src/tools/nbd';
import {
  checkImage,
  imageInfo,
  storedDataBytes,
  storedRanges,
  type ImageRef,
} from '../../src/tools/qemu-img';
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

const isLocal = async (pool: PoolRef): Promise<boolean> => (await kindOf(pool.conn)).local;

async function withChain<T>(
  pool: PoolRef,
  volume: StorageVolume,
  use: (chain: RemoteChain) => Promise<T>,
): Promise<T> {
  const chain = await RemoteChain.open(pool.conn, volume, VIEW);
  try {
    return await use(chain);
  } finally {
    chain.close();
  }
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

    async copyTarget(_pool, volume): Promise<CopyTarget> {
      const { path, format } = await imageOf(volume);
      return {
        format,
        libvirt: { type: 'block', path },
        qemu: {
          via: 'fd',
          protocol: 'host_device',
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
    },

    async storedBytes(pool, volume) {
      if (await isLocal(pool)) return storedDataBytes(await imageOf(volume));
      const ranges = await withChain(pool, volume, (chain) => chain.topLayerRanges('data'));
      return ranges.reduce((sum, r) => sum + r.length, 0);
    },

    async layerExtents(pool, volume) {
      if (await isLocal(pool)) return storedRanges(await imageOf(volume));
      return withChain(pool, volume, (chain) => chain.topLayerRanges('stored'));
    },

    async openReader(pool, volume) {
      if (await isLocal(pool)) return openImageReader(await imageOf(volume));
      return (await RemoteChain.open(pool.conn, volume, VIEW)).asImageReader();
    },

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
      if (await isLocal(pool)) {
        const problems = await checkImage(image);
        if (problems.length) return problems;
        actual = image.format === 'qcow2' ? (await imageInfo(image)).backingFile : undefined;
      } else {
        const opened = await withChain(pool, volume, async (chain) => ({ backing: chain.backingPath })).catch(
          (err: Error) => [`${image.path}: ${err.message}`],
        );
        if (Array.isArray(opened)) return opened;
        actual = opened.backing;
      }
      const expected = parent ? (await imageOf(parent)).path : undefined;
      if (actual === expected) return [];
      return [
        expected
          ? `${image.path} stands on ${actual ?? 'nothing'}, not on its parent ${expected}`
          : `${image.path} stands on ${actual}, but it should stand alone`,
      ];
    },

    deleteVolume(_pool, volume) {
      return volume.delete();
    },

    listVolumeNames(pool) {
      return pool.pool.listVolumeNames();
    },

    async writeDocumentVolume(pool, name, bytes) {
      // LVM rounds the LV up to its extent and does not clear what an earlier LV left there: the
      // rest is written with zeros, so an empty document (a generation marker) reads as zeros.
      const volume = await pool.pool.createVolume(lvXml(name, Math.max(bytes.length, 1)));
      try {
        const { capacity } = await volume.getInfo();
        const padded = Buffer.concat([bytes, Buffer.alloc(Math.max(capacity - bytes.length, 0))]);
        await pipeline(Readable.from([padded]), volume.upload({ offset: 0, length: padded.length }));
      } catch (err) {
        await volume.delete().catch(() => undefined);
        throw new VolbackError(ErrorCodes.LIBVIRT, `cannot write volume ${name} in pool ${pool.name}`, {
          cause: err,
        });
      } finally {
        volume.free();
      }
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
