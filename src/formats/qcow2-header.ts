// The qcow2 header and its extensions (QEMU's docs/interop/qcow2.txt), parsed strictly from untrusted bytes. Pure.
import { ErrorCodes, VolbackError } from '../errors';

/** A qcow2 file volback refuses to read: damaged, or using a feature the reader does not support. */
export class Qcow2FormatError extends VolbackError {
  /** The image as the caller named it. */
  readonly image: string;
  /** Byte offset in the file of the offending field or table entry, when there is one. */
  readonly fileOffset?: number;

  constructor(image: string, fileOffset: number | undefined, problem: string) {
    const at = fileOffset === undefined ? '' : ` (file offset ${fileOffset})`;
    // A volume in a pool is a stored document: damage is the system's side, as for checksum documents.
    super(ErrorCodes.XML_INVALID, `${image}: qcow2 ${problem}${at}`, { fault: 'system' });
    this.image = image;
    this.fileOffset = fileOffset;
  }
}

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
/** QEMU refuses active L1 tables above 32 MiB; so does volback, which bounds what open() reads. */
export const MAX_L1_ENTRIES = (32 * 1024 * 1024) / 8;
/** The spec's limit on the backing file name. */
export const MAX_BACKING_NAME = 1023;

const V2_HEADER_LENGTH = 72;
const V3_MIN_HEADER_LENGTH = 104;

const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FULL_DISK_ENCRYPTION = 0x0537be77;

const INCOMPATIBLE_FEATURES = ['dirty', 'corrupt', 'external data file', 'compression type', 'extended L2'];
/** The one incompatible feature the reader supports: a compression type other than zlib, in header byte 104. */
const COMPRESSION_TYPE_BIT = 1n << 3n;
/** compression_type values (header byte 104). */
const COMPRESSION_TYPES = ['zlib', 'zstd'] as const;
export type CompressionType = (typeof COMPRESSION_TYPES)[number];

/** The fixed header fields the reader uses, validated. */
export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  virtualSize: number;
  l1Entries: number;
  l1Offset: number;
  /** v2: 72; v3: where the extensions start. */
  headerLength: number;
  backingNameOffset: number;
  backingNameLength: number;
  /** crypt_method 2: LUKS, its header in the full disk encryption extension's area. */
  encrypted: boolean;
  /** How the image's compressed clusters are compressed (zlib unless the compression type feature says zstd). */
  compression: CompressionType;
}

/** Reads a big-endian u64 that must be an exact JS number. */
function u64(buf: Buffer, at: number, bad: Bad, field: string): number {
  const value = buf.readBigUInt64BE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(at, `${field} ${value} is out of range`);
  return Number(value);
}

type Bad = (fileOffset: number | undefined, problem: string) => Qcow2FormatError;
const badIn =
  (where: string): Bad =>
  (offset, problem) =>
    new Qcow2FormatError(where, offset, problem);

/**
 * Parses and checks the fixed header from the file's first bytes (at least 112 bytes, or the
 * whole file when shorter). Refuses bad magic, versions other than 2 and 3, encryption other than LUKS, any
 * incompatible feature but a zstd compression type, and fields out of range for a file of `fileSize` bytes.
 * @throws Qcow2FormatError
 */
