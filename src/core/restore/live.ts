// Live restore after the domain started: libvirt's block pull copies what each overlay still reads
// from its backup into it, and volback watches, restarts what stopped (the domain was restarted,
// libvirtd lost the job) and, when every disk stands alone, removes the restore's records. The copy
// runs in QEMU, not in volback: a volback killed mid-copy leaves a running, correct domain whose
// pulls go on, and the next run (`finishLiveRestores`, from `volback repair` or a waiting restore)
// picks up from what the pools and libvirt show. See docs/live-restore.md.
import {
  virDomainBlockJobInfoFlags,
  virDomainBlockJobType,
  virDomainBlockPullFlags,
  type Connection,
  type Domain,
} from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { closePools, findVolume, openActivePools, PoolCache, type OpenPool } from '../../pool/pool-layer';
import { parseDomainXml, type DomainDisk } from '../../xml/libvirt-domain';
import type { DiskSource } from '../../model';
import { findDomain, throwIfAborted } from './common';
import {
  liveRestoresIn,
  poolsRead,
  removeLiveRecord,
  type FoundLiveRestore,
  type LiveDisk,
  type LiveRestore,
} from '../shared/live-records';

const log = logger('restore');

/** How often a waiting run asks libvirt how far the pulls are. */
const POLL_MS = 250;
/** How long a disk must show no job and a chain before a pull is (re)started on it. */
const SETTLE_MS = 1000;

/**
 * Where one disk of a live restore is: `copying` (a block pull runs; bytes done of total), `waiting`
 * (it still reads its backup and no pull runs: the domain is shut off, or the pull stopped), `done`
 * (it stands alone), `gone` (its layer was removed: nothing reads the backup through it).
 */
export interface LiveDiskState {
  target: string;
  pool: string;
  volume: string;
  state: 'copying' | 'waiting' | 'done' | 'gone';
  bytesDone?: number;
  bytesTotal?: number;
  /** Why it waits, when it does. */
  reason?: string;
}

export interface LiveRestoreState {
  id: string;
  domain: string;
  host: string;
  setId: string;
  startedAt: string;
  /** False for a record another host (or no volback) signed: listed, honoured, never acted on here. */
  ownHere: boolean;
  /** The pools holding its record. */
  recordedIn: string[];
  disks: LiveDiskState[];
}

/** Every live restore recorded in the active pools (one entry per restore, however many pools hold it). */
export async function findLiveRestores(
  conn: Connection,
  pools?: readonly string[],
): Promise<Array<{ restore: LiveRestore; ownHere: boolean; recordedIn: string[] }>> {
  const open = await openActivePools(conn, pools);
  try {
    const found: FoundLiveRestore[] = [];
    for (const pool of open) found.push(...(await liveRestoresIn(pool)));
    const byId = new Map<string, { restore: LiveRestore; ownHere: boolean; recordedIn: string[] }>();
    for (const f of found) {
      const seen = byId.get(f.restore.id);
      if (seen) seen.recordedIn.push(f.pool);
      else byId.set(f.restore.id, { restore: f.restore, ownHere: f.ownHere, recordedIn: [f.pool] });
    }
    return [...byId.values()];
  } finally {
    closePools(open);
  }
}

/** The domain's disk `target` when it still runs on `source`, from the live XML. */
function diskOn(disks: readonly DomainDisk[], target: string, source: DiskSource): DomainDisk | undefined {
  const disk = disks.find((d) => d.target === target);
  const where = source.type === 'file' ? source.file : source.type === 'block' ? source.dev : source.name;
  if (!disk) return undefined;
  const actual = disk.sourcePath ?? disk.sourceVolume;
  return actual === where || (source.type === 'network' && disk.type === 'network') ? disk : undefined;
}

/** What one finishing pass does: look only, or also start a pull and copy shut-off disks. */
interface PassOptions {
  act: boolean;
  /** Also run in-place copies (an offline rebase, an RBD flatten), which take until they are done. */
  inPlace?: boolean;
  /** Bytes per second for pulls this pass starts; 0 or absent: unlimited. */
  bandwidth?: number;
}

/** A disk's state, and what would move it on: a pull (the domain runs on it) or an offline copy. */
type Looked = LiveDiskState & { next?: 'pull' | 'rebase' };

