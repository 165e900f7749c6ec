// The one test hook for crash safety: with `VOLBACK_TEST_CRASH_AT=<point>` in the environment, the
// process kills itself (SIGKILL: no cleanup, no finally) right after that point, so system tests can
// prove that what the next run finds — after a backup, a removal — is repaired or rolled back.
import { logger } from './log';

const log = logger('crash-point');

/**
 * Where a backup run can be stopped: after its volumes exist, after the copy, after its checksum
 * documents are written (still before the commit), after the commit.
 */
export const BACKUP_CRASH_POINTS = [
  'backup-volumes',
  'backup-copied',
  'backup-checksums',
  'backup-committed',
] as const;

/**
 * Where a restore can be stopped: after its first volume is copied and checked, after every volume
 * is (before the commit), after the domains it replaces are undefined, after a restored domain is
 * defined (before its markers come off), after the commit. `restore-replaced` and `restore-defined`
 * are points of domain restores only.
 */
export const RESTORE_CRASH_POINTS = [
  'restore-volume-copied',
  'restore-copied',
  'restore-replaced',
  'restore-defined',
  'restore-committed',
] as const;

/** Kills this process when `VOLBACK_TEST_CRASH_AT` names `point`; otherwise does nothing. */
export function crashPoint(point: string): void {
  if (process.env.VOLBACK_TEST_CRASH_AT === point) {
    log.warn(`VOLBACK_TEST_CRASH_AT=${point}: killing the process`);
    process.kill(process.pid, 'SIGKILL');
  }
}
