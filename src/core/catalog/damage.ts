// Damage records: what a verify (or a restore) found wrong with a set's stored data, kept in the pool
// next to each copy of the set's metadata, so every host's listing shows the set as damaged (and the
// sets that depend on it) until a deep verify finds it whole again. docs/architecture.md, "Checksums".
import os from 'node:os';
import type { Connection } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { readDocuments, writeDocument } from '../../pool/documents';
import { deleteVolumeIfPresent, PoolCache, type OpenPool } from '../../pool/pool-layer';
import { DAMAGE_VOLUME_SUFFIX, METADATA_VOLUME_SUFFIX } from '../../pool/volume-names';
import { describeFinding, type DamageFinding } from '../shared/checksums';
import type { CatalogScan } from './scan';

const log = logger('damage');

/** Who found the damage. */
export type DamageSource = 'verify' | 'verify --deep' | 'restore';

export interface DamageRecord {
  format: 'volback-damage';
  version: 1;
  setId: string;
  /** ISO 8601 UTC. */
  recordedAt: string;
  host: string;
  by: DamageSource;
  /** Every finding whose damaged data is in this set's volumes. */
  findings: DamageFinding[];
}

/** The damage record of a set stored in `metadataVolume`: same name, another suffix. Pure. */
export function damageVolumeName(metadataVolume: string): string {
  if (!metadataVolume.endsWith(METADATA_VOLUME_SUFFIX))
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `${metadataVolume} is not a metadata volume name`);
  return metadataVolume.slice(0, -METADATA_VOLUME_SUFFIX.length) + DAMAGE_VOLUME_SUFFIX;
}

/** The metadata volume a damage record sits next to; undefined for any other name. Pure. */
export function damagedMetadataVolume(name: string): string | undefined {
  return name.endsWith(DAMAGE_VOLUME_SUFFIX)
    ? name.slice(0, -DAMAGE_VOLUME_SUFFIX.length) + METADATA_VOLUME_SUFFIX
    : undefined;
}

const isFinding = (f: unknown): f is DamageFinding => {
  const x = f as DamageFinding;
  return (
    typeof x === 'object' &&
    x !== null &&
    ['setId', 'diskBackupId', 'target', 'pool', 'volume', 'reason'].every(
      (k) => typeof (x as unknown as Record<string, unknown>)[k] === 'string',
    ) &&
    (x.range === undefined ||
      (Number.isSafeInteger(x.range.start) &&
        Number.isSafeInteger(x.range.end) &&
        x.range.start < x.range.end))
  );
};

