// lane: testhost (scripts/test-lanes)
// Disks whose size is not a whole number of LVM extents, on the LVM test host over qemu+tcp. QEMU
// copies a disk only into a target of its own size, and an LV is whole extents: a raw full of such
// a disk into the logical pool is refused before anything is copied, with nothing left in the VG and
// no checkpoint made; the same domain backed up into a dir pool restores into LVs whose rest past
// the disk reads as zeros, not as what an earlier LV left on the VG's free space.
import { createBackup } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { restoreBackup } from '../../src/core/restore/restore';
import { flushDisk, writeDiskPattern } from '../../src/host/scratch-domain';
import {
  virDomainUndefineFlagsValues,
  type Connection,
  type Domain,
  type StoragePool,
} from '../../src/libvirt';
import { closePools, openPool, type OpenPool } from '../../src/pool/pool-layer';
import { buildDomainXml } from '../../src/xml/scratch-domains';
import {
  Cleanup,
  TESTHOST_DIR_POOL,
  TESTHOST_VG,
  chooseVirtType,
  createRemoteDirPool,
  createVolume,
  openTestHost,
  testHost,
  uniqueName,
} from '../support';
import {
  dirtyFreeExtents,
  readThroughDriver,
  refreshQuietly,
  removeVolumesNamedAfter,
} from '../support/lvm-disks';

const MiB = 1024 * 1024;
/** vda is whole 4 MiB extents; vdb is not. */
const SIZES = { vda: 8 * MiB, vdb: 6 * MiB + 64 * 1024 };

jest.setTimeout(600_000);

describe('disks of a size that is not whole LVM extents', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let vg: StoragePool;
  let lvm: OpenPool;
  let domain: Domain;
  let name: string;
  let dirName: string;
  const model: Record<string, Buffer> = { vda: Buffer.alloc(SIZES.vda), vdb: Buffer.alloc(SIZES.vdb) };
  const lockDir = `/tmp/volback-lvm-odd-locks-${process.pid}`;

  const mine = async (): Promise<string[]> => {
    await refreshQuietly(vg);
    return (await vg.listVolumeNames()).filter((n) => n.includes(name));
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openTestHost());
    vg = await conn.lookupStoragePoolByName(TESTHOST_VG);
    cleanup.add(`pool handle ${TESTHOST_VG}`, async () => vg.free());
    name = uniqueName('lvm-odd-vm');
    dirName = uniqueName('lvm-odd-pool');
    await createRemoteDirPool(conn, cleanup, dirName);
    cleanup.add('restores in the VG', removeVolumesNamedAfter(vg, name));
    const files = await conn.lookupStoragePoolByName(TESTHOST_DIR_POOL);
    cleanup.add(`pool handle ${TESTHOST_DIR_POOL}`, async () => files.free());
    const disks = [];
    for (const [target, size] of Object.entries(SIZES)) {
      const volume = await createVolume(files, cleanup, `${uniqueName(target)}.qcow2`, size);
      disks.push({ target, path: await volume.getPath() });
    }
    domain = cleanup.domain(
      await conn.defineDomain(buildDomainXml({ name, virt: await chooseVirtType(conn), disks })),
      virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    );
    await domain.create();
    lvm = await openPool(conn, TESTHOST_VG);
    cleanup.add('LVM pool handle', async () => closePools([lvm]));
    for (const [target, pattern] of [
      ['vda', 0xb1],
      ['vdb', 0xb2],
    ] as const) {
      const length = 64 * 1024;
      const offset = SIZES[target] - length; // the disk's last granule
      await writeDiskPattern(domain, target, pattern, offset, length);
      model[target].fill(pattern, offset, offset + length);
      await flushDisk(domain, target);
    }
  });

  afterAll(() => cleanup.run());

  it('refuses a raw full into the logical pool before anything is copied, and leaves nothing', async () => {
    await expect(
      createBackup(conn, name, { defaults: { pool: TESTHOST_VG, path: '/x', format: 'raw' }, lockDir }),
    ).rejects.toThrow(
      new RegExp(
        `${name}\\.vdb\\..*: the disk is ${SIZES.vdb} bytes, not a whole number of the volume group's extents`,
      ),
    );
    expect(await mine()).toEqual([]);
    expect(await domain.listAllCheckpoints()).toEqual([]);
    const listed = (await scanCatalog(conn, { pools: [TESTHOST_VG] })).stored;
    expect(listed.filter((s) => s.set.domain.name === name)).toEqual([]);
  });

  it('restores a backup from a dir pool into LVs: the disk exact, the rest of the LV zeros', async () => {
    const { set } = await createBackup(conn, name, {
      defaults: { pool: dirName, path: '/x', format: 'qcow2' },
      lockDir,
    });
    // Old bytes where the restore's LVs go: LVM hands out freed extents as they are.
    await dirtyFreeExtents(TESTHOST_VG, 16, 0xee);
    // ... and the next LVs do land there: a new one reads as the dirt (past the 4 KiB LVM zeroes).
    const probe = await vg.createVolume(
      `<volume><name>${name}-probe</name><capacity unit='bytes'>${8 * MiB}</capacity></volume>`,
    );
    const probed = await testHost(
      'ssh',
      `qemu-io -r -f raw -c 'read -P 0xee 4096 ${8 * MiB - 4096}' ${await probe.getPath()}`,
    );
    await probe.delete();
    probe.free();
    expect(probed).not.toMatch(/Pattern verification failed/);

    const result = await restoreBackup(conn, { setId: set.id, scanPools: [dirName], pool: TESTHOST_VG });
    expect(result.damage).toEqual([]);
    for (const v of result.volumes) {
      const volume = await vg.lookupVolumeByName(v.volume);
      const { capacity } = await volume.getInfo();
      volume.free();
      const size = SIZES[v.target as keyof typeof SIZES];
      expect(capacity).toBe(Math.ceil(size / (4 * MiB)) * 4 * MiB);
      const bytes = await readThroughDriver(lvm, v.volume, capacity);
      expect(bytes.subarray(0, size).equals(model[v.target])).toBe(true);
      expect(bytes.subarray(size).equals(Buffer.alloc(capacity - size))).toBe(true);
    }
  });
});
