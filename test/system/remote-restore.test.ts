// lane: testhost (scripts/test-lanes)
// Restores on a remote host: the LVM test host (scripts/testhost) over qemu+tcp. A two-disk TCG
// domain on qcow2 files of the host's dir pool gets a full and an incremental; each point in time is
// restored into new volumes of two pools on that host, copied there by libvirt (no byte crosses the
// connection), and read back through libvirt alone; the VM is rebuilt as a clone, and after it was
// deleted, from what the pool holds, through the library and through the CLI. Then a backup made by
// this machine's own libvirtd is restored onto the test host: its guest bytes stream between the two
// connections, and the VM is defined and started there, fitted to a host without KVM.
import { createBackup } from '../../src/core/backup/coordinator';
import { restoreDomain } from '../../src/core/restore/domain';
import { restoreBackup } from '../../src/core/restore/restore';
import { flushDisk } from '../../src/host/scratch-domain';
import { kindOf } from '../../src/host/connection-kind';
import {
  virDomainUndefineFlagsValues,
  type Connection,
  type Domain,
  type StoragePool,
} from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { RemoteChain } from '../../src/pool/remote-image';
import { parseDomainXml } from '../../src/xml/libvirt-domain';
import {
  Cleanup,
  createRemoteDirPool,
  createRemoteDomain,
  type RemoteDomain,
  REPO_ROOT,
  TESTHOST_DIR_POOL,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  openTestHost,
  testHost,
  uniqueName,
} from '../support';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const MiB = 1024 * 1024;
const DISK = 16 * MiB;

jest.setTimeout(600_000);

