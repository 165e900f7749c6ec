// A strict, read-only qcow2 reader over any random-access byte source: one layer's allocation map and its guest bytes.
// Remote hosts give volback a volume's file bytes (virStorageVolDownload), not the guest's view; this turns
// the one into the other. Every table entry is untrusted and checked before use.
import { ErrorCodes, VolbackError } from '../errors';
import { decompressCluster } from './compressed-cluster';
import {
  Qcow2FormatError,
  backingName,
  extensionAreaEnd,
  parseExtensions,
  parseFixedHeader,
  type CompressionType,
  type Qcow2Header,
} from './qcow2-header';
import {
  LUKS_HEADER_BYTES,
  LUKS_SECTOR,
  decryptSectors,
  parseLuksHeader,
  unlockLuks,
  type LuksKey,
} from './luks';

export { Qcow2FormatError } from './qcow2-header';

/** Random access to the bytes of one image file (a local file, or a libvirt volume's ranged download). */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `offset`; the reader only asks within [0, size). */
  read(offset: number, length: number): Promise<Buffer>;
}

/** Guest bytes of a disk (or of a chain ending in it); reads stay within [0, size). */
export interface GuestReader {
  readonly size: number;
  read(start: number, length: number): Promise<Buffer>;
}

/** A guest range one layer stores. Lists of these are sorted, non-overlapping, with adjacent same-kind runs merged. */
export interface GuestExtent {
  start: number;
  length: number;
  /** data: the layer holds the bytes; zero: the layer says zeros (hiding its backing). */
  kind: 'data' | 'zero';
}

export interface Qcow2Image {
  readonly virtualSize: number;
  readonly clusterSize: number;
  readonly version: 2 | 3;
  /** The backing file name and format as the header says: untrusted text, checked as bounded UTF-8 without control characters. */
  readonly backing?: { file: string; format?: string };
  /** Guest ranges this layer itself stores: data clusters, and zero clusters (v3), which hide the backing. */
  layerExtents(): Promise<GuestExtent[]>;
  /** Wipes an encrypted image's master key; its data reads fail afterwards. A plain image has nothing to drop. */
  close(): void;
  /**
   * Guest bytes [start, start+length) as a guest reads them: this layer's data, zeros for its zero
   * clusters, and `below` elsewhere (zeros where there is no `below`, or past its end, as QEMU does).
   * Allocates `length` bytes; its own reads of the file are at most MAX_COALESCED_READ each.
   */
  read(start: number, length: number, below?: GuestReader): Promise<Buffer>;
}

/** Host-contiguous data clusters are fetched together, up to this many bytes per source read. */
export const MAX_COALESCED_READ = 4 * 1024 * 1024;
/** Bytes of L2 tables kept per open image (always at least one table). */
const L2_CACHE_BYTES = 8 * 1024 * 1024;
/** The first read of the file: enough for the header, its extensions and backing name in nearly every image. */
const FIRST_READ = 64 * 1024;

/**
 * Opens the qcow2 image in `source`, reading its header, extensions and active L1 table once.
 * `where` names the image in errors. Nothing is held open beyond `source`, which the caller owns.
 * A LUKS-encrypted image is unlocked with `passphrase` (its chain's key) and its data decrypted as
 * it is read; without one only its map and backing are read (its tables are not encrypted). The
 * image holds its master key until `close()`.
 * @throws Qcow2FormatError for a damaged image or a feature the reader does not support.
 */
