// The pool layer and catalog against real dir pools: metadata written through the pool layer is read
// back by a fresh connection; chains, orphans, invalid metadata and stray volumes are told apart.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Connection, StorageVolume } from '../../src/libvirt';
import { Connection as LibvirtConnection } from '../../src/libvirt';
import type { BackupSet, DiskBackup } from '../../src/model';
import {
  assertRoom,
  bumpGeneration,
  closePools,
  deleteVolumeIfPresent,
  ensureLocationPool,
  findVolume,
  generationOf,
  getVolume,
  isGenerationMarker,
  openPool,
} from '../../src/pool/pool-layer';
import { backupVolumeName, metadataVolumeName } from '../../src/pool/volume-names';
import { formatBackupSet } from '../../src/xml';
import { encodeIndex, indexVolumeName } from '../../src/pool/catalog-index';
import { forgeIndex } from '../support/forged-index';
import { writeDocument } from '../../src/pool/documents';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { scanCatalog, selectSets } from '../../src/core/catalog/scan';
import {
  Cleanup,
  TEST_POOL_ROOT,
  createDirPool,
  openSystemConnection,
  uniqueName,
  SYSTEM_URI,
} from '../support';

const MiB = 1024 * 1024;

function makeSet(over: { pool: string; domain: string; at: Date; parent?: BackupSet }): BackupSet {
  const id = randomUUID();
  const kind = over.parent ? 'incremental' : 'full';
  const disk: DiskBackup = {
    id: randomUUID(),
    target: 'vda',
    sourcePath: '/var/lib/libvirt/images/x.qcow2',
    sourceFormat: 'qcow2',
    volume: {
      pool: over.pool,
      name: backupVolumeName({
        domain: over.domain,
        disk: 'vda',
        createdAt: over.at,
        setId: id,
        format: 'qcow2',
      }),
      format: 'qcow2',
    },
    kind,
    parentId: over.parent?.disks[0].id,
    bitmap: `volback-${id}`,
    virtualSize: 16 * MiB,
    bytesCopied: MiB,
  };
  return {
    id,
    volbackVersion: '0.1.0',
    mode: 'push',
    kind,
    state: 'complete',
    createdAt: over.at,
    parentId: over.parent?.id,
    domain: { name: over.domain, uuid: '4dea22b3-1d52-d8f3-2516-782e98ab3fa0' },
    disks: [disk],
    domainXml: `<domain type='qemu'><name>${over.domain}</name></domain>`,
  };
}

