// StoragePool and StorageVolume: libvirt storage handles, including volume upload/download streams.
import type { Readable, Writable } from 'stream';
import { virStorageVolDownloadFlags, virStorageVolUploadFlags } from './constants.generated';
import { fromNative } from './errors';
import { invoke, LibvirtObject } from './handle';
import type { NativeHandle } from './native';
import { VolumeReadStream, VolumeWriteStream, type TransferOptions } from './streams';

export interface StoragePoolInfo {
  /** virStoragePoolState */
  state: number;
  capacity: number;
  allocation: number;
  available: number;
}

export interface StorageVolumeInfo {
  /** virStorageVolType */
  type: number;
  capacity: number;
  allocation: number;
}

/** One result of StoragePool.readVolumes. */
export type VolumeContent =
  { name: string; data: Buffer } | { name: string; tooBig: true } | { name: string; error: Error };

export class StoragePool extends LibvirtObject {
  /** @internal */
  constructor(handle: NativeHandle, label = '') {
    super(handle, label);
  }

  private args(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { pool: this.label, ...extra };
  }

  getName(): Promise<string> {
    return invoke('virStoragePoolGetName', this.args(), (n) => n.storagePoolGetName(this.handle));
  }

  getUUIDString(): Promise<string> {
    return invoke('virStoragePoolGetUUIDString', this.args(), (n) => n.storagePoolGetUUIDString(this.handle));
  }

  /** Creates the pool's underlying storage (mkdir for dir pools). flags: virStoragePoolBuildFlags. */
  build(flags = 0): Promise<void> {
    return invoke('virStoragePoolBuild', this.args({ flags }), (n) => n.storagePoolBuild(this.handle, flags));
  }

  /** Starts (activates) a defined pool. flags: virStoragePoolCreateFlags (e.g. WITH_BUILD). */
  create(flags = 0): Promise<void> {
    return invoke('virStoragePoolCreate', this.args({ flags }), (n) =>
      n.storagePoolCreate(this.handle, flags),
    );
  }

  /** Stops the pool (data stays); a transient pool disappears. */
  destroy(): Promise<void> {
    return invoke('virStoragePoolDestroy', this.args(), (n) => n.storagePoolDestroy(this.handle));
  }

  /** Removes an inactive pool's definition. */
  undefine(): Promise<void> {
    return invoke('virStoragePoolUndefine', this.args(), (n) => n.storagePoolUndefine(this.handle));
  }

  /** Deletes the pool's underlying storage (rmdir for dir pools; must be empty). */
  delete(flags = 0): Promise<void> {
    return invoke('virStoragePoolDelete', this.args({ flags }), (n) =>
      n.storagePoolDelete(this.handle, flags),
    );
  }

  refresh(): Promise<void> {
    return invoke('virStoragePoolRefresh', this.args(), (n) => n.storagePoolRefresh(this.handle, 0));
  }

  getInfo(): Promise<StoragePoolInfo> {
    return invoke('virStoragePoolGetInfo', this.args(), (n) => n.storagePoolGetInfo(this.handle));
  }

  /** flags: virStorageXMLFlags (INACTIVE). */
  getXMLDesc(flags = 0): Promise<string> {
    return invoke('virStoragePoolGetXMLDesc', this.args({ flags }), (n) =>
      n.storagePoolGetXMLDesc(this.handle, flags),
    );
  }

  async listAllVolumes(): Promise<StorageVolume[]> {
    const hs = await invoke('virStoragePoolListAllVolumes', this.args(), (n) =>
      n.storagePoolListAllVolumes(this.handle, 0),
    );
    return hs.map((h) => new StorageVolume(h));
  }

  /** Names of every volume, in one listing call (no per-volume handles). */
  listVolumeNames(): Promise<string[]> {
    return invoke('virStoragePoolListAllVolumes', this.args(), (n) =>
      n.storagePoolListVolumeNames(this.handle),
    );
  }

  /**
   * Reads whole volumes by name in one worker hop that lists the pool once and downloads on
   * `threads` native threads (a catalog scan reads thousands of small volumes). One failing volume gives an `error` entry (a LibvirtError), not a rejection; a volume
   * over `maxBytes` gives `tooBig`. Results follow the order of `names`.
   */
  async readVolumes(names: readonly string[], maxBytes: number, threads = 4): Promise<VolumeContent[]> {
    const raw = await invoke('virStorageVolDownload', this.args({ volumes: names.length, threads }), (n) =>
      n.storagePoolReadVolumes(this.handle, [...names], maxBytes, threads),
    );
    return raw.map((r) =>
      r.data
        ? { name: r.name, data: r.data }
        : r.tooBig !== undefined
          ? { name: r.name, tooBig: true as const }
          : { name: r.name, error: fromNative(r.error) as Error },
    );
  }

  setAutostart(autostart: boolean): Promise<void> {
    return invoke('virStoragePoolSetAutostart', this.args({ autostart }), (n) =>
      n.storagePoolSetAutostart(this.handle, autostart ? 1 : 0),
    );
  }

