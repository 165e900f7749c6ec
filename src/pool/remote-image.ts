// A file volume's guest view through libvirt alone, for hosts volback does not run on
// (docs/remote-hosts.md, "Reading a backup without local files"): ranged downloads as the byte
// source, volback's qcow2 reader for each qcow2 layer, and the chain as libvirt's volume XML names
// it, checked against each layer's own header.
import path from 'node:path';
import { ErrorCodes, VolbackError } from '../errors';
import {
  openQcow2,
  rawGuestReader,
  type ByteSource,
  layeredReader,
  type GuestReader,
  type Qcow2Image,
} from '../formats/qcow2';
import { isLibvirtNotFound, type Connection, type StorageVolume } from '../libvirt';
import { checkReadRange, type ImageReader } from '../tools/nbd';
import type { ImageSecret } from '../tools/qemu-img';
import { bytesOfBase64 } from '../tools/secret-bytes';
import { parseVolumeXml } from '../xml/libvirt-storage';
import type { ByteRange } from './driver';

/** Deeper chains than this are refused: a loop, or something volback never makes. */
const MAX_CHAIN_DEPTH = 1024;
/** Bytes handed to a reader's sink at once. */
const READ_CHUNK = 4 * 1024 * 1024;

/** The bytes of a volume's file through ranged `virStorageVolDownload`. */
export function volumeByteSource(volume: StorageVolume, size: number): ByteSource {
  return {
    size,
    async read(offset, length) {
      if (length === 0) return Buffer.alloc(0);
      const parts: Buffer[] = [];
      for await (const chunk of volume.download({ offset, length })) parts.push(chunk as Buffer);
      const bytes = Buffer.concat(parts);
      if (bytes.length !== length)
        throw new VolbackError(
          ErrorCodes.POOL_UNAVAILABLE,
          `volume ${await volume.getName()}: asked for ${length} bytes at ${offset}, got ${bytes.length}`,
        );
      return bytes;
    },
  };
}

/** One layer of a chain: the volume, what libvirt says of it, and its reader. */
interface Layer {
  volume: StorageVolume;
  name: string;
  path: string;
  capacity: number;
  /** The backing file libvirt names (for a qcow2 layer checked against its header). */
  backingPath?: string;
  qcow2?: Qcow2Image;
  /** A raw layer's bytes (a qcow2 layer reads through `qcow2`). */
  guest?: GuestReader;
}

/**
 * How a pool's driver tells what libvirt does not know of its volumes. A logical pool's LVs are raw
 * to libvirt even when they hold qcow2, and libvirt reads no header there: `formatOf` gives a layer's
 * format (from volback's own volume name, never from the bytes a guest wrote), and `backingFromHeader`
 * takes the backing file from the qcow2 header, which must then name a volume of the same pool.
 */
export interface ChainView {
  formatOf?(name: string): 'qcow2' | 'raw';
  backingFromHeader?: boolean;
}

async function openLayer(volume: StorageVolume, view: ChainView, key?: ImageSecret): Promise<Layer> {
  const parsed = await parseVolumeXml(await volume.getXMLDesc());
  const xml = view.formatOf ? { ...parsed, format: view.formatOf(parsed.name) } : parsed;
  const name = xml.name;
  const where = `volume ${name}`;
  if (xml.format !== 'qcow2' && xml.format !== 'raw')
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `${where} is ${xml.format ?? 'of no format'}, not qcow2 or raw`,
    );
  const filePath = xml.path ?? (await volume.getPath());
  const size = xml.physical ?? xml.capacity;
  const source = volumeByteSource(volume, size);
  if (xml.format === 'raw')
    return { volume, name, path: filePath, capacity: xml.capacity, guest: rawGuestReader(source) };
  // The key is QEMU's base64 secret data; LUKS takes the passphrase itself, wiped once unlocked.
  const passphrase = key && bytesOfBase64(key.value);
  let qcow2: Qcow2Image;
  try {
    qcow2 = await openQcow2(source, where, passphrase);
  } finally {
    passphrase?.fill(0);
  }
  const headerBacking = qcow2.backing && path.posix.resolve(path.posix.dirname(filePath), qcow2.backing.file);
  if (view.backingFromHeader)
    return { volume, name, path: filePath, capacity: qcow2.virtualSize, backingPath: headerBacking, qcow2 };
  // libvirt read the same header; a mismatch means the file changed under us or is not what it says.
  if (headerBacking !== xml.backingPath) {
    qcow2.close();
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `${where}: its header names backing ${headerBacking ?? 'none'}, libvirt ${xml.backingPath ?? 'none'}`,
    );
  }
  return {
    volume,
    name,
    path: filePath,
    capacity: qcow2.virtualSize,
    backingPath: xml.backingPath,
    qcow2,
  };
}

