// What the logical driver decides about one incremental layer, as pure functions: how large its LV
// is, the qcow2 header that makes it a layer on its parent, and a layer's format from its name.
import { ErrorCodes, VolbackError } from '../../src/errors';
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

/**
 * Bytes of the staging LV a merge builds the merged layer in: onto a new base, the clusters of the
 * child and of every layer it skips (`layerBytes`, each one's stored bytes: their union is no
 * larger than the sum), sized as an incremental of that many changed bytes; standing alone, the
 * whole disk. Never more than an incremental of the whole disk. Pure.
 */
export const mergeLvBytes = (virtualSize: number, layerBytes?: readonly number[]): number =>
  incrementalLvBytes(
    virtualSize,
    layerBytes?.reduce((sum, b) => sum + b, 0),
  );

/** What the qcow2 header of one of a merge's LVs says, as read through libvirt. */
export type MergeHeader =
  /** No such LV in the pool. */
  | 'missing'
  /** An LV whose first bytes are no qcow2 header volback can follow (LVM zeroes a new LV's first 4 KiB). */
  | 'unreadable'
  /** A qcow2 header naming `backing` (undefined: none). */
  | { backing: string | undefined };

/** Where a merge of child C onto a new base stands: C's LV path, the base's (undefined: none), the headers. */
export interface MergeState {
  childPath: string;
  base: string | undefined;
  child: MergeHeader;
  staging: MergeHeader;
}

/**
 * One step of a merge: `stage` creates the staging LV T with a header on C and streams C and the
 * skipped layers into it until its header names the base; `delete-child` removes C; `copy` recreates
 * C from T (libvirt copies an LV's bytes verbatim); `delete-staging` removes T.
 */
export type MergeStep = 'stage' | 'delete-child' | 'copy' | 'delete-staging';

/** Where a test may stop a merge (`VOLBACK_TEST_CRASH_AT`, src/crash-point.ts): right after a step. */
export const MERGE_CRASH_POINTS = ['merge-stage', 'merge-delete-child', 'merge-copy'] as const;

const FULL_MERGE: MergeStep[] = ['stage', 'delete-child', 'copy', 'delete-staging'];
const names = (h: MergeHeader, path: string | undefined): boolean =>
  typeof h === 'object' && h.backing === path;

/**
 * The steps that take a merge from `s` to C on the base with no T, decided from the headers alone,
 * so that a run stopped anywhere is finished by the next. The order of the steps is what makes the
 * headers proof: T's header names the base only once the stream is done (so T is complete); C is
 * deleted only while T is complete, and T only after C was copied whole. Hence: C on the base and no
 * T is done; a T still on C (or unreadable: its header not yet written) beside the original C is an
 * interrupted stream, redone from that intact C; a complete T with C present (on the old parent, or
 * a copy cut short, whatever its header says) is copied again after C is deleted, and with C
 * missing it is copied. Everything else no order of steps leads to, and it is refused with both LVs
 * left as they are: C gone without a complete T; C on the base beside a T that is not complete (T
 * may be the only whole copy, its header unreadable this once); a T that names neither C nor the
 * base (not a staging LV volback made). Pure.
 */
export function mergeSteps(s: MergeState): MergeStep[] {
  if (s.staging === 'missing') {
    if (names(s.child, s.base)) return [];
    if (typeof s.child === 'object') return FULL_MERGE;
  } else if (names(s.staging, s.base)) {
    return s.child === 'missing' ? ['copy', 'delete-staging'] : ['delete-child', 'copy', 'delete-staging'];
  } else if (
    typeof s.child === 'object' &&
    !names(s.child, s.base) &&
    (s.staging === 'unreadable' || names(s.staging, s.childPath))
  ) {
    // No run copies from an incomplete T, so the original C is sound and T is only in the way.
    return ['delete-staging', ...FULL_MERGE];
  }
  const child = s.child === 'missing' ? 'missing' : names(s.child, s.base) ? 'on its new base' : 'unreadable';
  throw new VolbackError(
    ErrorCodes.CHAIN_BROKEN,
    `cannot merge into ${s.childPath}: it is ${child} and no complete staging copy of it exists ` +
      `(its staging LV is ${s.staging === 'missing' ? 'missing' : s.staging === 'unreadable' ? 'unreadable' : `on ${s.staging.backing ?? 'nothing'}`}); both are left as they are`,
  );
}
