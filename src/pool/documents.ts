// The one small-document store: metadata, the catalog index, removal intents and restore markers
// are each a volume holding one framed document, written and read through the pool's driver.
//
// Framing: a volume may be larger than what it holds (an LV is rounded up to its extent size, an RBD
// image to its objects), so every document starts with one header line giving its byte length and
// sha256, and a reader takes exactly that many bytes and checks them. The header is an XML comment,
// so a metadata volume still reads as a well-formed XML document. A volume without the header is a
// document written before framing existed: its whole content is the document, less trailing NULs.
import { createHash } from 'node:crypto';
import { ErrorCodes, VolbackError } from '../errors';
import { deleteVolumeIfPresent, type OpenPool } from './pool-layer';

/** Far above any real document (the domain XML dominates); guards against reading a wrong volume. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

const HEADER_RE = /^<!--volback-document v1 bytes=(\d+) sha256=([0-9a-f]{64})-->\n/;
/** The longest header: the magic, a 16-digit length and the hash. */
const MAX_HEADER = 128;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * A framed document whose bytes stop before the length its header gives: volback began writing it
 * (the header is its own) and was stopped. Clean-up may remove such a volume; one that is not
 * framed, or framed and damaged otherwise, proves nothing about who wrote it.
 */
export class CutShortDocument extends VolbackError {
  constructor(message: string) {
    super(ErrorCodes.XML_INVALID, message);
  }
}

/** The bytes a document volume holds for `content`: header line, then the content. Pure. */
export function frameDocument(content: string): Buffer {
  const body = Buffer.from(content, 'utf8');
  return Buffer.concat([
    Buffer.from(`<!--volback-document v1 bytes=${body.length} sha256=${sha256(body)}-->\n`),
    body,
  ]);
}

/**
 * The document a volume holds, or why it holds none: a header whose length runs past the volume,
 * or whose hash does not match, means a write cut short or a damaged volume. Pure.
 */
export function unframeDocument(bytes: Buffer, where: string): string {
  const head = bytes.subarray(0, MAX_HEADER).toString('latin1');
  const match = HEADER_RE.exec(head);
  if (!match) {
    if (head.startsWith('<!--volback-document')) {
      throw new VolbackError(ErrorCodes.XML_INVALID, `${where}: its document header is damaged`);
    }
    // Written whole into a volume that may be larger (an LV's extent, zero-filled): text has no NULs.
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    return bytes.subarray(0, end).toString('utf8');
  }
  const start = match[0].length;
  const length = Number(match[1]);
  if (start + length > bytes.length) {
    throw new CutShortDocument(
      `${where} holds ${bytes.length - start} of the ${length} bytes its header announces: the write was cut short`,
    );
  }
  const body = bytes.subarray(start, start + length);
  if (sha256(body) !== match[2]) {
    throw new VolbackError(ErrorCodes.XML_INVALID, `${where}: its content does not match its checksum`);
  }
  return body.toString('utf8');
}

/** One document as read: its text, or why it could not be read. */
export type DocumentRead = { name: string; text: string } | { name: string; error: Error };

/**
 * Stores `content` as document `name`, replacing an older one of that name (whose removal, for a
 * metadata document, first replaces the pool's generation marker). A reader sees either the whole
 * document or none: a cut-short write fails its header check.
 */
export async function writeDocument(pool: OpenPool, name: string, content: string): Promise<void> {
  await deleteVolumeIfPresent(pool, name);
  await pool.driver.writeDocumentVolume(pool, name, frameDocument(content));
}

/** Reads many documents at once; one unreadable document is that entry's error. Order follows `names`. */
export async function readDocuments(
  pool: OpenPool,
  names: readonly string[],
  maxBytes = MAX_DOCUMENT_BYTES,
): Promise<DocumentRead[]> {
  const raw = await pool.driver.readDocumentVolumes(pool, names, maxBytes + MAX_HEADER);
  return raw.map((r): DocumentRead => {
    if ('error' in r) return r;
    try {
      return { name: r.name, text: unframeDocument(r.bytes, `volume ${r.name} in pool ${pool.name}`) };
    } catch (err) {
      return { name: r.name, error: err as Error };
    }
  });
}
