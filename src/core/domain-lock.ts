// One job per domain at a time, across processes: an exclusive lock file holding the owner's pid.
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, VolbackError } from '../errors';
import { logger } from '../log';

const log = logger('lock');

export const DEFAULT_LOCK_DIR = process.env.VOLBACK_LOCK_DIR ?? '/run/volback/locks';

export interface DomainLock {
  /** Removes the lock file; idempotent. */
  release(): void;
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

/**
 * Takes the job lock of one domain or throws ERR_CONFLICT naming the holder. A lock whose
 * owner process is gone (a crashed run) is taken over, and the caller is told so it can clean up.
 */
export function lockDomain(
  domainUuid: string,
  what: string,
  lockDir = DEFAULT_LOCK_DIR,
): DomainLock & { tookOverFrom?: { pid: number; what: string } } {
  mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  const path = join(lockDir, `${domainUuid}.lock`);
  let tookOverFrom: { pid: number; what: string } | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid, what, since: new Date().toISOString() }));
      closeSync(fd);
      let released = false;
      return {
        tookOverFrom,
        release: () => {
          if (released) return;
          released = true;
          try {
            unlinkSync(path);
          } catch {
            /* already gone */
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: { pid: number; what: string; since?: string };
      try {
        holder = JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        holder = { pid: -1, what: 'unknown (unreadable lock file)' };
      }
      if (holder.pid > 0 && processAlive(holder.pid)) {
        throw new VolbackError(
          ErrorCodes.CONFLICT,
          `domain ${domainUuid} is busy: ${holder.what} (pid ${holder.pid}, since ${holder.since ?? '?'})`,
          { fault: 'user', hint: 'wait for the running job to finish, or cancel it' },
        );
      }
      log.warn(
        `taking over the stale lock of domain ${domainUuid} left by pid ${holder.pid} (${holder.what})`,
      );
      tookOverFrom = { pid: holder.pid, what: holder.what };
      try {
        unlinkSync(path);
      } catch {
        /* someone else took it over first; the next attempt tells */
      }
    }
  }
  throw new VolbackError(ErrorCodes.CONFLICT, `could not take the lock of domain ${domainUuid}`);
}
