// The pool-driver contract: everything that differs between libvirt pool types when they hold
// backups. A driver owns how its pool stores a full or an incremental backup, its small documents,
// how QEMU writes into its volumes and how restores and verify reach them. The generic layer
// (pool-layer.ts, documents.ts, catalog-index.ts) and core call only what is declared here and never
// branch on a pool type or open a path of their own.
//
// Rules, as in libvirt's storage backends: a method that creates something removes what it created
// when it fails; an optional method a driver cannot offer is absent, and callers answer
// ERR_POOL_UNSUPPORTED for it (drivers never stub); every input that came from a pool is untrusted.
import type { Writable } from 'node:stream';
import type { Connection, StoragePool, StorageVolume } from '../libvirt';
import type { DiskSource, VolumeFormat } from '../model';
import type { ImageRef, ImageSecret } from '../tools/qemu-img';
import type { ImageReader } from '../tools/nbd';

/** An open, active pool as the layer hands it to its driver. */
export interface PoolRef {
  readonly conn: Connection;
  readonly pool: StoragePool;
  readonly name: string;
  /** libvirt pool type (`dir`, `rbd`, `logical`, ...). */
  readonly type: string;
  /** The pool's libvirt XML, read when it was opened; only its driver reads past type and name. */
  readonly xml: string;
}

/** How an incremental backup is stored in a pool of this type. */
export type IncrementalStorage =
  /** A volume of `format` whose backing is its parent's volume: it holds only what changed. */
  | { readonly kind: 'overlay'; readonly format: VolumeFormat }
  /** A copy-on-write child of its parent's volume in the parent's format (an RBD clone, an LVM snapshot). */
  | { readonly kind: 'clone' }
  /** Every backup in such a pool is a full one. */
  | { readonly kind: 'none' };

/** What a driver can do, as data: the planner and the coordinator read it before anything is created. */
export interface PoolDriverCapabilities {
  /** Formats a full backup's volume can take, preferred first. */
  readonly fullFormats: readonly VolumeFormat[];
  readonly incremental: IncrementalStorage;
  /** True when libvirt 9.0's push job can write the pool's volumes (files and block devices only). */
  readonly libvirtPushTarget: boolean;
  /**
   * How the QMP engine hands QEMU a target (`copyTarget(...).qemu.via`): `fd`, a descriptor volback
   * opens, which only a local connection can pass; `node`, a network node QEMU opens itself.
   */
  readonly qmpTarget: 'fd' | 'node';
  /**
   * True when libvirt on the host reads the pool's volumes as a guest sees them (an incremental
   * through its parents), so its `virStorageVolCreateXMLFrom` flattens them (a restore on a remote
   * host). False where libvirt does not know a volume's format (qcow2 inside an LV): such restores
   * stream the bytes through volback's own reader instead.
   */
  readonly hostCopySource: boolean;
  /**
   * True when the pool stores LUKS-encrypted qcow2 backup volumes (libvirt's volume
   * `<encryption format='luks'>`) and opens them with a chain's key (docs/encryption.md). Absent or
   * false: an encrypted backup into the pool is refused before anything is created.
   */
  readonly encryptedVolumes?: boolean;
  /**
   * With `createLiveRestoreVolume`: how a live restore's layer stops reading its backup while a
   * domain runs on it. `block-pull`: libvirt's block pull on the domain's disk (the layer's chain is
   * one libvirt sees); `rebase`: the driver's `rebase` to nothing, in place under the running
   * domain (an RBD flatten, which the image's lock owner, QEMU, carries out).
   */
  readonly liveLayerFill?: 'block-pull' | 'rebase';
  /**
   * True when `createBackupVolume` can make a qcow2 volume whose clusters QEMU may write compressed
   * with zstd (`compression: 'zstd'`; docs/compression.md). Absent or false: a compressed backup into
   * the pool is refused before anything is created (raw volumes cannot hold compressed clusters).
   */
  readonly compressedClusters?: boolean;
}

/**
 * The key of an encrypted backup chain: the QEMU secret object (the passphrase as base64 text, never
 * logged) every encrypted layer opens with. Driver methods taking one open such layers with it.
 */
export type ChainKey = ImageSecret;

