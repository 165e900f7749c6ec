// A backup killed (SIGKILL, no cleanup) after each of its steps — volumes created, copy done, metadata
// committed — with either engine (incrementals through both): nothing wrong is ever listed, the VM's own disks are untouched,
// `repair` removes what the kill left, and the next backup is a correct incremental. Also: a source
// bitmap QEMU left inconsistent (QEMU killed) makes the next backup a full that says why.
import { createBackup, type BackupDefaults } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { repair } from '../../src/core/removal/repair';
import { restoreBackup } from '../../src/core/restore/restore';
import { BACKUP_CRASH_POINTS } from '../../src/crash-point';
import type { Connection } from '../../src/libvirt';
import { setIdPrefix } from '../../src/pool/volume-names';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  poolVolumeNames,
  sameContent,
  spawnBackupChild,
  type TestDomain,
} from '../support';

jest.setTimeout(300_000);
const MiB = 1024 * 1024;

describe('a backup killed after each of its steps', () => {
  const cleanup = new Cleanup();
  let conn: Connection;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
  });
  afterAll(() => cleanup.run());

  /** Runs the child to its self-kill at `point`; the set id it was writing. */
  async function killAt(
    vm: TestDomain,
    env: { defaults: BackupDefaults; lockDir: string },
    point: string,
    kind: 'full' | 'incremental',
    engine: 'qmp' | 'libvirt',
  ): Promise<string> {
    const { defaults, lockDir } = env;
    const child = spawnBackupChild({ domain: vm.name, defaults, lockDir, kind, engine, crashAt: point });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const signal = await new Promise<string>((resolve) =>
      child.on('close', (code, sig) => resolve(sig ?? `exit ${code}: ${err}`)),
    );
    expect({ point, signal }).toEqual({ point, signal: 'SIGKILL' });
    return /set (\S+)/.exec(out)![1];
  }

  const cases = BACKUP_CRASH_POINTS.flatMap((point) => [
    { point, kind: 'incremental' as const, engine: 'libvirt' as const },
    { point, kind: 'incremental' as const, engine: 'qmp' as const },
    { point, kind: 'full' as const, engine: 'qmp' as const },
  ]);

  it.each(cases)('$kind ($engine engine) killed after $point', async ({ point, kind, engine }) => {
    const env = backupLocation(conn, cleanup);
    const { defaults, lockDir } = env;
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB], label: 'fault' });
    await vm.write('vda', 0x21, 0, 2 * MiB);
    const base = await createBackup(conn, vm.name, { defaults, lockDir });
    await vm.write('vda', 0x22, 4 * MiB, MiB);
    const atKill = vm.snapshotModel('vda', 'kill');
    const killed = await killAt(vm, env, point, kind, engine);

    // Nothing wrong is listed: the killed set only once its commit happened, and then whole.
    const scan = await scanCatalog(conn, { pools: [defaults.pool] });
    const listed = scan.catalog.sets.get(killed);
    if (point === 'backup-committed') {
      expect(listed?.restorable).toBe(true);
      const [restored] = (await restoreBackup(conn, { setId: killed, scanPools: [defaults.pool], lockDir }))
        .volumes;
      expect(await sameContent({ path: restored.path, format: restored.format }, atKill)).toBe(true);
    } else {
      expect(listed).toBeUndefined();
      expect([...scan.catalog.sets.keys()]).toEqual([base.set.id]);
      expect(scan.catalog.sets.get(base.set.id)!.restorable).toBe(true);
    }
    // The VM's own disk holds what the guest wrote, no more, no less.
    expect(await vm.diskMatches('vda', vm.disks[0].modelPath)).toBe(true);

    // repair removes what the kill left (the volumes of an uncommitted run, its checkpoint, QEMU's objects).
    await repair(conn, { domain: vm.name, lockDir, qemu: true });
    const prefix = setIdPrefix(killed);
    const leftovers = (await poolVolumeNames(conn, defaults.pool)).filter(
      (n) => n.includes(`-${prefix}.`) && !n.includes('.restored-'),
    );
    expect(leftovers.length).toBe(point === 'backup-committed' ? 3 : 0); // data, its checksums, metadata

    // The next backup continues a whole chain and is byte for byte right.
    await vm.write('vda', 0x23, 8 * MiB, MiB);
    const next = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(next.set).toMatchObject({
      kind: 'incremental',
      parentId: point === 'backup-committed' ? killed : base.set.id,
    });
    const [again] = (await restoreBackup(conn, { setId: next.set.id, scanPools: [defaults.pool], lockDir }))
      .volumes;
    expect(await sameContent({ path: again.path, format: again.format }, vm.disks[0].modelPath)).toBe(true);
  });

  it.each(['auto', 'qmp'] as const)(
    'a bitmap QEMU left inconsistent (QEMU killed) makes the next backup a full that says why (%s engine)',
    async (backupEngine) => {
      const { defaults, lockDir } = backupLocation(conn, cleanup);
      const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB], label: 'inconsistent' });
      await vm.write('vda', 0x31, 0, MiB);
      const full = await createBackup(conn, vm.name, { defaults, lockDir });
      // The guest's data is flushed (as a guest would); the bitmap is stored only when QEMU closes the
      // image, so a SIGKILL to QEMU leaves it flagged in use in the qcow2.
      expect(await vm.diskMatches('vda', vm.disks[0].modelPath)).toBe(true);
      const pid = Number(
        (await import('node:fs')).readFileSync(`/run/libvirt/qemu/${vm.name}.pid`, 'utf8').trim(),
      );
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100 && (await vm.domain.isActive()); i++)
        await new Promise((r) => setTimeout(r, 100));
      await vm.domain.create();
      await vm.write('vda', 0x32, 2 * MiB, MiB);
      const next = await createBackup(conn, vm.name, { defaults, lockDir, backupEngine });
      expect(next.set.kind).toBe('full');
      expect(next.set.fallbackReason).toMatch(
        /checkpoint inconsistent|missing or broken bitmap|inconsistent/,
      );
      expect(full.set.checkpoint!.name).toBeTruthy();
      const [restored] = (
        await restoreBackup(conn, { setId: next.set.id, scanPools: [defaults.pool], lockDir })
      ).volumes;
      expect(await sameContent({ path: restored.path, format: restored.format }, vm.disks[0].modelPath)).toBe(
        true,
      );
    },
  );

  it.each(['qmp', 'libvirt'] as const)(
    'the domain destroyed mid-copy (%s engine): nothing listed, nothing left, the next backup correct',
    async (engine) => {
      const { defaults, lockDir } = backupLocation(conn, cleanup);
      const vm = await createTestDomain(conn, cleanup, { diskSizes: [1024 * MiB], label: 'destroyed' });
      await vm.write('vda', 0x41, 0, 768 * MiB);
      expect(await vm.diskMatches('vda', vm.disks[0].modelPath)).toBe(true);
      let destroyed = false;
      const err = await createBackup(conn, vm.name, {
        defaults,
        lockDir,
        fullBackupEngine: engine,
        onProgress: (p) => {
          if (!destroyed && p.phase === 'copying' && p.bytesDone > 0 && p.bytesDone < p.bytesTotal) {
            destroyed = true;
            void vm.domain.destroy();
          }
        },
      }).catch((e: unknown) => e);
      expect(destroyed).toBe(true);
      expect(err).toBeInstanceOf(Error);
      const scan = await scanCatalog(conn, { pools: [defaults.pool] });
      expect(scan.stored).toEqual([]);
      expect(await poolVolumeNames(conn, defaults.pool)).toEqual([]);
      await vm.domain.create();
      expect(await vm.diskMatches('vda', vm.disks[0].modelPath)).toBe(true);
      await vm.write('vda', 0x42, 800 * MiB, MiB);
      const next = await createBackup(conn, vm.name, { defaults, lockDir, fullBackupEngine: engine });
      const [restored] = (
        await restoreBackup(conn, { setId: next.set.id, scanPools: [defaults.pool], lockDir })
      ).volumes;
      expect(await sameContent({ path: restored.path, format: restored.format }, vm.disks[0].modelPath)).toBe(
        true,
      );
    },
  );

  it('a target pool too small is refused before anything is made', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { spawnSync } = await import('node:child_process');
    const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-full-'));
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0711', 'tmpfs', mountPoint]).status).toBe(
      0,
    );
    cleanup.add(`tmpfs ${mountPoint}`, async () => {
      spawnSync('umount', [mountPoint]);
      fs.rmSync(mountPoint, { recursive: true, force: true });
    });
    const poolName = `vbt-full-${process.pid}`;
    const small = await conn.createStoragePool(
      `<pool type='dir'><name>${poolName}</name><target><path>${mountPoint}</path></target></pool>`,
    );
    cleanup.add(`pool ${poolName}`, async () => {
      await small.destroy().catch(() => undefined);
      small.free();
    });
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB], label: 'small' });
    await vm.write('vda', 0x51, 0, 16 * MiB);
    const err = await createBackup(conn, vm.name, {
      defaults,
      lockDir,
      definition: { mode: 'push', kind: 'auto', disks: [], location: { pool: poolName } },
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      new RegExp(`pool '${poolName}' has \\d+ bytes free but the backup of vda needs up to`),
    );
    expect(fs.readdirSync(mountPoint)).toEqual([]);
    expect(await vm.domain.listAllCheckpoints()).toEqual([]);
    const ok = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(ok.set.kind).toBe('full');
  });
});
