// lane: alone (scripts/test-lanes: it stops the libvirtd every other suite uses)
// libvirtd restarted (SIGTERM, then started again) while a backup copies, with either engine: the
// backup fails, nothing wrong is listed, the VM keeps running with its disk untouched, `repair` removes
// what the run left (volumes, checkpoint, QEMU's objects), and the next backup is correct.
// This test restarts the host's libvirtd: every other test's connection would die with it, which is
// why `npm test` runs the test files one at a time (jest --runInBand).
import fs from 'node:fs';
import path from 'node:path';
import { createBackup } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { repair } from '../../src/core/removal/repair';
import { restoreBackup } from '../../src/core/restore/restore';
import type { Connection } from '../../src/libvirt';
import { setIdPrefix } from '../../src/pool/volume-names';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  poolVolumeNames,
  qemuBitmaps,
  qemuLeftovers,
  sameContent,
  spawnBackupChild,
} from '../support';
import { removeByName, restartLibvirtd } from '../support/libvirtd';

jest.setTimeout(600_000);
const MiB = 1024 * 1024;

describe('libvirtd restarted while a backup copies', () => {
  // Undo steps hold handles that die with the restart; what they name is removed by name at the end.
  const made = new Cleanup();
  const domains: string[] = [];
  const pools: string[] = [];
  const dirs: string[] = [];
  let conn: Connection;

  beforeAll(async () => {
    conn = await openSystemConnection();
  });
  afterAll(async () => {
    await removeByName(conn, { domains, pools });
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    await conn.close();
  });

  it.each([
    { kind: 'full' as const, engine: 'qmp' as const },
    { kind: 'incremental' as const, engine: 'libvirt' as const },
  ])('$kind ($engine engine)', async ({ kind, engine }) => {
    const { defaults, lockDir } = backupLocation(conn, made);
    const vm = await createTestDomain(conn, made, { diskSizes: [1024 * MiB], label: 'restart' });
    domains.push(vm.name);
    pools.push(defaults.pool, vm.pool.name);
    dirs.push(lockDir, path.dirname(vm.disks[0].modelPath));
    await vm.write('vda', 0x51, 0, 8 * MiB);
    const base = await createBackup(conn, vm.name, { defaults, lockDir });
    // Enough new data that the copy is still running when libvirtd goes.
    await vm.write('vda', 0x52, 16 * MiB, 768 * MiB);

    const child = spawnBackupChild({ domain: vm.name, defaults, lockDir, kind, engine });
    let out = '';
    let err = '';
    let restarted: Promise<Connection> | undefined;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (!restarted && out.includes('copying ')) restarted = restartLibvirtd();
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exit = await new Promise<number | string>((resolve) =>
      child.on('close', (code, signal) => resolve(signal ?? code ?? 'none')),
    );
    expect(restarted).toBeDefined();
    conn = await restarted!;
    await vm.reattach(conn);
    // The run failed with an error of its own (it did not hang, and was not killed), and never finished.
    expect({ exit, finished: out.includes('finished') }).toEqual({ exit: 1, finished: false });
    expect(err).toMatch(/client socket is closed/);
    expect(err).toMatch(/hint: the connection to libvirtd was lost.*volback repair/);
    if (process.env.VOLBACK_TEST_TRACE) process.stderr.write(`child stderr: ${err}\n`);
    const killed = /set (\S+)/.exec(out)![1];

    // The domain survived the restart, still running, its disk exactly what the guest wrote.
    expect(await vm.domain.isActive()).toBe(true);
    expect(await vm.diskMatches('vda', vm.disks[0].modelPath)).toBe(true);
    // Nothing wrong is listed: the failed set not at all, the base still restorable.
    const scan = await scanCatalog(conn, { pools: [defaults.pool] });
    expect([...scan.catalog.sets.keys()]).toEqual([base.set.id]);
    expect(scan.catalog.sets.get(base.set.id)!.restorable).toBe(true);

    // repair removes what the run left of volback's own: volumes, the checkpoint, QEMU's objects.
    await repair(conn, { domain: vm.name, lockDir, qemu: true });
    const prefix = setIdPrefix(killed);
    expect((await poolVolumeNames(conn, defaults.pool)).filter((n) => n.includes(`-${prefix}.`))).toEqual([]);
    const checkpoints = await vm.domain.listAllCheckpoints();
    const names = await Promise.all(checkpoints.map((c) => c.getName().finally(() => c.free())));
    expect(names).toEqual([base.set.checkpoint!.name]);
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
    expect(await qemuBitmaps(vm.domain)).toEqual([base.set.checkpoint!.name]);

    // The next backup is an incremental on the base, and restores byte for byte.
    await vm.write('vda', 0x53, 900 * MiB, MiB);
    const next = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(next.set).toMatchObject({ kind: 'incremental', parentId: base.set.id });
    const [restored] = (
      await restoreBackup(conn, { setId: next.set.id, scanPools: [defaults.pool], lockDir })
    ).volumes;
    expect(await sameContent({ path: restored.path, format: restored.format }, vm.disks[0].modelPath)).toBe(
      true,
    );
  });
});
