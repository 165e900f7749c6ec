// lane: testhost (scripts/test-lanes)
// A merge in the LVM pool killed inside it, on the LVM test host over qemu+tcp: a child process runs
// deleteBackup(merge) of the oldest incremental and is SIGKILLed right after one of the merge's
// steps (VOLBACK_TEST_CRASH_AT: the staging LV streamed, the child LV deleted, the child LV made
// again), found in the state that step leaves; recovery finishes the removal, every remaining point
// in time reads back as written and verifies deep, and no staging LV is left.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { MERGE_CRASH_POINTS } from '../../pool-drivers/logical/layer';
import { createBackup } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { verifyBackup } from '../../src/core/catalog/verify';
import { recoverInterrupted } from '../../src/core/removal/delete';
import { flushDisk, writeDiskPattern } from '../../src/host/scratch-domain';
import { type Connection, type Domain, type StoragePool } from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { closePools, openPool, type OpenPool } from '../../src/pool/pool-layer';
import { mergeStagingVolumeName } from '../../src/pool/volume-names';
import {
  Cleanup,
  REPO_ROOT,
  TESTHOST_VG,
  openTestHost,
  testHostUri,
  tsScriptArgs,
  uniqueName,
} from '../support';
import {
  readThroughDriver,
  refreshQuietly,
  removeVolumesNamedAfter,
  startDomainOnLvs,
} from '../support/lvm-disks';

const MiB = 1024 * 1024;
const DISK = 16 * MiB;
const TARGETS = ['vda', 'vdb'] as const;

jest.setTimeout(1_200_000);

describe('a merge in an LVM pool killed inside it is finished by recovery', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let vg: StoragePool;
  let lvm: OpenPool;
  let domain: Domain;
  let name: string;
  const points: Array<{ set: BackupSet; disks: Record<string, Buffer> }> = [];
  const model: Record<string, Buffer> = { vda: Buffer.alloc(DISK), vdb: Buffer.alloc(DISK) };
  const lockDir = `/tmp/volback-lvm-crash-locks-${process.pid}`;

  const lvNames = async (): Promise<string[]> => {
    await refreshQuietly(vg);
    return vg.listVolumeNames();
  };
  const volumeOf = (set: BackupSet, target: string): string =>
    set.disks.find((d) => d.target === target)!.volume!.name;
  const backup = async (): Promise<void> => {
    for (const target of TARGETS) await flushDisk(domain, target);
    const { set } = await createBackup(conn, name, {
      defaults: { pool: TESTHOST_VG, path: '/nonexistent', format: 'raw' },
      lockDir,
    });
    points.push({ set, disks: { vda: Buffer.from(model.vda), vdb: Buffer.from(model.vdb) } });
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openTestHost());
    vg = await conn.lookupStoragePoolByName(TESTHOST_VG);
    cleanup.add(`pool handle ${TESTHOST_VG}`, async () => vg.free());
    name = uniqueName('lvm-crash');
    cleanup.add('backups and staging LVs in the VG', removeVolumesNamedAfter(vg, name));
    domain = await startDomainOnLvs(conn, cleanup, vg, name, TARGETS, DISK);
    lvm = await openPool(conn, TESTHOST_VG);
    cleanup.add('LVM pool handle', async () => closePools([lvm]));
    // A full and one incremental per crash point and one more, each writing over its parent's data.
    for (let i = 0; i <= MERGE_CRASH_POINTS.length + 1; i++) {
      for (const [t, target] of TARGETS.entries()) {
        const pattern = 0x10 * (i + 1) + t;
        const offset = (t * 8 + i) * MiB - (i ? 64 * 1024 : 0); // 64 KiB over the last write
        await writeDiskPattern(domain, target, pattern, offset, MiB);
        model[target].fill(pattern, offset, offset + MiB);
      }
      await backup();
    }
  });

  afterAll(() => cleanup.run());

  // Each case deletes the oldest incremental left (merging it into the next) and drops it from points.
  it.each(MERGE_CRASH_POINTS.map((point) => [point] as const))(
    'killed at %s, recovery finishes the merge',
    async (point) => {
      const index = 1;
      const victim = points[index].set;
      const next = points[index + 1].set;
      const child = spawnSync(
        process.execPath,
        tsScriptArgs(path.join(__dirname, 'fixtures/delete-child.js'), [
          victim.id,
          'merge',
          TESTHOST_VG,
          lockDir,
        ]),
        {
          cwd: REPO_ROOT,
          env: { ...process.env, VOLBACK_TEST_CRASH_AT: point, VOLBACK_TEST_URI: await testHostUri() },
          encoding: 'utf8',
        },
      );
      expect({ signal: child.signal, stderr: child.signal ? '' : child.stderr }).toEqual({
        signal: 'SIGKILL',
        stderr: '',
      });

      // Killed where the point says: the first disk's merged volume and its staging LV.
      const merged = volumeOf(next, 'vda');
      const left = await lvNames();
      expect({
        child: left.includes(merged),
        staging: left.includes(mergeStagingVolumeName(merged)),
      }).toEqual({ child: point !== 'merge-delete-child', staging: true });

      const report = await recoverInterrupted(conn, { pools: [TESTHOST_VG], lockDir });
      expect(report.unresolved).toEqual([]);
      expect(report.finished).toEqual([victim.id]);

      points.splice(index, 1);
      const listed = (await scanCatalog(conn, { pools: [TESTHOST_VG] })).stored
        .filter((s) => s.set.domain.name === name)
        .map((s) => s.set.id);
      expect(listed.sort()).toEqual(points.map((p) => p.set.id).sort());
      expect((await lvNames()).filter((n) => n.includes(name) && n.endsWith('.merge.qcow2'))).toEqual([]);
      for (const { set, disks } of points) {
        for (const target of TARGETS)
          expect((await readThroughDriver(lvm, volumeOf(set, target), DISK)).equals(disks[target])).toBe(
            true,
          );
        expect(await verifyBackup(conn, { setId: set.id, deep: true, record: false })).toMatchObject({
          verdict: 'ok',
          damage: [],
        });
      }
    },
  );
});
