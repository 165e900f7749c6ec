// A backup run in a child process, so that a test can kill it (SIGKILL: no clean-up code runs) or let
// it kill itself at a named step (VOLBACK_TEST_CRASH_AT). It prints `set <id>` when the set id is
// known, `copying <id>` once bytes are moving, and `finished` at the end.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { BackupDefaults } from '../../src/core/backup/coordinator';
import { REPO_ROOT, tsChildArgs } from './ts-child';

const CHILD = `
const [uri, domain, pool, path, lockDir, kind, engine, format] = process.argv.slice(1);
(async () => {
  const { Connection } = require('./src/libvirt');
  const { createBackup } = require('./src/core/backup/coordinator');
  const conn = await Connection.open(uri);
  let told = false;
  let copying = false;
  await createBackup(conn, domain, {
    defaults: { pool, path, format }, lockDir, backupEngine: engine,
    definition: { mode: 'push', kind, disks: [] },
    onProgress: (p) => {
      if (!told) { told = true; process.stdout.write('set ' + p.setId + '\\n'); }
      if (!copying && p.phase === 'copying' && p.bytesDone > 0 && p.bytesDone < p.bytesTotal) {
        copying = true;
        process.stdout.write('copying ' + p.setId + '\\n');
      }
    },
  });
  process.stdout.write('finished\\n');
})().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\\n' + (err && err.hint ? 'hint: ' + err.hint + '\\n' : ''));
  process.exit(1);
});
`;

export interface BackupChildOptions {
  domain: string;
  defaults: BackupDefaults;
  lockDir: string;
  kind?: 'auto' | 'full' | 'incremental';
  /** The `backupEngine` setting of the run (default `auto`). */
  engine?: 'auto' | 'qmp' | 'libvirt';
  /** A step of BACKUP_CRASH_POINTS the child kills itself after. */
  crashAt?: string;
}

export function spawnBackupChild(options: BackupChildOptions): ChildProcessWithoutNullStreams {
  const { domain, defaults, lockDir, kind = 'auto', engine = 'auto', crashAt } = options;
  return spawn(
    process.execPath,
    tsChildArgs(CHILD, [
      'qemu:///system',
      domain,
      defaults.pool,
      defaults.path,
      lockDir,
      kind,
      engine,
      defaults.format ?? 'qcow2',
    ]),
    {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: crashAt ? { ...process.env, VOLBACK_TEST_CRASH_AT: crashAt } : process.env,
    },
  );
}

/**
 * Starts a backup of `options.domain` in a child process and SIGKILLs it once bytes are moving;
 * resolves with the killed run's set id. Fails when the run ended any other way.
 */
export async function killBackupMidCopy(options: BackupChildOptions): Promise<string> {
  const child = spawnBackupChild(options);
  let stderr = '';
  let killedSetId = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const outcome = await new Promise<string>((resolve) => {
    child.stdout.on('data', (c: Buffer) => {
      const copying = /copying (\S+)/.exec(c.toString());
      if (copying && !killedSetId) {
        killedSetId = copying[1];
        child.kill('SIGKILL');
      }
      if (c.toString().includes('finished')) resolve('finished');
    });
    child.on('close', (code, signal) => resolve(signal ?? `exit ${code}: ${stderr}`));
  });
  if (outcome !== 'SIGKILL') throw new Error(`the backup was not killed mid-copy: ${outcome}`);
  return killedSetId;
}