/** The data volume of one disk's backup, to be created empty. */
export interface NewBackupVolume {
  /**
   * Only where `capabilities.encryptedVolumes`: a LUKS-encrypted qcow2 volume whose passphrase is
   * libvirt secret `secretUuid` (libvirt's `<encryption format='luks'>`).
   */
  encryption?: { format: 'luks'; secretUuid: string };
  name: string;
  format: VolumeFormat;
  /** Virtual size in bytes (the disk's size). */
  capacity: number;
  /** Incremental: the parent backup's volume in the same pool, stored as `capabilities.incremental` says. */
  parent?: StorageVolume;
  /**
   * Incremental: the bytes the disk changed since its parent, as libvirt's checkpoint reports them
   * just before the volumes are made (absent when unknown): what a driver whose volumes have a fixed
   * size (an LV) sizes one by. Guest writes between the query and the job's start are not in it.
   */
  changedBytes?: number;
  /**
   * `zstd`: a qcow2 volume created with `compression_type=zstd`, into which the QMP engine writes
   * compressed clusters; only asked of a driver declaring `capabilities.compressedClusters`.
   */
  compression?: 'zstd';
}

/** An empty volume of a given format and size: a restore target, or pull mode's scratch. */
export interface NewPlainVolume {
  name: string;
  format: VolumeFormat;
  capacity: number;
  /**
   * A restore into an encrypted volume, only asked of `createRestoreVolume` where
   * `capabilities.encryptedVolumes`: LUKS-encrypted qcow2 with the passphrase of libvirt secret
   * `secretUuid`, as a backup volume is (docs/encryption.md).
   */
  encryption?: { format: 'luks'; secretUuid: string };
}

/** A target QEMU holds open through a file descriptor volback opened (local connections only). */
export interface OpenedTarget {
  readonly fd: number;
  /** Closes the descriptor; `commit` first makes everything written through it durable. */
  close(commit: boolean): Promise<void>;
}

/**
 * Where a copy engine writes one volume, as its driver describes it: the engines use it as is.
 * `libvirt` is the `<target>` of libvirt's push job (absent where libvirt cannot write the volume);
 * `qemu` is how QEMU's blockdev-backup reaches it: a descriptor the driver opens, or the protocol
 * layer of a `blockdev-add` for a network image.
 */
export interface CopyTarget {
  format: VolumeFormat;
  /** An encrypted volume: QEMU opens it with this key (`encrypt.key-secret`), which the engine adds first. */
  key?: ChainKey;
  libvirt?: { type: 'file' | 'block'; path: string };
  qemu:
    | { via: 'fd'; protocol: 'file' | 'host_device'; open(): Promise<OpenedTarget> }
    | {
        via: 'node';
        node: Record<string, unknown>;
        /** Secret objects the node names (a cephx key): the engine adds them first, removes them last. */
        secrets?: readonly ImageSecret[];
      };
}

/** Guest bytes [start, start + length) of a volume. */
export interface ByteRange {
  start: number;
  length: number;
}

/**
 * A volume opened read-only for its guest-visible bytes (an incremental shows its parents where it
 * holds nothing): what checksums are computed from and checked against. `read` may be called several
 * times at once; each call streams its range to its sink in order.
 */
export type VolumeReader = ImageReader;

/** One document volume's bytes as read, or why it could not be read. */
export type DocumentBytes = { name: string; bytes: Buffer } | { name: string; error: Error };

/** What `volback pool list` shows of a pool beyond libvirt's generic facts. */
export interface PoolDescription {
  /** Where the volumes live, when that is a local path (a directory, a volume group's device dir). */
  path?: string;
}

export interface PoolDriver {
  /** The libvirt pool type this driver serves. */
  readonly type: string;
  readonly capabilities: PoolDriverCapabilities;

  /** Reads what this driver needs of its pool's XML. Pure; refuses XML of another type. */
  describePool(xml: string): Promise<PoolDescription>;

  /**
   * Optional. Defines, builds, starts and autostarts a new pool of this type at `path` (volback's
   * default location on first use). Never changes anything that exists already (an existing
   * directory keeps its owner and mode); on failure nothing it defined stays defined.
   */
  createPool?(conn: Connection, spec: { name: string; path: string }): Promise<void>;

  /**
   * Creates the empty volume of a full (no parent) or incremental backup, stored as the capabilities
   * declare. On error it removes whatever it created; on success the caller owns the volume.
   */
  createBackupVolume(pool: PoolRef, spec: NewBackupVolume): Promise<StorageVolume>;

  /** Creates an empty, self-contained volume (a restore's target). Same cleanup duty. */
  createRestoreVolume(pool: PoolRef, spec: NewPlainVolume): Promise<StorageVolume>;

