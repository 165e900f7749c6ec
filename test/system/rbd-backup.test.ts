// Backups into the real Ceph cluster's rbd pool (scripts/ceph): a running two-disk domain, full and
// incrementals through QEMU's blockdev-backup into rbd nodes; every point restores byte for byte into
// a dir pool and into RBD; a dir backup restores into RBD; a whole VM restored from RBD into RBD starts
// on network disks with their <auth>; deleting a middle backup flattens its child, and a parent with a
// clone on it is never removed under it.
import { createBackup, type BackupResult } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { deleteBackup } from '../../src/core/removal/delete';
import { pruneBackups } from '../../src/core/removal/prune';
import { setIdPrefix } from '../../src/pool/volume-names';
import { restoreDomain } from '../../src/core/restore/domain';
import { restoreBackup } from '../../src/core/restore/restore';
import type { Connection } from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { closePools, openPool, type OpenPool } from '../../src/pool/pool-layer';
import { imagesEqual, type ImageRef } from '../../src/tools/qemu-img';
import { parseDomainXml } from '../../src/xml/libvirt-domain';
import {
  Cleanup,
  backupLocation,
  createDirPool,
  createTestDomain,
  killBackupMidCopy,
  openSystemConnection,
  qemuLeftovers,
  uniqueName,
  type TestDomain,
} from '../support';
import { cephEnv } from '../support/ceph';
import { openTestRbdPool } from '../support/rbd';
import { cleanupDomainByName } from './restore-helpers';

const MiB = 1024 * 1024;
jest.setTimeout(600_000);

