// The default location's per-domain layout on the real libvirtd (docs/scale.md): two domains' backups
// land in two pools created on first use; a listing for one domain reads only its own pool of the
// layout; a host that lost the pools' definitions finds them again from the root's directory
// (`pool discover`) and restores byte for byte; a single-pool installation keeps its chains.
import fs from 'node:fs';
import { createBackup, type BackupDefaults } from '../../src/core/backup/coordinator';
import { listBackups } from '../../src/core/catalog/scan';
import { restoreBackup } from '../../src/core/restore/restore';
import { discoverDomainPools } from '../../src/pool/discover';
import { domainPoolName, domainPoolPath } from '../../src/pool/default-layout';
import type { Connection } from '../../src/libvirt';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  sameContent,
  type TestDomain,
} from '../support';

jest.setTimeout(600_000);
const MiB = 1024 * 1024;

describe('per-domain backup pools (real libvirtd, real domains)', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let lockDir: string;
  let single: BackupDefaults;
  let perDomain: BackupDefaults;

  /** Removes a domain pool and its directory once the test is over (before the root goes). */
  const removeLater = (pool: string): void => cleanup.domainPool(conn, single, pool);

  const isActive = async (pool: string): Promise<boolean> => {
    const p = await conn.lookupStoragePoolByName(pool).catch(() => undefined);
    if (!p) return false;
    try {
      return await p.isActive();
    } finally {
      p.free();
    }
  };

  /** Restores `setId` into new volumes and compares each with the model of its disk. */
  const restoresAs = async (
    setId: string,
    pools: string[],
    models: Record<string, string>,
  ): Promise<void> => {
    const restored = await restoreBackup(conn, { setId, scanPools: pools, lockDir });
    expect(restored.volumes.map((v) => v.target).sort()).toEqual(Object.keys(models).sort());
    for (const v of restored.volumes)
      expect(await sameContent({ path: v.path, format: v.format }, models[v.target])).toBe(true);
  };

  const uuidOf = (vm: TestDomain): Promise<string> => vm.domain.getUUIDString();

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    const location = backupLocation(conn, cleanup);
    lockDir = location.lockDir;
    single = location.defaults;
    perDomain = { ...single, layout: 'per-domain' };
  });
  afterAll(() => cleanup.run());

  it('puts each domain in its own pool, lists one domain from its pools only, and finds undefined pools again', async () => {
    const root = perDomain.pool;
    const a = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB, 8 * MiB], label: 'shard-a' });
    const b = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB], label: 'shard-b' });
    const [uuidA, uuidB] = [await uuidOf(a), await uuidOf(b)];
    const [poolA, poolB] = [domainPoolName(root, uuidA), domainPoolName(root, uuidB)];
    removeLater(poolA);
    removeLater(poolB);

    await a.write('vda', 0x41, 0, 2 * MiB);
    await a.write('vdb', 0x42, 3 * MiB, MiB);
    await b.write('vda', 0x51, MiB, 2 * MiB);
    const fullA = await createBackup(conn, a.name, { defaults: perDomain, lockDir });
    const fullB = await createBackup(conn, b.name, { defaults: perDomain, lockDir });
    expect(fullA.set.disks.map((d) => d.volume!.pool)).toEqual([poolA, poolA]);
    expect(fullB.set.disks.map((d) => d.volume!.pool)).toEqual([poolB]);
    // Both pools were created on first use, in the root's directory, and the root pool exists.
    expect(await isActive(root)).toBe(true);
    for (const uuid of [uuidA, uuidB]) {
      expect(await isActive(domainPoolName(root, uuid))).toBe(true);
      expect(fs.statSync(domainPoolPath(perDomain.path, uuid)).isDirectory()).toBe(true);
    }

    // An incremental continues in the domain's pool.
    await a.write('vda', 0x43, 6 * MiB, MiB);
    const incA = await createBackup(conn, a.name, { defaults: perDomain, lockDir });
    expect(incA.set).toMatchObject({ kind: 'incremental', parentId: fullA.set.id });
    expect(incA.set.disks.map((d) => d.volume!.pool)).toEqual([poolA, poolA]);

    // One domain's listing reads its own pool and the root, never the other domain's pool.
    const read: string[] = [];
    const onlyA = await listBackups(conn, { root, domain: a.name, onPoolRead: (p) => read.push(p) });
    expect(read).toContain(poolA);
    expect(read).toContain(root);
    expect(read).not.toContain(poolB);
    expect(onlyA.sets.map((s) => s.set.id).sort()).toEqual([fullA.set.id, incA.set.id].sort());
    const readAll: string[] = [];
    const all = await listBackups(conn, { root, onPoolRead: (p) => readAll.push(p) });
    expect(readAll).toEqual(expect.arrayContaining([root, poolA, poolB]));
    expect(all.sets.map((s) => s.set.id)).toEqual(
      expect.arrayContaining([fullA.set.id, incA.set.id, fullB.set.id]),
    );

    // A host without the pools' definitions (files kept): the root's directory names them.
    for (const pool of [poolA, poolB]) {
      const p = await conn.lookupStoragePoolByName(pool);
      await p.destroy();
      await p.undefine();
      p.free();
    }
    const blind = await listBackups(conn, { root });
    expect(blind.sets.map((s) => s.set.id)).not.toEqual(expect.arrayContaining([fullA.set.id]));
    expect(blind.undefinedDomainPools).toEqual(
      expect.arrayContaining([
        { pool: poolA, domainUuid: uuidA },
        { pool: poolB, domainUuid: uuidB },
      ]),
    );
    const dry = await discoverDomainPools(conn, { pool: root, path: perDomain.path }, { dryRun: true });
    expect(dry.filter((d) => [poolA, poolB].includes(d.pool)).map((d) => d.action)).toEqual([
      'defined',
      'defined',
    ]);
    expect(await isActive(poolA)).toBe(false);
    const found = await discoverDomainPools(conn, { pool: root, path: perDomain.path });
    expect(found.filter((d) => [poolA, poolB].includes(d.pool)).map((d) => d.action)).toEqual([
      'defined',
      'defined',
    ]);
    expect(
      (await discoverDomainPools(conn, { pool: root, path: perDomain.path })).map((d) => d.action),
    ).toEqual(['active', 'active']);
    const again = await listBackups(conn, { root, domain: uuidA });
    expect(again.sets.map((s) => s.set.id).sort()).toEqual([fullA.set.id, incA.set.id].sort());
    expect(again.sets.every((s) => s.restorable)).toBe(true);
    await restoresAs(incA.set.id, [root, poolA], { vda: a.disks[0].modelPath, vdb: a.disks[1].modelPath });
  });

  it('keeps a single-pool installation listed and restorable; its chain continues in the root', async () => {
    const root = single.pool;
    const c = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB], label: 'shard-old' });
    const poolC = domainPoolName(root, await uuidOf(c));
    removeLater(poolC);
    await c.write('vda', 0x61, 0, 2 * MiB);
    const oldFull = await createBackup(conn, c.name, { defaults: single, lockDir });
    expect(oldFull.set.disks[0].volume!.pool).toBe(root);
    const atOld = c.snapshotModel('vda', 'old');

    // The layout changes: the chain in the root goes on there, a new full goes to the domain's pool.
    await c.write('vda', 0x62, 4 * MiB, MiB);
    const inc = await createBackup(conn, c.name, { defaults: perDomain, lockDir });
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: oldFull.set.id });
    expect(inc.set.disks[0].volume!.pool).toBe(root);
    const atInc = c.snapshotModel('vda', 'inc');
    await c.write('vda', 0x63, 8 * MiB, MiB);
    const full = await createBackup(conn, c.name, {
      defaults: perDomain,
      lockDir,
      definition: { mode: 'push', kind: 'full', disks: [] },
    });
    expect(full.set.kind).toBe('full');
    expect(full.set.disks[0].volume!.pool).toBe(poolC);

    const listing = await listBackups(conn, { root, domain: c.name });
    expect(listing.sets.map((s) => s.set.id).sort()).toEqual(
      [oldFull.set.id, inc.set.id, full.set.id].sort(),
    );
    expect(listing.sets.every((s) => s.restorable)).toBe(true);
    await restoresAs(oldFull.set.id, [root, poolC], { vda: atOld });
    await restoresAs(inc.set.id, [root, poolC], { vda: atInc });
    await restoresAs(full.set.id, [root, poolC], { vda: c.disks[0].modelPath });
  });
});
