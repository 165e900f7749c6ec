// The pool-driver contract: everything that differs between libvirt pool types when they hold backups.
// The generic pool layer (src/pool/pool-layer.ts) calls only these methods and capabilities; it never
// branches on a pool type. A method a driver cannot offer is left out, and the layer answers
// ERR_POOL_UNSUPPORTED for it.
import type { Connection, StoragePool, StorageVolume } from '../libvirt';
import type { VolumeFormat } from '../model';
import type { ImageRef } from '../tools/qemu-img';

/** An open, active pool as the layer hands it to its driver. */
export interface PoolRef {
  readonly conn: Connection;
  readonly pool: StoragePool;
  readonly name: string;
  /** libvirt pool type (`dir`, `rbd`, `logical`, ...). */
  readonly type: string;
  /** `<target><path>` of the pool, when it has one. */
  readonly path?: string;
}

/** The data volume of one disk's backup, to be created empty. */
export interface NewBackupVolume {
  name: string;
  format: VolumeFormat;
  /** Virtual size in bytes (the disk's size). */
  capacity: number;
  /** Incremental: the parent backup's data volume in the same pool; the new one records only changes. */
  parent?: { name: string; format: VolumeFormat };
}

/** How a QEMU push backup job writes into a volume (libvirt 9.0 takes file and block targets). */
export interface PushTarget {
  type: 'file' | 'block';
  path: string;
  format: VolumeFormat;
}

export type MetadataRead = { name: string; xml: string } | { name: string; error: Error };

/** What a driver can do, as data the layer and the coordinator consult. */
export interface PoolDriverCapabilities {
  /** Formats a full backup volume can take, preferred first. */
  readonly fullFormats: readonly VolumeFormat[];
  /** True when an incremental can be stored as an overlay on its parent's volume. */
  readonly incrementalOverlays: boolean;
  /** How QEMU reaches the volumes: through libvirt's push job (file/block) or a network protocol. */
  readonly pushTarget: 'file' | 'block' | 'network';
}

export interface PoolDriver {
  /** The libvirt pool type this driver serves. */
  readonly type: string;
  readonly capabilities: PoolDriverCapabilities;

  /**
   * Creates the empty target volume of a full (no parent) or incremental backup. On error it removes
   * whatever it created; on success the caller owns the volume (and deletes it on a later failure).
   */
  createBackupVolume(pool: PoolRef, spec: NewBackupVolume): Promise<StorageVolume>;

  /** Creates an empty volume for a restore (flattened, no backing store). Same cleanup duty. */
  createRestoreVolume(
    pool: PoolRef,
    spec: { name: string; format: VolumeFormat; capacity: number },
  ): Promise<StorageVolume>;

  /** Where a push backup job writes into `volume`. */
  pushTarget(pool: PoolRef, volume: StorageVolume): Promise<PushTarget>;

  /** The volume as an image qemu-img can read (following its backing chain) or write. */
  image(pool: PoolRef, volume: StorageVolume): Promise<ImageRef>;

  /**
   * Stores a metadata document as volume `name`, replacing an older one of that name. Written last by
   * every operation, it is the commit point: the volume never holds a document that validates but is
   * cut short (the document is checked as a whole when read).
   */
  writeMetadata(pool: PoolRef, name: string, xml: string): Promise<void>;

  /**
   * Reads many metadata documents at once (a catalog scan reads thousands); one unreadable volume
   * gives an error entry, not a rejection. Results are in the order of `names`.
   */
  readMetadata(pool: PoolRef, names: readonly string[]): Promise<MetadataRead[]>;

  /** Names of every volume in the pool (one listing call; the layer picks metadata volumes out). */
  listVolumeNames(pool: PoolRef): Promise<string[]>;

  /**
   * Optional. Makes `volume` (an incremental) stand on `newBacking` instead of its current parent, or
   * on nothing (it becomes self-sufficient), without changing its content: data that came from the
   * old parent and differs in the new one is copied into `volume` first. Idempotent: a volume already
   * on `newBacking` is left alone, and a run interrupted at any moment leaves the content unchanged, so
   * repeating it finishes the job. libvirt's view of the volume is refreshed before it returns.
   */
  rebase?(pool: PoolRef, volume: StorageVolume, newBacking?: StorageVolume): Promise<void>;

  /** Deletes a volume; the caller has already checked no other backup depends on it. */
  deleteVolume(pool: PoolRef, volume: StorageVolume): Promise<void>;
}
