// Checksum documents: the sha256 of every fixed-size extent one backup volume's own layer stores, as
// a guest sees the extent through the chain (docs/architecture.md, "Checksums"). One document per
// disk backup, in the pool of its data volume, named after the volume; the set's metadata names the
// document and its sha256, so a missing, damaged or swapped document is found. Extent arithmetic and
// the text format are pure; reading and writing go through the one small-document store.
import { createHash } from 'node:crypto';
import { ErrorCodes, VolbackError } from '../errors';
import type { ChecksumRef } from '../model';
import { readDocuments, writeDocument } from './documents';
import { findVolume, type OpenPool } from './pool-layer';
import { CHECKSUM_VOLUME_SUFFIXES } from './volume-names';

export const CHECKSUM_ALGORITHM = 'sha256';
/** Smallest extent: an incremental that changed one 64 KiB granule rereads at most this much. */
export const MIN_EXTENT_SIZE = 1024 * 1024;
/** Most extents of one disk: its document stays below 14 MB (about 53 bytes per extent). */
export const MAX_EXTENTS = 262_144;
const DIGEST_BYTES = 32;

const HEADER = 'volback-checksums v1';

export interface ChecksumDocument {
  setId: string;
  diskBackupId: string;
  /** The data volume the digests describe. */
  volume: string;
  virtualSize: number;
  extentSize: number;
  /** Extent index → sha256 of its guest-visible bytes; only the extents the layer itself stores. */
  digests: Map<number, Buffer>;
}

/**
 * The extent size of a disk of `virtualSize` bytes: 1 MiB, doubled until the disk has at most
 * MAX_EXTENTS extents (1 MiB up to 256 GiB, 4 MiB for 1 TiB). Every layer of a chain uses the size of
 * its full. Pure.
 */
export function extentSizeFor(virtualSize: number): number {
  let size = MIN_EXTENT_SIZE;
  while (Math.ceil(virtualSize / size) > MAX_EXTENTS) size *= 2;
  return size;
}

/** How many extents a disk has (the last one may be short). Pure. */
export const extentCount = (virtualSize: number, extentSize: number): number =>
  Math.ceil(virtualSize / extentSize);

/** The guest bytes of extent `index`: [start, start + length). Pure. */
export function extentRange(
  index: number,
  extentSize: number,
  virtualSize: number,
): { start: number; length: number } {
  const start = index * extentSize;
  return { start, length: Math.max(0, Math.min(extentSize, virtualSize - start)) };
}

