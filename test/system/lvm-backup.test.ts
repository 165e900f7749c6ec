// lane: testhost (scripts/test-lanes)
// The logical (LVM) pool driver on the LVM test host (scripts/testhost) over qemu+tcp: a running
// two-disk TCG domain whose disks are qcow2 inside LVs of the volume group gets a full (raw LVs) and
// an incremental (qcow2 in LVs on their parents) in the logical pool; every point in time reads back
// through libvirt alone as written, verify --deep is ok, each point restores byte for byte into the
// host's dir pool and into LVs, the VM comes back from the LVM pool alone after it was deleted, the
// full merges into the incremental (which then stands alone, as written), and the last set deletes.
import { createBackup } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { verifyBackup } from '../../src/core/catalog/verify';
import { deleteBackup } from '../../src/core/removal/delete';
import { restoreDomain } from '../../src/core/restore/domain';
import { restoreBackup } from '../../src/core/restore/restore';
import { flushDisk, writeDiskPattern } from '../../src/host/scratch-domain';
import {
  virDomainUndefineFlagsValues,
  type Connection,
  type Domain,
  type StoragePool,
} from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { closePools, openPool, type OpenPool } from '../../src/pool/pool-layer';
import { Cleanup, TESTHOST_DIR_POOL, TESTHOST_VG, openTestHost, uniqueName } from '../support';
import {
  readThroughDriver,
  refreshQuietly,
  removeVolumesNamedAfter,
  startDomainOnLvs,
} from '../support/lvm-disks';

const MiB = 1024 * 1024;
const DISK = 16 * MiB;

jest.setTimeout(600_000);