  getAutostart(): Promise<boolean> {
    return invoke('virStoragePoolGetAutostart', this.args(), (n) => n.storagePoolGetAutostart(this.handle));
  }

  isActive(): Promise<boolean> {
    return invoke('virStoragePoolIsActive', this.args(), (n) => n.storagePoolIsActive(this.handle));
  }

  isPersistent(): Promise<boolean> {
    return invoke('virStoragePoolIsPersistent', this.args(), (n) => n.storagePoolIsPersistent(this.handle));
  }

  /** flags: virStorageVolCreateFlags (PREALLOC_METADATA, REFLINK, VALIDATE). */
  async createVolume(xml: string, flags = 0): Promise<StorageVolume> {
    const h = await invoke('virStorageVolCreateXML', this.args({ flags }), (n) =>
      n.storageVolCreateXML(this.handle, xml, flags),
    );
    return new StorageVolume(h);
  }

  /** Creates a volume in this pool as a copy of `from`, which may live in another pool. */
  async createVolumeFrom(xml: string, from: StorageVolume, flags = 0): Promise<StorageVolume> {
    const h = await invoke('virStorageVolCreateXMLFrom', this.args({ from: from.label, flags }), (n) =>
      n.storageVolCreateXMLFrom(this.handle, xml, from.handle, flags),
    );
    return new StorageVolume(h);
  }

  async lookupVolumeByName(name: string): Promise<StorageVolume> {
    const h = await invoke('virStorageVolLookupByName', this.args({ name }), (n) =>
      n.storageVolLookupByName(this.handle, name),
    );
    return new StorageVolume(h, name);
  }
}

export class StorageVolume extends LibvirtObject {
  /** @internal */
  constructor(handle: NativeHandle, label = '') {
    super(handle, label);
  }

  private args(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { volume: this.label, ...extra };
  }

  getName(): Promise<string> {
    return invoke('virStorageVolGetName', this.args(), (n) => n.storageVolGetName(this.handle));
  }

  getKey(): Promise<string> {
    return invoke('virStorageVolGetKey', this.args(), (n) => n.storageVolGetKey(this.handle));
  }

  getPath(): Promise<string> {
    return invoke('virStorageVolGetPath', this.args(), (n) => n.storageVolGetPath(this.handle));
  }

  getInfo(): Promise<StorageVolumeInfo> {
    return invoke('virStorageVolGetInfo', this.args(), (n) => n.storageVolGetInfo(this.handle));
  }

  getXMLDesc(flags = 0): Promise<string> {
    return invoke('virStorageVolGetXMLDesc', this.args({ flags }), (n) =>
      n.storageVolGetXMLDesc(this.handle, flags),
    );
  }

  /** The pool holding this volume. */
  async getPool(): Promise<StoragePool> {
    const h = await invoke('virStoragePoolLookupByVolume', this.args(), (n) =>
      n.storagePoolLookupByVolume(this.handle),
    );
    return new StoragePool(h);
  }

  /** flags: virStorageVolDeleteFlags (ZEROED, WITH_SNAPSHOTS). The handle stays allocated; free() it. */
  delete(flags = 0): Promise<void> {
    return invoke('virStorageVolDelete', this.args({ flags }), (n) => n.storageVolDelete(this.handle, flags));
  }

  /** Overwrites the volume's data with zeros (optional in most backends). */
  wipe(): Promise<void> {
    return invoke('virStorageVolWipe', this.args(), (n) => n.storageVolWipe(this.handle, 0));
  }

  /** flags: virStorageVolResizeFlags (ALLOCATE, DELTA, SHRINK). */
  resize(capacity: number, flags = 0): Promise<void> {
    return invoke('virStorageVolResize', this.args({ capacity, flags }), (n) =>
      n.storageVolResize(this.handle, capacity, flags),
    );
  }

  /**
   * Streams the volume's bytes (for a qcow2 volume: the qcow2 file itself). Byte mode gives
   * Buffers; `sparse: true` gives SparseChunk objects. The transfer starts on first read.
   */
  download(opts: TransferOptions = {}): Readable {
    const flags = opts.sparse ? virStorageVolDownloadFlags.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM : 0;
    const offset = opts.offset ?? 0;
    const length = opts.length ?? 0;
    return new VolumeReadStream(
      () =>
        invoke('virStorageVolDownload', this.args({ offset, length, flags }), (n) =>
          n.storageVolDownload(this.handle, offset, length, flags),
        ),
      opts,
      this.label,
    );
  }

  /**
   * Writes into the volume from `offset`. end() commits (virStreamFinish); destroy()/errors abort.
   * `sparse: true` accepts SparseChunk objects as well as Buffers.
   */
  upload(opts: TransferOptions = {}): Writable {
    const flags = opts.sparse ? virStorageVolUploadFlags.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM : 0;
    const offset = opts.offset ?? 0;
    const length = opts.length ?? 0;
    return new VolumeWriteStream(
      () =>
        invoke('virStorageVolUpload', this.args({ offset, length, flags }), (n) =>
          n.storageVolUpload(this.handle, offset, length, flags),
        ),
      opts,
      this.label,
    );
  }
}