export async function openQcow2(source: ByteSource, where: string, passphrase?: Buffer): Promise<Qcow2Image> {
  const size = source.size;
  if (!Number.isSafeInteger(size) || size < 0)
    throw new Qcow2FormatError(where, undefined, `file size ${size} is invalid`);
  let first = await readExactly(source, 0, Math.min(size, FIRST_READ), where);
  const header = parseFixedHeader(first, size, where);
  const areaEnd = extensionAreaEnd(header, size);
  const nameEnd = header.backingNameOffset + header.backingNameLength;
  let extensions = parseExtensions(first, header, areaEnd, where);
  if (extensions === undefined || first.length < nameEnd) {
    // A rare image whose extensions fill more of the first cluster: read all of it (at most 2 MiB).
    first = await readExactly(source, 0, Math.max(areaEnd, nameEnd), where);
    extensions = parseExtensions(first, header, areaEnd, where)!;
  }
  const backing =
    header.backingNameOffset === 0
      ? undefined
      : {
          file: backingName(first, header, where),
          ...(extensions.backingFormat && { format: extensions.backingFormat }),
        };
  const key = header.encrypted
    ? await unlockImage(source, extensions.encryptionArea, where, passphrase)
    : undefined;
  try {
    const l1 = await readL1(source, header, where);
    return new Qcow2Layer(source, where, header, l1, backing, key);
  } catch (err) {
    key?.key.fill(0);
    throw err;
  }
}

/**
 * The master key of an encrypted image, from the LUKS header its extension points at (checked even
 * without `passphrase`, when there is no key to return).
 */
async function unlockImage(
  source: ByteSource,
  area: { offset: number; length: number } | undefined,
  where: string,
  passphrase: Buffer | undefined,
): Promise<LuksKey | undefined> {
  if (!area)
    throw new Qcow2FormatError(where, undefined, 'is encrypted but has no full disk encryption header');
  if (area.offset + area.length > source.size)
    throw new Qcow2FormatError(
      where,
      area.offset,
      `encryption header (${area.length} bytes) runs past the end of the file`,
    );
  const first = await readExactly(source, area.offset, Math.min(area.length, LUKS_HEADER_BYTES), where);
  const header = parseLuksHeader(first, area.length, where);
  if (!passphrase) return undefined;
  return unlockLuks(
    header,
    passphrase,
    (offset, length) => readExactly(source, area.offset + offset, length, where),
    where,
  );
}

/** A raw image: its file bytes are its guest bytes. */
export function rawGuestReader(source: ByteSource): GuestReader {
  return { size: source.size, read: (start, length) => source.read(start, length) };
}

/** `image` with `below` under it, as one GuestReader (e.g. a chain: top over middle over a raw base). */
export function layeredReader(image: Qcow2Image, below?: GuestReader): GuestReader {
  return { size: image.virtualSize, read: (start, length) => image.read(start, length, below) };
}

/** What one guest cluster is in this layer; a compressed one is `size` bytes at file offset `host`. */
type Cluster =
  | { kind: 'data'; host: number }
  | { kind: 'compressed'; host: number; size: number }
  | { kind: 'zero' }
  | { kind: 'absent' };
const ZERO: Cluster = { kind: 'zero' };
const ABSENT: Cluster = { kind: 'absent' };

const OFFSET_HI_MASK = 0x00ffffff; // bits 32..55 of an L1 or L2 entry's offset field
const L1_RESERVED_HI = 0x7f000000; // bits 56..62
const L2_COMPRESSED_HI = 0x40000000; // bit 62
const L2_COPIED_HI = 0x80000000; // bit 63
const L2_RESERVED_HI = 0x3f000000; // bits 56..61
const L2_RESERVED_LO = 0x000001fe; // bits 1..8
const L2_ZERO_LO = 0x1; // bit 0, v3 only

/** An entry's host offset (bits 9..55) and its low word, read as two 32-bit halves to stay exact. */
function entryAt(table: Buffer, index: number): { hi: number; lo: number; offset: number } {
  const hi = table.readUInt32BE(index * 8);
  const lo = table.readUInt32BE(index * 8 + 4);
  return { hi, lo, offset: (hi & OFFSET_HI_MASK) * 2 ** 32 + ((lo & ~0x1ff) >>> 0) };
}

/**
 * The needed part of the active L1 table, each entry checked: an L2 table offset, or 0 for none.
 * Entries must not share an L2 table: QEMU never writes that, and a forged file could otherwise make
 * one table stand for the whole disk, so that layerExtents() grows with the virtual size, not the file.
 */