/** One disk's state, read from the pool and libvirt; changes nothing. */
async function lookAtDisk(
  pools: PoolCache,
  restore: LiveRestore,
  disk: LiveDisk,
  running: { domain: Domain; disks: DomainDisk[] } | undefined,
): Promise<Looked> {
  const base = { target: disk.target, pool: disk.pool, volume: disk.volume };
  if (!disk.volume) return { ...base, state: 'gone' }; // the restore stopped before making it
  let pool: OpenPool;
  try {
    pool = await pools.get(disk.pool);
  } catch {
    return { ...base, state: 'waiting', reason: `pool '${disk.pool}' is not active` };
  }
  const volume = await findVolume(pool, disk.volume);
  if (!volume) return { ...base, state: 'gone' };
  try {
    const source = await pool.driver.diskSource(pool, volume);
    const onIt = running && diskOn(running.disks, disk.target, source);
    if (pool.driver.capabilities.liveLayerFill === 'rebase') {
      // Filled in place, running or not (an RBD flatten): the driver tells whether it still reads.
      if (!(await pool.driver.checkLayer(pool, volume)).length) return { ...base, state: 'done' };
      const why = onIt ? 'copied in place next' : `domain ${restore.domain} is not running on it`;
      return { ...base, state: 'waiting', reason: why, next: 'rebase' };
    }
    if (running && onIt) {
      const job = await running.domain.getBlockJobInfo(
        disk.target,
        virDomainBlockJobInfoFlags.VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES,
      );
      if (job && job.type === virDomainBlockJobType.VIR_DOMAIN_BLOCK_JOB_TYPE_PULL)
        return { ...base, state: 'copying', bytesDone: job.cur, bytesTotal: job.end };
      if (!onIt.backed) return { ...base, state: 'done' };
      if (job) return { ...base, state: 'waiting', reason: 'another block job runs on the disk' };
      // A pull that just ended is gone from libvirt's jobs a moment before its chain leaves the XML.
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const now = diskOn(
        (await parseDomainXml(await running.domain.getXMLDesc(0))).disks,
        disk.target,
        source,
      );
      if (!now?.backed) return { ...base, state: 'done' };
      if (await running.domain.getBlockJobInfo(disk.target))
        return { ...base, state: 'waiting', reason: 'a block job started on the disk' };
      return { ...base, state: 'waiting', reason: 'no block pull runs on it yet', next: 'pull' };
    }
    if (!(await pool.driver.checkLayer(pool, volume)).length) return { ...base, state: 'done' };
    const why = running ? 'the domain runs on another volume' : `domain ${restore.domain} is not running`;
    return { ...base, state: 'waiting', reason: why, next: pool.driver.rebase ? 'rebase' : undefined };
  } finally {
    volume.free();
  }
}

/**
 * Every disk's state of one restore; with `act`, moves it on: a shut-off domain's layers are copied
 * off their backups in place (the driver's rebase, as a merge does), and a running domain gets one
 * block pull at a time — QEMU 7.2 crashes (a segfault in bdrv_refresh_filename, answering the
 * query-named-block-nodes libvirt sends when a pull ends) when another pull of the domain ends at
 * that moment (docs/live-restore.md).
 */
async function restorePass(
  conn: Connection,
  pools: PoolCache,
  restore: LiveRestore,
  options: PassOptions,
): Promise<LiveDiskState[]> {
  const domain = await findDomain(() => conn.lookupDomainByName(restore.domain));
  try {
    const running =
      domain && (await domain.isActive())
        ? { domain, disks: (await parseDomainXml(await domain.getXMLDesc(0))).disks }
        : undefined;
    const looked: Looked[] = [];
    for (const disk of restore.disks) looked.push(await lookAtDisk(pools, restore, disk, running));
    if (options.act) {
      for (const [i, disk] of looked.entries()) {
        if (disk.next === 'rebase' && options.inPlace) looked[i] = await copyOffline(pools, restore, disk);
      }
      const next = looked.findIndex((d) => d.next === 'pull');
      if (running && next >= 0 && !looked.some((d) => d.state === 'copying'))
        looked[next] = await startPull(running.domain, restore, looked[next], options.bandwidth);
    }
    return looked.map(({ next, ...state }) =>
      next === 'pull' && looked.some((d) => d.state === 'copying')
        ? { ...state, reason: 'queued: one block pull per domain at a time' }
        : state,
    );
  } finally {
    domain?.free();
  }
}

/** Starts the disk's block pull; a refusal (the domain stopped meanwhile) leaves it waiting. */
async function startPull(domain: Domain, restore: LiveRestore, disk: Looked, bandwidth = 0): Promise<Looked> {
  log.info(`live restore of ${restore.domain}: pulling ${disk.target} from its backup`);
  try {
    await domain.blockPull(
      disk.target,
      bandwidth,
      virDomainBlockPullFlags.VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES,
    );
  } catch (err) {
    log.warn(`live restore of ${restore.domain}: cannot pull ${disk.target} now: ${(err as Error).message}`);
    return { ...disk, next: undefined, reason: `its pull did not start: ${(err as Error).message}` };
  }
  return { ...disk, next: undefined, state: 'copying', bytesDone: 0, reason: undefined };
}

