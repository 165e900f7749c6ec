// The per-domain job lock: exclusive while held, taken over when its owner died.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { lockDomain } from '../../src/core/domain-lock';

const dir = () => mkdtempSync(join(tmpdir(), 'volback-lock-'));

describe('domain lock', () => {
  it('refuses a second holder and frees on release', () => {
    const lockDir = dir();
    const first = lockDomain('u-1', 'backup create', lockDir);
    expect(() => lockDomain('u-1', 'backup create', lockDir)).toThrow(
      /domain u-1 is busy: backup create \(pid \d+/,
    );
    const other = lockDomain('u-2', 'backup create', lockDir); // other domains run in parallel
    first.release();
    first.release();
    lockDomain('u-1', 'restore', lockDir).release();
    other.release();
  });

  it('takes over a lock whose owner process is gone', () => {
    const lockDir = dir();
    const dead = spawnSync('true').pid; // a pid that has exited
    writeFileSync(join(lockDir, 'u-3.lock'), JSON.stringify({ pid: dead, what: 'backup create' }));
    const lock = lockDomain('u-3', 'backup create', lockDir);
    expect(lock.tookOverFrom).toEqual({ pid: dead, what: 'backup create' });
    lock.release();
  });
});
