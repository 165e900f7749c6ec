// `volback backup create --match/--label` (the built binary) over three real domains, one of which
// cannot be backed up (a disk file gone): one summary, exit 3, the other two sets complete with the
// bytes written, nothing left of the failed one; then a label picks exactly the labelled domain.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Connection } from '../../src/libvirt';
import { listBackups } from '../../src/core/catalog/scan';
import { volumeImage } from '../../src/pool/pool-layer';
import { LABELS_NAMESPACE } from '../../src/xml/domain-labels';
import {
  Cleanup,
  REPO_ROOT,
  TEST_POOL_ROOT,
  createTestDomain,
  openSystemConnection,
  poolVolumeNames,
  sameContent,
  uniqueName,
  type TestDomain,
} from '../support';
import { SYSTEM_URI } from '../support/libvirt';

const BIN = path.join(REPO_ROOT, 'dist/src/cli/main.js');
const MiB = 1024 * 1024;
jest.setTimeout(600_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('backup create over many domains (built binary, real domains)', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let tmp: string;
  let pool: string;
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[]): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args, '--config', path.join(tmp, 'volback.conf')], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  beforeAll(async () => {
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: build with \`npm run build:ts\``);
    conn = cleanup.connection(await openSystemConnection());
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-many-'));
    cleanup.add(`temp ${tmp}`, async () => fs.rmSync(tmp, { recursive: true, force: true }));
    pool = uniqueName('many-backups');
    fs.writeFileSync(
      path.join(tmp, 'volback.conf'),
      `connect_uri = "${SYSTEM_URI}"\ndefault_pool = "${pool}"\n` +
        `default_pool_layout = "single"\ndefault_pool_path = "${path.join(TEST_POOL_ROOT, pool)}"\nbackup_parallel = 2\n`,
    );
    env = { ...process.env, VOLBACK_LOCK_DIR: path.join(tmp, 'locks'), VOLBACK_CONFIG: undefined };
    cleanup.add(`pool ${pool}`, async () => {
      const p = await conn.lookupStoragePoolByName(pool).catch(() => undefined);
      if (!p) return;
      const c = new Cleanup();
      c.pool(p, { deleteVolumes: true, deleteStorage: true });
      await c.run();
    });
  });
  afterAll(() => cleanup.run());

  it('backs up the others when one fails, summarises, exits 3; a label selects only its domains', async () => {
    // Names share `vbt-many-<pid>-`, which no other test's domains carry.
    const good: TestDomain[] = [];
    for (let i = 0; i < 2; i++) {
      const vm = await createTestDomain(conn, cleanup, { diskSizes: [8 * MiB], label: 'many' });
      await vm.write('vda', 0x51 + i, 2 * MiB, MiB);
      good.push(vm);
    }
    const bad = await createTestDomain(conn, cleanup, { diskSizes: [8 * MiB], label: 'many', start: false });
    fs.rmSync(bad.disks[0].path); // its disk is gone: the backup must fail, and undo itself
    const pattern = `vbt-many-${process.pid}-*`;

    const run = await cli(['backup', 'create', '--match', pattern, '--json']);
    // What each domain's run said, when the exit is not the partial one (CI keeps only this report).
    if (run.code !== 3)
      throw new Error(`exit ${run.code} instead of 3; stderr:\n${run.stderr}\nstdout:\n${run.stdout}`);
    expect(typeof run.stderr).toBe('string');
    const summary = JSON.parse(run.stdout);
    const errors = summary.domains.map((d: { domain: { name: string }; error?: { message: string } }) => [
      d.domain.name,
      d.error?.message,
    ]);
    if (summary.succeeded !== 2)
      throw new Error(`succeeded ${summary.succeeded} of 2: ${JSON.stringify(errors)}`);
    expect(summary.failed).toBe(1);
    const byName = new Map(summary.domains.map((d: { domain: { name: string } }) => [d.domain.name, d]));
    expect([...byName.keys()].sort()).toEqual([...good.map((g) => g.name), bad.name].sort());
    const failed = byName.get(bad.name) as { ok: boolean; set: unknown; error: { message: string } };
    expect(failed.ok).toBe(false);
    expect(failed.set).toBeNull();
    expect(failed.error.message.length).toBeGreaterThan(0);
    expect(run.stderr).toContain(`backup ${bad.name}: failed`);

    // The two sets are in the pool, complete, restorable, and hold exactly what was written.
    const listing = await listBackups(conn, { pools: [pool] });
    expect(listing.sets.map((s) => s.set.domain.name).sort()).toEqual(good.map((g) => g.name).sort());
    expect(listing.strayVolumes).toEqual([]);
    expect(listing.invalidMetadata).toEqual([]);
    for (const vm of good) {
      const entry = byName.get(vm.name) as { set: { id: string; kind: string } };
      const listed = listing.sets.find((s) => s.set.domain.name === vm.name)!;
      expect(listed.set.id).toBe(entry.set.id);
      expect(listed.set.state).toBe('complete');
      expect(listed.restorable).toBe(true);
      const disk = listed.set.disks[0];
      const image = await volumeImage(conn, disk.volume!.pool, disk.volume!.name);
      expect(await sameContent(image, vm.disks[0].modelPath)).toBe(true);
    }
    // Nothing of the failed domain: no volume names it, and its domain is shut off again.
    expect((await poolVolumeNames(conn, pool)).filter((v) => v.startsWith(bad.name))).toEqual([]);
    expect(await bad.domain.isActive()).toBe(false);

    // A label in volback's <metadata> namespace, set the way an admin does.
    const label = `vbt-${process.pid}-${Date.now().toString(36)}`;
    execFileSync('virsh', [
      '-q',
      '-c',
      SYSTEM_URI,
      'metadata',
      good[1].name,
      LABELS_NAMESPACE,
      '--key',
      'volback',
      '--set',
      `<backup><label>other</label><label>${label}</label></backup>`,
      '--config',
    ]);
    await good[1].write('vda', 0x77, 4 * MiB, 64 * 1024);
    const labelled = await cli(['backup', 'create', '--label', label, '--parallel', '1', '--json']);
    if (labelled.code !== 0)
      throw new Error(`exit ${labelled.code} instead of 0; stderr:\n${labelled.stderr}`);
    const second = JSON.parse(labelled.stdout);
    expect(second.domains.map((d: { domain: { name: string } }) => d.domain.name)).toEqual([good[1].name]);
    expect(second.domains[0].set.kind).toBe('incremental');
    const after = await listBackups(conn, { pools: [pool] });
    expect(after.sets.filter((s) => s.set.domain.name === good[0].name)).toHaveLength(1);
    const incremental = after.sets.find((s) => s.set.id === second.domains[0].set.id)!;
    expect(incremental.restorable).toBe(true);
    const top = incremental.set.disks[0].volume!;
    expect(await sameContent(await volumeImage(conn, top.pool, top.name), good[1].disks[0].modelPath)).toBe(
      true,
    );

    // Bad selections are refused before anything runs.
    expect((await cli(['backup', 'create', '--label', 'no such'])).code).toBe(2);
    expect((await cli(['backup', 'create', '--match', `vbt-none-${process.pid}-*`])).code).toBe(2);
    expect((await cli(['backup', 'create', good[0].name, '--all'])).code).toBe(2);
    expect((await cli(['backup', 'create', '--all', '--parallel', '0'])).code).toBe(2);
  });
});
