// Application-consistent backups: freezes the guest's filesystems through the QEMU guest agent
// around the instant the copy starts, thaws on every path, and says how consistent the set is.
// The design, the freeze bound and what was measured: docs/consistency.md.
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, VolbackError } from '../../errors';
import { crashPoint } from '../../crash-point';
import type { Domain } from '../../libvirt';
import { logger } from '../../log';
import type { Consistency, QuiesceMode, QuiesceRequest } from '../../model';
import { DEFAULT_LOCK_DIR, writeFileAtomically, type DomainLock } from '../shared/domain-lock';
import { freezeBoundProblem, tooLateToFreeze } from './freeze-bound';
import { startWatchdog, type Watchdog } from './freeze-watchdog';
import type { StartGate } from './start-gate';

const log = logger('quiesce');

/** The configured defaults (`quiesce`, `quiesce_timeout`, `quiesce_max_freeze`). */
export interface QuiesceSettings {
  mode: QuiesceMode;
  /** Seconds the agent may take to answer one freeze or thaw. */
  timeoutSeconds: number;
  /** Seconds after the freeze call at which the watchdog thaws whatever volback does. */
  maxFreezeSeconds: number;
}

export const DEFAULT_QUIESCE: QuiesceSettings = { mode: 'try', timeoutSeconds: 10, maxFreezeSeconds: 60 };

/** Throws ERR_INVALID_INPUT when the settings cannot bound a freeze (see freezeBoundProblem). */
export function checkQuiesceSettings(settings: QuiesceSettings = DEFAULT_QUIESCE): void {
  const problem = freezeBoundProblem(settings.timeoutSeconds, settings.maxFreezeSeconds);
  if (problem) throw new VolbackError(ErrorCodes.INVALID_INPUT, problem, { fault: 'user' });
}

// Thaws are always of every filesystem: QEMU's guest-fsfreeze-thaw takes no list, and libvirt 9.0
// refuses virDomainFSThaw with mountpoints ("specifying mountpoints is not supported"); thawing what
// is not frozen does nothing.

/** The name of the guest agent's virtio-serial channel libvirt knows. */
const AGENT_CHANNEL = 'org.qemu.guest_agent.0';

/**
 * A freeze in progress, on disk beside the domain's lock, written only by the run holding that lock:
 * the next holder (the next backup, `repair`) finds it only if that run died before it thawed.
 */
export interface FreezeRecord {
  pid: number;
  watchdogPid: number;
  uri: string;
  domain: string;
  uuid: string;
  mountpoints: string[];
  since: string;
}

export const freezeRecordPath = (uuid: string, lockDir = DEFAULT_LOCK_DIR): string =>
  join(lockDir, `${uuid}.frozen.json`);

/** The record's text, or undefined when there is none. */
function readRecordText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Removes the record at `path` if it still reads `text` (undefined: whatever it holds). */
function removeRecord(path: string, text?: string): void {
  try {
    if (text === undefined || readFileSync(path, 'utf8') === text) unlinkSync(path);
  } catch {
    // already gone (the watchdog removed it)
  }
}

/**
 * Why the guest agent cannot be asked, from the live domain XML, or undefined when it can: no agent
 * channel, or libvirt sees the channel disconnected (no agent listening in the guest). Pure.
 */