export function parseFixedHeader(buf: Buffer, fileSize: number, where: string): Qcow2Header {
  const bad = badIn(where);
  if (buf.length < V2_HEADER_LENGTH) throw bad(undefined, `header: the file has only ${buf.length} bytes`);
  if (buf.readUInt32BE(0) !== QCOW2_MAGIC) throw bad(0, 'magic: not a qcow2 file');
  const version = buf.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw bad(4, `version ${version} is not supported (only 2 and 3)`);

  const clusterBits = buf.readUInt32BE(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS)
    throw bad(20, `cluster_bits ${clusterBits} is outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  const clusterSize = 2 ** clusterBits;
  const virtualSize = u64(buf, 24, bad, 'size');
  const cryptMethod = buf.readUInt32BE(32);
  // 1 is QEMU's old AES-CBC, which it no longer creates; 2 is LUKS.
  if (cryptMethod !== 0 && cryptMethod !== 2)
    throw bad(32, `crypt_method ${cryptMethod}: only plain (0) and LUKS (2) images are read`);

  let headerLength = V2_HEADER_LENGTH;
  let compression: CompressionType = 'zlib';
  if (version === 3) {
    if (buf.length < V3_MIN_HEADER_LENGTH) throw bad(undefined, 'header: the file ends inside the v3 header');
    const incompatible = buf.readBigUInt64BE(72);
    const unsupported = incompatible & ~COMPRESSION_TYPE_BIT;
    if (unsupported !== 0n) {
      const names = [...unsupported.toString(2)]
        .reverse()
        .flatMap((b, i) => (b === '1' ? [INCOMPATIBLE_FEATURES[i] ?? `bit ${i}`] : []));
      throw bad(72, `incompatible_features ${names.join(', ')}: not supported`);
    }
    const refcountOrder = buf.readUInt32BE(96);
    if (refcountOrder > 6) throw bad(96, `refcount_order ${refcountOrder} is above 6`);
    headerLength = buf.readUInt32BE(100);
    if (headerLength < V3_MIN_HEADER_LENGTH || headerLength % 8 !== 0 || headerLength > clusterSize)
      throw bad(
        100,
        `header_length ${headerLength} is not a multiple of 8 in ${V3_MIN_HEADER_LENGTH}..${clusterSize}`,
      );
    // QEMU's rule: the feature bit is set exactly when the type is not zlib (0).
    const typed = (incompatible & COMPRESSION_TYPE_BIT) !== 0n;
    if (headerLength > V3_MIN_HEADER_LENGTH) {
      if (buf.length <= V3_MIN_HEADER_LENGTH) throw bad(undefined, 'header: the file ends inside the header');
      const type = buf[104];
      if ((type !== 0) !== typed)
        throw bad(104, `compression_type ${type} ${typed ? 'with' : 'without'} its feature bit`);
      if (type >= COMPRESSION_TYPES.length)
        throw bad(104, `compression_type ${type} is not zlib (0) or zstd (1)`);
      compression = COMPRESSION_TYPES[type];
    } else if (typed) {
      throw bad(72, 'the compression type feature is set but the header has no compression_type field');
    }
  }

  const l1Entries = buf.readUInt32BE(36);
  const l1Offset = u64(buf, 40, bad, 'l1_table_offset');
  const l2Entries = clusterSize / 8;
  const needed = Math.ceil(virtualSize / (clusterSize * l2Entries));
  // QEMU's own rule: the L1 table must cover the whole disk. Entries past it (a shrunk disk) are ignored.
  if (l1Entries < needed)
    throw bad(36, `l1_size ${l1Entries} is too small: size ${virtualSize} needs ${needed}`);
  if (l1Entries > MAX_L1_ENTRIES) throw bad(36, `l1_size ${l1Entries} is above ${MAX_L1_ENTRIES}`);
  if (l1Entries > 0) {
    if (l1Offset % clusterSize !== 0) throw bad(40, `l1_table_offset ${l1Offset} is not cluster aligned`);
    if (l1Offset === 0 || l1Offset + l1Entries * 8 > fileSize)
      throw bad(40, `L1 table at ${l1Offset} (${l1Entries} entries) is outside the ${fileSize}-byte file`);
  }
  const refcountTable = u64(buf, 48, bad, 'refcount_table_offset');
  if (refcountTable % clusterSize !== 0 || refcountTable >= fileSize)
    throw bad(48, `refcount_table_offset ${refcountTable} is unaligned or past the end of the file`);

  const backingNameOffset = u64(buf, 8, bad, 'backing_file_offset');
  const backingNameLength = buf.readUInt32BE(16);
  if (backingNameOffset !== 0) {
    if (backingNameLength === 0 || backingNameLength > MAX_BACKING_NAME)
      throw bad(16, `backing_file_size ${backingNameLength} is outside 1..${MAX_BACKING_NAME}`);
    // QEMU keeps the name in the first cluster, after the header; anything else is damage.
    const end = Math.min(clusterSize, fileSize);
    if (backingNameOffset < headerLength || backingNameOffset + backingNameLength > end)
      throw bad(
        8,
        `backing file name at ${backingNameOffset} (${backingNameLength} bytes) is outside the header cluster`,
      );
  }
  return {
    version,
    clusterBits,
    clusterSize,
    virtualSize,
    l1Entries,
    l1Offset,
    headerLength,
    backingNameOffset,
    backingNameLength: backingNameOffset === 0 ? 0 : backingNameLength,
    encrypted: cryptMethod === 2,
    compression,
  };
}

/** Where the header extensions may lie: after the header, up to the backing name or the first cluster's end. */
export function extensionAreaEnd(header: Qcow2Header, fileSize: number): number {
  return Math.min(header.backingNameOffset || header.clusterSize, header.clusterSize, fileSize);
}

/** What the extensions say that the reader uses. */
export interface Qcow2Extensions {
  backingFormat?: string;
  /** Where an encrypted image keeps its LUKS header: unchecked against the file's size. */
  encryptionArea?: { offset: number; length: number };
}

/**
 * Walks the header extensions in `buf` (the file's first bytes) up to `areaEnd`. Unknown and
 * informational extensions are skipped. Returns undefined when `buf` ends before the walk does and is
 * shorter than `areaEnd` (read more and call again).
 * @throws Qcow2FormatError on a truncated or overlong extension, a duplicate or bad backing format,
 *   a missing end marker, or a disk encryption header that is malformed, repeated or in a plain image.
 */
export function parseExtensions(
  buf: Buffer,
  header: Qcow2Header,
  areaEnd: number,
  where: string,
): Qcow2Extensions | undefined {
  const bad = badIn(where);
  const out: Qcow2Extensions = {};
  // Each step advances at least 8 bytes, so the walk ends within the first cluster.
  for (let at = header.headerLength; ;) {
    if (at + 8 > areaEnd) throw bad(at, 'header extensions: no end marker before the extension area ends');
    if (at + 8 > buf.length) return undefined;
    const type = buf.readUInt32BE(at);
    const length = buf.readUInt32BE(at + 4);
    if (type === EXT_END) return out;
    const data = at + 8;
    if (data + length > areaEnd)
      throw bad(
        at + 4,
        `header extension 0x${type.toString(16)}: length ${length} runs past the extension area`,
      );
    if (data + length > buf.length) return undefined;
    if (type === EXT_FULL_DISK_ENCRYPTION) {
      if (!header.encrypted) throw bad(at, 'full disk encryption header in an image that is not encrypted');
      if (out.encryptionArea) throw bad(at, 'full disk encryption header appears twice');
      if (length !== 16) throw bad(at + 4, `full disk encryption header: length ${length} is not 16`);
      const offset = u64(buf, data, bad, 'encryption header offset');
      const areaLength = u64(buf, data + 8, bad, 'encryption header length');
      if (offset % header.clusterSize !== 0 || offset === 0 || areaLength === 0)
        throw bad(
          data,
          `full disk encryption header at ${offset} (${areaLength} bytes) is empty or not cluster aligned`,
        );
      out.encryptionArea = { offset, length: areaLength };
    }
    if (type === EXT_BACKING_FORMAT) {
      if (out.backingFormat !== undefined) throw bad(at, 'backing format extension appears twice');
      out.backingFormat = formatName(buf.subarray(data, data + length), data, bad);
    }
    at = data + Math.ceil(length / 8) * 8;
  }
}

const FORMAT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$/;

function formatName(bytes: Buffer, at: number, bad: Bad): string {
  const text = bytes.toString('latin1');
  if (!FORMAT_NAME.test(text)) throw bad(at, 'backing format is not a short format name');
  return text;
}

// Control characters (C0, DEL, C1) would let a forged name rewrite a terminal or a log line.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The backing file name stored at `header.backingNameOffset`: UTF-8 without control characters.
 * @throws Qcow2FormatError when it is not.
 */
export function backingName(buf: Buffer, header: Qcow2Header, where: string): string {
  const start = header.backingNameOffset;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(
      buf.subarray(start, start + header.backingNameLength),
    );
  } catch {
    throw new Qcow2FormatError(where, start, 'backing file name is not UTF-8');
  }
  if (CONTROL.test(text))
    throw new Qcow2FormatError(where, start, 'backing file name has control characters');
  return text;
}
