// The dir pool driver: backups are qcow2 (compat 1.1) or raw files; an incremental is a qcow2 overlay
// whose backing file is its parent's volume, so the chain is plain qcow2 that any tool can read.
import type { StorageVolume } from '../../src/libvirt';
import type { NewBackupVolume, PoolDriver, PoolRef, PushTarget } from '../../src/pool/driver';
import {
  deleteStreamVolume,
  listStreamVolumeNames,
  readStreamMetadata,
  writeStreamMetadata,
} from '../../src/pool/stream-metadata';
import type { VolumeFormat } from '../../src/model';
import { ErrorCodes, VolbackError } from '../../src/errors';
import { parseVolumeXml } from '../../src/xml/libvirt-domain';
import { run } from '../../src/tools/exec';
import { imageInfo, rebaseArgv, type ImageRef } from '../../src/tools/qemu-img';
import { escapeXml } from '../../src/xml/escape';

/** Volume XML for a new backup or restore volume. Pure; `backingPath` makes it an overlay. */
export function dirVolumeXml(spec: {
  name: string;
  format: VolumeFormat;
  capacity: number;
  backingPath?: string;
}): string {
  const compat = spec.format === 'qcow2' ? '<compat>1.1</compat>' : '';
  const backing = spec.backingPath
    ? `<backingStore><path>${escapeXml(spec.backingPath)}</path><format type='qcow2'/></backingStore>`
    : '';
  return (
    `<volume type='file'><name>${escapeXml(spec.name)}</name>` +
    `<capacity unit='bytes'>${spec.capacity}</capacity><allocation unit='bytes'>0</allocation>` +
    `<target><format type='${spec.format}'/>${compat}<permissions><mode>0600</mode></permissions></target>` +
    `${backing}</volume>`
  );
}

/** The volume's file and format, from its libvirt XML (volback's volumes are raw or qcow2). */
async function imageOf(volume: StorageVolume): Promise<ImageRef & { format: VolumeFormat }> {
  const { path, format } = await parseVolumeXml(await volume.getXMLDesc());
  return { path: path ?? (await volume.getPath()), format: format === 'raw' ? 'raw' : 'qcow2' };
}

export const dirDriver: PoolDriver = {
  type: 'dir',
  capabilities: {
    fullFormats: ['qcow2', 'raw'],
    incrementalOverlays: true,
    pushTarget: 'file',
  },

  async createBackupVolume(pool: PoolRef, spec: NewBackupVolume): Promise<StorageVolume> {
    let backingPath: string | undefined;
    if (spec.parent) {
      if (spec.format !== 'qcow2' || spec.parent.format !== 'qcow2') {
        throw new VolbackError(
          ErrorCodes.INVALID_INPUT,
          `incremental backup ${spec.name} must be qcow2 on a qcow2 parent (dir pools keep increments as qcow2 overlays)`,
          { fault: 'user' },
        );
      }
      const parent = await pool.pool.lookupVolumeByName(spec.parent.name);
      try {
        backingPath = await parent.getPath();
      } finally {
        parent.free();
      }
    }
    return pool.pool.createVolume(dirVolumeXml({ ...spec, backingPath }));
  },

  createRestoreVolume(pool, spec) {
    return pool.pool.createVolume(dirVolumeXml(spec));
  },

  async pushTarget(_pool, volume): Promise<PushTarget> {
    return { type: 'file', ...(await imageOf(volume)) };
  },

  image(_pool, volume) {
    return imageOf(volume);
  },

  async rebase(pool, volume, newBacking) {
    const image = await imageOf(volume);
    const target = newBacking ? await imageOf(newBacking) : undefined;
    if (image.format !== 'qcow2' || (target && target.format !== 'qcow2')) {
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `cannot rebase ${image.path}: dir pools chain qcow2 volumes only`,
        {
          fault: 'user',
        },
      );
    }
    // The backing file is a path in the volume's header: already there means a previous run finished.
    const current = (await imageInfo(image)).backingFile;
    if (current !== target?.path) await run(rebaseArgv(image, target));
    await pool.pool.refresh();
  },

  writeMetadata: writeStreamMetadata,
  readMetadata: readStreamMetadata,
  listVolumeNames: listStreamVolumeNames,

  deleteVolume: deleteStreamVolume,
};