describe('restores on a remote host, copied by libvirt on the host', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let backups: StoragePool;
  let backupPool: string;
  let dir: StoragePool;
  const lockDir = `/tmp/volback-remote-restore-locks-${process.pid}`;
  // The domain, its model at each backup, and the two sets.
  let name: string;
  let domain: Domain;
  let full: BackupSet;
  let inc: BackupSet;
  const at: Record<string, Record<string, Buffer>> = {};

  /** Every restored volume of a pool as the host's libvirt reads it: one layer, equal to `model`. */
  async function expectRestored(
    volumes: ReadonlyArray<{ target: string; pool: string; volume: string; format: string }>,
    model: Record<string, Buffer>,
  ): Promise<void> {
    expect(volumes.map((v) => v.target).sort()).toEqual(Object.keys(model).sort());
    for (const v of volumes) {
      const pool = await conn.lookupStoragePoolByName(v.pool);
      await pool.refresh();
      const volume = await pool.lookupVolumeByName(v.volume);
      const chain = await RemoteChain.open(conn, volume);
      try {
        expect(chain.backingPath).toBeUndefined(); // flattened: stands alone
        expect(chain.virtualSize).toBe(DISK);
        expect((await chain.read(0, DISK)).equals(model[v.target])).toBe(true);
      } finally {
        chain.close();
        volume.free();
        pool.free();
      }
    }
  }

  /** Removes restored volumes when the tests end. */
  function removeLater(volumes: ReadonlyArray<{ pool: string; volume: string }>): void {
    for (const v of volumes)
      cleanup.add(`restored ${v.volume}`, async () => {
        const pool = await conn.lookupStoragePoolByName(v.pool);
        const volume = await pool.lookupVolumeByName(v.volume).catch(() => undefined);
        await volume?.delete();
        volume?.free();
        pool.free();
      });
  }

  /** Volume names of the host's two pools, to show a refused restore made nothing. */
  const allVolumes = async (): Promise<string[]> => {
    await Promise.all([backups.refresh(), dir.refresh()]);
    return [...(await backups.listVolumeNames()), ...(await dir.listVolumeNames())].sort();
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openTestHost());
    expect((await kindOf(conn)).local).toBe(false);
    backupPool = uniqueName('remote-restore');
    backups = await createRemoteDirPool(conn, cleanup, backupPool);
    dir = await conn.lookupStoragePoolByName(TESTHOST_DIR_POOL);
    cleanup.add(`pool handle ${TESTHOST_DIR_POOL}`, async () => dir.free());
    let model: Record<string, Buffer>;
    let write: RemoteDomain['write'];
    ({ name, domain, model, write } = await createRemoteDomain(conn, cleanup, 'remote-rvm', DISK));
    const backup = async (): Promise<BackupSet> => {
      for (const target of ['vda', 'vdb']) await flushDisk(domain, target);
      return (
        await createBackup(conn, name, {
          defaults: { pool: backupPool, path: '/nonexistent', format: 'qcow2' },
          lockDir,
        })
      ).set;
    };
    await write('vda', 0x61, MiB, 3 * MiB);
    await write('vdb', 0x62, 7 * MiB + 4096, 200 * 1024);
    full = await backup();
    at.full = { vda: Buffer.from(model.vda), vdb: Buffer.from(model.vdb) };
    await write('vda', 0x63, 2 * MiB, 128 * 1024); // over the full's data
    await write('vdb', 0x64, 13 * MiB, MiB);
    inc = await backup();
    at.inc = { vda: Buffer.from(model.vda), vdb: Buffer.from(model.vdb) };
    expect(full.kind).toBe('full');
    expect(inc).toMatchObject({ kind: 'incremental', parentId: full.id });
  });

  afterAll(() => cleanup.run());

  it('restores each point in time into new volumes of the backup pool and of another pool', async () => {
    for (const [set, model] of [
      [full, at.full],
      [inc, at.inc],
    ] as const) {
      const same = await restoreBackup(conn, { setId: set.id, scanPools: [backupPool] });
      removeLater(same.volumes);
      expect(same.volumes.every((v) => v.pool === backupPool && v.format === 'qcow2')).toBe(true);
      expect(same.damage).toEqual([]);
      await expectRestored(same.volumes, model);

      const other = await restoreBackup(conn, {
        setId: set.id,
        scanPools: [backupPool],
        pool: TESTHOST_DIR_POOL,
        format: 'raw',
        disks: ['vdb'],
      });
      removeLater(other.volumes);
      expect(other.volumes).toEqual([
        expect.objectContaining({ target: 'vdb', pool: TESTHOST_DIR_POOL, format: 'raw' }),
      ]);
      await expectRestored(other.volumes, { vdb: model.vdb });
    }
  });

  it("refuses to overwrite the domain's own disks on a remote host, before anything changes", async () => {
    const before = await allVolumes();
    await expect(
      restoreBackup(conn, { setId: inc.id, scanPools: [backupPool], overwrite: true, lockDir }),
    ).rejects.toThrow(/cannot overwrite the disks of .* on a remote host/);
    expect(await allVolumes()).toEqual(before);
    expect(await domain.isActive()).toBe(true);
  });

  it('refuses a layer whose header was rewritten to stand on another file, before anything is made', async () => {
    // Another tool points the incremental's vdb layer at a file of the host: a restore would copy it.
    const layer = inc.disks.find((d) => d.target === 'vdb')!.volume!.name;
    const file = `/var/lib/libvirt/${backupPool}/${layer}`;
    const parent = full.disks.find((d) => d.target === 'vdb')!.volume!.name;
    await testHost('ssh', `qemu-img rebase -u -f qcow2 -b /etc/hostname -F raw ${file}`);
    try {
      const before = await allVolumes();
      await expect(
        restoreBackup(conn, { setId: inc.id, scanPools: [backupPool], disks: ['vdb'] }),
      ).rejects.toThrow(/stands on \/etc\/hostname/);
      expect(await allVolumes()).toEqual(before);
    } finally {
      await testHost(
        'ssh',
        `qemu-img rebase -u -f qcow2 -b /var/lib/libvirt/${backupPool}/${parent} -F qcow2 ${file}`,
      );
      await backups.refresh(); // libvirt read the forged header: let it read the true one again
    }
  });

  it('rebuilds the VM as a clone on the host, which starts on the restored disks', async () => {
    const cloneName = uniqueName('remote-clone');
    const result = await restoreDomain(conn, {
      setId: inc.id,
      scanPools: [backupPool],
      name: cloneName,
      newUuid: true,
      start: true,
    });
    removeLater(result.volumes);
    const clone = cleanup.domain(await conn.lookupDomainByName(cloneName));
    expect(await clone.isActive()).toBe(true);
    const disks = (await parseDomainXml(await clone.getXMLDesc())).disks;
    expect(disks.map((d) => d.sourcePath).sort()).toEqual(result.volumes.map((v) => v.path).sort());
    await clone.destroy();
    await expectRestored(result.volumes, at.inc);
  });

  it('brings back the deleted VM from the backup pool alone, through the CLI', async () => {
    const uuid = await domain.getUUIDString();
    await domain.destroy();
    await domain.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
    await expect(conn.lookupDomainByName(name)).rejects.toThrow();

    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-remote-restore-'));
    cleanup.add(`temp ${tmp}`, async () => fs.rmSync(tmp, { recursive: true, force: true }));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        path.join(REPO_ROOT, 'dist/src/cli/main.js'),
        'backup',
        'restore',
        full.id,
        '--define',
        '--start',
        '--connect',
        conn.uri,
        '--json',
        '--yes',
      ],
      { env: { ...process.env, VOLBACK_LOCK_DIR: path.join(tmp, 'locks'), VOLBACK_CONFIG: undefined } },
    );
    const out = JSON.parse(stdout) as {
      volumes: Array<{ target: string; pool: string; volume: string; format: string }>;
    };
    removeLater(out.volumes);
    const back = cleanup.domain(
      await conn.lookupDomainByName(name),
      virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    );
    expect(await back.getUUIDString()).toBe(uuid);
    expect(await back.isActive()).toBe(true);
    await back.destroy();
    await expectRestored(out.volumes, at.full);
  });
});

