// The LVM test host (scripts/testhost): its URIs, pool names, and a connection that fails with the fix.
import { execFile } from 'child_process';
import path from 'path';
import { promisify } from 'util';
import { Connection } from '../../src/libvirt';
import { REPO_ROOT } from './ts-child';

const run = promisify(execFile);

/** The logical pool inside the test host, named like its volume group. */
export const TESTHOST_VG = process.env.VOLBACK_TESTHOST_VG ?? 'testvg';

/** The dir pool inside the test host. */
export const TESTHOST_DIR_POOL = process.env.VOLBACK_TESTHOST_DIR_POOL ?? 'testdir';

/** What a test says when the test host is not there. */
export const TESTHOST_FIX =
  'Run `scripts/testhost start` as root (it builds the image first when none is cached, about 2 minutes) ' +
  'and re-run the tests.';

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'testhost');

/** Runs `scripts/testhost ARGS` (same VOLBACK_TESTHOST_* environment) and returns its stdout, trimmed. */
export async function testHost(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [SCRIPT, ...args]);
  return stdout.trim();
}

/** qemu+tcp://127.0.0.1:PORT/system, as the script computes it. */
export const testHostUri = (): Promise<string> => testHost('uri');

/** qemu+ssh://root@127.0.0.1:SSHPORT/system?keyfile=…, verified against the image's host key. */
export const testHostSshUri = (): Promise<string> => testHost('ssh-uri');

/**
 * Opens a connection to the test host (its tcp URI unless `uri` is given). If it does not
 * answer, throws an Error that names `scripts/testhost start`: tests fail with the fix, never skip.
 */
export async function openTestHost(uri?: string): Promise<Connection> {
  const target = uri ?? (await testHostUri());
  try {
    return await Connection.open(target);
  } catch (err) {
    throw new Error(
      `the LVM test host does not answer at ${target} (${err instanceof Error ? err.message : String(err)}). ` +
        TESTHOST_FIX,
      { cause: err },
    );
  }
}
