// A per-pool cache of validated backup-set metadata, so that listing thousands of backups reads one
// volume instead of thousands. The metadata volumes stay the source of truth; see docs/architecture.md,
// "The catalog index".
//
// Invariant: a metadata volume's content changes only by deletion (a rewrite deletes the old volume
// first), and every deletion of a metadata volume first replaces the pool's generation marker
// (`volback-catalog.<12 hex>.gen`, an empty volume). The index records the markers it was built under;
// a reader trusts it only when the pool shows exactly those markers, so an index can never serve a
// document that was rewritten or deleted after the index's scan began.
import { createHash } from 'node:crypto';
import isEqual from 'lodash/isEqual';
import { logger } from '../log';
import type { BackupSet } from '../model';
import { parseBackupSets, renderBackupSet } from '../xml';
import { readDocuments, writeDocument } from './documents';
import { bumpGeneration, generationOf, isGenerationMarker, type OpenPool } from './pool-layer';

const log = logger('catalog-index');

export const INDEX_VOLUME_NAME = 'volback-catalog.index.json';
const FORMAT = 'volback-catalog-index';
const VERSION = 1;
/** An index is read whole; far above what 100,000 sets need. */
const MAX_INDEX_BYTES = 512 * 1024 * 1024;

/** True for the volumes the catalog keeps for itself in a pool (the index and generation markers). */
export const isCatalogVolume = (name: string): boolean =>
  name === INDEX_VOLUME_NAME || isGenerationMarker(name);

interface StoredEntry extends Omit<BackupSet, 'createdAt' | 'completedAt' | 'domainXml'> {
  createdAt: string;
  completedAt?: string;
  /** sha256 of the domain XML, a key of `domainXml` (sets of one domain mostly share it). */
  domainXmlRef: string;
}

interface IndexPayload {
  domainXml: Record<string, string>;
  entries: Record<string, StoredEntry>;
}

interface IndexHeader {
  format: string;
  version: number;
  generation: string[];
  sha256: string;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Serialises entries (metadata volume name → set) built under `generation`. Pure. */
export function encodeIndex(generation: readonly string[], sets: ReadonlyMap<string, BackupSet>): string {
  const payload: IndexPayload = { domainXml: {}, entries: {} };
  for (const [name, set] of sets) {
    const ref = sha256(set.domainXml);
    payload.domainXml[ref] = set.domainXml;
    const { domainXml: _omit, createdAt, completedAt, ...rest } = set;
    payload.entries[name] = {
      ...rest,
      createdAt: createdAt.toISOString(),
      completedAt: completedAt?.toISOString(),
      domainXmlRef: ref,
    };
  }
  const body = JSON.stringify(payload);
  const header: IndexHeader = {
    format: FORMAT,
    version: VERSION,
    generation: [...generation],
    sha256: sha256(body),
  };
  return `${JSON.stringify(header)}\n${body}`;
}

/**
 * Reads entries back; undefined when the text is not a whole index of this format (cut short, altered,
 * another version) or was built under another generation. Pure.
 */
export function decodeIndex(text: string, generation: readonly string[]): Map<string, BackupSet> | undefined {
  const newline = text.indexOf('\n');
  if (newline < 0) return undefined;
  try {
    const header = JSON.parse(text.slice(0, newline)) as IndexHeader;
    const body = text.slice(newline + 1);
    if (header.format !== FORMAT || header.version !== VERSION || sha256(body) !== header.sha256)
      return undefined;
    if (header.generation.length === 0 || header.generation.join('\n') !== generation.join('\n'))
      return undefined;
    const payload = JSON.parse(body) as IndexPayload;
    const sets = new Map<string, BackupSet>();
    for (const [name, entry] of Object.entries(payload.entries)) {
      const { domainXmlRef, createdAt, completedAt, ...rest } = entry;
      const domainXml = payload.domainXml[domainXmlRef];
      if (domainXml === undefined) return undefined;
      const set: BackupSet = { ...rest, createdAt: new Date(createdAt), domainXml };
      if (completedAt !== undefined) set.completedAt = new Date(completedAt);
      sets.set(name, set);
    }
    return sets;
  } catch {
    return undefined;
  }
}

/** The pool's index, when present and valid for the generation in `names` (a fresh listing). */
export async function readIndex(
  pool: OpenPool,
  names: readonly string[],
): Promise<Map<string, BackupSet> | undefined> {
  if (!names.includes(INDEX_VOLUME_NAME)) return undefined;
  const [content] = await readDocuments(pool, [INDEX_VOLUME_NAME], MAX_INDEX_BYTES);
  if (!('text' in content)) return undefined;
  const index = decodeIndex(content.text, generationOf(names));
  if (!index) log.debug(`the catalog index of pool ${pool.name} is stale or damaged; reading every document`);
  if (!index || (await entriesValid(index, pool.name))) return index;
  log.warn(
    `the catalog index of pool ${pool.name} holds entries no metadata document could: reading every document`,
  );
  return undefined;
}

/**
 * True when every entry is a set a valid metadata document describes: each is rendered as its
 * document and validated with the same schema and reader as a metadata volume, and must read back
 * unchanged. The index is a file anyone with write access to the pool can forge (generation and
 * checksum included); it may only save reads, never let in what a document could not.
 */
async function entriesValid(index: ReadonlyMap<string, BackupSet>, pool: string): Promise<boolean> {
  const entries = [...index];
  let docs: Array<{ xml: string; source: string }>;
  try {
    docs = entries.map(([name, set]) => ({
      xml: renderBackupSet(set),
      source: `index entry ${name} in pool ${pool}`,
    }));
  } catch {
    return false; // a value no document can hold (a control character, say)
  }
  const parsed = await parseBackupSets(docs);
  return parsed.every((result, i) => result.ok && isEqual(result.set, entries[i][1]));
}

/**
 * Replaces the pool's index (best effort: a pool volback may not write, or a concurrent writer,
 * only costs the next reader a full scan). A pool without a generation marker gets one first.
 */
export async function writeIndex(
  pool: OpenPool,
  names: readonly string[],
  sets: ReadonlyMap<string, BackupSet>,
): Promise<void> {
  try {
    let generation = generationOf(names);
    if (generation.length === 0) {
      await bumpGeneration(pool);
      generation = generationOf(await pool.driver.listVolumeNames(pool));
    }
    await writeDocument(pool, INDEX_VOLUME_NAME, encodeIndex(generation, sets));
  } catch (err) {
    log.debug(`could not write the catalog index of pool ${pool.name}: ${(err as Error).message}`);
  }
}
