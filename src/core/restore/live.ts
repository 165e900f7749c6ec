// Live restore after the domain started: libvirt's block pull (or the driver's in-place fill)
// copies what each layer still reads from its backup into it, and volback watches, restarts what
// stopped (the domain was restarted, libvirtd lost the job) and, when every disk stands alone,
// removes the restore's records. A block pull runs in QEMU, not in volback: a volback killed mid-copy
// leaves a running, correct domain whose pull goes on, and the next run (`finishLiveRestores`, from
// `volback repair` or a waiting restore) picks up from what the pools and libvirt show. See
// docs/live-restore.md.
import type { Connection } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { closePools, openActivePools, PoolCache } from '../../pool/pool-layer';
import { processAlive } from '../shared/domain-lock';
import { throwIfAborted } from './common';
import { restorePass, type LiveDiskState, type PassContext } from './live-disks';
import {
  liveRestoresIn,
  poolsRead,
  removeLiveRecord,
  type FoundLiveRestore,
  type LiveRestore,
} from '../shared/live-records';

export type { LiveDiskState } from './live-disks';

const log = logger('restore');

/** How often a waiting run asks libvirt how far the copies are. */
const POLL_MS = 250;
/** Passes in a row with nothing copying before a waiting run gives a restore up. */
const MAX_IDLE_PASSES = 3;

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
  /** Why this run could not move it on, when it could not (the next run tries again). */
  error?: string;
}

/** Every live restore recorded in the active pools (one entry per restore, however many pools hold it). */
export async function findLiveRestores(
  conn: Connection,
  pools?: readonly string[],
): Promise<Array<{ restore: LiveRestore; ownHere: boolean; recordedIn: string[] }>> {
  const open = await openActivePools(conn, pools);
  try {
    const found: FoundLiveRestore[] = [];
    for (const pool of open) found.push(...(await liveRestoresIn(pool)).found);
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

/** Removes the restore's record from every pool it is in (it reads nothing any more). */
async function dropRecords(pools: PoolCache, restore: LiveRestore): Promise<void> {
  for (const name of poolsRead(restore)) {
    const pool = await pools.get(name).catch(() => undefined);
    if (pool) await removeLiveRecord(pool, restore);
    else log.warn(`live restore record ${restore.id} stays in pool ${name}: the pool is not active`);
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
        ? await restorePass(conn, pools, restore, { mode: 'look', bandwidth: 0, starts: new Map() })
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
  /** Bytes per second for each pull started; default the restore's own (recorded), 0 unlimited. */
  bandwidth?: number;
  /** Only start block pulls; leave in-place copies (which run in this process) to a later run. */
  startOnly?: boolean;
  signal?: AbortSignal;
  onProgress?: (state: LiveRestoreState) => void;
  pools?: readonly string[];
}

/**
 * Moves this host's live restores on: restarts a pull that stopped while the domain runs, fills
 * layers in place (an RBD flatten, a shut-off domain's layer), and removes the records of restores
 * whose disks all stand alone (then their backups may be deleted again). A restore whose own process
 * still runs is left to it; one another host started is left to that host. With `wait`, passes
 * repeat until every one is complete, and a restore that cannot go on (nothing copies and something
 * still reads its backup) is ERR_JOB_FAILED naming its disks. Without `wait`, a restore this run
 * could not move on carries its `error`. Returns their last states.
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
    const starts = new Map<string, number>();
    const stalled = new Map<string, number>();
    let open = mine;
    for (;;) {
      const still: typeof open = [];
      for (const found of open) {
        const { restore } = found;
        const base = { ...summary(restore), ownHere: true, recordedIn: found.recordedIn };
        if (restore.pid !== process.pid && processAlive(restore.pid)) {
          // The restore's own process still runs it (it may be making the layers right now).
          last.set(restore.id, {
            ...base,
            disks: [],
            error: `its restore (pid ${restore.pid}) still runs it`,
          });
          continue;
        }
        const ctx: PassContext = {
          mode: options.startOnly ? 'start' : 'finish',
          bandwidth: options.bandwidth ?? restore.bandwidth,
          starts,
          signal: options.signal,
        };
        let state: LiveRestoreState;
        try {
          state = { ...base, disks: await restorePass(conn, pools, restore, ctx) };
        } catch (err) {
          if (options.wait) throw err;
          log.warn(`live restore of ${restore.domain}: ${(err as Error).message}`);
          last.set(restore.id, { ...base, disks: [], error: (err as Error).message });
          continue;
        }
        last.set(restore.id, state);
        options.onProgress?.(state);
        // Passes in a row in which nothing copied: a few are a pull just ending, more a restore stuck.
        const idle = state.disks.some((d) => d.state === 'copying') ? 0 : (stalled.get(restore.id) ?? 0) + 1;
        stalled.set(restore.id, idle);
        if (finished(state.disks)) await dropRecords(pools, restore);
        else if (options.wait && idle > MAX_IDLE_PASSES) throw stuck(state);
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

/** A restore a waiting run cannot move on: nothing copies, and disks still read the backup. */
function stuck(state: LiveRestoreState): VolbackError {
  const waiting = state.disks.filter((d) => d.state === 'waiting');
  return new VolbackError(
    ErrorCodes.JOB_FAILED,
    `live restore of ${state.domain} cannot go on: ${waiting.map((d) => `${d.target} (${d.reason ?? 'waiting'})`).join(', ')}`,
    { hint: 'the domain still runs on its backup, which stays guarded; `volback repair` tries again' },
  );
}
