// lane: testhost (scripts/test-lanes)
// Compressed backups (docs/compression.md) on a real two-disk domain with known writes, into a dir
// pool: a zstd full and zstd incrementals through QEMU's blockdev-backup with `compress`, each layer
// a plain qcow2 with compression_type zstd on its parent, stored smaller than the uncompressed full
// of the same point, every point restored byte for byte and verified deep, a merge of a compressed
// middle incremental, the checkpoints libvirt's; a compressed chain restores and verifies on
// another host holding the pool (the LVM test host, through libvirt alone); and a compressed backup
// libvirt's job would have to copy is refused with nothing created.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createBackup, type BackupResult, type CreateBackupOptions } from '../../src/core/backup/coordinator';
import { verifyBackup } from '../../src/core/catalog/verify';
import { deleteBackup } from '../../src/core/removal/delete';
import { restoreBackup } from '../../src/core/restore/restore';
import { checkpointRecord } from '../../src/core/shared/checkpoints';
import { ErrorCodes, isVolbackError } from '../../src/errors';
import type { Connection } from '../../src/libvirt';
import type { BackupDefinition, BackupSet } from '../../src/model';
import { run } from '../../src/tools/exec';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  mirrorPoolOnTestHost,
  openSystemConnection,
  openTestHost,
  poolVolumeNames,
  qemuLeftovers,
  sameContent,
  testHost,
  type TestDomain,
} from '../support';
import { checkpointNames } from './fixtures/delete-helpers';

const MiB = 1024 * 1024;
jest.setTimeout(300_000);

const zstd = (kind: BackupDefinition['kind'] = 'auto'): BackupDefinition => ({
  mode: 'push',
  kind,
  disks: [],
  compression: 'zstd',
});

