// pruneBackups on a real chain of six backups: a dry run changes nothing (volumes and catalog), then
// keepLast 2 leaves exactly the two newest, the older kept one merged into a full with its content
// unchanged, and libvirt's checkpoint list holds just their checkpoints.
import { verifyBackup } from '../../src/core/catalog/verify';
import { pruneBackups } from '../../src/core/removal/prune';
import type { Connection } from '../../src/libvirt';
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

describe('pruneBackups on a real chain', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let env: ReturnType<typeof backupLocation>;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
  });
  afterAll(() => cleanup.run());

  it('dry run changes nothing; keepLast 2 keeps the two newest with their content', async () => {
    const { defaults, lockDir } = env;
    const pools = [defaults.pool];
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB] });
    const points: Point[] = [];
    for (let i = 0; i < 6; i++) {
      await vm.write('vda', 0x40 + i, i * 2 * MiB, MiB + i * 8192);
      points.push(await takePoint(conn, vm, defaults, lockDir));
    }
    expect(points.map((p) => p.set.kind)).toEqual([
      'full',
      'incremental',
      'incremental',
      'incremental',
      'incremental',
      'incremental',
    ]);
    const now = new Date(points[5].set.createdAt.getTime() + 60_000);
    const policy = { keepLast: 2 };

    const volumesBefore = await poolVolumeNames(conn, defaults.pool);
    const setsBefore = [...(await catalogSets(conn, defaults.pool)).values()].map((e) => e.set);
    const checkpointsBefore = await checkpointNames(vm);
    const dry = await pruneBackups(conn, { domain: vm.name, policy, now, dryRun: true, pools, lockDir });
    expect(dry.executed).toEqual([]);
    expect(dry.plan.keep.map((k) => k.set.id)).toEqual([points[5].set.id, points[4].set.id]);
    // Merged down the line into the older kept set, nearest parent first.
    expect(dry.plan.remove.map((r) => [r.set.id, r.action])).toEqual(
      [3, 2, 1, 0].map((i) => [points[i].set.id, 'merge-into-child']),
    );
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(volumesBefore);
    expect([...(await catalogSets(conn, defaults.pool)).values()].map((e) => e.set)).toEqual(setsBefore);
    expect(await checkpointNames(vm)).toEqual(checkpointsBefore);

    const result = await pruneBackups(conn, { domain: vm.name, policy, now, pools, lockDir });
    expect(result.executed.map((e) => e.setId)).toEqual(dry.plan.remove.map((r) => r.set.id));
    const sets = await catalogSets(conn, defaults.pool);
    expect([...sets.keys()].sort()).toEqual([points[4].set.id, points[5].set.id].sort());
    expect(sets.get(points[4].set.id)!.set).toMatchObject({ kind: 'full' });
    expect(sets.get(points[5].set.id)!.set).toMatchObject({
      kind: 'incremental',
      parentId: points[4].set.id,
    });
    await expectPointsIntact(conn, defaults, points);
    // Two data volumes, their checksum documents (the merged ones: each merge rewrote the absorbing
    // disk's), and two metadata volumes; nothing of the removed sets.
    const kept = [...sets.values()].flatMap((e) => e.set.disks);
    expect(kept.map((d) => d.checksums?.document)).not.toContain(undefined);
    const names = await poolVolumeNames(conn, defaults.pool);
    expect(names.filter((n) => !n.endsWith('.volback.xml'))).toEqual(
      kept.flatMap((d) => [d.volume!.name, d.checksums!.document]).sort(),
    );
    expect(names.length).toBe(6);
    // The merged checksums hold: every extent of what each kept set restores matches.
    for (const id of sets.keys()) {
      const verified = await verifyBackup(conn, { setId: id, deep: true, record: false });
      expect(verified).toMatchObject({ verdict: 'ok', damage: [] });
      expect(verified.disks.map((d) => d.checksums?.state)).toEqual(verified.disks.map(() => 'complete'));
    }
    expect(await checkpointNames(vm)).toEqual(
      [points[4].set.checkpoint!.name, points[5].set.checkpoint!.name].sort(),
    );

    // Nothing more to do: a second run removes nothing.
    const again = await pruneBackups(conn, { domain: vm.name, policy, now, pools, lockDir });
    expect(again.executed).toEqual([]);
  });
});
