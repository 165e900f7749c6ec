// The reason RBD is here: host 1 (the system libvirtd) backs up a running two-disk domain into the
// shared rbd pool; host 2 (scripts/secondhost: its own libvirtd, namespace and volback state, which
// never saw the domain and has nothing but the pool definition and its secret) lists those backups
// with volback's CLI and restores the VM from them; the VM starts there on disks byte-identical to
// what host 1's domain held at that point.
import { createBackup, type BackupResult } from '../../src/core/backup/coordinator';
import { virDomainUndefineFlagsValues, type Connection } from '../../src/libvirt';
import type { OpenPool } from '../../src/pool/pool-layer';
import { imagesEqual } from '../../src/tools/qemu-img';
import { Cleanup, backupLocation, createTestDomain, openSystemConnection, uniqueName } from '../support';
import { openTestRbdPool } from '../support/rbd';
import { openSecondHost, volbackAsHost2 } from '../support/second-host';

const MiB = 1024 * 1024;
jest.setTimeout(600_000);

describe('a second host restores from the shared rbd pool', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let host2: Connection;
  let rbd: OpenPool;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    host2 = cleanup.connection(await openSecondHost());
    rbd = await openTestRbdPool(conn, cleanup);
  });
  afterAll(() => cleanup.run());

  it('lists host 1 backups and brings the VM back on host 2, byte for byte', async () => {
    const { lockDir, defaults: dirDefaults } = backupLocation(conn, cleanup);
    const defaults = { ...dirDefaults, pool: rbd.name, format: 'raw' as const };
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB], label: 'mhost' });
    await vm.write('vda', 0x71, 2 * MiB, 3 * MiB);
    await vm.write('vdb', 0x72, 0, MiB);
    const full: BackupResult = await createBackup(conn, vm.name, { defaults, lockDir });
    await vm.write('vda', 0x73, 9 * MiB, 512 * 1024);
    const inc = await createBackup(conn, vm.name, { defaults, lockDir });
    const models: Record<string, string> = {
      vda: vm.snapshotModel('vda', 'inc'),
      vdb: vm.snapshotModel('vdb', 'inc'),
    };
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });

    // Host 2 never saw the domain.
    await expect(host2.lookupDomainByName(vm.name)).rejects.toThrow();
    const list = await volbackAsHost2(['backup', 'list', '--domain', vm.name, '--pool', rbd.name, '--json']);
    expect({ code: list.code, stderr: list.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const listed = JSON.parse(list.stdout) as { sets: Array<{ id: string; kind: string }> };
    expect(listed.sets.map((s) => s.id).sort()).toEqual([full.set.id, inc.set.id].sort());

    const name = uniqueName('mhost-restored');
    cleanup.add(`domain ${name} on host 2`, async () => {
      const d = await host2.lookupDomainByName(name);
      try {
        if (await d.isActive()) await d.destroy();
        await d.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
      } finally {
        d.free();
      }
    });
    const restore = await volbackAsHost2([
      'backup',
      'restore',
      inc.set.id,
      '--pool',
      rbd.name,
      '--define',
      '--name',
      name,
      '--start',
      '--yes',
      '--json',
    ]);
    expect({ code: restore.code, stderr: restore.code === 0 ? '' : restore.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    const result = JSON.parse(restore.stdout) as { volumes: Array<{ target: string; volume: string }> };
    const domain = await host2.lookupDomainByName(name);
    try {
      expect(await domain.isActive()).toBe(true);
      expect(await domain.getXMLDesc()).toMatch(/<source protocol='rbd'/);
    } finally {
      domain.free();
    }
    // The restored images, read through host 1's view of the same pool, hold the backed-up bytes.
    await rbd.pool.refresh();
    expect(result.volumes.map((v) => v.target).sort()).toEqual(['vda', 'vdb']);
    for (const v of result.volumes) {
      const volume = await rbd.pool.lookupVolumeByName(v.volume);
      try {
        expect({
          target: v.target,
          same: await imagesEqual(await rbd.driver.image(rbd, volume), {
            path: models[v.target],
            format: 'raw',
          }),
        }).toEqual({ target: v.target, same: true });
      } finally {
        volume.free();
      }
    }
  });
});
