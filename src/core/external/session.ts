// The record of a running external (pull-mode) backup session, which outlives the process that began
// it: the session file is the domain's long-lived job lock; crashed sessions are detected and undone.
// See docs/external-backups.md, "Sessions, locking and crash recovery".
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isLibvirtError, type Connection, type Domain } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupKind } from '../../model';
import { deleteVolumeIfPresent, openPool } from '../../pool/pool-layer';
import { removeCheckpoint } from '../shared/checkpoints';
import { DEFAULT_LOCK_DIR, processAlive } from '../shared/domain-lock';
import { parseLivePullJob } from '../../xml/libvirt-backup';
import { removeSocketDir } from '../../host/nbd-endpoints';

const log = logger('external-session');

/** One disk of a session, as recorded for `end` and for crash cleanup. */
export interface SessionDisk {
  target: string;
  kind: BackupKind;
  sourcePath: string;
  sourceFormat: string;
  virtualSize: number;
  bitmap: boolean;
  parentId?: string;
  /** `path`: where libvirt's job keeps the scratch (its `<scratch file>` or `dev`), to recognise the job. */
  scratch: { pool: string; volume: string; path?: string };
  exportName?: string;
  exportBitmap?: string;
  uri?: string;
}

/** The session file (JSON, mode 0600). `state` is `starting` until the libvirt job runs. */
export interface SessionRecord {
  version: 1;
  state: 'starting' | 'running';
  setId: string;
  domain: { name: string; uuid: string };
  createdAt: string;
  kind: BackupKind;
  parentSetId?: string;
  baseCheckpoint?: string;
  fallbackReason?: string;
  /** Checkpoint created with the job: the next incremental starts from it. */
  checkpoint?: string;
  metadataPool: string;
  description?: string;
  startedBy: { user: string; host: string; pid: number };
  /** When set, the session is stale as soon as this process is gone. */
  ownerPid?: number;
  /** When set, the session is stale after this instant (ISO). */
  expiresAt?: string;
  server?:
    { transport: 'tcp'; name: string; port: number; tls: boolean } | { transport: 'unix'; socket: string };
  /** Directory volback created for the unix socket; removed with the session. */
  socketDir?: string;
  disks: SessionDisk[];
  domainXml: string;
}

export const sessionPath = (domainUuid: string, lockDir = DEFAULT_LOCK_DIR): string =>
  join(lockDir, `${domainUuid}.external.json`);

/** Reads a domain's session file; undefined when there is none. An unreadable file is a CONFLICT. */
export function readSession(domainUuid: string, lockDir = DEFAULT_LOCK_DIR): SessionRecord | undefined {
  const path = sessionPath(domainUuid, lockDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as SessionRecord;
  } catch (err) {
    throw new VolbackError(ErrorCodes.CONFLICT, `the external backup session file ${path} is unreadable`, {
      cause: err,
      hint: `check that no external backup of the domain runs (virsh domjobinfo), then remove ${path}`,
    });
  }
}

/**
 * Creates the session file (fails with CONFLICT when one exists) or, with `replace`, rewrites it
 * atomically (temporary file + rename). Mode 0600: it names scratch files and the export.
 */
export function writeSession(record: SessionRecord, lockDir = DEFAULT_LOCK_DIR, replace = false): void {
  mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  const path = sessionPath(record.domain.uuid, lockDir);
  const target = replace ? `${path}.${process.pid}.tmp` : path;
  let fd: number;
  try {
    fd = openSync(target, replace ? 'w' : 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new VolbackError(
        ErrorCodes.CONFLICT,
        `an external backup session of ${record.domain.name} is already recorded in ${path}`,
        {
          fault: 'user',
        },
      );
    }
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify(record, null, 2));
  } finally {
    closeSync(fd);
  }
  if (replace) renameSync(target, path);
}

