// The one test hook for crash safety: with `VOLBACK_TEST_CRASH_AT=<point>` in the environment, the
// process kills itself (SIGKILL: no cleanup, no finally) right after that point, so system tests can
// prove that what the next run finds — after a backup, a removal — is repaired or rolled back.
import { logger } from '../../log';

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

/** Kills this process when `VOLBACK_TEST_CRASH_AT` names `point`; otherwise does nothing. */
export function crashPoint(point: string): void {
  if (process.env.VOLBACK_TEST_CRASH_AT === point) {
    log.warn(`VOLBACK_TEST_CRASH_AT=${point}: killing the process`);
    process.kill(process.pid, 'SIGKILL');
  }
}