/** Every extent that a byte of `ranges` falls in, ascending, each once. Pure. */
export function extentsOf(
  ranges: ReadonlyArray<{ start: number; length: number }>,
  extentSize: number,
  virtualSize: number,
): number[] {
  const out = new Set<number>();
  const last = extentCount(virtualSize, extentSize) - 1;
  for (const r of ranges) {
    if (r.length <= 0) continue;
    const from = Math.floor(r.start / extentSize);
    const to = Math.min(last, Math.floor((r.start + r.length - 1) / extentSize));
    for (let i = from; i <= to; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

/** `<data volume>.sums` (or, after a merge rewrote it, `.msums`): at most 127 characters. Pure. */
export function checksumDocumentName(dataVolume: string, generation: 0 | 1 = 0): string {
  return dataVolume + CHECKSUM_VOLUME_SUFFIXES[generation];
}

/** The other of a document's two names, for a merge's rewrite. Pure. */
export function nextChecksumDocumentName(current: string, dataVolume: string): string {
  return current === checksumDocumentName(dataVolume, 0)
    ? checksumDocumentName(dataVolume, 1)
    : checksumDocumentName(dataVolume, 0);
}

/** The data volume a checksum document name belongs to; undefined for any other name. Pure. */
export function checksumDocumentVolume(name: string): string | undefined {
  for (const suffix of CHECKSUM_VOLUME_SUFFIXES)
    if (name.endsWith(suffix)) return name.slice(0, -suffix.length);
  return undefined;
}

/** The text of a checksum document: a header, then one `<index> <base64 sha256>` line per extent. Pure. */
export function formatChecksumDocument(doc: ChecksumDocument): string {
  const indices = [...doc.digests.keys()].sort((a, b) => a - b);
  const lines = [
    HEADER,
    `set ${doc.setId}`,
    `disk ${doc.diskBackupId}`,
    `volume ${doc.volume}`,
    `virtual-size ${doc.virtualSize}`,
    `extent-size ${doc.extentSize}`,
    `algorithm ${CHECKSUM_ALGORITHM}`,
    `extents ${indices.length}`,
    ...indices.map((i) => `${i} ${doc.digests.get(i)!.toString('base64')}`),
  ];
  return lines.join('\n') + '\n';
}

const FIELD_RE = {
  set: /^set ([0-9a-f-]{36})$/,
  disk: /^disk ([0-9a-f-]{36})$/,
  volume: /^volume ([A-Za-z0-9+_.-]{1,127})$/,
  'virtual-size': /^virtual-size (\d{1,16})$/,
  'extent-size': /^extent-size (\d{1,16})$/,
  algorithm: /^algorithm (sha256)$/,
  extents: /^extents (\d{1,7})$/,
} as const;
const ENTRY_RE = /^(\d{1,9}) ([A-Za-z0-9+/]{43}=)$/;

/**
 * Reads a checksum document, refusing anything malformed: wrong header or field order, an extent
 * out of range or out of order, a digest that is not 32 bytes, a count that does not match. Pure.
 * @throws VolbackError ERR_XML_INVALID naming `where` and the line.
 */
export function parseChecksumDocument(text: string, where: string): ChecksumDocument {
  const lines = text.split('\n');
  const bad = (line: number, why: string): VolbackError =>
    new VolbackError(ErrorCodes.XML_INVALID, `${where}, line ${line + 1}: ${why}`);
  if (lines[0] !== HEADER) throw bad(0, 'not a volback checksum document');
  const fields: Record<string, string> = {};
  Object.entries(FIELD_RE).forEach(([name, re], k) => {
    const m = re.exec(lines[k + 1] ?? '');
    if (!m) throw bad(k + 1, `expected the ${name} line`);
    fields[name] = m[1];
  });
  const virtualSize = Number(fields['virtual-size']);
  const extentSize = Number(fields['extent-size']);
  if (extentSize < MIN_EXTENT_SIZE || (extentSize & (extentSize - 1)) !== 0)
    throw bad(5, `extent size ${extentSize} is not a power of two of at least ${MIN_EXTENT_SIZE}`);
  const count = Number(fields.extents);
  const total = extentCount(virtualSize, extentSize);
  const first = 1 + Object.keys(FIELD_RE).length;
  if (lines.length !== first + count + 1 || lines[lines.length - 1] !== '')
    throw bad(Math.min(lines.length - 1, first + count), `expected exactly ${count} extent lines`);
  const digests = new Map<number, Buffer>();
  let previous = -1;
  for (let k = first; k < first + count; k++) {
    const m = ENTRY_RE.exec(lines[k]);
    if (!m) throw bad(k, 'expected "<extent> <base64 sha256>"');
    const index = Number(m[1]);
    if (index <= previous || index >= total)
      throw bad(k, `extent ${index} is out of order or past the disk's end`);
    const digest = Buffer.from(m[2], 'base64');
    if (digest.length !== DIGEST_BYTES) throw bad(k, 'the digest is not 32 bytes');
    digests.set(index, digest);
    previous = index;
  }
  return {
    setId: fields.set,
    diskBackupId: fields.disk,
    volume: fields.volume,
    virtualSize,
    extentSize,
    digests,
  };
}

const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Stores `doc` as document `name` in the pool of its volume and returns what the metadata records
 * of it. Replaces a document of that name (a merge's rewrite never writes the name in use).
 */
export async function writeChecksumDocument(
  pool: OpenPool,
  name: string,
  doc: ChecksumDocument,
): Promise<ChecksumRef> {
  const text = formatChecksumDocument(doc);
  await writeDocument(pool, name, text);
  return {
    document: name,
    sha256: sha256Hex(text),
    extentSize: doc.extentSize,
    algorithm: CHECKSUM_ALGORITHM,
  };
}

/** What a disk backup's document must be: for this disk backup and volume, as the metadata says. */
export interface ChecksumOwner {
  setId: string;
  diskBackupId: string;
  volume: string;
  virtualSize: number;
}

/**
 * Reads the document `ref` names and checks it is exactly the one the metadata recorded (same
 * sha256) and describes `owner`. Any difference is an error whose message says what is wrong
 * (missing, unreadable, changed, another disk's): the caller treats the layer as damaged.
 */
export async function readChecksumDocument(
  pool: OpenPool,
  ref: ChecksumRef,
  owner: ChecksumOwner,
): Promise<ChecksumDocument> {
  const where = `checksum document ${ref.document} in pool ${pool.name}`;
  const damaged = (why: string, cause?: unknown): VolbackError =>
    new VolbackError(ErrorCodes.CHAIN_BROKEN, `${where} ${why}`, { cause });
  const volume = await findVolume(pool, ref.document);
  if (!volume) throw damaged('is missing');
  volume.free();
  const [read] = await readDocuments(pool, [ref.document]);
  if ('error' in read) throw damaged(`cannot be read: ${read.error.message}`, read.error);
  if (sha256Hex(read.text) !== ref.sha256)
    throw damaged('is not the one recorded with the backup (its sha256 differs from the metadata)');
  const doc = parseChecksumDocument(read.text, where);
  const identity: Array<[string, unknown, unknown]> = [
    ['set', doc.setId, owner.setId],
    ['disk backup', doc.diskBackupId, owner.diskBackupId],
    ['volume', doc.volume, owner.volume],
    ['virtual size', doc.virtualSize, owner.virtualSize],
    ['extent size', doc.extentSize, ref.extentSize],
  ];
  for (const [what, has, wanted] of identity)
    if (has !== wanted) throw damaged(`describes ${what} ${String(has)}, not ${String(wanted)}`);
  return doc;
}

/** A disk backup's checksum document by its metadata: the disk, its set, and the ref. */
export interface ChecksumHolder {
  setId: string;
  disk: {
    id: string;
    virtualSize: number;
    volume?: { pool: string; name: string };
    checksums?: ChecksumRef;
  };
}

const ownerOf = (h: ChecksumHolder): ChecksumOwner => ({
  setId: h.setId,
  diskBackupId: h.disk.id,
  volume: h.disk.volume!.name,
  virtualSize: h.disk.virtualSize,
});

/**
 * The checksum document of `into` once its parent `from` is merged into it (its volume rebased onto
 * `from`'s parent, or onto nothing, with the same guest-visible content): `into`'s digests, plus
 * `from`'s for the extents `into` did not store — for those, `into`'s view was `from`'s. Written
 * under the document's other name; the metadata rewrite then names it, and the old one goes with
 * the merged volume. Idempotent: a rerun after one source is gone returns the merged document it
 * wrote before. Undefined when either has no usable checksums (`into` then has none; the removal
 * goes on, logged by the caller).
 */
export async function mergeChecksumDocuments(
  poolOf: (name: string) => Promise<OpenPool>,
  from: ChecksumHolder,
  into: ChecksumHolder,
): Promise<ChecksumRef | undefined> {
  const ref = into.disk.checksums;
  if (!ref || !from.disk.checksums || !into.disk.volume || !from.disk.volume) return undefined;
  const intoPool = await poolOf(into.disk.volume.pool);
  const target = nextChecksumDocumentName(ref.document, into.disk.volume.name);
  const attempt = <T>(p: Promise<T>): Promise<T | undefined> => p.catch(() => undefined);
  const [fromDoc, intoDoc] = await Promise.all([
    attempt(readChecksumDocument(await poolOf(from.disk.volume.pool), from.disk.checksums, ownerOf(from))),
    attempt(readChecksumDocument(intoPool, ref, ownerOf(into))),
  ]);
  if (fromDoc && intoDoc && fromDoc.extentSize === intoDoc.extentSize) {
    const digests = new Map(fromDoc.digests);
    for (const [i, d] of intoDoc.digests) digests.set(i, d);
    return writeChecksumDocument(intoPool, target, { ...intoDoc, digests });
  }
  const [again] = await readDocuments(intoPool, [target]);
  if (!again || 'error' in again) return undefined;
  const doc = attemptParse(again.text, target);
  if (!doc) return undefined;
  const owner = ownerOf(into);
  if (doc.diskBackupId !== owner.diskBackupId || doc.volume !== owner.volume || doc.setId !== owner.setId)
    return undefined;
  return {
    document: target,
    sha256: sha256Hex(again.text),
    extentSize: doc.extentSize,
    algorithm: CHECKSUM_ALGORITHM,
  };
}

function attemptParse(text: string, where: string): ChecksumDocument | undefined {
  try {
    return parseChecksumDocument(text, where);
  } catch {
    return undefined;
  }
}
