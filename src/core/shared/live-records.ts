// A live restore's record in the pools it reads: a domain runs on overlays over these backups until
// its block pulls finish, so the backups must stay. One copy lies in every backup pool the restore
// reads, so that a delete, merge or prune on any host sharing the pool sees it and refuses, and the
// catalog lists it. Signed with this host's key: only the host that started the restore acts on it
// (finishes it, removes it); any host honours it, signed or not — refusing a delete is the safe side.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { logger } from '../../log';
import { deleteVolumeIfPresent, type OpenPool } from '../../pool/pool-layer';
import { readDocuments, writeDocument } from '../../pool/documents';
import { signedByThisHost, signForThisHost } from '../../host/host-key';

const log = logger('restore');

const LIVE_RE = /^volback-live-[0-9a-f]{12}\.json$/;

/** Whether a volume name is a live restore's record. Pure. */
export const isLiveRestoreRecord = (name: string): boolean => LIVE_RE.test(name);

/** One backup layer a live-restored disk reads. */
export interface LiveRead {
  /** The disk backup's id (DiskBackup.id). */
  diskId: string;
  setId: string;
  pool: string;
  volume: string;
}

export interface LiveDisk {
  target: string;
  /** The layer the domain runs on; `volume` is '' until it is made. */
  pool: string;
  volume: string;
  /** The backup chain under it, full first. */
  reads: LiveRead[];
}

export interface LiveRestore {
  /** Random: names the record's volume, the same in every pool. */
  id: string;
  domain: string;
  host: string;
  /** The process that made the restore: while it lives, only it moves the restore on. */
  pid: number;
  /** Bytes per second each disk's copy may take (0: no limit), for every run that restarts one. */
  bandwidth: number;
  setId: string;
  startedAt: string;
  disks: LiveDisk[];
}

/** A record volume that could not be read or parsed: a removal still honours it (it refuses). */
export interface UnreadableLiveRecord {
  pool: string;
  volume: string;
  error: string;
}

/** A record as found in a pool: its fields, and whether this host signed it. */
export interface FoundLiveRestore {
  pool: string;
  volume: string;
  restore: LiveRestore;
  ownHere: boolean;
}

export const liveRecordName = (id: string): string => `volback-live-${id}.json`;

/** A new record's id. */
export const newLiveRestoreId = (): string => randomBytes(6).toString('hex');

/**
 * The record's document: its fields and this host's signature of them, signed as a reader rebuilds
 * them (the parser's field order), so the signature checks whatever order the caller built them in.
 */
export function liveRecordDocument(restore: LiveRestore): string {
  const canonical = parseLiveRecord(JSON.stringify({ restore }), 'a new live restore record').restore;
  return JSON.stringify({ restore: canonical, mac: signForThisHost(JSON.stringify(canonical)) });
}

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 1024;

/** The fields of a record document, checked field by field (it is untrusted input). Pure. */
export function parseLiveRecord(text: string, where: string): { restore: LiveRestore; mac: unknown } {
  const bad = (what: string): Error => new Error(`${where}: ${what}`);
  let doc: { restore?: Partial<LiveRestore>; mac?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  const r = doc?.restore;
  if (!r || typeof r !== 'object') throw bad('no restore object');
  for (const field of ['id', 'domain', 'host', 'setId', 'startedAt'] as const)
    if (!isText(r[field])) throw bad(`field ${field} is missing or not text`);
  for (const field of ['pid', 'bandwidth'] as const)
    if (!Number.isSafeInteger(r[field]) || (r[field] as number) < 0)
      throw bad(`field ${field} is missing or not a whole number`);
  if (!Array.isArray(r.disks) || r.disks.length === 0) throw bad('field disks is not a list of disks');
  const disks = r.disks.map((d: Partial<LiveDisk>, i): LiveDisk => {
    for (const field of ['target', 'pool'] as const)
      if (!isText(d?.[field])) throw bad(`disks[${i}].${field} is missing or not text`);
    // Empty until the layer is made: the record is written before, to guard the backups from the start.
    if (typeof d.volume !== 'string' || d.volume.length > 1024) throw bad(`disks[${i}].volume is not text`);
    if (!Array.isArray(d.reads)) throw bad(`disks[${i}].reads is not a list`);
    const reads = d.reads.map((x: Partial<LiveRead>, j): LiveRead => {
      for (const field of ['diskId', 'setId', 'pool', 'volume'] as const)
        if (!isText(x?.[field])) throw bad(`disks[${i}].reads[${j}].${field} is missing or not text`);
      return { diskId: x.diskId!, setId: x.setId!, pool: x.pool!, volume: x.volume! };
    });
    return { target: d.target!, pool: d.pool!, volume: d.volume!, reads };
  });
  const restore: LiveRestore = {
    id: r.id!,
    domain: r.domain!,
    host: r.host!,
    pid: r.pid!,
    bandwidth: r.bandwidth!,
    setId: r.setId!,
    startedAt: r.startedAt!,
    disks,
  };
  return { restore, mac: doc.mac };
}

/** The live restores recorded in `pool`, and the record volumes that could not be read (logged). */
export async function liveRestoresIn(
  pool: OpenPool,
  names?: readonly string[],
): Promise<{ found: FoundLiveRestore[]; unreadable: UnreadableLiveRecord[] }> {
  const records = (names ?? (await pool.driver.listVolumeNames(pool))).filter(isLiveRestoreRecord);
  const found: FoundLiveRestore[] = [];
  const unreadable: UnreadableLiveRecord[] = [];
  if (!records.length) return { found, unreadable };
  for (const read of await readDocuments(pool, records, 1024 * 1024)) {
    const where = `live restore record ${read.name} in pool ${pool.name}`;
    try {
      if ('error' in read) throw read.error;
      const { restore, mac } = parseLiveRecord(read.text, where);
      const ownHere =
        restore.host === hostname() &&
        liveRecordName(restore.id) === read.name &&
        signedByThisHost(JSON.stringify(restore), mac);
      found.push({ pool: pool.name, volume: read.name, restore, ownHere });
    } catch (err) {
      log.warn(`cannot read ${where}: ${(err as Error).message}`);
      unreadable.push({ pool: pool.name, volume: read.name, error: (err as Error).message });
    }
  }
  return { found, unreadable };
}

/** The pools a live restore reads, each once. Pure. */
export const poolsRead = (restore: LiveRestore): string[] => [
  ...new Set(restore.disks.flatMap((d) => d.reads.map((r) => r.pool))),
];

/** Writes (or replaces) the record in `pool`. */
export const writeLiveRecord = (pool: OpenPool, restore: LiveRestore): Promise<void> =>
  writeDocument(pool, liveRecordName(restore.id), liveRecordDocument(restore));

/** Removes the record from `pool` (nothing when it is gone already). */
export const removeLiveRecord = (pool: OpenPool, restore: LiveRestore): Promise<void> =>
  deleteVolumeIfPresent(pool, liveRecordName(restore.id));