/** Copies a layer off its backup in place (nothing runs on it, or its driver fills it under a domain). */
async function copyOffline(pools: PoolCache, restore: LiveRestore, disk: Looked): Promise<Looked> {
  const pool = await pools.get(disk.pool);
  const volume = await findVolume(pool, disk.volume);
  if (!volume) return { ...disk, next: undefined, state: 'gone' };
  try {
    log.info(`live restore of ${restore.domain}: ${disk.reason}; copying ${disk.volume} off its backup`);
    await pool.driver.rebase!(pool, volume, undefined);
    return { ...disk, next: undefined, state: 'done', reason: undefined };
  } finally {
    volume.free();
  }
}

/** Removes the restore's record from every pool it is in (it reads nothing any more). */
async function dropRecords(pools: PoolCache, restore: LiveRestore): Promise<void> {
  for (const name of poolsRead(restore)) {
    const pool = await pools.get(name).catch(() => undefined);
    if (pool) await removeLiveRecord(pool, restore);
  }
  log.info(`live restore of ${restore.domain} from backup ${restore.setId} is complete`);
}

const finished = (states: readonly LiveDiskState[]): boolean =>
  states.every((s) => s.state === 'done' || s.state === 'gone');

/** Where every live restore recorded in the pools is, changing nothing. */
export async function liveRestoreStatus(
  conn: Connection,
  options: { pools?: readonly string[] } = {},
): Promise<LiveRestoreState[]> {
  const pools = new PoolCache(conn);
  try {
    const out: LiveRestoreState[] = [];
    for (const { restore, ownHere, recordedIn } of await findLiveRestores(conn, options.pools)) {
      const disks: LiveDiskState[] = ownHere
        ? await restorePass(conn, pools, restore, { act: false })
        : restore.disks.map((d) => ({
            target: d.target,
            pool: d.pool,
            volume: d.volume,
            state: 'waiting',
            reason: `restored by ${restore.host}: its state is known there`,
          }));
      out.push({ ...summary(restore), ownHere, recordedIn, disks });
    }
    return out;
  } finally {
    pools.close();
  }
}

const summary = (r: LiveRestore) => ({
  id: r.id,
  domain: r.domain,
  host: r.host,
  setId: r.setId,
  startedAt: r.startedAt,
});

export interface FinishOptions {
  /** Only the restore with this id (the default: every one this host started). */
  id?: string;
  /** Wait until every disk stands alone (else one pass: restart what stopped, drop what is done). */
  wait?: boolean;
  /** Bytes per second for each pull started; absent or 0: unlimited. */
  bandwidth?: number;
  /** Only start block pulls; leave in-place copies (which run in this process) to a later run. */
  startOnly?: boolean;
  signal?: AbortSignal;
  onProgress?: (state: LiveRestoreState) => void;
  pools?: readonly string[];
}

/**
 * Moves this host's live restores on: restarts a pull that stopped while the domain runs, copies a
 * shut-off domain's disks off their backups in place, and removes the records of restores whose
 * disks all stand alone (then their backups may be deleted again). With `wait`, passes repeat until
 * every one is complete. Restores another host started are left to it. Returns their last states.
 */
export async function finishLiveRestores(
  conn: Connection,
  options: FinishOptions = {},
): Promise<LiveRestoreState[]> {
  const pools = new PoolCache(conn);
  try {
    const mine = (await findLiveRestores(conn, options.pools)).filter(
      (r) => r.ownHere && (options.id === undefined || r.restore.id === options.id),
    );
    if (options.id !== undefined && !mine.length)
      throw new VolbackError(ErrorCodes.NOT_FOUND, `no live restore ${options.id} of this host is recorded`);
    const last = new Map<string, LiveRestoreState>();
    let open = mine;
    for (;;) {
      const still: typeof open = [];
      for (const found of open) {
        const disks = await restorePass(conn, pools, found.restore, {
          act: true,
          inPlace: !options.startOnly,
          bandwidth: options.bandwidth,
        });
        const state = { ...summary(found.restore), ownHere: true, recordedIn: found.recordedIn, disks };
        last.set(found.restore.id, state);
        options.onProgress?.(state);
        if (finished(disks)) await dropRecords(pools, found.restore);
        else still.push(found);
      }
      open = still;
      if (!options.wait || !open.length) break;
      throwIfAborted(options.signal);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return [...last.values()];
  } finally {
    pools.close();
  }
}