describe('backups in an LVM pool of a remote host', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let vg: StoragePool;
  let lvm: OpenPool;
  let domain: Domain;
  let name: string;
  let full: BackupSet;
  let inc: BackupSet;
  const at: Record<string, Record<string, Buffer>> = {};
  const model: Record<string, Buffer> = { vda: Buffer.alloc(DISK), vdb: Buffer.alloc(DISK) };
  const lockDir = `/tmp/volback-lvm-locks-${process.pid}`;
  const defaults = { pool: TESTHOST_VG, path: '/nonexistent', format: 'raw' as const };

  const readVolume = (pool: OpenPool, volumeName: string): Promise<Buffer> =>
    readThroughDriver(pool, volumeName, DISK);

  const write = async (target: string, pattern: number, offset: number, length: number): Promise<void> => {
    await writeDiskPattern(domain, target, pattern, offset, length);
    model[target].fill(pattern, offset, offset + length);
  };
  const backup = async (): Promise<BackupSet> => {
    for (const target of ['vda', 'vdb']) await flushDisk(domain, target);
    return (await createBackup(conn, name, { defaults, lockDir })).set;
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openTestHost());
    vg = await conn.lookupStoragePoolByName(TESTHOST_VG);
    cleanup.add(`pool handle ${TESTHOST_VG}`, async () => vg.free());
    name = uniqueName('lvm-vm');
    const dirPool = await conn.lookupStoragePoolByName(TESTHOST_DIR_POOL);
    cleanup.add(`pool handle ${TESTHOST_DIR_POOL}`, async () => dirPool.free());
    cleanup.add('backups and restores in the VG', removeVolumesNamedAfter(vg, name));
    cleanup.add('restores in the dir pool', removeVolumesNamedAfter(dirPool, name));
    domain = await startDomainOnLvs(conn, cleanup, vg, name, ['vda', 'vdb'], DISK);
    lvm = await openPool(conn, TESTHOST_VG);
    cleanup.add('LVM pool handle', async () => closePools([lvm]));

    await write('vda', 0x91, MiB, 3 * MiB);
    await write('vdb', 0x92, 5 * MiB + 4096, 300 * 1024);
    full = await backup();
    at.full = { vda: Buffer.from(model.vda), vdb: Buffer.from(model.vdb) };
    await write('vda', 0x93, 2 * MiB, 128 * 1024); // over the full's data
    await write('vdb', 0x94, 12 * MiB, MiB);
    inc = await backup();
    at.inc = { vda: Buffer.from(model.vda), vdb: Buffer.from(model.vdb) };
  });

  afterAll(() => cleanup.run());

  it('keeps a full as raw LVs and an incremental as qcow2 LVs on them; each point reads back as written', async () => {
    expect(full).toMatchObject({ kind: 'full' });
    expect(inc).toMatchObject({ kind: 'incremental', parentId: full.id });
    expect(full.disks.map((d) => d.volume!.format)).toEqual(['raw', 'raw']);
    expect(inc.disks.map((d) => d.volume!.format)).toEqual(['qcow2', 'qcow2']);
    // the incremental copied the changed granules only
    expect(inc.disks.find((d) => d.target === 'vda')!.bytesCopied).toBe(128 * 1024);
    expect(inc.disks.find((d) => d.target === 'vdb')!.bytesCopied).toBe(MiB);
    for (const [set, point] of [
      [full, at.full],
      [inc, at.inc],
    ] as const)
      for (const disk of set.disks)
        expect((await readVolume(lvm, disk.volume!.name)).equals(point[disk.target])).toBe(true);

    // What an incremental costs in the volume group: its LV against the bytes it holds.
    for (const disk of inc.disks) {
      const volume = await vg.lookupVolumeByName(disk.volume!.name);
      const { capacity } = await volume.getInfo();
      volume.free();
      process.stderr.write(
        `lvm incremental ${disk.target}: LV ${capacity} bytes for ${disk.bytesCopied} bytes changed\n`,
      );
      // changed + a quarter (at least 1 MiB) + qcow2 metadata, in whole 4 MiB extents
      const bound = disk.bytesCopied + Math.max(disk.bytesCopied / 4, MiB) + 512 * 1024;
      expect(capacity).toBeLessThanOrEqual(Math.ceil(bound / (4 * MiB)) * 4 * MiB);
    }

    const listed = (await scanCatalog(conn, { pools: [TESTHOST_VG] })).stored.filter(
      (s) => s.set.domain.name === name,
    );
    expect(listed.map((s) => s.set.id).sort()).toEqual([full.id, inc.id].sort());
    for (const set of [full, inc])
      expect(await verifyBackup(conn, { setId: set.id, deep: true, record: false })).toMatchObject({
        verdict: 'ok',
        damage: [],
      });
  });

  it('restores each point in time into the dir pool and into LVs, byte for byte', async () => {
    const dir = await openPool(conn, TESTHOST_DIR_POOL);
    try {
      for (const [set, point] of [
        [full, at.full],
        [inc, at.inc],
      ] as const) {
        for (const [pool, target] of [
          [dir, TESTHOST_DIR_POOL],
          [lvm, TESTHOST_VG],
        ] as const) {
          const result = await restoreBackup(conn, { setId: set.id, scanPools: [TESTHOST_VG], pool: target });
          expect(result.damage).toEqual([]);
          for (const v of result.volumes) {
            expect(v).toMatchObject({ pool: target, format: 'raw' });
            expect((await readVolume(pool, v.volume)).equals(point[v.target])).toBe(true);
          }
        }
      }
    } finally {
      closePools([dir]);
    }
  });

  it('brings the deleted VM back from the LVM pool alone; it starts on LVs', async () => {
    const uuid = await domain.getUUIDString();
    await domain.destroy();
    await domain.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
    const result = await restoreDomain(conn, { setId: inc.id, scanPools: [TESTHOST_VG], start: true });
    const back = cleanup.domain(await conn.lookupDomainByName(name));
    expect(await back.getUUIDString()).toBe(uuid);
    expect(await back.isActive()).toBe(true);
    expect(await back.getXMLDesc()).toMatch(/<disk type='block' device='disk'>/);
    await back.destroy();
    for (const v of result.volumes)
      expect((await readVolume(lvm, v.volume)).equals(at.inc[v.target])).toBe(true);
  });

  it('deletes the full by merging it into the incremental, which then stands alone; then the leaf', async () => {
    const states = async (): Promise<string[]> =>
      (await scanCatalog(conn, { pools: [TESTHOST_VG] })).stored
        .filter((s) => s.set.domain.name === name)
        .map((s) => `${s.set.kind}:${s.set.state}`)
        .sort();
    const started = Date.now();
    await deleteBackup(conn, { setId: full.id, dependents: 'merge', lockDir });
    process.stderr.write(`lvm merge of the full into the incremental: ${(Date.now() - started) / 1000} s\n`);
    expect(await states()).toEqual(['full:complete']); // the incremental, rewritten as the full
    await refreshQuietly(vg);
    const left = await vg.listVolumeNames();
    expect(left.filter((n) => n.includes(name) && n.endsWith('.merge.qcow2'))).toEqual([]);
    for (const d of full.disks) expect(left).not.toContain(d.volume!.name);
    for (const d of inc.disks) {
      expect(left).toContain(d.volume!.name); // the merged volume keeps its name
      expect((await readVolume(lvm, d.volume!.name)).equals(at.inc[d.target])).toBe(true);
      const volume = await vg.lookupVolumeByName(d.volume!.name);
      expect(await lvm.driver.checkLayer(lvm, volume)).toEqual([]); // alone
      const { capacity } = await volume.getInfo();
      volume.free();
      process.stderr.write(
        `lvm merged ${d.target} alone: LV ${capacity} bytes for a ${DISK}-byte disk (${d.bytesCopied} bytes changed)\n`,
      );
    }
    expect(await verifyBackup(conn, { setId: inc.id, deep: true, record: false })).toMatchObject({
      verdict: 'ok',
      damage: [],
    });
    await deleteBackup(conn, { setId: inc.id, dependents: 'refuse', lockDir });
    expect(await states()).toEqual([]);
    await refreshQuietly(vg);
    const gone = await vg.listVolumeNames();
    for (const d of inc.disks) expect(gone).not.toContain(d.volume!.name);
  });
});
