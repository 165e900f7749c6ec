// deleteBackup on real chains (real libvirtd, QEMU domains, qcow2 overlays): refusal naming the
// dependents, merge of a full and of a middle incremental with content proven unchanged, single-disk
// delete, cascade, dry run, and libvirt's checkpoint list kept in step.
import path from 'node:path';
import { deleteBackup } from '../../src/core/removal/delete';
import { isVolbackError } from '../../src/errors';
import type { Connection } from '../../src/libvirt';
import { imageInfo } from '../../src/tools/qemu-img';
import { Cleanup, backupLocation, createTestDomain, openSystemConnection, poolVolumeNames } from '../support';
import {
  catalogSets,
  checkpointNames,
  expectPointsIntact,
  takePoint,
  type Point,
} from './fixtures/delete-helpers';

const MiB = 1024 * 1024;
jest.setTimeout(600_000);

describe('deleteBackup on real chains', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let env: ReturnType<typeof backupLocation>;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
  });
  afterAll(() => cleanup.run());

  it('refuses, merges a full and a middle incremental, deletes one disk, cascades; checkpoints follow', async () => {
    const { defaults, lockDir } = env;
    const pools = [defaults.pool];
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB] });
    const point = (): Promise<Point> => takePoint(conn, vm, defaults, lockDir);
    await vm.write('vda', 0xa1, 0, 2 * MiB);
    await vm.write('vdb', 0xb1, MiB, MiB);
    const full = await point();
    await vm.write('vda', 0xa2, MiB, 2 * MiB);
    const inc1 = await point();
    await vm.write('vdb', 0xb2, 0, 3 * MiB);
    await vm.write('vda', 0xa3, 10 * MiB, MiB);
    const inc2 = await point();
    const all = [full, inc1, inc2];
    const cp = (p: Point): string => p.set.checkpoint!.name;
    expect(await checkpointNames(vm)).toEqual([cp(full), cp(inc1), cp(inc2)].sort());

    // Refused: the full has dependents, and the error names them.
    const refused = await deleteBackup(conn, {
      setId: full.set.id,
      dependents: 'refuse',
      pools,
      lockDir,
    }).catch((e: unknown) => e);
    expect(isVolbackError(refused, 'ERR_CONFLICT')).toBe(true);
    expect((refused as Error).message).toContain(inc1.set.id);
    expect((refused as Error).message).toContain(inc2.set.id);

    // Dry run by unique prefix: a plan, and nothing changes.
    const volumesBefore = await poolVolumeNames(conn, defaults.pool);
    const catalogBefore = [...(await catalogSets(conn, defaults.pool)).values()].map((e) => e.set);
    const dry = await deleteBackup(conn, {
      setId: full.set.id.slice(0, 8),
      dependents: 'merge',
      dryRun: true,
      pools,
      lockDir,
    });
    expect(dry.plan).toHaveLength(1);
    expect(dry.plan[0].merges.map((m) => m.intoSet)).toEqual([inc1.set.id, inc1.set.id]);
    expect(dry.removed).toEqual([]);
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(volumesBefore);
    expect([...(await catalogSets(conn, defaults.pool)).values()].map((e) => e.set)).toEqual(catalogBefore);

    // Merge the full into its child: the child becomes a full, every remaining point is unchanged.
    const merged = await deleteBackup(conn, { setId: full.set.id, dependents: 'merge', pools, lockDir });
    expect(merged.removed).toEqual([
      { setId: full.set.id, diskIds: full.set.disks.map((d) => d.id), wholeSet: true },
    ]);
    let sets = await catalogSets(conn, defaults.pool);
    expect(sets.has(full.set.id)).toBe(false);
    const newFull = sets.get(inc1.set.id)!.set;
    expect(newFull.kind).toBe('full');
    expect(newFull.parentId).toBeUndefined();
    expect(newFull.disks.every((d) => d.kind === 'full' && d.parentId === undefined)).toBe(true);
    expect(newFull.checkpoint!.parent).toBeUndefined();
    for (const d of newFull.disks) {
      expect(
        (await imageInfo({ path: path.join(defaults.path, d.volume!.name), format: 'qcow2' })).backingFile,
      ).toBeUndefined();
    }
    expect(
      (await poolVolumeNames(conn, defaults.pool)).filter((n) => n.includes(full.set.id.slice(0, 8))),
    ).toEqual([]);
    await expectPointsIntact(conn, defaults, all);
    expect(await checkpointNames(vm)).toEqual([cp(inc1), cp(inc2)].sort());

    // A new point, then merge the middle incremental inc2 into it: inc3 now stands on inc1.
    await vm.write('vda', 0xa4, 3 * MiB, MiB);
    const inc3 = await point();
    all.push(inc3);
    const middle = await deleteBackup(conn, { setId: inc2.set.id, dependents: 'merge', pools, lockDir });
    expect(middle.merged.map((m) => m.intoSet)).toEqual([inc3.set.id, inc3.set.id]);
    sets = await catalogSets(conn, defaults.pool);
    const inc3Now = sets.get(inc3.set.id)!.set;
    expect(inc3Now).toMatchObject({ kind: 'incremental', parentId: inc1.set.id });
    for (const d of inc3Now.disks) {
      const parent = newFull.disks.find((p) => p.target === d.target)!;
      expect(d.parentId).toBe(parent.id);
      expect(
        (await imageInfo({ path: path.join(defaults.path, d.volume!.name), format: 'qcow2' })).backingFile,
      ).toBe(path.join(defaults.path, parent.volume!.name));
    }
    await expectPointsIntact(conn, defaults, all);
    expect(await checkpointNames(vm)).toEqual([cp(inc1), cp(inc3)].sort());

    // One disk of the newest set: its set stays (with vda only), its checkpoint stays.
    const oneDisk = await deleteBackup(conn, {
      setId: inc3.set.id,
      disks: ['vdb'],
      dependents: 'refuse',
      pools,
      lockDir,
    });
    expect(oneDisk.removed[0].wholeSet).toBe(false);
    sets = await catalogSets(conn, defaults.pool);
    expect(sets.get(inc3.set.id)!.set.disks.map((d) => d.target)).toEqual(['vda']);
    expect(sets.get(inc3.set.id)!.restorable).toBe(true);
    expect(
      (await poolVolumeNames(conn, defaults.pool)).some(
        (n) => n.includes(`.vdb.`) && n.includes(inc3.set.id.slice(0, 8)),
      ),
    ).toBe(false);
    await expectPointsIntact(conn, defaults, all);
    expect(await checkpointNames(vm)).toEqual([cp(inc1), cp(inc3)].sort());

    // Merge is refused when a disk backup has two children: a second branch on inc1.
    // (Cascade then removes inc1 and everything on it.)
    const cascade = await deleteBackup(conn, { setId: inc1.set.id, dependents: 'cascade', pools, lockDir });
    expect(cascade.plan.map((s) => s.setId)).toEqual([inc3.set.id, inc1.set.id]);
    sets = await catalogSets(conn, defaults.pool);
    expect(sets.size).toBe(0);
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual([]);
    expect(await checkpointNames(vm)).toEqual([]);
  });
});