describe('compressed backups', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let env: ReturnType<typeof backupLocation>;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
  });
  afterAll(() => cleanup.run());

  const backup = (vm: TestDomain, extra: Partial<CreateBackupOptions> = {}): Promise<BackupResult> =>
    createBackup(conn, vm.name, { defaults: env.defaults, lockDir: env.lockDir, ...extra });
  const volumePath = (set: BackupSet, target: string): string =>
    path.join(env.defaults.path, set.disks.find((d) => d.target === target)!.volume!.name);
  /** Bytes the volume's file takes on disk (its allocated blocks). */
  const onDisk = (set: BackupSet, target: string): number =>
    fs.statSync(volumePath(set, target)).blocks * 512;
  /** `qemu-img info` of one layer: its compression type and backing file. */
  const layer = async (
    set: BackupSet,
    target: string,
  ): Promise<{ compression?: string; backing?: string }> => {
    const { stdout } = await run(['qemu-img', 'info', '-U', '--output=json', volumePath(set, target)]);
    const info = JSON.parse(stdout) as {
      'format-specific'?: { data?: { 'compression-type'?: string } };
      'backing-filename'?: string;
    };
    return {
      compression: info['format-specific']?.data?.['compression-type'],
      backing: info['backing-filename'],
    };
  };
  /** The stored chain of each disk reads as its model, and so do its restore and a deep verify. */
  const expectPoint = async (set: BackupSet, models: Record<string, string>): Promise<void> => {
    for (const [target, model] of Object.entries(models))
      expect({
        target,
        chain: await sameContent({ path: volumePath(set, target), format: 'qcow2' }, model),
      }).toEqual({ target, chain: true });
    const { volumes } = await restoreBackup(conn, {
      setId: set.id,
      scanPools: [env.defaults.pool],
      lockDir: env.lockDir,
    });
    expect(volumes.map((v) => v.target).sort()).toEqual(Object.keys(models).sort());
    for (const v of volumes)
      expect({
        target: v.target,
        restored: await sameContent({ path: v.path, format: v.format }, models[v.target]),
      }).toEqual({ target: v.target, restored: true });
    const verified = await verifyBackup(conn, { setId: set.id, deep: true });
    expect(verified).toMatchObject({ ok: true, verdict: 'ok', damage: [] });
  };

  it('stores zstd fulls and incrementals as a plain qcow2 chain that restores and verifies', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [64 * MiB, 32 * MiB], label: 'zstd' });
    // Compressible data (byte patterns), over several clusters and ending inside one.
    await vm.write('vda', 0xab, 1 * MiB, 8 * MiB);
    await vm.write('vda', 0x5a, 30 * MiB, 100_000);
    await vm.write('vdb', 0xcd, 0, 4 * MiB);

    // The same point uncompressed first (its own chain), as the yardstick.
    const plain = await backup(vm, { definition: { mode: 'push', kind: 'full', disks: [] } });
    expect(plain.set.compression).toBeUndefined();
    const full = await backup(vm, { definition: zstd('full') });
    const fullModels = { vda: vm.snapshotModel('vda', 'full'), vdb: vm.snapshotModel('vdb', 'full') };
    expect(full.set).toMatchObject({ kind: 'full', compression: 'zstd' });
    for (const target of ['vda', 'vdb']) {
      expect(await layer(full.set, target)).toEqual({ compression: 'zstd', backing: undefined });
      // The uncompressed full is written without compression_type: QEMU's default (zlib).
      expect((await layer(plain.set, target)).compression).toBe('zlib');
      expect(onDisk(full.set, target) * 4).toBeLessThan(onDisk(plain.set, target));
      // bytesCopied stays guest data: the same for both.
      expect(full.set.disks.find((d) => d.target === target)!.bytesCopied).toBe(
        plain.set.disks.find((d) => d.target === target)!.bytesCopied,
      );
    }
    // The checkpoint is libvirt's, as after any full.
    expect((await checkpointRecord(vm.domain, full.set.checkpoint!.name)).name).toBe(
      full.set.checkpoint!.name,
    );

    await vm.write('vda', 0x11, 20 * MiB, 4 * MiB);
    await vm.write('vdb', 0x22, 8 * MiB, 512 * 1024);
    const inc1 = await backup(vm, { definition: zstd() });
    const inc1Models = { vda: vm.snapshotModel('vda', 'inc1'), vdb: vm.snapshotModel('vdb', 'inc1') };
    expect(inc1.set).toMatchObject({ kind: 'incremental', parentId: full.set.id, compression: 'zstd' });
    for (const target of ['vda', 'vdb'])
      expect(await layer(inc1.set, target)).toEqual({
        compression: 'zstd',
        backing: volumePath(full.set, target),
      });
    expect(inc1.set.disks.find((d) => d.target === 'vda')!.bytesCopied).toBe(4 * MiB);
    expect(onDisk(inc1.set, 'vda')).toBeLessThan(MiB);
    expect((await checkpointRecord(vm.domain, inc1.set.checkpoint!.name)).parent).toBe(
      full.set.checkpoint!.name,
    );

    await vm.write('vda', 0x33, 22 * MiB, 4 * MiB); // over half of inc1's write
    await vm.write('vdb', 0x44, 0, 64 * 1024);
    const inc2 = await backup(vm, { definition: zstd() });
    const inc2Models = { vda: vm.snapshotModel('vda', 'inc2'), vdb: vm.snapshotModel('vdb', 'inc2') };
    expect(inc2.set).toMatchObject({ kind: 'incremental', parentId: inc1.set.id, compression: 'zstd' });
    expect(await qemuLeftovers(vm.domain)).toEqual([]);

    await expectPoint(plain.set, fullModels);
    await expectPoint(full.set, fullModels);
    await expectPoint(inc1.set, inc1Models);
    await expectPoint(inc2.set, inc2Models);

    // Merging the compressed middle incremental: inc2 then stands on the full and reads the same.
    const merged = await deleteBackup(conn, {
      setId: inc1.set.id,
      dependents: 'merge',
      pools: [env.defaults.pool],
      lockDir: env.lockDir,
    });
    expect(merged.merged.map((m) => m.intoSet)).toEqual([inc2.set.id, inc2.set.id]);
    for (const target of ['vda', 'vdb'])
      expect(await layer(inc2.set, target)).toEqual({
        compression: 'zstd',
        backing: volumePath(full.set, target),
      });
    await expectPoint(inc2.set, inc2Models);
    // The domain's own disks were only read.
    for (const target of ['vda', 'vdb'])
      expect(await vm.diskMatches(target, inc2Models[target as 'vda'])).toBe(true);
  });

  it('compresses a disk whose size ends inside a cluster, its last cluster too', async () => {
    // QEMU's compressed writes take whole clusters, except the one the image ends in.
    const size = 16 * MiB + 4096;
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [size], label: 'zstdodd' });
    await vm.write('vda', 0x6b, 15 * MiB, MiB + 4096);
    const full = await backup(vm, { definition: zstd('full') });
    const model = vm.snapshotModel('vda', 'full');
    expect(full.set.disks[0].virtualSize).toBe(size);
    expect(await layer(full.set, 'vda')).toEqual({ compression: 'zstd', backing: undefined });
    await vm.write('vda', 0x6c, size - 1000, 1000);
    const inc = await backup(vm, { definition: zstd() });
    expect(inc.set.kind).toBe('incremental');
    await expectPoint(full.set, { vda: model });
    await expectPoint(inc.set, { vda: vm.snapshotModel('vda', 'inc') });
  });

  it('restores and verifies a compressed chain on another host that holds the pool, through libvirt alone', async () => {
    const size = 16 * MiB + 4096;
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [size], label: 'zstdremote' });
    await vm.write('vda', 0x71, 2 * MiB, 3 * MiB);
    const full = await backup(vm, { definition: zstd('full') });
    const fullModel = vm.snapshotModel('vda', 'full');
    await vm.write('vda', 0x72, 3 * MiB, MiB);
    await vm.write('vda', 0x73, size - 1000, 1000);
    const inc = await backup(vm, { definition: zstd() });
    const incModel = vm.snapshotModel('vda', 'inc');
    expect(await layer(inc.set, 'vda')).toEqual({
      compression: 'zstd',
      backing: volumePath(full.set, 'vda'),
    });

    // The test host sees the same pool files at the same path; volback reads them only through libvirt.
    const remote = cleanup.connection(await openTestHost());
    const pool = await mirrorPoolOnTestHost(remote, cleanup, env.defaults.pool, env.defaults.path);
    const stored = (await pool.listVolumeNames()).sort();

    // A deep verify there reads every layer's compressed clusters through volback's own qcow2 reader.
    const verified = await verifyBackup(remote, { setId: inc.set.id, deep: true, record: false });
    expect(verified).toMatchObject({ ok: true, damage: [] });
    // Each point, read there and streamed into this host's pool (raw guest bytes), equals the disk.
    for (const [set, model] of [
      [full.set, fullModel],
      [inc.set, incModel],
    ] as const) {
      const { volumes } = await restoreBackup(remote, {
        setId: set.id,
        scanPools: [env.defaults.pool],
        targetConnection: conn,
        pool: env.defaults.pool,
        lockDir: env.lockDir,
      });
      expect(volumes).toEqual([expect.objectContaining({ target: 'vda', format: 'raw' })]);
      expect(await sameContent({ path: volumes[0].path, format: 'raw' }, model)).toBe(true);
    }
    // Restored on that host itself, libvirt flattens the chain there (its qemu-img reads zstd).
    const there = await restoreBackup(remote, {
      setId: inc.set.id,
      scanPools: [env.defaults.pool],
      lockDir: env.lockDir,
      format: 'raw',
    });
    const sha = createHash('sha256').update(fs.readFileSync(incModel)).digest('hex');
    expect((await testHost('ssh', 'sha256sum', there.volumes[0].path)).split(' ')[0]).toBe(sha);
    await pool.refresh();
    const after = (await pool.listVolumeNames()).sort();
    expect(after.filter((n) => !stored.includes(n))).toEqual([there.volumes[0].volume]);
  });

  it('refuses a compressed backup libvirt would have to copy, creating nothing', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB], label: 'zstdno' });
    await vm.write('vda', 0x77, 0, MiB);
    const before = await poolVolumeNames(conn, env.defaults.pool).catch(() => []);
    const err = await backup(vm, { definition: zstd('full'), backupEngine: 'libvirt' }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(isVolbackError(err, ErrorCodes.POOL_UNSUPPORTED)).toBe(true);
    expect(err!.message).toContain(
      "a compressed backup needs the QMP engine (libvirt's push job cannot compress), and backup_engine is libvirt",
    );
    expect(await poolVolumeNames(conn, env.defaults.pool).catch(() => [])).toEqual(before);
    expect(await checkpointNames(vm)).toEqual([]);
  });
});