export function removeSessionFile(domainUuid: string, lockDir = DEFAULT_LOCK_DIR): void {
  try {
    unlinkSync(sessionPath(domainUuid, lockDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** What the coordinator observed about a recorded session. */
export interface SessionFacts {
  /** libvirt runs a pull backup job on the domain whose scratch files are the session's. */
  jobRunning: boolean;
  /** The session's owner process is alive (true when no owner is recorded). */
  ownerAlive: boolean;
  now: Date;
}

export type SessionVerdict = { live: true } | { live: false; reason: string };

/**
 * Decides whether a recorded session still runs. Pure. A session is live only when its state is
 * `running`, libvirt still has its job, its owner (if one was recorded) is alive, and it has not
 * expired. A `starting` record is only ever seen by another caller after its begin crashed, because
 * begin holds the per-process domain lock until the record says `running`.
 */
export function judgeSession(session: SessionRecord, facts: SessionFacts): SessionVerdict {
  if (session.state !== 'running')
    return { live: false, reason: `its begin (pid ${session.startedBy.pid}) never finished` };
  if (!facts.jobRunning)
    return {
      live: false,
      reason: 'libvirt no longer runs its backup job (domain stopped, job aborted or libvirtd restarted)',
    };
  if (!facts.ownerAlive) return { live: false, reason: `its owner process ${session.ownerPid} is gone` };
  if (session.expiresAt && facts.now.getTime() > Date.parse(session.expiresAt)) {
    return { live: false, reason: `it expired at ${session.expiresAt}` };
  }
  return { live: true };
}

/** The domain's running pull job, or undefined when it has none (or is not running). */
async function livePullJob(
  domain: Domain,
): Promise<Awaited<ReturnType<typeof parseLivePullJob>> | undefined> {
  if (!(await domain.isActive())) return undefined;
  let xml: string;
  try {
    xml = await domain.backupGetXMLDesc();
  } catch (err) {
    if (isLibvirtError(err, 'VIR_ERR_NO_DOMAIN_BACKUP', 'VIR_ERR_OPERATION_INVALID')) return undefined;
    throw err;
  }
  return /mode='pull'/.test(xml) ? parseLivePullJob(xml) : undefined;
}

/** True when the domain runs the session's job: a pull job exporting from the session's scratch files. */
export async function sessionJobRunning(domain: Domain, session: SessionRecord): Promise<boolean> {
  const job = await livePullJob(domain);
  if (!job) return false;
  const scratch = new Set(session.disks.map((d) => d.scratch.path).filter(Boolean));
  return (
    job.exports.length > 0 &&
    job.exports.every((e) => {
      const path = e.scratchFile ?? e.scratchDev;
      return path !== undefined && scratch.has(path);
    })
  );
}

/** Ends the domain's backup job (abortJob ends a pull job) and waits until libvirt reports it gone. */
export async function stopPullJob(domain: Domain, timeoutMs = 30_000): Promise<void> {
  try {
    await domain.abortJob();
  } catch (err) {
    if (!isLibvirtError(err, 'VIR_ERR_OPERATION_INVALID', 'VIR_ERR_NO_DOMAIN_BACKUP')) throw err;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await livePullJob(domain))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new VolbackError(
    ErrorCodes.JOB_FAILED,
    `the pull backup job did not end within ${timeoutMs} ms of its abort`,
  );
}

/**
 * Undoes what a session made, in reverse: its job (only when it is the session's own), its
 * checkpoint unless `keepCheckpoint` (a normal delete merges the bitmap into its parent's, so the
 * next incremental covers the window), its scratch volumes, its socket directory, its file. Every
 * step runs; failures are collected and returned, never thrown.
 */
export async function teardownSession(
  conn: Connection,
  domain: Domain,
  session: SessionRecord,
  options: { keepCheckpoint: boolean; jobRunning: boolean; lockDir?: string },
): Promise<string[]> {
  const failed: string[] = [];
  const step = async (what: string, action: () => Promise<unknown>): Promise<void> => {
    try {
      await action();
    } catch (err) {
      log.warn(`could not undo ${what}: ${(err as Error).message}`);
      failed.push(what);
    }
  };
  if (options.jobRunning) await step('the pull backup job', () => stopPullJob(domain));
  if (!options.keepCheckpoint && session.checkpoint) {
    const name = session.checkpoint;
    await step(`checkpoint ${name}`, () => removeCheckpoint(domain, name));
  }
  for (const disk of [...session.disks].reverse()) {
    await step(`scratch volume ${disk.scratch.volume} in pool ${disk.scratch.pool}`, async () => {
      const pool = await openPool(conn, disk.scratch.pool);
      try {
        await deleteVolumeIfPresent(pool, disk.scratch.volume);
      } finally {
        pool.pool.free();
      }
    });
  }
  if (session.socketDir) {
    const dir = session.socketDir;
    await step(`socket directory ${dir}`, async () => removeSocketDir(dir));
  }
  if (failed.length === 0) removeSessionFile(session.domain.uuid, options.lockDir);
  else
    log.warn(
      `keeping ${sessionPath(session.domain.uuid, options.lockDir)}: cleanup left ${failed.join(', ')}`,
    );
  return failed;
}

/**
 * Called by every job entry point (push backup, external begin and end) while holding the domain's
 * per-process lock: throws ERR_CONFLICT when a live external session holds the domain, and cleans up
 * a crashed one (see `judgeSession`), recording nothing for it. Returns what was cleaned up, if anything.
 */
export async function settleExternalSession(
  conn: Connection,
  domain: Domain,
  domainUuid: string,
  lockDir = DEFAULT_LOCK_DIR,
): Promise<{ cleaned?: { setId: string; reason: string } }> {
  const session = readSession(domainUuid, lockDir);
  if (!session) return {};
  const jobRunning = await sessionJobRunning(domain, session);
  const verdict = judgeSession(session, {
    jobRunning,
    ownerAlive: session.ownerPid === undefined || processAlive(session.ownerPid),
    now: new Date(),
  });
  if (verdict.live) {
    throw new VolbackError(
      ErrorCodes.CONFLICT,
      `domain ${session.domain.name} is busy: external backup ${session.setId} has been running since ${session.createdAt} (begun by ${session.startedBy.user}@${session.startedBy.host})`,
      {
        fault: 'user',
        hint: `end it first: volback backup end-external ${session.domain.name} (--failed to discard it)`,
      },
    );
  }
  log.warn(
    `${session.domain.name}: cleaning up external backup ${session.setId}: ${verdict.reason}; nothing is recorded for it`,
  );
  const failed = await teardownSession(conn, domain, session, { keepCheckpoint: false, jobRunning, lockDir });
  if (failed.length) {
    throw new VolbackError(
      ErrorCodes.CONFLICT,
      `the crashed external backup ${session.setId} could not be cleaned up: ${failed.join(', ')}`,
      {
        hint: `remove them by hand, then ${sessionPath(domainUuid, lockDir)}`,
      },
    );
  }
  return { cleaned: { setId: session.setId, reason: verdict.reason } };
}
