// Storage pool and volume facade against test:///default (streams: see test/system/binding-qemu.test.ts).
import {
  Connection,
  LibvirtError,
  StoragePool,
  isLibvirtError,
  virConnectListAllStoragePoolsFlags,
  virStoragePoolState,
  virStorageVolType,
} from '../../src/libvirt';
import { Cleanup, uniqueName, volumeXml } from '../support';

const MiB = 1024 * 1024;

describe('libvirt storage (test:///default)', () => {
  let conn: Connection;
  let pool: StoragePool;
  const cleanup = new Cleanup();

  beforeAll(async () => {
    conn = cleanup.connection(await Connection.open('test:///default'));
    const name = uniqueName('pool');
    pool = await conn.defineStoragePool(
      `<pool type='dir'><name>${name}</name><target><path>/${name}</path></target></pool>`,
    );
    cleanup.pool(pool, { deleteVolumes: true });
    await pool.build();
    await pool.create();
  });
  afterAll(() => cleanup.run());

  it('reports pool name, UUID, state, sizes, XML and persistence', async () => {
    expect(await pool.getName()).toMatch(/^vbt-pool-/);
    const uuid = await pool.getUUIDString();
    const again = await conn.lookupStoragePoolByUUID(uuid);
    expect(await again.getName()).toBe(await pool.getName());
    again.free();
    expect(await pool.isActive()).toBe(true);
    expect(await pool.isPersistent()).toBe(true);
    const info = await pool.getInfo();
    expect(info.state).toBe(virStoragePoolState.VIR_STORAGE_POOL_RUNNING);
    expect(info.capacity).toBeGreaterThan(0);
    expect(info.available).toBeLessThanOrEqual(info.capacity);
    expect(await pool.getXMLDesc()).toMatch(/<pool type='dir'>/);
    await pool.refresh();
  });

  it('sets and reads autostart', async () => {
    await pool.setAutostart(true);
    expect(await pool.getAutostart()).toBe(true);
    await pool.setAutostart(false);
    expect(await pool.getAutostart()).toBe(false);
  });

  it('looks pools up by name and lists them with flags', async () => {
    const byName = await conn.lookupStoragePoolByName(await pool.getName());
    expect(await byName.isActive()).toBe(true);
    byName.free();
    const dirPools = await conn.listAllStoragePools(
      virConnectListAllStoragePoolsFlags.VIR_CONNECT_LIST_STORAGE_POOLS_DIR,
    );
    const names = await Promise.all(dirPools.map((p) => p.getName()));
    expect(names).toEqual(expect.arrayContaining(['default-pool', await pool.getName()]));
    dirPools.forEach((p) => p.free());
    const err = await conn.lookupStoragePoolByName('no-such-pool').catch((e: unknown) => e);
    expect(isLibvirtError(err, 'VIR_ERR_NO_STORAGE_POOL')).toBe(true);
  });

  it('creates a transient pool that vanishes when destroyed', async () => {
    const name = uniqueName('transient');
    const tp = await conn.createStoragePool(
      `<pool type='dir'><name>${name}</name><target><path>/${name}</path></target></pool>`,
    );
    expect(await tp.isPersistent()).toBe(false);
    await tp.destroy();
    await expect(conn.lookupStoragePoolByName(name)).rejects.toMatchObject({
      codeName: 'VIR_ERR_NO_STORAGE_POOL',
    });
    tp.free();
  });

  it('creates, clones, finds (by name, path, key), describes and deletes volumes', async () => {
    const vol = await pool.createVolume(volumeXml('a.img', 4 * MiB, 'raw'));
    expect(await vol.getName()).toBe('a.img');
    const path = await vol.getPath();
    const key = await vol.getKey();
    expect(path).toMatch(/\/a\.img$/);
    expect(await vol.getInfo()).toEqual({
      type: virStorageVolType.VIR_STORAGE_VOL_FILE,
      capacity: 4 * MiB,
      allocation: expect.any(Number),
    });
    expect(await vol.getXMLDesc()).toMatch(/<name>a\.img<\/name>/);

    const clone = await pool.createVolumeFrom(volumeXml('b.img', 4 * MiB, 'raw'), vol);
    expect(await clone.getName()).toBe('b.img');

    for (const found of [
      await pool.lookupVolumeByName('a.img'),
      await conn.lookupVolumeByPath(path),
      await conn.lookupVolumeByKey(key),
    ]) {
      expect(await found.getKey()).toBe(key);
      found.free();
    }
    const owner = await vol.getPool();
    expect(await owner.getName()).toBe(await pool.getName());
    owner.free();

    const listed = await pool.listAllVolumes();
    expect((await Promise.all(listed.map((v) => v.getName()))).sort()).toEqual(['a.img', 'b.img']);
    listed.forEach((v) => v.free());

    await clone.delete();
    clone.free();
    await vol.delete();
    const err = await pool.lookupVolumeByName('a.img').catch((e: unknown) => e);
    expect(isLibvirtError(err, 'VIR_ERR_NO_STORAGE_VOL')).toBe(true);
    vol.free();
    await expect(vol.getName()).rejects.toMatchObject({ codeName: 'VIR_ERR_INVALID_STORAGE_VOL' });
  });

  it('surfaces unsupported operations (resize, wipe, streams) as LibvirtError VIR_ERR_NO_SUPPORT', async () => {
    const vol = await pool.createVolume(volumeXml('c.img', MiB, 'raw'));
    try {
      await expect(vol.resize(2 * MiB)).rejects.toMatchObject({ codeName: 'VIR_ERR_NO_SUPPORT' });
      await expect(vol.wipe()).rejects.toMatchObject({ codeName: 'VIR_ERR_NO_SUPPORT' });
      // A stream error reaches the Readable's consumer as the same LibvirtError.
      const err = await (async () => {
        for await (const _ of vol.download()) void _;
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LibvirtError);
      expect((err as LibvirtError).libvirtFunction).toBe('virStorageVolDownload');
      const up = vol.upload();
      const upErr = await new Promise((resolve) => {
        up.on('error', resolve);
        up.end(Buffer.alloc(10));
      });
      expect(isLibvirtError(upErr, 'VIR_ERR_NO_SUPPORT')).toBe(true);
    } finally {
      await vol.delete();
      vol.free();
    }
  });
});