describe('pool layer and catalog on real dir pools', () => {
  const cleanup = new Cleanup();
  let conn: Connection;

  beforeAll(async () => {
    conn = await openSystemConnection();
  });
  afterAll(async () => {
    await cleanup.run();
    await conn.close();
  });

  it('creates the default backup pool on first use and reuses it afterwards', async () => {
    const name = uniqueName('default');
    const location = { pool: name, path: path.join(TEST_POOL_ROOT, name) };
    const created = await ensureLocationPool(conn, location);
    cleanup.add(`pool ${name}`, async () => {
      const pool = await conn.lookupStoragePoolByName(name);
      await pool.destroy().catch(() => undefined);
      await pool.delete().catch(() => undefined);
      await pool.undefine();
      pool.free();
    });
    const { path: createdAt } = await created.driver.describePool(created.xml);
    expect({ name: created.name, type: created.type, path: createdAt }).toEqual({
      name,
      type: 'dir',
      path: location.path,
    });
    expect(await created.pool.getAutostart()).toBe(true);
    await created.pool.destroy(); // an inactive default pool is started again
    const again = await ensureLocationPool(conn, location);
    expect(await again.pool.isActive()).toBe(true);
    await expect(assertRoom(again, Number.MAX_SAFE_INTEGER, 'disk vda')).rejects.toThrow(
      new RegExp(`pool '${name}' has \\d+ bytes free but disk vda needs`),
    );
    closePools([created, again]);
  });

  it('finds a volume another host wrote after libvirt last looked: the file is there, so a miss refreshes', async () => {
    const { name: poolName, dir } = await createDirPool(conn, cleanup, 'lookup');
    const pool = await openPool(conn, poolName);
    try {
      // written behind libvirt's back, as a host sharing the pool would
      fs.writeFileSync(path.join(dir, 'elsewhere.raw'), Buffer.alloc(MiB, 1), { mode: 0o600 });
      expect(await pool.pool.listVolumeNames()).not.toContain('elsewhere.raw');
      const found = await findVolume(pool, 'elsewhere.raw');
      expect(found).toBeDefined();
      expect(await found!.getName()).toBe('elsewhere.raw');
      found!.free();
      expect(await findVolume(pool, 'nowhere.raw')).toBeUndefined();
      await expect(getVolume(pool, 'nowhere.raw')).rejects.toThrow(
        `volume nowhere.raw does not exist in pool '${poolName}'`,
      );
    } finally {
      closePools([pool]);
    }
  });

  it('refuses missing and unsupported pools by name', async () => {
    await expect(openPool(conn, 'no-such-pool-here')).rejects.toThrow(
      /storage pool 'no-such-pool-here' does not exist/,
    );
  });

  it('lists chains, orphans, invalid metadata and stray volumes from pool contents alone', async () => {
    const { name: poolName } = await createDirPool(conn, cleanup, 'catalog');
    const pool = await openPool(conn, poolName);
    const domain = uniqueName('vm');
    const t0 = new Date(Date.UTC(2026, 10, 26, 0, 15, 0, 123));
    const full = makeSet({ pool: poolName, domain, at: t0 });
    const inc1 = makeSet({ pool: poolName, domain, at: new Date(t0.getTime() + 3600_000), parent: full });
    const inc2 = makeSet({ pool: poolName, domain, at: new Date(t0.getTime() + 7200_000), parent: inc1 });
    const missingParent = makeSet({ pool: poolName, domain, at: t0 });
    const orphan = makeSet({
      pool: poolName,
      domain,
      at: new Date(t0.getTime() + 9000_000),
      parent: missingParent,
    });

    // Real data volumes: the full and two overlays chained through backing stores.
    let parent: StorageVolume | undefined;
    for (const set of [full, inc1, inc2]) {
      const vol = await pool.driver.createBackupVolume(pool, {
        name: set.disks[0].volume!.name,
        format: 'qcow2',
        capacity: 16 * MiB,
        parent,
      });
      parent?.free();
      parent = vol;
    }
    parent?.free();
    const incXml = await (await pool.pool.lookupVolumeByName(inc2.disks[0].volume!.name)).getXMLDesc();
    const { path: poolPath } = await pool.driver.describePool(pool.xml);
    expect(incXml).toContain(`<path>${poolPath}/${inc1.disks[0].volume!.name}</path>`);

    for (const set of [full, inc1, inc2, orphan]) {
      await writeDocument(
        pool,
        metadataVolumeName({ domain, createdAt: set.createdAt, setId: set.id }),
        await formatBackupSet(set),
      );
    }
    // A half-written document and a data volume nobody names (an interrupted backup).
    const cut = (await formatBackupSet(makeSet({ pool: poolName, domain, at: t0 }))).slice(0, 200);
    const cutName = metadataVolumeName({ domain, createdAt: t0, setId: randomUUID() });
    await writeDocument(pool, cutName, cut);
    const strayName = backupVolumeName({
      domain,
      disk: 'vdb',
      createdAt: t0,
      setId: randomUUID(),
      format: 'qcow2',
    });
    (await pool.driver.createBackupVolume(pool, { name: strayName, format: 'qcow2', capacity: MiB })).free();
    closePools([pool]);

    // A second, fresh connection that never saw any of this.
    const fresh = await LibvirtConnection.open(SYSTEM_URI);
    try {
      const scan = await scanCatalog(fresh, { pools: [poolName] });
      const listed = selectSets(scan, { domainName: domain });
      expect(listed.map((s) => s.id).sort()).toEqual([full.id, inc1.id, inc2.id, orphan.id].sort());
      expect(listed.find((s) => s.id === inc2.id)).toEqual(inc2); // every field survives the pool
      expect(scan.catalog.sets.get(inc2.id)!.restorable).toBe(true);
      expect(scan.catalog.sets.get(orphan.id)!.restorable).toBe(false);
      expect(scan.catalog.problems).toContainEqual(
        expect.objectContaining({ kind: 'orphan', setId: orphan.id }),
      );
      expect(scan.invalid.map((i) => i.volume)).toEqual([cutName]);
      expect(scan.invalid[0].error.message).toContain(`volume ${cutName} in pool ${poolName}`);
      expect(scan.strayVolumes).toEqual([{ pool: poolName, volume: strayName }]);
    } finally {
      await fresh.close();
    }
  });

  it('serves listings from the pool index, never a stale or damaged one', async () => {
    const { name: poolName } = await createDirPool(conn, cleanup, 'index');
    const pool = await openPool(conn, poolName);
    const domain = uniqueName('vm');
    const t0 = new Date(Date.UTC(2026, 10, 26, 1, 0, 0, 0));
    const sets = [0, 1, 2].map((i) =>
      makeSet({ pool: poolName, domain, at: new Date(t0.getTime() + i * 60_000) }),
    );
    const nameOf = (set: BackupSet) =>
      metadataVolumeName({ domain, createdAt: set.createdAt, setId: set.id });
    for (const set of sets) await writeDocument(pool, nameOf(set), await formatBackupSet(set));
    const listed = async () => selectSets(await scanCatalog(conn, { pools: [poolName] }), {});

    expect((await listed()).map((s) => s.id).sort()).toEqual(sets.map((s) => s.id).sort());
    const names = await pool.pool.listVolumeNames();
    expect(names).toContain(indexVolumeName());
    expect(names.filter(isGenerationMarker)).toHaveLength(1);

    // A rewrite through the pool layer is seen at once, though the index held the old document.
    const rewritten = { ...sets[0], description: 'rewritten after the index was built' };
    await writeDocument(pool, nameOf(sets[0]), await formatBackupSet(rewritten));
    expect((await listed()).find((s) => s.id === sets[0].id)).toEqual(rewritten);

    // A deletion too.
    await deleteVolumeIfPresent(pool, nameOf(sets[1]));
    expect((await listed()).map((s) => s.id).sort()).toEqual([sets[0].id, sets[2].id].sort());

    // A volume of someone else's named like a generation marker, holding data, survives a bump.
    const lookalike = 'volback-catalog.0123456789ab.gen';
    await pool.driver.writeDocumentVolume(pool, lookalike, Buffer.from('not a marker: user data'));
    await bumpGeneration(pool);
    await bumpGeneration(pool);
    const markers = (await pool.pool.listVolumeNames()).filter(isGenerationMarker);
    expect(markers).toContain(lookalike);
    expect(markers).toHaveLength(2);
    await pool.driver.deleteVolume(pool, await pool.pool.lookupVolumeByName(lookalike));

    // This host's own index is what listing serves (an entry changed in it, and signed, shows)...
    const real = await listed();
    const generation = generationOf(await pool.pool.listVolumeNames());
    const byName = new Map(real.map((set) => [nameOf(set), set]));
    const marked = new Map(
      [...byName].map(([n, set]) => [n, { ...set, description: 'served by the index' }]),
    );
    await writeDocument(pool, indexVolumeName(), encodeIndex(generation, marked));
    expect((await listed()).map((set) => set.description)).toEqual(real.map(() => 'served by the index'));

    // ...but an index another writer made — right generation, right checksum, another key — is not
    // trusted: its entries are ignored and every document is read again.
    const forgedEntries = new Map(
      [...byName].map(([n, set]) => [
        n,
        {
          ...set,
          disks: set.disks.map((d) => ({ ...d, volume: { ...d.volume!, name: '../../etc/passwd' } })),
        },
      ]),
    );
    await writeDocument(pool, indexVolumeName(), forgeIndex(generation, forgedEntries));
    const after = await listed();
    expect(after.flatMap((set) => set.disks.map((d) => d.volume!.name))).not.toContain('../../etc/passwd');
    expect(after).toEqual(real);

    // A damaged index is ignored, not trusted.
    const index = await pool.pool.lookupVolumeByName(indexVolumeName());
    await pipeline(
      Readable.from([Buffer.from('{"format":"volback-catalog-index"')]),
      index.upload({ offset: 0, length: 33 }),
    );
    index.free();
    expect((await listed()).map((s) => s.id).sort()).toEqual([sets[0].id, sets[2].id].sort());
    closePools([pool]);
  });
});