/** The name of the pool `volume` is in. */
async function poolNameOf(volume: StorageVolume): Promise<string> {
  const pool = await volume.getPool();
  try {
    return await pool.getName();
  } finally {
    pool.free();
  }
}

/** The volume `layer` stands on; a backing file outside libvirt's pools is refused by name. */
async function backingVolume(conn: Connection, layer: Layer): Promise<StorageVolume> {
  try {
    return await conn.lookupVolumeByPath(layer.backingPath!);
  } catch (err) {
    if (!isLibvirtNotFound(err)) throw err;
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `volume ${layer.name} stands on ${layer.backingPath}, which is no volume of the host's pools`,
      { cause: err },
    );
  }
}

/**
 * A volume and its backing chain, top first, opened through `conn` (the caller keeps owning
 * `volume`; the chain frees the backing volumes it looked up on close). `key`: an encrypted chain's
 * key, which unlocks each LUKS layer (docs/encryption.md); the chain wipes what it derived on close.
 */
export class RemoteChain {
  private constructor(private readonly layers: Layer[]) {}

  static async open(
    conn: Connection,
    volume: StorageVolume,
    view: ChainView = {},
    key?: ImageSecret,
  ): Promise<RemoteChain> {
    const layers: Layer[] = [];
    const seen = new Set<string>();
    const pool = view.backingFromHeader ? await poolNameOf(volume) : undefined;
    try {
      let next: StorageVolume | undefined = volume;
      while (next) {
        if (pool !== undefined && next !== volume && (await poolNameOf(next)) !== pool) {
          next.free();
          throw new VolbackError(
            ErrorCodes.INVALID_INPUT,
            `volume ${layers[layers.length - 1].name} stands on ${layers[layers.length - 1].backingPath}, which is not in its pool '${pool}'`,
          );
        }
        const layer: Layer = await openLayer(next, view, key).catch((err: unknown) => {
          if (next !== volume) next?.free();
          throw err;
        });
        layers.push(layer);
        if (seen.has(layer.path) || layers.length > MAX_CHAIN_DEPTH)
          throw new VolbackError(
            ErrorCodes.INVALID_INPUT,
            `volume ${layer.name}: its backing chain loops or is deeper than ${MAX_CHAIN_DEPTH}`,
          );
        seen.add(layer.path);
        next = layer.backingPath ? await backingVolume(conn, layer) : undefined;
      }
      return new RemoteChain(layers);
    } catch (err) {
      for (const l of layers) l.qcow2?.close();
      for (const l of layers.slice(1)) l.volume.free();
      throw err;
    }
  }

  get virtualSize(): number {
    return this.layers[0].capacity;
  }

  /** The top layer's backing file as libvirt names it (and its header agrees); undefined: none. */
  get backingPath(): string | undefined {
    return this.layers[0].backingPath;
  }

  /**
   * The guest ranges the top layer itself stores, as the dir driver reports them: data, and with a
   * backing also zero clusters (which hide it). A raw layer counts whole: libvirt's download tells
   * no holes without reading everything, and more is read, never less.
   */
  async topLayerRanges(kinds: 'stored' | 'data' = 'stored'): Promise<ByteRange[]> {
    const top = this.layers[0];
    if (!top.qcow2) return top.capacity ? [{ start: 0, length: top.capacity }] : [];
    const hidesBacking = kinds === 'stored' && this.layers.length > 1;
    const out: ByteRange[] = [];
    for (const e of await top.qcow2.layerExtents()) {
      if (e.kind !== 'data' && !hidesBacking) continue;
      const last = out[out.length - 1];
      if (last && last.start + last.length === e.start) last.length += e.length;
      else out.push({ start: e.start, length: e.length });
    }
    return out;
  }

  /** Guest bytes [start, start+length) through the whole chain. */
  read(start: number, length: number): Promise<Buffer> {
    return this.readerAt(0)!.read(start, length);
  }

  private readerAt(depth: number): GuestReader | undefined {
    const layer = this.layers[depth];
    if (!layer) return undefined;
    return layer.qcow2 ? layeredReader(layer.qcow2, this.readerAt(depth + 1)) : layer.guest;
  }

  /** The chain as an ImageReader (what checksums and verify read through). */
  asImageReader(): ImageReader {
    let closed = false;
    return {
      size: this.virtualSize,
      read: async (offset, length, sink) => {
        if (closed) throw new Error(`the reader of ${this.layers[0].name} is closed`);
        checkReadRange(offset, length, this.virtualSize);
        for (let done = 0; done < length;) {
          const n = Math.min(READ_CHUNK, length - done);
          sink(await this.read(offset + done, n));
          done += n;
        }
      },
      close: async () => {
        closed = true;
        this.close();
      },
    };
  }

  close(): void {
    for (const l of this.layers) l.qcow2?.close();
    for (const l of this.layers.splice(1)) l.volume.free();
  }
}
