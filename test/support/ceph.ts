// The Ceph test cluster of scripts/ceph as tests see it: its settings (`scripts/ceph env`), failing
// with the command that fixes it when the cluster is not there.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './ts-child';

const run = promisify(execFile);

export const CEPH_FIX = 'Run `scripts/ceph start` (as root) and re-run the tests.';

/** `scripts/ceph env` as KEY -> value (VOLBACK_CEPH_LIBVIRT_POOL, VOLBACK_CEPH_SECRET_UUID, …). */
export async function cephEnv(): Promise<Record<string, string>> {
  let stdout: string;
  try {
    ({ stdout } = await run('bash', [path.join(REPO_ROOT, 'scripts/ceph'), 'env'], { timeout: 45_000 }));
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`the Ceph test cluster is not usable: ${e.stderr || e.message}\n${CEPH_FIX}`, {
      cause: err,
    });
  }
  const env: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}
