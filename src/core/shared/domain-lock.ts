// One job per domain at a time, across processes: flock(2) on a per-domain lock file, held through
// an open descriptor for the lock's whole life, and a holder record naming who holds it.
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { tryLockExclusive } from '../../os';

const log = logger('lock');

export const DEFAULT_LOCK_DIR = process.env.VOLBACK_LOCK_DIR ?? '/run/volback/locks';

export interface DomainLock {
  /** Clears the holder record and drops the lock; idempotent. */
  release(): void;
}

/** The holder record: `<uuid>.holder.json` beside `<uuid>.lock`. */
interface Holder {
  pid: number;
  what: string;
  since?: string;
}

/** True while a process with this pid exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a lock's name may be: a uuid (or a test's id) — never a path, never a dot file. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

// A refused locker whose holder has not named itself yet (it has the lock and is renaming its
// record into place, microseconds) or has just cleared its record (and is closing): try again a few
// times before reporting a holder it cannot name.
const SETTLE_TRIES = 20;
const SETTLE_PAUSE_MS = 5;

/**
 * Takes the job lock of one domain or throws ERR_CONFLICT naming the holder (ERR_INVALID_INPUT when
 * `domainUuid` is not a plain uuid-like name, so that it cannot point outside `lockDir`).
 *
 * Exclusive under any interleaving of any number of processes (and of calls in one process): the
 * lock is flock(2)'s exclusive lock on `<lockDir>/<uuid>.lock`, taken without waiting and held by an
 * open descriptor until `release()` or the holder's death, when the kernel drops it. Nothing is
 * ever taken over by judging a pid. The lock file itself stays (it is the thing locked).
 *
 * While held, `<uuid>.holder.json` names the holder; it is only ever written by the process that
 * holds the lock, and atomically (temporary file + rename), so nobody reads half a record. A clean
 * `release()` removes it before dropping the lock; a record found by the next holder therefore means
 * its holder died (or exited) without releasing, and is returned as `tookOverFrom` so the caller can
 * clean up after the crashed run.
 *
 * Creates `lockDir` (0700) if missing; an existing one is left as it is, with a warning when other
 * users could write to it. Lock and record files are 0600. The directory must be on a local
 * filesystem (flock over NFS is emulated with per-process locks).
 */
export function lockDomain(
  domainUuid: string,
  what: string,
  lockDir = DEFAULT_LOCK_DIR,
): DomainLock & { tookOverFrom?: { pid: number; what: string } } {
  if (!SAFE_ID.test(domainUuid)) {
    // Uuids also come from documents in pools (removal intents): never let one name a path.
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `refusing to lock domain ${JSON.stringify(domainUuid)}: not a domain uuid`,
    );
  }
  prepareLockDir(lockDir);
  const lockPath = join(lockDir, `${domainUuid}.lock`);
  const recordPath = join(lockDir, `${domainUuid}.holder.json`);
  const fd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    if (!fstatSync(fd).isFile()) {
      throw new VolbackError(ErrorCodes.CONFLICT, `lock file ${lockPath} is not a regular file`, {
        hint: `remove it; nothing but volback should create files in ${lockDir}`,
      });
    }
    for (let attempt = 1; !tryLockExclusive(fd); attempt++) {
      const holder = readHolder(recordPath);
      const named = holder !== undefined && holder.pid > 0 && processAlive(holder.pid);
      if (named || attempt >= SETTLE_TRIES) throw busy(domainUuid, holder);
      pause(SETTLE_PAUSE_MS);
    }
    // Ours now, and only ours: whatever record is here was left by a holder that never released.
    const left = readHolder(recordPath);
    const holder: Holder = { pid: process.pid, what, since: new Date().toISOString() };
    writeFileAtomically(recordPath, JSON.stringify(holder));
    let tookOverFrom: { pid: number; what: string } | undefined;
    if (left) {
      log.warn(
        `taking the lock of domain ${domainUuid} from pid ${left.pid} (${left.what}), which ended without releasing it`,
      );
      tookOverFrom = { pid: left.pid, what: left.what };
    }
    let released = false;
    return {
      tookOverFrom,
      release: () => {
        if (released) return;
        released = true;
        try {
          unlinkSync(recordPath); // first: the next holder must not mistake this clean end for a crash
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
            log.warn(`could not remove ${recordPath}: ${(err as Error).message}`);
        } finally {
          closeSync(fd); // drops the lock
        }
      },
    };
  } catch (err) {
    closeSync(fd); // drops the lock if it was taken; a record left by a dead holder stays for the next
    throw err;
  }
}

function busy(domainUuid: string, holder: Holder | undefined): VolbackError {
  const who = holder
    ? `${holder.what} (pid ${holder.pid}, since ${holder.since ?? '?'})`
    : 'a job that has not recorded itself yet (pid unknown)';
  return new VolbackError(ErrorCodes.CONFLICT, `domain ${domainUuid} is busy: ${who}`, {
    fault: 'user',
    hint: 'wait for the running job to finish, or cancel it',
  });
}

/**
 * Replaces the record file at `path` with `text` atomically (`<path>.tmp`, 0600, not following a
 * symlink, then renamed over it): a reader sees the old record or the new one, never half of one.
 */
export function writeFileAtomically(path: string, text: string): void {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  const fd = openSync(`${path}.tmp`, flags, 0o600);
  try {
    writeFileSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(`${path}.tmp`, path);
}

/** The record at `path`: undefined when there is none, pid -1 when it cannot be read as one. */
function readHolder(path: string): Holder | undefined {
  let text: string;
  let fd: number;
  try {
    // No symlink, no FIFO to hang on: only a regular file is read.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { pid: -1, what: `unknown (unreadable holder record: ${(err as Error).message})` };
  }
  try {
    if (!fstatSync(fd).isFile()) return { pid: -1, what: 'unknown (holder record is not a file)' };
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  try {
    const record = JSON.parse(text) as Partial<Holder>;
    if (Number.isInteger(record.pid) && typeof record.what === 'string') {
      return {
        pid: record.pid!,
        what: record.what,
        since: typeof record.since === 'string' ? record.since : undefined,
      };
    }
  } catch {
    /* reported below */
  }
  return { pid: -1, what: 'unknown (unreadable holder record)' };
}

const checkedDirs = new Set<string>();

/** Creates the lock directory 0700, or warns (once) when an existing one is writable by others. */
function prepareLockDir(lockDir: string): void {
  if (mkdirSync(lockDir, { recursive: true, mode: 0o700 }) !== undefined || checkedDirs.has(lockDir)) return;
  checkedDirs.add(lockDir);
  const st = statSync(lockDir);
  const foreign = typeof process.getuid === 'function' && st.uid !== process.getuid() && st.uid !== 0;
  if ((st.mode & 0o022) !== 0 || foreign) {
    log.warn(
      `lock directory ${lockDir} (mode ${(st.mode & 0o7777).toString(8)}, owner uid ${st.uid}) can be written by other users, who could hold or fake volback's domain locks there; volback leaves it as it is: make it mode 0700, owned by the user volback runs as`,
    );
  }
}

/** Sleeps the thread: lockDomain is synchronous, and its waits are a few milliseconds. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
