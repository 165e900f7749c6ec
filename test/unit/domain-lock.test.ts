// The per-domain job lock: exclusive while held, handed on (and reported) when its holder died.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDomain } from '../../src/core/shared/domain-lock';
import { REPO_ROOT, tsChildArgs } from '../support/ts-child';

const dir = () => mkdtempSync(join(tmpdir(), 'volback-lock-'));

/** A child process that takes the lock and holds it until killed; resolves with it once it holds. */
const HOLDER = `
const [uuid, lockDir] = process.argv.slice(1);
const { lockDomain } = require('./src/core/shared/domain-lock');
lockDomain(uuid, 'backup create', lockDir);
process.stdout.write('held\\n');
setInterval(() => {}, 1000);
`;
async function startHolder(uuid: string, lockDir: string) {
  const child = spawn(process.execPath, tsChildArgs(HOLDER, [uuid, lockDir]), {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => c.toString().includes('held') && resolve());
    child.on('exit', (code) => reject(new Error(`holder exited (${code}): ${stderr}`)));
  });
  return { pid: child.pid!, kill: async () => (child.kill('SIGKILL'), await exited) };
}

describe('domain lock', () => {
  it('refuses a second holder and frees on release', () => {
    const lockDir = dir();
    const first = lockDomain('u-1', 'backup create', lockDir);
    expect(() => lockDomain('u-1', 'backup create', lockDir)).toThrow(
      new RegExp(`domain u-1 is busy: backup create \\(pid ${process.pid}, since \\d{4}-`),
    );
    const other = lockDomain('u-2', 'backup create', lockDir); // other domains run in parallel
    first.release();
    first.release();
    const again = lockDomain('u-1', 'restore', lockDir);
    expect(again.tookOverFrom).toBeUndefined(); // a clean release is not a crash
    again.release();
    other.release();
  });

  it('names a holder in another process, and is free the moment that process is SIGKILLed', async () => {
    const lockDir = dir();
    const holder = await startHolder('u-3', lockDir);
    try {
      expect(() => lockDomain('u-3', 'restore', lockDir)).toThrow(
        new RegExp(`domain u-3 is busy: backup create \\(pid ${holder.pid}, since `),
      );
    } finally {
      await holder.kill();
    }
    const lock = lockDomain('u-3', 'restore', lockDir);
    expect(lock.tookOverFrom).toEqual({ pid: holder.pid, what: 'backup create' });
    lock.release();
    const next = lockDomain('u-3', 'restore', lockDir);
    expect(next.tookOverFrom).toBeUndefined(); // reported once, by the holder that found it
    next.release();
  }, 30_000);

  it('reports an unreadable record of a dead holder as a take-over from an unknown pid', () => {
    const lockDir = dir();
    writeFileSync(join(lockDir, 'u-4.holder.json'), '{"pid": 12'); // cut short by a power loss, say
    const lock = lockDomain('u-4', 'backup create', lockDir);
    expect(lock.tookOverFrom).toEqual({ pid: -1, what: 'unknown (unreadable holder record)' });
    lock.release();
  });

  it('creates its directory 0700 and files 0600, and leaves only the lock file after release', () => {
    const lockDir = join(dir(), 'locks');
    const lock = lockDomain('u-5', 'backup create', lockDir);
    expect(statSync(lockDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(lockDir, 'u-5.lock')).mode & 0o777).toBe(0o600);
    expect(statSync(join(lockDir, 'u-5.holder.json')).mode & 0o777).toBe(0o600);
    lock.release();
    expect(existsSync(join(lockDir, 'u-5.holder.json'))).toBe(false);
    expect(existsSync(join(lockDir, 'u-5.lock'))).toBe(true); // the locked file stays: see lockDomain
  });

  it('does not change the mode of an existing directory', () => {
    const lockDir = join(dir(), 'open');
    mkdirSync(lockDir);
    chmodSync(lockDir, 0o777);
    lockDomain('u-6', 'backup create', lockDir).release();
    expect(statSync(lockDir).mode & 0o777).toBe(0o777);
  });

  it('refuses a domain uuid that would name a path outside its directory', () => {
    const lockDir = join(dir(), 'locks');
    for (const bad of ['../escaped', 'a/b', '.hidden', '', 'x'.repeat(65)])
      expect(() => lockDomain(bad, 'delete', lockDir)).toThrow(/not a domain uuid/);
    expect(existsSync(join(lockDir, '..', 'escaped.lock'))).toBe(false);
    lockDomain('0b7f5b2e-3c1d-4c3a-9a57-4f3e2d1c0b9a', 'delete', lockDir).release();
  });

  it('is not inherited by child processes (they could outlive the holder)', () => {
    const lockDir = dir();
    const lock = lockDomain('u-7', 'backup create', lockDir);
    const fds = spawnSync('sh', ['-c', 'ls -l /proc/$$/fd'], { encoding: 'utf8' });
    expect(fds.status).toBe(0);
    expect(fds.stdout).not.toContain('u-7.lock');
    lock.release();
  });
});