describe("a backup of this machine's libvirtd restored onto the test host", () => {
  const cleanup = new Cleanup();
  let local: Connection;
  let remote: Connection;
  let full: BackupSet;
  let inc: BackupSet;
  let backupPool: string;
  let lockDir: string;
  const models: Record<string, Record<string, Buffer>> = {};

  beforeAll(async () => {
    local = cleanup.connection(await openSystemConnection());
    remote = cleanup.connection(await openTestHost());
    const location = backupLocation(local, cleanup);
    backupPool = location.defaults.pool;
    lockDir = location.lockDir;
    const vm = await createTestDomain(local, cleanup, { diskSizes: [DISK, DISK], label: 'xhost' });
    const snap = (label: string): Record<string, Buffer> => ({
      vda: fs.readFileSync(vm.snapshotModel('vda', label)),
      vdb: fs.readFileSync(vm.snapshotModel('vdb', label)),
    });
    await vm.write('vda', 0x71, MiB, 2 * MiB);
    await vm.write('vdb', 0x72, 9 * MiB, 300 * 1024);
    full = (await createBackup(local, vm.name, { defaults: location.defaults, lockDir })).set;
    models.full = snap('full');
    await vm.write('vda', 0x73, 2 * MiB + 4096, 64 * 1024);
    await vm.write('vdb', 0x74, 15 * MiB, MiB);
    inc = (await createBackup(local, vm.name, { defaults: location.defaults, lockDir })).set;
    models.inc = snap('inc');
    expect(inc).toMatchObject({ kind: 'incremental', parentId: full.id });
  });

  afterAll(() => cleanup.run());

  /** Volume names of the test host's dir pool. */
  const remoteVolumes = async (): Promise<string[]> => {
    const pool = await remote.lookupStoragePoolByName(TESTHOST_DIR_POOL);
    try {
      await pool.refresh();
      return (await pool.listVolumeNames()).sort();
    } finally {
      pool.free();
    }
  };

  /** Each restored volume on the test host, read through its libvirt: raw, sparse, equal to `model`. */
  async function expectOnTestHost(
    volumes: ReadonlyArray<{ target: string; pool: string; volume: string; format: string }>,
    model: Record<string, Buffer>,
  ): Promise<void> {
    expect(volumes.map((v) => v.target).sort()).toEqual(Object.keys(model).sort());
    const pool = await remote.lookupStoragePoolByName(TESTHOST_DIR_POOL);
    try {
      await pool.refresh();
      for (const v of volumes) {
        cleanup.add(`restored ${v.volume} on the test host`, async () => {
          const p = await remote.lookupStoragePoolByName(v.pool);
          const gone = await p.lookupVolumeByName(v.volume).catch(() => undefined);
          await gone?.delete();
          gone?.free();
          p.free();
        });
        expect(v).toMatchObject({ pool: TESTHOST_DIR_POOL, format: 'raw' });
        const volume = await pool.lookupVolumeByName(v.volume);
        const chain = await RemoteChain.open(remote, volume);
        try {
          expect((await chain.read(0, DISK)).equals(model[v.target])).toBe(true);
          // holes stayed holes: the disk holds a few MiB of 16
          expect((await volume.getInfo()).allocation).toBeLessThan(DISK / 2);
        } finally {
          chain.close();
          volume.free();
        }
      }
    } finally {
      pool.free();
    }
  }

  it('restores each point in time into raw volumes of the other host, streamed between the connections', async () => {
    for (const [set, model] of [
      [full, models.full],
      [inc, models.inc],
    ] as const) {
      const result = await restoreBackup(local, {
        setId: set.id,
        scanPools: [backupPool],
        targetConnection: remote,
        pool: TESTHOST_DIR_POOL,
      });
      expect(result.damage).toEqual([]);
      await expectOnTestHost(result.volumes, model);
    }
  });

  it('refuses a qcow2 target and an overwrite across hosts, before anything is made', async () => {
    const before = await remoteVolumes();
    await expect(
      restoreBackup(local, {
        setId: inc.id,
        scanPools: [backupPool],
        targetConnection: remote,
        pool: TESTHOST_DIR_POOL,
        format: 'qcow2',
      }),
    ).rejects.toThrow(/this restore uploads raw guest bytes/);
    await expect(
      restoreBackup(local, {
        setId: inc.id,
        scanPools: [backupPool],
        targetConnection: remote,
        overwrite: true,
      }),
    ).rejects.toThrow(/takes no other target host/);
    expect(await remoteVolumes()).toEqual(before);
  });

  it('defines and starts the VM on the test host through the CLI, fitted to what that host runs', async () => {
    const name = uniqueName('xhost-vm');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-xhost-'));
    cleanup.add(`temp ${tmp}`, async () => fs.rmSync(tmp, { recursive: true, force: true }));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        path.join(REPO_ROOT, 'dist/src/cli/main.js'),
        'backup',
        'restore',
        inc.id,
        '--define',
        '--name',
        name,
        '--start',
        '--connect',
        local.uri,
        '--target-connect',
        remote.uri,
        '--pool',
        TESTHOST_DIR_POOL,
        '--json',
      ],
      { env: { ...process.env, VOLBACK_LOCK_DIR: path.join(tmp, 'locks'), VOLBACK_CONFIG: undefined } },
    );
    const out = JSON.parse(stdout) as {
      volumes: Array<{ target: string; pool: string; volume: string; format: string }>;
      policy: { changed: Array<{ element: string; reason: string }> };
    };
    const domain = cleanup.domain(await remote.lookupDomainByName(name));
    expect(await domain.isActive()).toBe(true);
    expect(await domain.getUUIDString()).toBe(inc.domain.uuid);
    // The test host runs TCG only: a domain stored as kvm is changed, and the report says so.
    const stored = /<domain[^>]*type=['"](\w+)['"]/.exec(inc.domainXml)![1];
    expect((await domain.getXMLDesc()).match(/<domain[^>]*type=['"](\w+)['"]/)![1]).toBe('qemu');
    expect(out.policy.changed.some((c) => c.element === '/domain')).toBe(stored === 'kvm');
    await domain.destroy();
    await expectOnTestHost(out.volumes, models.inc);
  });
});