/** Reads a damage record; anything malformed is an error. Pure. */
export function parseDamageRecord(text: string, source: string): DamageRecord {
  const bad = (why: string): VolbackError =>
    new VolbackError(ErrorCodes.XML_INVALID, `${source}: not a damage record (${why})`);
  let doc: DamageRecord;
  try {
    doc = JSON.parse(text) as DamageRecord;
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (doc?.format !== 'volback-damage' || doc.version !== 1) throw bad('unknown format or version');
  if (
    typeof doc.setId !== 'string' ||
    typeof doc.recordedAt !== 'string' ||
    typeof doc.host !== 'string' ||
    !['verify', 'verify --deep', 'restore'].includes(doc.by) ||
    !Array.isArray(doc.findings) ||
    !doc.findings.every(isFinding)
  )
    throw bad('missing or mistyped fields');
  return doc;
}

/** What the catalog says of a damaged set: who found what, when. Pure. */
export function damageMessage(record: DamageRecord): string {
  const [first, ...more] = record.findings;
  const what = first ? describeFinding(first) : 'damage';
  return (
    `${record.by} on ${record.host} at ${record.recordedAt} found damaged data: ${what}` +
    (more.length ? ` (and ${more.length} more)` : '')
  );
}

/** One damage record found in a pool: its set (by the metadata volume beside it), or why it is unreadable. */
export interface FoundDamage {
  pool: string;
  volume: string;
  /** The metadata volume it belongs to. */
  metadataVolume: string;
  record?: DamageRecord;
  error?: Error;
}

/** Every damage record among a pool's volumes. A record that cannot be read is kept with its error. */
export async function readDamageRecords(pool: OpenPool, names: readonly string[]): Promise<FoundDamage[]> {
  const wanted = names.filter((n) => n.endsWith(DAMAGE_VOLUME_SUFFIX));
  return (await readDocuments(pool, wanted)).map((read) => {
    const base = { pool: pool.name, volume: read.name, metadataVolume: damagedMetadataVolume(read.name)! };
    if ('error' in read) return { ...base, error: read.error };
    try {
      return { ...base, record: parseDamageRecord(read.text, `volume ${read.name} in pool ${pool.name}`) };
    } catch (err) {
      return { ...base, error: err as Error };
    }
  });
}

async function writeRecord(pool: OpenPool, name: string, text: string): Promise<void> {
  try {
    await writeDocument(pool, name, text);
  } catch {
    // Another verify of the same set may have written it between our delete and create: once more.
    await writeDocument(pool, name, text);
  }
}

/** Where each set's metadata copies are: set id → pool and metadata volume of every copy. */
export type MetadataCopies = ReadonlyMap<string, ReadonlyArray<{ pool: string; volume: string }>>;

/** Where each set's metadata copies are, from a scan. Pure. */
export function metadataCopies(scan: CatalogScan): MetadataCopies {
  const copies = new Map<string, Array<{ pool: string; volume: string }>>();
  for (const s of scan.stored)
    copies.set(s.set.id, [...(copies.get(s.set.id) ?? []), { pool: s.pool, volume: s.metadataVolume }]);
  return copies;
}

/** Same finding (set, volume, range, reason) once, first kept. Pure. */
export function uniqueFindings(findings: readonly DamageFinding[]): DamageFinding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = JSON.stringify([f.setId, f.pool, f.volume, f.range?.start, f.range?.end, f.reason]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Records `findings` against the sets whose data they concern, next to every metadata copy of each.
 * What a set's record already holds is kept, unless the set is in `recheckedWhole` (a deep verify of
 * that very set read every extent its layers store: its findings are the whole truth). A record that
 * cannot be written is logged and returned in `failed`; the findings stand regardless.
 */
export async function recordDamage(
  conn: Connection,
  copies: MetadataCopies,
  findings: readonly DamageFinding[],
  by: DamageSource,
  recheckedWhole: ReadonlySet<string> = new Set(),
): Promise<{ failed: string[] }> {
  const bySet = new Map<string, DamageFinding[]>();
  for (const f of findings) bySet.set(f.setId, [...(bySet.get(f.setId) ?? []), f]);
  const failed: string[] = [];
  const pools = new PoolCache(conn);
  try {
    for (const [setId, setFindings] of bySet) {
      const where = copies.get(setId) ?? [];
      let earlier: DamageFinding[] = [];
      if (!recheckedWhole.has(setId) && where.length) {
        const pool = await pools.get(where[0].pool);
        const found = await readDamageRecords(pool, [damageVolumeName(where[0].volume)]);
        earlier = found[0]?.record?.setId === setId ? found[0].record.findings : [];
      }
      const record: DamageRecord = {
        format: 'volback-damage',
        version: 1,
        setId,
        recordedAt: new Date().toISOString(),
        host: os.hostname(),
        by,
        findings: uniqueFindings([...setFindings, ...earlier]),
      };
      const text = JSON.stringify(record, null, 1);
      for (const copy of where) {
        const name = damageVolumeName(copy.volume);
        try {
          await writeRecord(await pools.get(copy.pool), name, text);
        } catch (err) {
          const why = `cannot record the damage of set ${setId} in pool ${copy.pool}: ${(err as Error).message}`;
          log.warn(why);
          failed.push(why);
        }
      }
    }
    return { failed };
  } finally {
    pools.close();
  }
}

/** Removes the damage records of `setId` (a deep verify found its data whole). */
export async function clearDamage(conn: Connection, copies: MetadataCopies, setId: string): Promise<void> {
  const pools = new PoolCache(conn);
  try {
    for (const copy of copies.get(setId) ?? [])
      await deleteVolumeIfPresent(await pools.get(copy.pool), damageVolumeName(copy.volume));
  } finally {
    pools.close();
  }
}