describe('backups in an rbd pool', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let rbd: OpenPool;
  let env: ReturnType<typeof backupLocation>;
  let dirPool: string;
  let vm: TestDomain;
  const points: Array<{ result: BackupResult; models: Record<string, string> }> = [];

  const backup = (location: string, kind: 'auto' | 'full' = 'auto'): Promise<BackupResult> =>
    createBackup(conn, vm.name, {
      defaults: { ...env.defaults, pool: location, format: location === rbd.name ? 'raw' : 'qcow2' },
      ...(kind === 'full'
        ? { definition: { mode: 'push', kind, disks: [], location: { pool: location } } }
        : {}),
      lockDir: env.lockDir,
    });
  /** The volume `name` of pool `pool` as qemu-img reads it (an RBD image through its key). */
  const imageIn = async (poolName: string, name: string): Promise<ImageRef> => {
    const pool = poolName === rbd.name ? rbd : await openPool(conn, poolName);
    const volume = await pool.pool.lookupVolumeByName(name);
    try {
      return await pool.driver.image(pool, volume);
    } finally {
      volume.free();
      if (pool !== rbd) closePools([pool]);
    }
  };
  const same = async (image: ImageRef, model: string): Promise<boolean> =>
    imagesEqual(image, { path: model, format: 'raw' });
  const volumeOf = (set: BackupSet, target: string): string =>
    set.disks.find((d) => d.target === target)!.volume!.name;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
    rbd = await openTestRbdPool(conn, cleanup);
    dirPool = (await createDirPool(conn, cleanup, 'rbd-restore')).name;
    vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB], label: 'rbd' });
  });
  afterAll(() => cleanup.run());

  it('backs up full and incrementals into RBD clones holding about what changed', async () => {
    const snap = (label: string): Record<string, string> => ({
      vda: vm.snapshotModel('vda', label),
      vdb: vm.snapshotModel('vdb', label),
    });
    await vm.write('vda', 0xab, 1 * MiB, 2 * MiB);
    await vm.write('vdb', 0xcd, 0, 1 * MiB);
    points.push({ result: await backup(rbd.name), models: snap('full') });
    await vm.write('vda', 0x11, 5 * MiB, 1 * MiB);
    await vm.write('vdb', 0x12, 0, 64 * 1024); // over data the full holds
    points.push({ result: await backup(rbd.name), models: snap('inc1') });
    await vm.write('vda', 0x21, 20 * MiB, 3 * MiB);
    points.push({ result: await backup(rbd.name), models: snap('inc2') });

    const [full, inc1, inc2] = points.map((p) => p.result.set);
    expect(full.kind).toBe('full');
    expect(inc1).toMatchObject({ kind: 'incremental', parentId: full.id });
    expect(inc2).toMatchObject({ kind: 'incremental', parentId: inc1.id });
    // Each point reads whole, through its clone chain, as the domain did then.
    for (const { result, models } of points)
      for (const target of ['vda', 'vdb'])
        expect({
          target,
          same: await same(await imageIn(rbd.name, volumeOf(result.set, target)), models[target]),
        }).toEqual({
          target,
          same: true,
        });
    // An incremental stores what changed (RBD allocates whole 4 MiB objects, but stores written extents).
    const stored = async (set: BackupSet, target: string): Promise<number> => {
      const v = await rbd.pool.lookupVolumeByName(volumeOf(set, target));
      try {
        return await rbd.driver.storedBytes(rbd, v);
      } finally {
        v.free();
      }
    };
    expect(await stored(inc1, 'vda')).toBeGreaterThanOrEqual(MiB);
    expect(await stored(inc1, 'vda')).toBeLessThanOrEqual(1.2 * MiB);
    expect(await stored(inc1, 'vdb')).toBeLessThanOrEqual(1.2 * 64 * 1024);
    expect(await stored(inc2, 'vda')).toBeLessThanOrEqual(1.2 * 3 * MiB);
    // Each incremental is a clone of exactly its parent's image.
    for (const [child, parent] of [
      [inc1, full],
      [inc2, inc1],
    ] as const) {
      const c = await rbd.pool.lookupVolumeByName(volumeOf(child, 'vda'));
      const p = await rbd.pool.lookupVolumeByName(volumeOf(parent, 'vda'));
      try {
        expect(await rbd.driver.checkLayer(rbd, c, p)).toEqual([]);
        expect((await rbd.driver.checkLayer(rbd, c)).join()).toMatch(/is a clone of/);
      } finally {
        c.free();
        p.free();
      }
    }
  });

  it('restores every point byte for byte into a dir pool and into RBD', async () => {
    for (const { result, models } of points) {
      for (const [pool, format] of [
        [dirPool, 'qcow2'],
        [rbd.name, 'raw'],
      ] as const) {
        const { volumes } = await restoreBackup(conn, {
          setId: result.set.id,
          pool,
          format,
          scanPools: [rbd.name],
          lockDir: env.lockDir,
        });
        expect(volumes.map((v) => v.target).sort()).toEqual(['vda', 'vdb']);
        for (const v of volumes)
          expect({
            pool,
            target: v.target,
            same: await same(await imageIn(v.pool, v.volume), models[v.target]),
          }).toEqual({
            pool,
            target: v.target,
            same: true,
          });
      }
    }
  });

  it('restores a backup in a dir pool into RBD', async () => {
    await vm.write('vdb', 0x31, 2 * MiB, 1 * MiB);
    const models: Record<string, string> = {
      vda: vm.snapshotModel('vda', 'dir'),
      vdb: vm.snapshotModel('vdb', 'dir'),
    };
    const inDir = await backup(dirPool, 'full');
    const { volumes } = await restoreBackup(conn, {
      setId: inDir.set.id,
      pool: rbd.name,
      scanPools: [dirPool],
      lockDir: env.lockDir,
    });
    for (const v of volumes) {
      expect(v.format).toBe('raw'); // what the rbd driver stores
      expect(await same(await imageIn(rbd.name, v.volume), models[v.target])).toBe(true);
    }
  });

  it('restores the VM from RBD into RBD: network disks with <auth>, and it starts', async () => {
    const { result, models } = points[2];
    const name = uniqueName('rbd-vm');
    cleanupDomainByName(conn, cleanup, name);
    const restored = await restoreDomain(conn, {
      setId: result.set.id,
      name,
      newUuid: true,
      pool: rbd.name,
      start: true,
      scanPools: [rbd.name],
      lockDir: env.lockDir,
    });
    const domain = await conn.lookupDomainByName(restored.name);
    try {
      expect(await domain.isActive()).toBe(true);
      const xml = await domain.getXMLDesc();
      const {
        VOLBACK_CEPH_POOL: cephPool,
        VOLBACK_CEPH_USER: user,
        VOLBACK_CEPH_SECRET_UUID: uuid,
      } = await cephEnv();
      expect((await parseDomainXml(xml)).disks.filter((d) => d.device === 'disk').map((d) => d.type)).toEqual(
        ['network', 'network'],
      );
      for (const v of restored.volumes) {
        const disk = new RegExp(
          `<disk type='network' device='disk'>(?:(?!</disk>)[\\s\\S])*<source protocol='rbd' name='${cephPool}/${v.volume}'`,
        );
        expect(xml).toMatch(disk);
      }
      expect(
        xml.match(new RegExp(`<auth username='${user}'>\\s*<secret type='ceph' uuid='${uuid}'/>`, 'g')),
      ).toHaveLength(2);
      for (const v of restored.volumes)
        expect(await same(await imageIn(rbd.name, v.volume), models[v.target])).toBe(true);
    } finally {
      domain.free();
    }
  });

  it('never removes a parent under its clone; deleting a middle backup flattens its child', async () => {
    const [full, inc1, inc2] = points.map((p) => p.result.set);
    // Ceph itself refuses: the parent's protected snapshot has a clone.
    const parent = await rbd.pool.lookupVolumeByName(volumeOf(full, 'vda'));
    try {
      await expect(rbd.driver.deleteVolume(rbd, parent)).rejects.toThrow();
    } finally {
      parent.free();
    }
    await deleteBackup(conn, {
      setId: inc1.id,
      dependents: 'merge',
      pools: [rbd.name],
      lockDir: env.lockDir,
    });
    // inc2 still reads as its point in time; inc1's images are gone.
    for (const target of ['vda', 'vdb'])
      expect(await same(await imageIn(rbd.name, volumeOf(inc2, target)), points[2].models[target])).toBe(
        true,
      );
    await rbd.pool.refresh();
    const names = await rbd.pool.listVolumeNames();
    expect(names).not.toContain(volumeOf(inc1, 'vda'));
    // The full has no clone left on it (its child was flattened) and goes with its set.
    await deleteBackup(conn, {
      setId: full.id,
      dependents: 'merge',
      pools: [rbd.name],
      lockDir: env.lockDir,
    });
    await rbd.pool.refresh();
    expect(await rbd.pool.listVolumeNames()).not.toContain(volumeOf(full, 'vda'));
    for (const target of ['vda', 'vdb'])
      expect(await same(await imageIn(rbd.name, volumeOf(inc2, target)), points[2].models[target])).toBe(
        true,
      );
  });
  it('prunes an RBD chain to its newest set, which still reads as its point in time', async () => {
    // A new chain in RBD (the newest set before is the dir pool's full), then the prune takes it and
    // what is left of the older RBD chain down to its newest set.
    const models: Array<Record<string, string>> = [];
    const sets: BackupSet[] = [];
    for (const [i, offset] of [4, 12, 28].entries()) {
      await vm.write('vda', 0x50 + i, offset * MiB, 256 * 1024);
      sets.push((await backup(rbd.name, i === 0 ? 'full' : 'auto')).set);
      models.push({ vda: vm.snapshotModel('vda', `p${i}`), vdb: vm.snapshotModel('vdb', `p${i}`) });
    }
    const result = await pruneBackups(conn, {
      domain: vm.name,
      policy: { keepLast: 1 },
      pools: [rbd.name],
      lockDir: env.lockDir,
    });
    expect(result.executed.length).toBeGreaterThanOrEqual(3);
    const left = (await scanCatalog(conn, { pools: [rbd.name] })).stored.filter(
      (x) => x.set.domain.name === vm.name,
    );
    expect(left.map((x) => x.set.id)).toEqual([sets[2].id]);
    for (const target of ['vda', 'vdb'])
      expect(await same(await imageIn(rbd.name, volumeOf(sets[2], target)), models[2][target])).toBe(true);
  });
});

