// lane: testhost (scripts/test-lanes)
// The LVM test host (scripts/testhost) through volback's own binding: a remote libvirtd whose
// logical pool is active, an LV volume that gives back through a volume stream the bytes it was
// sent, a TCG domain on an LV and a qcow2 file, and the same host over qemu+ssh with the image's key.
import { randomBytes } from 'crypto';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import {
  Connection,
  StoragePool,
  isLibvirtError,
  virDomainState,
  virStoragePoolState,
  virStorageVolType,
} from '../../src/libvirt';
import {
  Cleanup,
  TESTHOST_DIR_POOL,
  TESTHOST_FIX,
  TESTHOST_VG,
  chooseVirtType,
  createVolume,
  openTestHost,
  testHostSshUri,
  uniqueName,
} from '../support';

const MiB = 1024 * 1024;

jest.setTimeout(60_000);

/** The pool `name` of the test host, or an Error naming the fix. */
async function testHostPool(conn: Connection, name: string): Promise<StoragePool> {
  try {
    return await conn.lookupStoragePoolByName(name);
  } catch (err) {
    throw new Error(`the test host at ${conn.uri} has no pool '${name}'. ${TESTHOST_FIX}`, { cause: err });
  }
}

/** A plain LV: allocation = capacity (a smaller allocation makes libvirt create a sparse snapshot LV). */
function lvXml(name: string, bytes: number): string {
  return `<volume>
  <name>${name}</name>
  <capacity unit='bytes'>${bytes}</capacity>
  <allocation unit='bytes'>${bytes}</allocation>
  <target><format type='raw'/></target>
</volume>`;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('the LVM test host', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let lvm: StoragePool;

  beforeAll(async () => {
    conn = cleanup.connection(await openTestHost());
    lvm = await testHostPool(conn, TESTHOST_VG);
    cleanup.add(`pool handle ${TESTHOST_VG}`, async () => lvm.free());
  });

  afterAll(() => cleanup.run());

  it('is a remote libvirtd (not this machine) without KVM, with an active logical pool on its VG', async () => {
    expect(await conn.getHostname()).toBe('testhost');
    expect(await conn.getType()).toBe('QEMU');
    // no KVM inside (its CPU has no SVM/VMX): volback must pick TCG for the test host's domains
    expect(await conn.getCapabilities()).not.toMatch(/<domain type='kvm'/);
    // A host without KVM (here: the guest CPU has no SVM): libvirt offers no KVM domains, so no probe runs.
    const virt = await chooseVirtType(conn);
    expect(virt).toMatchObject({ virtType: 'qemu', cpu: 'default', forced: false });
    expect(virt.reason).toMatch(/libvirt offers no KVM domains: .*not supported/);
    expect(await lvm.isActive()).toBe(true);
    const info = await lvm.getInfo();
    expect(info.state).toBe(virStoragePoolState.VIR_STORAGE_POOL_RUNNING);
    expect(info.capacity).toBeGreaterThan(1024 * MiB);
    const xml = await lvm.getXMLDesc();
    expect(xml).toMatch(/<pool type='logical'>/);
    expect(xml).toContain(`<name>${TESTHOST_VG}</name>`);

    const dir = await testHostPool(conn, TESTHOST_DIR_POOL);
    try {
      expect(await dir.isActive()).toBe(true);
      expect(await dir.getXMLDesc()).toMatch(/<pool type='dir'>/);
    } finally {
      dir.free();
    }
  });

  it('creates an LV volume, streams bytes into it and back unchanged, and deletes it', async () => {
    const name = uniqueName('lv');
    const vol = cleanup.volume(await lvm.createVolume(lvXml(name, 16 * MiB)));
    expect(await vol.getPath()).toBe(`/dev/${TESTHOST_VG}/${name}`);
    expect(await vol.getInfo()).toMatchObject({
      type: virStorageVolType.VIR_STORAGE_VOL_BLOCK,
      capacity: 16 * MiB,
    });

    const data = randomBytes(5 * MiB + 4096);
    await pipeline(Readable.from([data.subarray(0, 3 * MiB), data.subarray(3 * MiB)]), vol.upload());
    const back = await readAll(vol.download({ length: data.length }));
    expect(back.length).toBe(data.length);
    expect(back.equals(data)).toBe(true);
    // a ranged download gives exactly that slice (a new LV's other bytes are whatever its extents
    // held before: LVM does not zero them, so nothing is said of them here)
    const slice = await readAll(vol.download({ offset: 3 * MiB - 4096, length: 8192 }));
    expect(slice.equals(data.subarray(3 * MiB - 4096, 3 * MiB + 4096))).toBe(true);

    await vol.delete();
    const err = await lvm.lookupVolumeByName(name).catch((e: unknown) => e);
    expect(isLibvirtError(err, 'VIR_ERR_NO_STORAGE_VOL')).toBe(true);
  });

  it('runs a tiny OS-less TCG domain whose disks are an LV and a qcow2 file of the dir pool', async () => {
    const lv = cleanup.volume(await lvm.createVolume(lvXml(uniqueName('dom-lv'), 16 * MiB)));
    const dir = await testHostPool(conn, TESTHOST_DIR_POOL);
    cleanup.add(`pool handle ${TESTHOST_DIR_POOL}`, async () => dir.free());
    const qcow2 = await createVolume(dir, cleanup, `${uniqueName('dom-q')}.qcow2`, 16 * MiB);
    const [lvPath, qcow2Path] = [await lv.getPath(), await qcow2.getPath()];
    const name = uniqueName('dom');
    // type='qemu': the test host has no /dev/kvm, its domains run under TCG inside its own TCG
    const dom = cleanup.domain(
      await conn.createDomain(`<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='block' device='disk'><driver name='qemu' type='raw' cache='none'/>
      <source dev='${lvPath}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='${qcow2Path}'/><target dev='vdb' bus='virtio'/></disk>
    <memballoon model='none'/>
  </devices>
</domain>`),
    );
    expect(await dom.getState()).toMatchObject({ state: virDomainState.VIR_DOMAIN_RUNNING });
    expect(await dom.getBlockInfo('vda')).toMatchObject({ capacity: 16 * MiB });
    expect(await dom.getBlockInfo('vdb')).toMatchObject({ capacity: 16 * MiB });
    await dom.destroy();
    const gone = await conn.lookupDomainByName(name).catch((e: unknown) => e);
    expect(isLibvirtError(gone, 'VIR_ERR_NO_DOMAIN')).toBe(true); // transient: destroy removes it
  });

  it('answers over qemu+ssh with the key made for its image, checking its host key', async () => {
    const uri = await testHostSshUri();
    expect(uri).toMatch(/^qemu\+ssh:\/\/root@127\.0\.0\.1:\d+\/system\?keyfile=/);
    const ssh = await openTestHost(uri);
    try {
      expect(await ssh.getHostname()).toBe('testhost');
      const pool = await testHostPool(ssh, TESTHOST_VG);
      expect(await pool.isActive()).toBe(true);
      pool.free();
    } finally {
      await ssh.close();
    }
  });
});