  /**
   * Optional. Creates the self-contained volume `spec` holding the guest view of `source` (a volume
   * of any pool of the same host; an incremental flattened with its parents), copied on the pool's
   * host by libvirt (`virStorageVolCreateXMLFrom`): how a restore copies where volback cannot open
   * the images itself (a remote host). Same cleanup duty.
   */
  copyVolume?(pool: PoolRef, spec: NewPlainVolume, source: StorageVolume): Promise<StorageVolume>;

  /**
   * Optional. Creates volume `spec` as a copy-on-write layer over `source` (the `<disk>` source of a
   * backup's top volume, a volume of another pool of the same host): it stores nothing yet, shows the
   * source's guest view, and writes land in it alone. A domain runs on it at once while the rest is
   * copied in as `capabilities.liveLayerFill` says (docs/live-restore.md). Refuses
   * (ERR_POOL_UNSUPPORTED) a source it cannot stand on. Same cleanup duty.
   */
  createLiveRestoreVolume?(pool: PoolRef, spec: NewPlainVolume, source: DiskSource): Promise<StorageVolume>;

  /**
   * Optional. A sparse stream (SparseChunk objects) writing the first `length` guest bytes of
   * `volume`, a raw volume `createRestoreVolume` made, through libvirt: how a restore from another
   * host fills it. Absent where libvirt cannot upload into the pool (rbd).
   */
  openUpload?(pool: PoolRef, volume: StorageVolume, length: number): Promise<Writable>;

  /**
   * Optional. Creates pull mode's copy-before-write scratch volume (qcow2, which libvirt's pull job
   * requires), reachable through `copyTarget(...).libvirt`. Same cleanup duty.
   */
  createScratchVolume?(pool: PoolRef, spec: { name: string; capacity: number }): Promise<StorageVolume>;

  /** Where the copy engines write `volume`. Opens nothing until `qemu.open()` is called. */
  copyTarget(pool: PoolRef, volume: StorageVolume, key?: ChainKey): Promise<CopyTarget>;

  // `key`, in the reads below: the chain's key when it is encrypted (absent: it is not).

  /** Bytes of guest data `volume` itself stores (an incremental: only its own layer). */
  storedBytes(pool: PoolRef, volume: StorageVolume, key?: ChainKey): Promise<number>;

  /**
   * The guest byte ranges `volume`'s own layer stores, sorted, not overlapping, adjacent ones merged:
   * where it holds data, and for an incremental also where it hides its parent (a zero cluster). Never
   * what it only shows of its parents, never a hole of a full. Read-only. A backup's checksums cover
   * exactly these ranges (docs/architecture.md, "Checksums"), so they must describe what the layer
   * stores as faithfully as the pool can tell: a range it stores but does not report goes unchecked.
   * A pool may report whole allocation units around what was written (an RBD full's objects).
   */
  layerExtents(pool: PoolRef, volume: StorageVolume, key?: ChainKey): Promise<ByteRange[]>;

  /**
   * Opens `volume` for reading its guest-visible bytes, as a domain on it would see them (an incremental
   * through its parents), read-only: nothing can change the volume through it. The caller closes it;
   * an open that fails leaves nothing running.
   */
  openReader(pool: PoolRef, volume: StorageVolume, key?: ChainKey): Promise<VolumeReader>;

  /** The volume as qemu-img reads (following its parents) or writes it. */
  image(pool: PoolRef, volume: StorageVolume, key?: ChainKey): Promise<ImageRef>;

  /** The `<disk>` source of a domain whose disk is `volume`. */
  diskSource(pool: PoolRef, volume: StorageVolume): Promise<DiskSource>;

  /**
   * What is wrong with `volume` as one layer of a backup chain: its own image is unsound, or it does
   * not stand on exactly `parent` (undefined: it must stand alone). Empty when it is sound. Read-only.
   */
  checkLayer(pool: PoolRef, volume: StorageVolume, parent?: StorageVolume, key?: ChainKey): Promise<string[]>;

