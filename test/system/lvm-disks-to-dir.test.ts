// lane: testhost (scripts/test-lanes)
// A domain on LVM backed up into the host's dir pool, on the LVM test host over qemu+tcp: a running
// two-disk TCG domain whose disks are qcow2 inside LVs gets a full and two incrementals into a dir
// pool of that host (qcow2 files, each on its parent); each point in time verifies deep and
// restores byte for byte into the dir pool and into LVs of the volume group.
import { createBackup } from '../../src/core/backup/coordinator';
import { verifyBackup } from '../../src/core/catalog/verify';
import { restoreBackup } from '../../src/core/restore/restore';
import { flushDisk, writeDiskPattern } from '../../src/host/scratch-domain';
import { type Connection, type Domain, type StoragePool } from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { closePools, openPool, type OpenPool } from '../../src/pool/pool-layer';
import { Cleanup, TESTHOST_VG, createRemoteDirPool, openTestHost, uniqueName } from '../support';
import { readThroughDriver, removeVolumesNamedAfter, startDomainOnLvs } from '../support/lvm-disks';

const MiB = 1024 * 1024;
const DISK = 16 * MiB;
const TARGETS = ['vda', 'vdb'] as const;

jest.setTimeout(900_000);

describe('a domain on LVs, backed up into a dir pool of the same remote host', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let domain: Domain;
  let name: string;
  let dirName: string;
  let dir: OpenPool;
  let lvm: OpenPool;
  const points: Array<{ set: BackupSet; disks: Record<string, Buffer> }> = [];
  const model: Record<string, Buffer> = { vda: Buffer.alloc(DISK), vdb: Buffer.alloc(DISK) };
  const lockDir = `/tmp/volback-lvm-dir-locks-${process.pid}`;

  const write = async (target: string, pattern: number, offset: number, length: number): Promise<void> => {
    await writeDiskPattern(domain, target, pattern, offset, length);
    model[target].fill(pattern, offset, offset + length);
  };
  const backup = async (): Promise<void> => {
    for (const target of TARGETS) await flushDisk(domain, target);
    const defaults = { pool: dirName, path: '/nonexistent', format: 'qcow2' as const };
    const { set } = await createBackup(conn, name, { defaults, lockDir });
    points.push({ set, disks: { vda: Buffer.from(model.vda), vdb: Buffer.from(model.vdb) } });
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openTestHost());
    const vg: StoragePool = await conn.lookupStoragePoolByName(TESTHOST_VG);
    cleanup.add(`pool handle ${TESTHOST_VG}`, async () => vg.free());
    name = uniqueName('lvm-dir-vm');
    dirName = uniqueName('lvm-dir-pool');
    await createRemoteDirPool(conn, cleanup, dirName);
    // Restores into the VG are named after the domain: removed before the disks and pools go.
    cleanup.add('restores in the VG', removeVolumesNamedAfter(vg, name));
    domain = await startDomainOnLvs(conn, cleanup, vg, name, TARGETS, DISK);
    dir = await openPool(conn, dirName);
    lvm = await openPool(conn, TESTHOST_VG);
    cleanup.add('pool handles', async () => closePools([dir, lvm]));

    await write('vda', 0xa1, MiB, 3 * MiB);
    await write('vdb', 0xa2, 9 * MiB + 4096, 200 * 1024);
    await backup();
    await write('vda', 0xa3, 2 * MiB, 64 * 1024); // over the full's data
    await write('vdb', 0xa4, 14 * MiB, MiB);
    await backup();
    await write('vda', 0xa5, 15 * MiB, 128 * 1024);
    await write('vdb', 0xa6, 0, 64 * 1024);
    await backup();
  });

  afterAll(() => cleanup.run());

  it('stores a full and two incrementals as a qcow2 chain in the dir pool; each verifies deep', async () => {
    expect(points.map((p) => p.set.kind)).toEqual(['full', 'incremental', 'incremental']);
    expect(points[1].set.parentId).toBe(points[0].set.id);
    expect(points[2].set.parentId).toBe(points[1].set.id);
    const copied = points.slice(1).map((p) => p.set.disks.map((d) => `${d.target}:${d.bytesCopied}`).sort());
    expect(copied).toEqual([
      ['vda:65536', `vdb:${MiB}`],
      ['vda:131072', 'vdb:65536'],
    ]);
    for (const { set, disks } of points) {
      for (const disk of set.disks) {
        expect(disk.volume).toMatchObject({ pool: dirName, format: 'qcow2' });
        expect((await readThroughDriver(dir, disk.volume!.name, DISK)).equals(disks[disk.target])).toBe(true);
      }
      expect(await verifyBackup(conn, { setId: set.id, deep: true, record: false })).toMatchObject({
        verdict: 'ok',
        damage: [],
      });
    }
  });

  it('restores each point in time into the dir pool and into LVs, byte for byte', async () => {
    for (const { set, disks } of points)
      for (const target of [dir, lvm]) {
        const result = await restoreBackup(conn, { setId: set.id, scanPools: [dirName], pool: target.name });
        expect(result.damage).toEqual([]);
        expect(result.volumes.map((v) => v.target).sort()).toEqual([...TARGETS]);
        for (const v of result.volumes) {
          expect(v.pool).toBe(target.name);
          expect((await readThroughDriver(target, v.volume, DISK)).equals(disks[v.target])).toBe(true);
        }
      }
  });
});
