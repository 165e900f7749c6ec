// Crash safety of merges: a child process runs deleteBackup(merge) and is SIGKILLed right after each
// step (VOLBACK_TEST_CRASH_AT); recovery then finishes the removal, and every remaining point in time
// restores byte for byte, is listed as restorable, and the checkpoint list is in step.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { recoverInterrupted } from '../../src/core/removal/delete';
import { pruneBackups } from '../../src/core/removal/prune';
import { REMOVAL_STEPS } from '../../src/core/removal/journal';
import type { Connection } from '../../src/libvirt';
import {
  Cleanup,
  REPO_ROOT,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  poolVolumeNames,
  tsScriptArgs,
} from '../support';
import {
  catalogSets,
  checkpointNames,
  expectPointsIntact,
  takePoint,
  type Point,
} from './fixtures/delete-helpers';

const MiB = 1024 * 1024;
jest.setTimeout(900_000);

describe('an interrupted merge is finished by recovery', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let env: ReturnType<typeof backupLocation>;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
  });
  afterAll(() => cleanup.run());

  it('at every step, for a full merged into its child', async () => {
    const { defaults, lockDir } = env;
    const pools = [defaults.pool];
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB] });
    const steps = REMOVAL_STEPS.filter((s) => s !== 'done');
    const points: Point[] = [];
    await vm.write('vda', 0x10, 0, 4 * MiB);
    points.push(await takePoint(conn, vm, defaults, lockDir));
    for (let i = 0; i < steps.length; i++) {
      await vm.write('vda', 0x20 + i, (i % 12) * MiB, MiB + 4096 * i);
      points.push(await takePoint(conn, vm, defaults, lockDir));
    }
    for (const [i, step] of steps.entries()) {
      const root = points[i];
      const child = spawnSync(
        process.execPath,
        tsScriptArgs(path.join(__dirname, 'fixtures/delete-child.js'), [
          root.set.id,
          'merge',
          defaults.pool,
          lockDir,
        ]),
        { cwd: REPO_ROOT, env: { ...process.env, VOLBACK_TEST_CRASH_AT: step }, encoding: 'utf8' },
      );
      expect({ step, signal: child.signal, stderr: child.signal ? '' : child.stderr }).toEqual({
        step,
        signal: 'SIGKILL',
        stderr: '',
      });

      // Killed: whatever is listed as restorable still has its exact content.
      await expectPointsIntact(conn, defaults, points, { listedOnly: true });

      const report = await recoverInterrupted(conn, { pools, lockDir });
      expect({ step, unresolved: report.unresolved }).toEqual({ step, unresolved: [] });
      expect(report.finished.length + report.rolledBack.length).toBe(1);
      const sets = await catalogSets(conn, defaults.pool);
      // 'intent': nothing had started, the removal is dropped and the set stays; after that it is finished.
      expect({ step, present: sets.has(root.set.id) }).toEqual({ step, present: step === 'intent' });
      expect([...sets.values()].every((e) => e.restorable)).toBe(true);
      expect(
        (await poolVolumeNames(conn, defaults.pool)).filter((n) => n.endsWith('.volback-intent.json')),
      ).toEqual([]);
      await expectPointsIntact(conn, defaults, points);
      const remaining = [...sets.values()].map((e) => e.set.checkpoint!.name).sort();
      expect(await checkpointNames(vm)).toEqual(remaining);
      if (step === 'intent') {
        // Finish the interrupted user request the ordinary way, so the next step starts from the next full.
        const { deleteBackup } = await import('../../src/core/removal/delete');
        await deleteBackup(conn, { setId: root.set.id, dependents: 'merge', pools, lockDir });
        await expectPointsIntact(conn, defaults, points);
      }
      const newRoot = (await catalogSets(conn, defaults.pool)).get(points[i + 1].set.id)!.set;
      expect(newRoot.kind).toBe('full');
    }
  });

  it('at every step of a prune that merges three sets into the newest: the next prune finishes it', async () => {
    // A pool of its own: the pool's whole catalog is compared below.
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    const pools = [defaults.pool];
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB] });
    const steps = REMOVAL_STEPS.filter((s) => s !== 'done');
    for (const [i, step] of steps.entries()) {
      // Each round: three new points on top of what the last prune kept, then a killed prune.
      const points: Point[] = [];
      for (let j = 0; j < 3; j++) {
        await vm.write('vda', 0x60 + i * 3 + j, ((i + j) % 12) * MiB, MiB + 4096 * j);
        points.push(await takePoint(conn, vm, defaults, lockDir));
      }
      const child = spawnSync(
        process.execPath,
        tsScriptArgs(path.join(__dirname, 'fixtures/prune-child.js'), [vm.name, defaults.pool, lockDir]),
        { cwd: REPO_ROOT, env: { ...process.env, VOLBACK_TEST_CRASH_AT: step }, encoding: 'utf8' },
      );
      expect({ step, signal: child.signal, stderr: child.signal ? '' : child.stderr }).toEqual({
        step,
        signal: 'SIGKILL',
        stderr: '',
      });
      await expectPointsIntact(conn, defaults, points, { listedOnly: true });

      // The next prune recovers first, then applies the policy: only the newest point is left, whole.
      await pruneBackups(conn, { domain: vm.name, policy: { keepLast: 1 }, pools, lockDir });
      const sets = await catalogSets(conn, defaults.pool);
      const newest = points[points.length - 1].set.id;
      expect({ step, sets: [...sets.keys()] }).toEqual({ step, sets: [newest] });
      expect(sets.get(newest)!.restorable).toBe(true);
      await expectPointsIntact(conn, defaults, points);
      expect(
        (await poolVolumeNames(conn, defaults.pool)).filter((n) => n.endsWith('.volback-intent.json')),
      ).toEqual([]);
      expect(await checkpointNames(vm)).toEqual([sets.get(newest)!.set.checkpoint!.name]);
    }
  });
});
