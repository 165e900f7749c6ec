// scripts/secondhost start is idempotent and recovers host 2 after a kill -9 of its libvirtd, with a
// running domain kept. Only host 2's own libvirtd is killed, never qemu:///system's; `npm test` runs
// files one at a time (--runInBand), so no other test is using host 2 meanwhile.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Cleanup, REPO_ROOT, buildDomainXml, chooseVirtType, uniqueName } from '../support';
import {
  openSecondHost,
  parseEnvLines,
  secondHost,
  secondHostEnv,
  type SecondHostEnv,
} from '../support/second-host';

const run = promisify(execFile);
const SCRIPT = path.join(REPO_ROOT, 'scripts/secondhost');

// start refreshes the rbd pool, which opens every image: tens of seconds with thousands in it.
jest.setTimeout(300_000);

/** `scripts/secondhost start --quiet`: what it reported (only changes are), and how long it took. */
async function start(): Promise<{ stderr: string; seconds: number }> {
  const t0 = process.hrtime.bigint();
  const { stderr } = await run('bash', [SCRIPT, 'start', '--quiet'], { timeout: 240_000 });
  return { stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

function pidOf(host2: SecondHostEnv, daemon: string): number {
  return Number(fs.readFileSync(path.join(host2.dir, `${daemon}.pid`), 'utf8').trim());
}

/** Waits until the process is gone or a zombie (PID 1 here reaps lazily). */
async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    let state: string;
    try {
      state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pid ${pid} still runs`);
}

describe('scripts/secondhost start: idempotent, and recovers a kill -9 of its libvirtd', () => {
  const cleanup = new Cleanup();
  let host2: SecondHostEnv;

  beforeAll(async () => {
    await secondHost('status');
    host2 = await secondHostEnv();
  });
  afterAll(() => cleanup.run());

  it('a second start changes nothing and reports nothing', async () => {
    const before = fs.readFileSync(path.join(host2.dir, 'etc/libvirtd.conf'), 'utf8');
    const pids = [pidOf(host2, 'libvirtd'), pidOf(host2, 'virtlogd')];
    const again = await start();
    expect(again.stderr).toBe('');
    expect([pidOf(host2, 'libvirtd'), pidOf(host2, 'virtlogd')]).toEqual(pids);
    expect(fs.readFileSync(path.join(host2.dir, 'etc/libvirtd.conf'), 'utf8')).toBe(before);
    expect(again.seconds).toBeLessThan(10); // about a second idle; the bound is for a loaded machine
  });

  it('after kill -9 of its libvirtd, start brings it back with its pool, and a running domain survives', async () => {
    let conn = await openSecondHost(host2.uri);
    const virt = await chooseVirtType(conn);
    const name = uniqueName('h2-survivor');
    const dom = await conn.createDomain(buildDomainXml({ name, virt }));
    const qemuPid = Number(fs.readFileSync(path.join(host2.dir, 'run/qemu', `${name}.pid`), 'utf8').trim());
    dom.free();
    await conn.close().catch(() => undefined);
    cleanup.add(`domain ${name} on host 2`, async () => {
      const c = await openSecondHost(host2.uri);
      try {
        const d = await c.lookupDomainByName(name);
        await d.destroy().finally(() => d.free());
      } finally {
        await c.close();
      }
    });

    const killed = pidOf(host2, 'libvirtd');
    process.kill(killed, 'SIGKILL');
    await gone(killed);
    await expect(secondHost('status')).rejects.toThrow(/libvirtd: not running/);

    const back = await start();
    expect(back.stderr).toMatch(/starting libvirtd/);
    expect(back.stderr).not.toMatch(/starting virtlogd/);
    expect(pidOf(host2, 'libvirtd')).not.toBe(killed);
    await secondHost('status');

    conn = await openSecondHost(host2.uri);
    try {
      const d = await conn.lookupDomainByName(name);
      try {
        expect(await d.isActive()).toBe(true);
        // the same QEMU, found again by the new libvirtd
        expect(Number(fs.readFileSync(path.join(host2.dir, 'run/qemu', `${name}.pid`), 'utf8').trim())).toBe(
          qemuPid,
        );
        expect(await d.qemuMonitorCommand('info status', { hmp: true })).toMatch(/running/);
      } finally {
        d.free();
      }
      const cephEnv = (await run('bash', [path.join(REPO_ROOT, 'scripts/ceph'), 'env'])).stdout;
      const pool = await conn.lookupStoragePoolByName(parseEnvLines(cephEnv).VOLBACK_CEPH_LIBVIRT_POOL);
      try {
        expect(await pool.isActive()).toBe(true);
      } finally {
        pool.free();
      }
    } finally {
      await conn.close();
    }
  });
});