  /**
   * Optional. Makes `volume` (an incremental) stand on `newBacking` instead of its current parent, or
   * on nothing (it becomes self-sufficient), without changing its content: data that came from the
   * old parent and differs in the new one is copied into `volume` first. Idempotent: a volume already
   * on `newBacking` is left alone, and a run interrupted at any moment leaves the content unchanged, so
   * repeating it finishes the job. libvirt's view of the volume is refreshed before it returns.
   *
   * The exception: a driver whose volumes cannot grow in place (logical: libvirt 9.0 resizes no LV)
   * builds the merged layer in a staging volume, then deletes `volume` and makes it again under the
   * same name from that copy. From the delete until the copy is done the volume is missing or
   * partial: `checkLayer` then fails, so a restore refuses it, and the next run (the removal
   * journal's) finishes the copy — through `finishRebase` while the volume is missing.
   *
   * `key`: the chain's key when it is encrypted (only where `capabilities.encryptedVolumes`): every
   * layer opens with it, and the volume stays encrypted with it (docs/encryption.md).
   */
  rebase?(pool: PoolRef, volume: StorageVolume, newBacking?: StorageVolume, key?: ChainKey): Promise<void>;

  /**
   * Optional, with a `rebase` that replaces its volume: finishes an interrupted rebase of volume
   * `name` that is missing from the pool (deleted, not yet made again from its staging copy), as
   * `rebase` would have. Resolves false, changing nothing, when the pool holds no such rebase.
   */
  finishRebase?(pool: PoolRef, name: string, newBacking?: StorageVolume): Promise<boolean>;

  /**
   * Optional. Why `rebase` cannot run on this pool over this connection (one whose driver can
   * rebase only where volback has the files), for an `encrypted` chain's volume or a plain one;
   * undefined when it can. A removal asks before it changes anything.
   */
  rebaseRefusal?(pool: PoolRef, encrypted: boolean): Promise<string | undefined>;

  /**
   * Optional. Creates volume `name` holding `source`'s own layer byte for byte (`source` is a volume
   * of `sourcePool`, a pool of the same type on the same host; what it only shows of its parents is
   * not copied). With `backing`, a volume of this pool holding exactly the bytes of `source`'s parent
   * (its copy), the new volume's backing reference is then re-pointed at it without reading or
   * writing data (qcow2: `qemu-img rebase -u`), so the copy shows the same guest view on its own
   * pool's chain. `key`: the chain's key when it is encrypted (the copy keeps the same encryption).
   * How `volback pool migrate` moves a chain between pools (docs/scale.md); absent, or refusing
   * (ERR_POOL_UNSUPPORTED), where a layer cannot be copied so. Same cleanup duty.
   */
  copyLayer?(
    pool: PoolRef,
    name: string,
    source: { pool: PoolRef; volume: StorageVolume },
    backing?: StorageVolume,
    key?: ChainKey,
  ): Promise<StorageVolume>;

  /**
   * Optional, with `copyLayer`: why it cannot copy layers out of `source` into pools of this type
   * over `source`'s connection (another pool type, another host), or, with `volume`, that volume of
   * `source` (one it must not read as a layer: a symlink); undefined when it can. Asked before
   * anything is created, so a migration refuses, or keeps a chain, with the pools as they were.
   */
  copyLayerRefusal?(source: PoolRef, volume?: StorageVolume): Promise<string | undefined>;

  /**
   * Optional. Whether the pool itself holds a volume `name`, whatever libvirt saw at its last
   * refresh: for pools other hosts write (RBD). A lookup libvirt misses refreshes the pool then.
   */
  holdsVolume?(pool: PoolRef, name: string): Promise<boolean>;

  /** Deletes a volume. The caller has checked that nothing depends on it. */
  deleteVolume(pool: PoolRef, volume: StorageVolume): Promise<void>;

  /** Names of every volume in the pool (one listing call). */
  listVolumeNames(pool: PoolRef): Promise<string[]>;

  /**
   * Creates volume `name` holding `bytes` from offset 0 (it may be larger: the generic layer frames
   * what it writes). Fails when `name` exists. On error it removes what it created.
   */
  writeDocumentVolume(pool: PoolRef, name: string, bytes: Buffer): Promise<void>;

  /**
   * Reads up to `maxBytes` of each named volume at once (a catalog scan reads thousands); one
   * unreadable or larger volume gives an error entry, not a rejection. Results follow `names`.
   */
  readDocumentVolumes(pool: PoolRef, names: readonly string[], maxBytes: number): Promise<DocumentBytes[]>;

  /** Optional. Releases what the driver holds for an opened pool (a cluster connection); idempotent. */
  closePool?(pool: PoolRef): Promise<void>;
}

/** A driver's factory: validates its options before anything runs, and returns the driver. */
export type PoolDriverFactory<Options = Record<string, never>> = (options?: Options) => PoolDriver;
