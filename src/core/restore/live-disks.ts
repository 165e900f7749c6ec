// One pass over the disks of one live restore: where each disk is (from its pool and libvirt), and,
// when asked, what moves it on — one libvirt block pull per running domain at a time, or the
// driver's in-place fill (an RBD flatten, or the rebase of a shut-off domain's layer).
import {
  virDomainBlockJobInfoFlags,
  virDomainBlockJobType,
  virDomainBlockPullFlags,
  type Connection,
  type Domain,
} from '../../libvirt';
import { logger } from '../../log';
import { findVolume, type OpenPool, type PoolCache } from '../../pool/pool-layer';
import { parseDomainXml, type DomainDisk } from '../../xml/libvirt-domain';
import type { DiskSource } from '../../model';
import { findDomain } from './common';
import type { LiveDisk, LiveRestore } from '../shared/live-records';

const log = logger('restore');

/** How long a disk must show no job and a chain before a pull is (re)started on it. */
const SETTLE_MS = 1000;
/** Pulls started on one disk in one finishing run before it is reported as failing. */
const MAX_PULL_STARTS = 3;

/**
 * Where one disk of a live restore is: `copying` (a block pull runs; bytes done of total), `waiting`
 * (it still reads its backup and nothing copies it now), `done` (it stands alone), `gone` (its layer
 * was removed: nothing reads the backup through it).
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

/**
 * What a pass may do: `look` changes nothing; `start` starts a block pull; `finish` also fills
 * layers in place, which takes until they are done and runs in this process.
 */
export type PassMode = 'look' | 'start' | 'finish';

/** What one finishing run carries from pass to pass. */
export interface PassContext {
  mode: PassMode;
  /** Bytes per second for pulls started; 0: no limit. */
  bandwidth: number;
  /** Pulls started per `<restore id>/<disk>` in this run. */
  starts: Map<string, number>;
  signal?: AbortSignal;
}

/** A disk's state, and what would move it on: a pull (the domain runs on it) or an in-place fill. */
type Looked = LiveDiskState & { next?: 'pull' | 'fill' };

interface Running {
  domain: Domain;
  disks: DomainDisk[];
}

/** The domain's disk `target` when it still runs on `source`, from the live XML. */
function diskOn(disks: readonly DomainDisk[], target: string, source: DiskSource): DomainDisk | undefined {
  const disk = disks.find((d) => d.target === target);
  const where = source.type === 'file' ? source.file : source.type === 'block' ? source.dev : source.name;
  if (!disk) return undefined;
  const actual = disk.sourcePath ?? disk.sourceVolume;
  return actual === where || (source.type === 'network' && disk.type === 'network') ? disk : undefined;
}

/** One disk's state, read from its pool and libvirt; changes nothing. */
async function lookAtDisk(
  pools: PoolCache,
  restore: LiveRestore,
  disk: LiveDisk,
  running: Running | undefined,
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
    const onIt = running && diskOn(running.disks, disk.target, await pool.driver.diskSource(pool, volume));
    if (pool.driver.capabilities.liveLayerFill === 'rebase') {
      // Filled in place, running or not (an RBD flatten): the driver tells whether it still reads.
      if (!(await pool.driver.checkLayer(pool, volume)).length) return { ...base, state: 'done' };
      const why = onIt ? 'copied in place next' : `domain ${restore.domain} is not running on it`;
      return { ...base, state: 'waiting', reason: why, next: 'fill' };
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
      return { ...base, state: 'waiting', reason: 'no block pull runs on it', next: 'pull' };
    }
    if (!(await pool.driver.checkLayer(pool, volume)).length) return { ...base, state: 'done' };
    const why = running ? 'the domain runs on another volume' : `domain ${restore.domain} is not running`;
    return { ...base, state: 'waiting', reason: why, next: pool.driver.rebase ? 'fill' : undefined };
  } finally {
    volume.free();
  }
}

/**
 * Every disk's state of one restore, moved on as `ctx.mode` allows. A running domain gets one block
 * pull at a time: QEMU 7.2 crashes (a segfault in bdrv_refresh_filename, answering the
 * query-named-block-nodes libvirt sends when a pull ends) when another pull of the domain ends at
 * that moment (docs/live-restore.md).
 */
export async function restorePass(
  conn: Connection,
  pools: PoolCache,
  restore: LiveRestore,
  ctx: PassContext,
): Promise<LiveDiskState[]> {
  const domain = await findDomain(() => conn.lookupDomainByName(restore.domain));
  try {
    const running =
      domain && (await domain.isActive())
        ? { domain, disks: (await parseDomainXml(await domain.getXMLDesc(0))).disks }
        : undefined;
    const looked: Looked[] = [];
    for (const disk of restore.disks) looked.push(await lookAtDisk(pools, restore, disk, running));
    if (ctx.mode === 'finish') {
      for (const [i, disk] of looked.entries())
        if (disk.next === 'fill') looked[i] = await fillInPlace(pools, restore, disk, ctx.signal);
    }
    // The first disk that needs a pull gets one; one that turns out done after the settle passes
    // the turn to the next.
    for (const [i, disk] of looked.entries()) {
      if (ctx.mode === 'look' || !running || looked.some((d) => d.state === 'copying')) break;
      if (disk.next === 'pull') looked[i] = await settleAndPull(running.domain, restore, disk, ctx);
    }
    return looked.map(({ next: _next, ...state }) =>
      _next === 'pull' && looked.some((d) => d.state === 'copying')
        ? { ...state, reason: 'queued: one block pull per domain at a time' }
        : state,
    );
  } finally {
    domain?.free();
  }
}

/**
 * Starts the disk's block pull once it has shown no job and a chain for SETTLE_MS (a pull that just
 * ended leaves libvirt's jobs a moment before its chain leaves the XML). A refusal, or a disk whose
 * pull keeps stopping, is left waiting with the reason.
 */
async function settleAndPull(
  domain: Domain,
  restore: LiveRestore,
  disk: Looked,
  ctx: PassContext,
): Promise<Looked> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const now = (await parseDomainXml(await domain.getXMLDesc(0))).disks.find((d) => d.target === disk.target);
  if (!now?.backed) return { ...disk, next: undefined, state: 'done', reason: undefined };
  if (await domain.getBlockJobInfo(disk.target))
    return { ...disk, next: undefined, reason: 'a block job started on the disk' };
  const key = `${restore.id}/${disk.target}`;
  const starts = ctx.starts.get(key) ?? 0;
  if (starts >= MAX_PULL_STARTS)
    return {
      ...disk,
      next: undefined,
      reason: `its block pull stopped ${starts} times without finishing (see the domain's QEMU log)`,
    };
  ctx.starts.set(key, starts + 1);
  log.info(`live restore of ${restore.domain}: pulling ${disk.target} from its backup`);
  try {
    await domain.blockPull(
      disk.target,
      ctx.bandwidth,
      virDomainBlockPullFlags.VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES,
    );
  } catch (err) {
    log.warn(`live restore of ${restore.domain}: cannot pull ${disk.target} now: ${(err as Error).message}`);
    return { ...disk, next: undefined, reason: `its pull did not start: ${(err as Error).message}` };
  }
  return { ...disk, next: undefined, state: 'copying', bytesDone: 0, reason: undefined };
}

/** Fills a layer in place with what it reads from its backup (the driver's rebase to nothing). */
async function fillInPlace(
  pools: PoolCache,
  restore: LiveRestore,
  disk: Looked,
  signal?: AbortSignal,
): Promise<Looked> {
  if (signal?.aborted) return disk; // a fill runs to its end once started: none starts after a cancel
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
