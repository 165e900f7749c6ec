// What the logical driver decides about one incremental layer, as pure functions: how large its LV
// is, the qcow2 header that makes it a layer on its parent, and a layer's format from its name.
import type { VolumeFormat } from '../../src/model';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const CLUSTER = 64 * KiB;

/**
 * Bytes of the LV an incremental needs: what the job writes (the disk's changed bytes, as libvirt's
 * checkpoint reports them, whole 64 KiB granules) plus qcow2's metadata — header, L1, refcount table
 * and first block (4 clusters), an L2 table per 512 MiB of disk, a refcount block per 2 GiB of image
 * — and a margin for guest writes between the query and the job's start (a quarter, at least 1 MiB).
 * Unknown changes: the whole disk, so any job fits. LVM rounds the result up to its extent. Pure.
 */
export function incrementalLvBytes(virtualSize: number, changedBytes?: number): number {
  const data =
    changedBytes === undefined
      ? virtualSize
      : Math.min(changedBytes + Math.max(Math.ceil(changedBytes / 4), MiB), virtualSize);
  const l2 = Math.ceil(virtualSize / (512 * MiB)) * CLUSTER;
  const image = data + 4 * CLUSTER + l2;
  const refcounts = Math.ceil(image / (2 * GiB)) * CLUSTER;
  return Math.ceil((image + refcounts) / CLUSTER) * CLUSTER;
}

/**
 * `qemu-img create` of the qcow2 header that makes an LV a layer on `backing` (its parent's LV
 * path, of `backingFormat`): compat 1.1, 64 KiB clusters, the disk's virtual size; `-u` because the
 * parent is on the host, not here. The file is made here and uploaded into the LV. Pure.
 */
export const layerHeaderArgv = (
  file: string,
  virtualSize: number,
  backing: string,
  backingFormat: VolumeFormat,
): string[] => [
  'qemu-img',
  'create',
  '-q',
  '-f',
  'qcow2',
  '-o',
  'cluster_size=65536,compat=1.1',
  '-u',
  '-b',
  backing,
  '-F',
  backingFormat,
  file,
  String(virtualSize),
];

/**
 * The format of one of the driver's volumes. libvirt calls every LV raw and reads no header, and a
 * full's first bytes are the guest's, so the format is never sniffed: volback's names end in it
 * (`….qcow2` for an incremental layer; fulls, restores and documents are raw). Pure.
 */
export const layerFormatOf = (name: string): VolumeFormat => (name.endsWith('.qcow2') ? 'qcow2' : 'raw');
