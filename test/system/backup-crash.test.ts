// A full backup whose process is killed mid-copy (SIGKILL: no cleanup code runs) leaves QEMU's job,
// its target node, fd set and bitmap, and a target volume without metadata. The next backup of the
// domain removes all of it, then succeeds; the interrupted set is never listed.
import { randomUUID } from 'node:crypto';
import { createBackup, type BackupDefaults } from '../../src/core/backup/coordinator';
import { repair } from '../../src/core/removal/repair';
import { writeDocument } from '../../src/pool/documents';
import { closePools, openPool } from '../../src/pool/pool-layer';
import { scanCatalog } from '../../src/core/catalog/scan';
import type { Connection } from '../../src/libvirt';
import { backupVolumeName, metadataVolumeName, setIdPrefix } from '../../src/pool/volume-names';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  poolVolumeNames,
  qemuBitmaps,
  qemuLeftovers,
  sameContent,
  killBackupMidCopy,
  type TestDomain,
} from '../support';

jest.setTimeout(240_000);
const MiB = 1024 * 1024;

describe('a full backup killed mid-copy', () => {
  const cleanup = new Cleanup();
  let conn: Connection;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
  });
  afterAll(() => cleanup.run());

  const killMidCopy = (vm: TestDomain, defaults: BackupDefaults, lockDir: string): Promise<string> =>
    killBackupMidCopy({ domain: vm.name, defaults, lockDir });

  it('is cleaned up by the next backup of the domain, which then succeeds', async () => {
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [1024 * MiB, 64 * MiB], label: 'bcrash' });
    await vm.write('vda', 0x3c, 0, 512 * MiB);
    await vm.write('vdb', 0x3d, MiB, MiB);
    const killedSetId = await killMidCopy(vm, defaults, lockDir);

    // What the kill left: QEMU objects of the run, its checkpoint's bitmaps, volumes without metadata.
    const prefix = setIdPrefix(killedSetId);
    expect(await qemuLeftovers(vm.domain)).toEqual(
      expect.arrayContaining([`node volback-${prefix}-vda`, `node volback-${prefix}-vdb`]),
    );
    expect(await qemuBitmaps(vm.domain)).toEqual([`volback-${killedSetId}`]);
    const ofKilledRun = async (): Promise<string[]> =>
      (await poolVolumeNames(conn, defaults.pool)).filter((n) => n.includes(`-${prefix}.`));
    expect((await ofKilledRun()).length).toBe(2);

    const next = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(next.set.kind).toBe('full');
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
    expect(await qemuBitmaps(vm.domain)).toEqual([next.set.checkpoint!.name]);
    expect(await ofKilledRun()).toEqual([]);
    const scan = await scanCatalog(conn, { pools: [defaults.pool] });
    expect([...scan.catalog.sets.keys()]).toEqual([next.set.id]);
    expect(scan.strayVolumes).toEqual([]);
    for (const disk of vm.disks) {
      const volume = next.set.disks.find((d) => d.target === disk.target)!.volume!;
      expect(
        await sameContent({ path: `${defaults.path}/${volume.name}`, format: 'qcow2' }, disk.modelPath),
      ).toBe(true);
    }
  });

  it("is cleaned up by repair: volback's own leftovers go, nothing else; a dry run changes nothing", async () => {
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [1024 * MiB, 64 * MiB], label: 'brepair' });
    await vm.write('vda', 0x4c, 0, 512 * MiB);
    await vm.write('vdb', 0x4d, MiB, MiB);
    const killedSetId = await killMidCopy(vm, defaults, lockDir);
    // A backup after the kill, through libvirt's job (so no sweep of the QMP engine cleans up first).
    const kept = await createBackup(conn, vm.name, {
      defaults,
      lockDir,
      fullBackupEngine: 'libvirt',
      definition: { mode: 'push', kind: 'full', disks: [] },
    });
    const prefix = setIdPrefix(killedSetId);

    // Beside the kill's leftovers: a user's volume, a stray of a domain this host does not have, and
    // the data of a set whose metadata got damaged. None of them may go.
    const at = new Date();
    const foreign = backupVolumeName({
      domain: 'elsewhere-vm',
      disk: 'vda',
      createdAt: at,
      setId: randomUUID(),
      format: 'qcow2',
    });
    const damagedId = randomUUID();
    const damagedData = backupVolumeName({
      domain: vm.name,
      disk: 'vda',
      createdAt: at,
      setId: damagedId,
      format: 'qcow2',
    });
    const pool = await openPool(conn, defaults.pool);
    try {
      for (const name of ['users-own.qcow2', foreign, damagedData])
        (await pool.driver.createRestoreVolume(pool, { name, format: 'qcow2', capacity: MiB })).free();
      await writeDocument(
        pool,
        metadataVolumeName({ domain: vm.name, createdAt: at, setId: damagedId }),
        '<volbackupset version=',
      );
    } finally {
      closePools([pool]);
    }
    const state = async () => ({
      volumes: await poolVolumeNames(conn, defaults.pool),
      qemu: await qemuLeftovers(vm.domain),
      bitmaps: await qemuBitmaps(vm.domain),
    });
    const before = await state();

    const dry = await repair(conn, { dryRun: true, domain: vm.name, lockDir, qemu: true });
    expect(await state()).toEqual(before);
    const removed = (r: typeof dry) => r.removed.map((i) => `${i.kind} ${i.name}`).sort();
    expect(removed(dry)).toEqual(
      expect.arrayContaining([
        `qemu-objects node volback-${prefix}-vda`,
        `qemu-objects bitmap volback-${killedSetId}`,
        ...before.volumes.filter((n) => n.includes(`-${prefix}.`)).map((n) => `stray-volume ${n}`),
      ]),
    );
    expect(dry.left.map((i) => i.name)).toEqual([damagedData]);
    // Looking at every domain: the stray of a domain this host does not have is found, and left.
    const everywhere = await repair(conn, { dryRun: true, lockDir });
    expect(everywhere.left.find((i) => i.name === foreign)?.reason).toMatch(/its domain is not on this host/);
    expect(everywhere.removed.some((i) => i.name === foreign)).toBe(false);
    expect(await state()).toEqual(before);
    for (const untouched of [
      'users-own.qcow2',
      foreign,
      damagedData,
      ...kept.set.disks.map((d) => d.volume!.name),
    ])
      expect(removed(dry).some((r) => r.endsWith(` ${untouched}`))).toBe(false);

    const done = await repair(conn, { domain: vm.name, lockDir, qemu: true });
    expect(removed(done)).toEqual(removed(dry));
    const after = await state();
    expect(after.qemu).toEqual([]);
    expect(after.bitmaps).toEqual([kept.set.checkpoint!.name]);
    expect(after.volumes).toEqual(before.volumes.filter((n) => !n.includes(`-${prefix}.`)));
    // The backup that was there is whole, and the next one continues its chain.
    await vm.write('vdb', 0x4e, 8 * MiB, MiB);
    const next = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(next.set).toMatchObject({ kind: 'incremental', parentId: kept.set.id });
    const volume = next.set.disks.find((d) => d.target === 'vdb')!.volume!;
    expect(
      await sameContent({ path: `${defaults.path}/${volume.name}`, format: 'qcow2' }, vm.disks[1].modelPath),
    ).toBe(true);
  });
});