async function readL1(source: ByteSource, header: Qcow2Header, where: string): Promise<Float64Array> {
  const { clusterSize, virtualSize, l1Offset } = header;
  const entries = Math.ceil(virtualSize / (clusterSize * (clusterSize / 8)));
  const table = await readExactly(source, l1Offset, entries * 8, where);
  const l2Offsets = new Float64Array(entries);
  for (let i = 0; i < entries; i++) {
    const { hi, lo, offset } = entryAt(table, i);
    const at = l1Offset + i * 8;
    if ((hi & L1_RESERVED_HI) !== 0 || (lo & 0x1ff) !== 0)
      throw new Qcow2FormatError(where, at, `L1 entry ${i} has reserved bits set`);
    if (offset % clusterSize !== 0)
      throw new Qcow2FormatError(
        where,
        at,
        `L1 entry ${i}: L2 table offset ${offset} is not cluster aligned`,
      );
    if (offset !== 0 && offset + clusterSize > source.size)
      throw new Qcow2FormatError(
        where,
        at,
        `L1 entry ${i}: L2 table at ${offset} is past the end of the file`,
      );
    l2Offsets[i] = offset;
  }
  const sorted = l2Offsets.filter((o) => o !== 0).sort();
  for (let k = 1; k < sorted.length; k++)
    if (sorted[k] === sorted[k - 1])
      throw new Qcow2FormatError(where, l1Offset, `L1 table: two entries share the L2 table at ${sorted[k]}`);
  return l2Offsets;
}

/** Reads exactly `length` bytes, refusing a source that returns fewer. */
async function readExactly(
  source: ByteSource,
  offset: number,
  length: number,
  where: string,
): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  const bytes = await source.read(offset, length);
  if (bytes.length !== length)
    throw new Qcow2FormatError(where, offset, `short read: ${bytes.length} of ${length} bytes`);
  return bytes;
}

class Qcow2Layer implements Qcow2Image {
  readonly virtualSize: number;
  readonly clusterSize: number;
  readonly version: 2 | 3;
  private readonly l2Entries: number;
  // Promises, so concurrent reads of one table share one fetch; a failed fetch is forgotten.
  private readonly l2Cache = new Map<number, Promise<Buffer>>();
  private readonly l2CacheLimit: number;
  private readonly encrypted: boolean;
  private readonly compression: CompressionType;
  private closed = false;

  constructor(
    private readonly source: ByteSource,
    private readonly where: string,
    header: Qcow2Header,
    private readonly l1: Float64Array,
    readonly backing: { file: string; format?: string } | undefined,
    /** An encrypted image's master key, when it was unlocked. */
    private readonly key?: LuksKey,
  ) {
    this.virtualSize = header.virtualSize;
    this.clusterSize = header.clusterSize;
    this.version = header.version;
    this.encrypted = header.encrypted;
    this.compression = header.compression;
    this.l2Entries = header.clusterSize / 8;
    this.l2CacheLimit = Math.max(1, Math.floor(L2_CACHE_BYTES / header.clusterSize));
  }

  close(): void {
    this.key?.key.fill(0);
    this.closed = true;
  }

  async layerExtents(): Promise<GuestExtent[]> {
    const out: GuestExtent[] = [];
    const span = this.clusterSize * this.l2Entries;
    for (let i = 0; i < this.l1.length; i++) {
      if (this.l1[i] === 0) continue;
      const table = await this.l2Table(i);
      const clusters = Math.min(this.l2Entries, Math.ceil((this.virtualSize - i * span) / this.clusterSize));
      for (let j = 0; j < clusters; j++) {
        const cluster = this.classify(table, i, j);
        if (cluster.kind === 'absent') continue;
        const start = i * span + j * this.clusterSize;
        const kind = cluster.kind === 'zero' ? 'zero' : 'data';
        appendExtent(out, start, Math.min(this.clusterSize, this.virtualSize - start), kind);
      }
    }
    return out;
  }