describe('a backup into RBD killed mid-copy', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let rbd: OpenPool;
  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    rbd = await openTestRbdPool(conn, cleanup);
  });
  afterAll(() => cleanup.run());

  it('leaves nothing listed, and the next backup removes what it left and succeeds', async () => {
    const { lockDir, defaults: dirDefaults } = backupLocation(conn, cleanup);
    const defaults = { ...dirDefaults, pool: rbd.name, format: 'raw' as const };
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [512 * MiB, 64 * MiB], label: 'rbdcrash' });
    await vm.write('vda', 0x3c, 0, 384 * MiB);
    await vm.write('vdb', 0x3d, MiB, MiB);
    const killed = await killBackupMidCopy({ domain: vm.name, defaults, lockDir });
    const prefix = setIdPrefix(killed);
    const ofKilledRun = async (): Promise<string[]> => {
      await rbd.pool.refresh();
      return (await rbd.pool.listVolumeNames()).filter((n) => n.includes(`-${prefix}.`));
    };
    expect((await ofKilledRun()).length).toBeGreaterThan(0); // its images, without metadata
    const listed = async (): Promise<string[]> =>
      (await scanCatalog(conn, { pools: [rbd.name] })).stored
        .filter((s) => s.set.domain.name === vm.name)
        .map((s) => s.set.id);
    expect(await listed()).toEqual([]);

    const next = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(next.set.kind).toBe('full');
    expect(await ofKilledRun()).toEqual([]);
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
    expect(await listed()).toEqual([next.set.id]);
    for (const disk of vm.disks) {
      const volume = await rbd.pool.lookupVolumeByName(
        next.set.disks.find((d) => d.target === disk.target)!.volume!.name,
      );
      try {
        expect(
          await imagesEqual(await rbd.driver.image(rbd, volume), { path: disk.modelPath, format: 'raw' }),
        ).toBe(true);
      } finally {
        volume.free();
      }
    }
  });
});