export function agentUnavailable(liveXml: string): string | undefined {
  const channel = [...liveXml.matchAll(/<channel\b[\s\S]*?<\/channel>/g)]
    .map((m) => m[0])
    .find((c) => c.includes(`name='${AGENT_CHANNEL}'`) || c.includes(`name="${AGENT_CHANNEL}"`));
  if (!channel) return `the domain has no guest agent channel (${AGENT_CHANNEL})`;
  if (/state=['"]disconnected['"]/.test(channel))
    return 'the guest agent is not connected (not running in the guest)';
  return undefined;
}

/**
 * Test hooks, like VOLBACK_TEST_CRASH_AT: `VOLBACK_TEST_HOLD_FROZEN_MS` keeps the guest frozen that
 * long, so a test can act meanwhile; `VOLBACK_TEST_STALL_BEFORE_FREEZE_MS` stalls the run between its
 * last check of the bound and the freeze call (a stopped or starved process), so that the deadline
 * can pass before the freeze.
 */
const testHook = async (name: string): Promise<void> => {
  const ms = Number(process.env[name] ?? 0);
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
};

export interface QuiesceContext {
  uri: string;
  domain: Domain;
  domainName: string;
  uuid: string;
  /** The domain runs its guest (false: shut off, started paused for the backup). */
  running: boolean;
  lockDir?: string;
  signal?: AbortSignal;
}

/**
 * One run's quiesce: decided before anything is created (`require` with no agent fails here, with
 * nothing changed), then `gate` freezes around the engine's start. `consistency` says what happened.
 */
export class Quiesce {
  private result: Consistency;
  private readonly mode: QuiesceMode;
  private readonly mountpoints: string[];

  private constructor(
    private readonly ctx: QuiesceContext,
    private readonly settings: QuiesceSettings,
    request: QuiesceRequest | undefined,
    private unavailable: string | undefined,
  ) {
    this.mode = request?.mode ?? settings.mode;
    this.mountpoints = request?.mountpoints ?? [];
    this.result = { kind: 'crash', reason: unavailable ?? 'quiesce is off' };
  }

  static async prepare(
    ctx: QuiesceContext,
    request: QuiesceRequest | undefined,
    settings: QuiesceSettings = DEFAULT_QUIESCE,
  ): Promise<Quiesce> {
    const mode = request?.mode ?? settings.mode;
    let unavailable: string | undefined;
    if (mode !== 'off') {
      unavailable = ctx.running
        ? agentUnavailable(await ctx.domain.getXMLDesc())
        : 'the domain was shut off: its disks hold what the guest left at shutdown, nothing runs to freeze';
      if (unavailable && ctx.running && mode === 'require') throw refusal(ctx.domainName, unavailable);
      if (unavailable) log.info(`${ctx.domainName}: crash-consistent backup: ${unavailable}`);
    }
    return new Quiesce(ctx, settings, request, mode === 'off' ? undefined : unavailable);
  }

  /** Application- or crash-consistent, with the reason, once the gate ran (or would not freeze). */
  consistency(): Consistency {
    return { ...this.result };
  }

  private get armed(): boolean {
    return this.mode !== 'off' && this.unavailable === undefined;
  }

  readonly gate: StartGate = async <T>(start: () => Promise<T>): Promise<T> => {
    if (!this.armed) return start();
    const { domain, domainName } = this.ctx;
    const { timeoutSeconds, maxFreezeSeconds } = this.settings;
    const recordPath = freezeRecordPath(this.ctx.uuid, this.ctx.lockDir);
    const began = Date.now();
    const deadline = began + maxFreezeSeconds * 1000;
    let watchdog: Watchdog;
    try {
      watchdog = await startWatchdog({
        uri: this.ctx.uri,
        uuid: this.ctx.uuid,
        deadline,
        timeoutSeconds,
        recordPath,
      });
    } catch (err) {
      return this.fallBack(start, (err as Error).message);
    }
    // The watchdog's start used part of the bound: a freeze call must still fit, and its return too.
    const late = tooLateToFreeze(began, deadline, Date.now(), timeoutSeconds);
    if (late) {
      watchdog.release();
      return this.fallBack(start, late);
    }
    const record: FreezeRecord = {
      pid: process.pid,
      watchdogPid: watchdog.pid,
      uri: this.ctx.uri,
      domain: domainName,
      uuid: this.ctx.uuid,
      mountpoints: this.mountpoints,
      since: new Date().toISOString(),
    };
    const recordText = JSON.stringify(record);
    try {
      writeFileAtomically(recordPath, recordText);
    } catch (err) {
      watchdog.release();
      throw err;
    }
    // Not frozen after all: thaw (the agent may still freeze after libvirt gave up waiting), and
    // let the watchdog make sure when that thaw fails.
    const undoFreeze = async (reason: string): Promise<T> => {
      const thawed = await domain.fsThaw().then(
        () => true,
        () => false,
      );
      if (thawed) {
        watchdog.release();
        removeRecord(recordPath, recordText);
      } else watchdog.abandon();
      return this.fallBack(start, reason);
    };
    await testHook('VOLBACK_TEST_STALL_BEFORE_FREEZE_MS');
    const started = Date.now();
    let filesystems: number;
    try {
      await domain.setAgentResponseTimeout(timeoutSeconds);
      filesystems = await domain.fsFreeze(this.mountpoints);
    } catch (err) {
      watchdog.freezeReturned();
      return undoFreeze(`the guest agent did not freeze: ${(err as Error).message}`);
    }
    crashPoint('backup-frozen');
    watchdog.freezeReturned();
    const frozenAt = Date.now();
    log.info(`${domainName}: froze ${filesystems} filesystem(s) in ${frozenAt - started} ms`);
    if (frozenAt >= deadline)
      // The watchdog thawed at the deadline (and thaws again now): this freeze bounds nothing.
      return undoFreeze(
        `the freeze returned ${Math.round((frozenAt - began) / 1000)} s after it began, past the ${maxFreezeSeconds} s bound`,
      );
    let thawedAt = 0;
    try {
      await testHook('VOLBACK_TEST_HOLD_FROZEN_MS');
      if (this.ctx.signal?.aborted)
        throw new VolbackError(ErrorCodes.CANCELLED, 'backup cancelled', { fault: 'user' });
      return await start();
    } finally {
      try {
        await domain.fsThaw();
        thawedAt = Date.now();
        watchdog.release();
        removeRecord(recordPath, recordText);
      } catch (err) {
        log.warn(`${domainName}: thaw failed, the freeze watchdog thaws: ${(err as Error).message}`);
        watchdog.abandon();
      }
      const freezeMs = (thawedAt || Date.now()) - started;
      const bounded = thawedAt > 0 && thawedAt <= deadline;
      this.result = bounded
        ? {
            kind: 'application',
            freezeMs,
            filesystems,
            ...(this.mountpoints.length ? { mountpoints: [...this.mountpoints] } : {}),
          }
        : {
            kind: 'crash',
            reason: thawedAt
              ? `the copy started ${Math.round((thawedAt - began) / 1000)} s after the freeze, past the ${maxFreezeSeconds} s bound at which the watchdog thaws`
              : 'the thaw after the copy started failed',
          };
      log.info(
        `${domainName}: thawed; the guest was frozen for ${freezeMs} ms (freeze → copy started → thaw)`,
      );
    }
  };

  /** `try`: the copy starts unfrozen and the set says why; `require`: the run fails. */
  private fallBack<T>(start: () => Promise<T>, reason: string): Promise<T> {
    if (this.mode === 'require') throw refusal(this.ctx.domainName, reason);
    log.warn(`${this.ctx.domainName}: crash-consistent backup: ${reason}`);
    this.result = { kind: 'crash', reason };
    return start();
  }
}

function refusal(domainName: string, reason: string): VolbackError {
  return new VolbackError(
    ErrorCodes.JOB_FAILED,
    `cannot back up ${domainName} application-consistently (quiesce require): ${reason}`,
    {
      hint: "start qemu-guest-agent in the guest and give the domain its channel (docs/consistency.md), or use quiesce 'try'",
    },
  );
}

/** Whether the domain has a freeze record (a run froze it and has not thawed, or died). */
export const hasFreezeRecord = (uuid: string, lockDir?: string): boolean =>
  existsSync(freezeRecordPath(uuid, lockDir));

/**
 * Thaws a guest a crashed run left frozen and removes its freeze record (only if it is still the
 * record read). The caller holds the domain's lock (`_held`): the run that wrote the record held it
 * for its whole freeze, so a record found now is a dead run's, whatever pid it names (pids are
 * reused) and even when it cannot be parsed (cut short: the freeze it announced may have happened).
 * Returns what was done, or undefined when there was nothing to do. `dryRun` only reports.
 */
export async function thawAfterCrashedRun(
  domain: Domain,
  uuid: string,
  _held: DomainLock,
  options: { lockDir?: string; timeoutSeconds?: number; dryRun?: boolean } = {},
): Promise<{ done: 'thawed' | 'removed'; reason: string } | undefined> {
  const path = freezeRecordPath(uuid, options.lockDir);
  const text = readRecordText(path);
  if (text === undefined) return undefined;
  let record: Partial<FreezeRecord> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') record = parsed as Partial<FreezeRecord>;
  } catch {
    // unparsable: treated as a crashed run's, like any record found under the lock
  }
  const who =
    typeof record.pid === 'number' ? `a run (pid ${record.pid})` : 'a run (unreadable freeze record)';
  if (options.dryRun) return { done: 'thawed', reason: `${who} died with the guest frozen` };
  if (!(await domain.isActive())) {
    removeRecord(path, text);
    return { done: 'removed', reason: 'the domain is no longer running: nothing is frozen' };
  }
  await domain.setAgentResponseTimeout(options.timeoutSeconds ?? DEFAULT_QUIESCE.timeoutSeconds);
  const thawed = await domain.fsThaw();
  removeRecord(path, text);
  log.warn(`thawed ${thawed} filesystem(s) of ${record.domain || uuid}, left frozen by a run that died`);
  return { done: 'thawed', reason: `${who} died with the guest frozen; thawed ${thawed}` };
}