  async read(start: number, length: number, below?: GuestReader): Promise<Buffer> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0)
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `${this.where}: read(${start}, ${length}) is not a byte range`,
      );
    if (start + length > this.virtualSize)
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `${this.where}: read(${start}, ${length}) runs past the ${this.virtualSize}-byte disk`,
      );
    const out = Buffer.alloc(length);
    const span = this.clusterSize * this.l2Entries;
    let run: Run | undefined;
    let tableIndex = -1;
    let table: Buffer | undefined;
    for (let pos = start; pos < start + length;) {
      const i = Math.floor(pos / span);
      if (i !== tableIndex) {
        tableIndex = i;
        table = this.l1[i] === 0 ? undefined : await this.l2Table(i);
      }
      const cluster = table ? this.classify(table, i, Math.floor((pos % span) / this.clusterSize)) : ABSENT;
      const next = Math.min(start + length, (Math.floor(pos / this.clusterSize) + 1) * this.clusterSize);
      const host = cluster.kind === 'data' ? cluster.host + (pos % this.clusterSize) : 0;
      if (run && !extends_(run, cluster.kind, host, next - pos)) {
        await this.fill(out, start, run, below);
        run = undefined;
      }
      if (run) run.length += next - pos;
      else if (cluster.kind === 'compressed')
        run = { guest: pos, length: next - pos, kind: 'compressed', host, cluster };
      else run = { guest: pos, length: next - pos, kind: cluster.kind, host };
      pos = next;
    }
    if (run) await this.fill(out, start, run, below);
    return out;
  }

  /** Copies one run into `out` (which starts at guest offset `outStart` and is already zeroed). */
  private async fill(out: Buffer, outStart: number, run: Run, below?: GuestReader): Promise<void> {
    const at = run.guest - outStart;
    if (run.kind === 'compressed') {
      const cluster = await this.decompressed(run.cluster!);
      const from = run.guest % this.clusterSize;
      cluster.copy(out, at, from, from + run.length);
    } else if (run.kind === 'data' && this.encrypted) {
      await this.fillDecrypted(out, at, run);
    } else if (run.kind === 'data') {
      // A data cluster may end past a file QEMU did not extend to a whole cluster; QEMU reads zeros there.
      const inFile = Math.min(run.length, this.source.size - run.host);
      (await readExactly(this.source, run.host, inFile, this.where)).copy(out, at);
    } else if (run.kind === 'absent' && below) {
      const inBelow = Math.min(run.length, below.size - run.guest);
      if (inBelow > 0) {
        const bytes = await below.read(run.guest, inBelow);
        if (bytes.length !== inBelow)
          throw new Qcow2FormatError(
            this.where,
            undefined,
            `backing read returned ${bytes.length} of ${inBelow} bytes`,
          );
        bytes.copy(out, at);
      }
    }
  }

  /**
   * An encrypted run: its whole sectors are read and decrypted (each sector's IV is its number in
   * the file, as QEMU encrypts LUKS qcow2), then the asked bytes copied.
   */
  private async fillDecrypted(out: Buffer, at: number, run: Run): Promise<void> {
    if (this.closed) throw new Error(`${this.where}: read after close`);
    const key = this.key;
    if (!key)
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `${this.where} is encrypted (LUKS): reading its data needs its chain's key`,
        { fault: 'user' },
      );
    const first = Math.floor(run.host / LUKS_SECTOR) * LUKS_SECTOR;
    const end = Math.ceil((run.host + run.length) / LUKS_SECTOR) * LUKS_SECTOR;
    if (end > this.source.size)
      throw new Qcow2FormatError(
        this.where,
        run.host,
        `encrypted data at ${first}..${end} runs past the end of the file`,
      );
    const bytes = await readExactly(this.source, first, end - first, this.where);
    decryptSectors(key, bytes, first / LUKS_SECTOR);
    bytes.copy(out, at, run.host - first, run.host - first + run.length);
  }

  /**
   * A compressed cluster's guest bytes. Its last sector may lie past the end of a file QEMU did not
   * pad, where QEMU reads zeros; the decompressor stops at the frame's end either way.
   */
  private async decompressed(cluster: { host: number; size: number }): Promise<Buffer> {
    const inFile = Math.min(cluster.size, this.source.size - cluster.host);
    const bytes = await readExactly(this.source, cluster.host, inFile, this.where);
    try {
      return decompressCluster(this.compression, bytes, this.clusterSize);
    } catch (err) {
      throw new Qcow2FormatError(
        this.where,
        cluster.host,
        `compressed cluster (${cluster.size} bytes, ${this.compression}): ${(err as Error).message}`,
      );
    }
  }

  /** Entry `j` of L2 table `i`, checked. */
  private classify(table: Buffer, i: number, j: number): Cluster {
    const { hi, lo, offset } = entryAt(table, j);
    const at = this.l1[i] + j * 8;
    const guest = (i * this.l2Entries + j) * this.clusterSize;
    const bad = (problem: string) =>
      new Qcow2FormatError(this.where, at, `L2 entry for guest offset ${guest}: ${problem}`);
    if ((hi & L2_COMPRESSED_HI) !== 0) return this.compressedCluster(table, j, bad);
    if ((hi & L2_RESERVED_HI) !== 0 || (lo & L2_RESERVED_LO) !== 0) throw bad('reserved bits are set');
    if ((lo & L2_ZERO_LO) !== 0) {
      if (this.version === 2) throw bad('the zero flag is not valid in a version 2 image');
      return ZERO; // with an offset it is a preallocated zero cluster: still zeros to the guest
    }
    if (offset === 0) return ABSENT;
    if (offset % this.clusterSize !== 0) throw bad(`data offset ${offset} is not cluster aligned`);
    if (offset >= this.source.size) throw bad(`data offset ${offset} is past the end of the file`);
    return { kind: 'data', host: offset };
  }

  /**
   * A compressed cluster descriptor (qcow2.txt): the host offset in bits 0..x-1, x = 62 - (cluster_bits
   * - 8), and in bits x..61 the count of 512-byte sectors after the one the offset is in.
   */
  private compressedCluster(table: Buffer, j: number, bad: (problem: string) => Error): Cluster {
    const entry = table.readBigUInt64BE(j * 8);
    if ((Number(entry >> 32n) & L2_COPIED_HI) !== 0) throw bad('a compressed cluster has the copied flag');
    if (this.encrypted)
      throw bad(
        'a compressed cluster in an encrypted image (QEMU stores those unencrypted; volback writes none)',
      );
    const shift = BigInt(62 - (Math.log2(this.clusterSize) - 8));
    const host = Number(entry & ((1n << shift) - 1n));
    const sectors = Number((entry >> shift) & ((1n << (62n - shift)) - 1n)) + 1;
    const size = sectors * 512 - (host % 512);
    if (host === 0 || host >= this.source.size)
      throw bad(`compressed data offset ${host} is outside the file`);
    return { kind: 'compressed', host, size };
  }

  private l2Table(i: number): Promise<Buffer> {
    const offset = this.l1[i];
    let table = this.l2Cache.get(offset);
    if (table) {
      this.l2Cache.delete(offset); // re-insert: the Map's order is the eviction order
    } else {
      table = readExactly(this.source, offset, this.clusterSize, this.where);
      table.catch(() => this.l2Cache.delete(offset));
      if (this.l2Cache.size >= this.l2CacheLimit) this.l2Cache.delete(this.l2Cache.keys().next().value!);
    }
    this.l2Cache.set(offset, table);
    return table;
  }
}

/**
 * Consecutive guest bytes served the same way: one source read, one fill of zeros, one read below,
 * or part of one compressed cluster.
 */
interface Run {
  guest: number;
  length: number;
  kind: Cluster['kind'];
  /** For data: the file offset of the run's first byte. */
  host: number;
  /** For compressed: the cluster the run is part of. */
  cluster?: { host: number; size: number };
}

/** Whether `length` more bytes served as `kind` (at file offset `host`, for data) can join `run`. */
function extends_(run: Run, kind: Cluster['kind'], host: number, length: number): boolean {
  if (run.kind !== kind || kind === 'compressed') return false;
  if (kind !== 'data') return true;
  return run.host + run.length === host && run.length + length <= MAX_COALESCED_READ;
}

function appendExtent(out: GuestExtent[], start: number, length: number, kind: GuestExtent['kind']): void {
  const last = out[out.length - 1];
  if (last && last.kind === kind && last.start + last.length === start) last.length += length;
  else out.push({ start, length, kind });
}
