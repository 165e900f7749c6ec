// lane: testhost (scripts/test-lanes)
// Merges in the logical (LVM) pool driver on the LVM test host (scripts/testhost) over qemu+tcp: a
// running two-disk TCG domain on qcow2-in-LV disks gets a full and three incrementals with known
// writes. Deleting the middle incremental with merge makes the next one stand on the full, as
// written, under the same names, with no staging LV left; a merge stopped after the child was
// deleted, or with its copy cut short, is finished by running it again; prune --keep-last 1 merges
// the full into the last set, which then stands alone and restores exactly. Each merge's LV bytes
// and seconds are printed (docs/lvm-driver.md).
import { scanCatalog } from '../../src/core/catalog/scan';
import { verifyBackup } from '../../src/core/catalog/verify';
import { deleteBackup } from '../../src/core/removal/delete';
import { pruneBackups } from '../../src/core/removal/prune';
import { restoreBackup } from '../../src/core/restore/restore';
import { createBackup } from '../../src/core/backup/coordinator';
import { flushDisk, writeDiskPattern } from '../../src/host/scratch-domain';
import { type Connection, type Domain, type StoragePool } from '../../src/libvirt';
import type { BackupSet, DiskBackup } from '../../src/model';
import { closePools, openPool, type OpenPool } from '../../src/pool/pool-layer';
import { mergeStagingVolumeName } from '../../src/pool/volume-names';
import { runMergeSteps } from '../../pool-drivers/logical';
import { Cleanup, TESTHOST_DIR_POOL, TESTHOST_VG, openTestHost, uniqueName } from '../support';
import {
  readThroughDriver,
  refreshQuietly,
  removeVolumesNamedAfter,
  startDomainOnLvs,
} from '../support/lvm-disks';

const MiB = 1024 * 1024;
const KiB = 1024;
const DISK = 16 * MiB;
const TARGETS = ['vda', 'vdb'] as const;

jest.setTimeout(900_000);

describe('merges in an LVM pool of a remote host', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let vg: StoragePool;
  let lvm: OpenPool;
  let domain: Domain;
  let name: string;
  const sets: Record<'full' | 'i1' | 'i2' | 'i3', BackupSet> = {} as never;
  const at: Record<string, Record<string, Buffer>> = {};
  const model: Record<string, Buffer> = { vda: Buffer.alloc(DISK), vdb: Buffer.alloc(DISK) };
  const lockDir = `/tmp/volback-lvm-merge-locks-${process.pid}`;
  const defaults = { pool: TESTHOST_VG, path: '/nonexistent', format: 'raw' as const };

  const read = (volumeName: string) => readThroughDriver(lvm, volumeName, DISK);
  const diskOf = (set: BackupSet, target: string): DiskBackup => set.disks.find((d) => d.target === target)!;
  const volumeOf = (set: BackupSet, target: string): string => diskOf(set, target).volume!.name;
  const lvNames = async (): Promise<string[]> => {
    await refreshQuietly(vg);
    return vg.listVolumeNames();
  };
  const lvBytes = async (volumeName: string): Promise<number> => {
    const volume = await vg.lookupVolumeByName(volumeName);
    try {
      return (await volume.getInfo()).capacity;
    } finally {
      volume.free();
    }
  };
  /** What is wrong with `volumeName` as a layer on `parent` (undefined: alone). */
  const layerProblems = async (volumeName: string, parent?: string): Promise<string[]> => {
    const volume = await vg.lookupVolumeByName(volumeName);
    const backing = parent ? await vg.lookupVolumeByName(parent) : undefined;
    try {
      return await lvm.driver.checkLayer(lvm, volume, backing);
    } finally {
      volume.free();
      backing?.free();
    }
  };
  const lvPath = async (volumeName: string): Promise<string> => {
    const volume = await vg.lookupVolumeByName(volumeName);
    try {
      return await volume.getPath();
    } finally {
      volume.free();
    }
  };
  const catalogued = async (): Promise<BackupSet[]> =>
    (await scanCatalog(conn, { pools: [TESTHOST_VG] })).stored
      .filter((s) => s.set.domain.name === name)
      .map((s) => s.set);
  const deepOk = async (set: BackupSet): Promise<void> => {
    expect(await verifyBackup(conn, { setId: set.id, deep: true, record: false })).toMatchObject({
      verdict: 'ok',
      damage: [],
    });
  };
  const report = (line: string): boolean => process.stderr.write(`lvm merge: ${line}\n`);

  const write = async (target: string, pattern: number, offset: number, length: number): Promise<void> => {
    await writeDiskPattern(domain, target, pattern, offset, length);
    model[target].fill(pattern, offset, offset + length);
  };
  const backup = async (point: string): Promise<BackupSet> => {
    for (const target of TARGETS) await flushDisk(domain, target);
    const { set } = await createBackup(conn, name, { defaults, lockDir });
    at[point] = { vda: Buffer.from(model.vda), vdb: Buffer.from(model.vdb) };
    return set;
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openTestHost());
    vg = await conn.lookupStoragePoolByName(TESTHOST_VG);
    cleanup.add(`pool handle ${TESTHOST_VG}`, async () => vg.free());
    name = uniqueName('lvm-merge');
    const dirPool = await conn.lookupStoragePoolByName(TESTHOST_DIR_POOL);
    cleanup.add(`pool handle ${TESTHOST_DIR_POOL}`, async () => dirPool.free());
    cleanup.add('backups, staging LVs and restores in the VG', removeVolumesNamedAfter(vg, name));
    cleanup.add('restores in the dir pool', removeVolumesNamedAfter(dirPool, name));
    domain = await startDomainOnLvs(conn, cleanup, vg, name, TARGETS, DISK);
    lvm = await openPool(conn, TESTHOST_VG);
    cleanup.add('LVM pool handle', async () => closePools([lvm]));

    await write('vda', 0x11, MiB, 2 * MiB);
    await write('vdb', 0x12, 4 * MiB, MiB);
    sets.full = await backup('full');
    await write('vda', 0x21, 2 * MiB, 256 * KiB); // over the full's data
    await write('vda', 0x22, 10 * MiB, 512 * KiB);
    await write('vdb', 0x23, 8 * MiB, MiB);
    sets.i1 = await backup('i1');
    await write('vda', 0x31, 2 * MiB + 128 * KiB, 256 * KiB); // half over i1's
    await write('vdb', 0x32, 8 * MiB + 512 * KiB, 256 * KiB);
    await write('vdb', 0x33, 14 * MiB, 64 * KiB);
    sets.i2 = await backup('i2');
    await write('vda', 0x41, 6 * MiB, 128 * KiB);
    await write('vda', 0x42, 10 * MiB + 256 * KiB, 64 * KiB); // over i1's
    await write('vdb', 0x43, 0, 64 * KiB);
    sets.i3 = await backup('i3');
    expect([sets.i1.parentId, sets.i2.parentId, sets.i3.parentId]).toEqual([
      sets.full.id,
      sets.i1.id,
      sets.i2.id,
    ]);
    for (const [point, set] of Object.entries(sets))
      for (const target of TARGETS)
        expect((await read(volumeOf(set, target))).equals(at[point][target])).toBe(true);
  });

  afterAll(() => cleanup.run());

  it('merges the middle incremental into the next: as written, on the full, same names, no staging LV', async () => {
    const before = Object.fromEntries(
      await Promise.all(TARGETS.map(async (t) => [t, await lvBytes(volumeOf(sets.i2, t))] as const)),
    );
    const started = Date.now();
    await deleteBackup(conn, { setId: sets.i1.id, dependents: 'merge', lockDir });
    report(`i1 into i2 (both disks): ${(Date.now() - started) / 1000} s`);

    const listed = await catalogued();
    expect(listed.map((s) => s.id).sort()).toEqual([sets.full.id, sets.i2.id, sets.i3.id].sort());
    const i2 = listed.find((s) => s.id === sets.i2.id)!;
    expect(i2.parentId).toBe(sets.full.id);
    const names = await lvNames();
    expect(names.filter((n) => n.includes(name) && n.endsWith('.merge.qcow2'))).toEqual([]);
    for (const target of TARGETS) {
      const merged = volumeOf(sets.i2, target);
      expect(volumeOf(i2, target)).toBe(merged); // the merged volume keeps its name
      expect(names).not.toContain(volumeOf(sets.i1, target));
      expect((await read(merged)).equals(at.i2[target])).toBe(true);
      expect((await read(volumeOf(sets.i3, target))).equals(at.i3[target])).toBe(true); // the grandchild
      expect(await layerProblems(merged, volumeOf(sets.full, target))).toEqual([]);
      const changed = diskOf(sets.i1, target).bytesCopied + diskOf(sets.i2, target).bytesCopied;
      report(
        `${target} i1 into i2: LV ${before[target]} -> ${await lvBytes(merged)} bytes (staging LV the same) for ${changed} bytes changed (i1 ${diskOf(sets.i1, target).bytesCopied} + i2 ${diskOf(sets.i2, target).bytesCopied})`,
      );
    }
    for (const set of [sets.full, i2, sets.i3]) await deepOk(set);
  });

  it('finishes a merge stopped with the child deleted, or with its copy cut short, when run again', async () => {
    const full = (t: string) => volumeOf(sets.full, t);
    const child = (t: string) => volumeOf(sets.i3, t);
    // vda: the staging LV complete, the child deleted — the moment before the copy.
    // vdb: the same, then a copy cut short: the child made again holding only the staging LV's
    // first 256 KiB (header and tables), the rest never copied.
    for (const target of TARGETS) {
      const started = Date.now();
      await runMergeSteps(lvm, child(target), await lvPath(full(target)), ['stage', 'delete-child']);
      const staging = mergeStagingVolumeName(child(target));
      report(
        `${target} i2 into i3, staged: ${(Date.now() - started) / 1000} s, staging LV ${await lvBytes(staging)} bytes`,
      );
      const names = await lvNames();
      expect(names).toContain(staging);
      expect(names).not.toContain(child(target));
    }
    const vdbStaging = await vg.lookupVolumeByName(mergeStagingVolumeName(child('vdb')));
    const cut = await vg.createVolume(
      `<volume><name>${child('vdb')}</name><capacity unit='bytes'>${(await vdbStaging.getInfo()).capacity}</capacity></volume>`,
      0,
    );
    const head = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      vdbStaging
        .download({ offset: 0, length: 256 * KiB })
        .on('data', (b: Buffer) => parts.push(b))
        .on('end', () => resolve(Buffer.concat(parts)))
        .on('error', reject);
    });
    vdbStaging.free();
    await new Promise<void>((resolve, reject) => {
      const upload = cut.upload({ offset: 0, length: head.length });
      upload.on('finish', () => resolve()).on('error', reject);
      upload.end(head);
    });
    cut.free();
    // Until the merge is finished the child is not the layer its metadata says: a restore refuses it.
    expect(await layerProblems(child('vdb'), volumeOf(sets.i2, 'vdb'))).not.toEqual([]);
    // ... and what it holds is not the point in time (a read may also fail outright).
    const cutReads = await read(child('vdb')).then(
      (bytes) => bytes.equals(at.i3.vdb),
      () => false,
    );
    expect(cutReads).toBe(false);

    const started = Date.now();
    await deleteBackup(conn, { setId: sets.i2.id, dependents: 'merge', lockDir });
    report(`i2 into i3 finished from both states: ${(Date.now() - started) / 1000} s`);
    const names = await lvNames();
    expect(names.filter((n) => n.includes(name) && n.endsWith('.merge.qcow2'))).toEqual([]);
    const i3 = (await catalogued()).find((s) => s.id === sets.i3.id)!;
    expect(i3.parentId).toBe(sets.full.id);
    for (const target of TARGETS) {
      expect(names).toContain(child(target));
      expect((await read(child(target))).equals(at.i3[target])).toBe(true);
      expect(await layerProblems(child(target), full(target))).toEqual([]);
      // Idempotent: on its base with no staging LV, a rebase changes nothing.
      const volume = await vg.lookupVolumeByName(child(target));
      const base = await vg.lookupVolumeByName(full(target));
      await lvm.driver.rebase!(lvm, volume, base);
      volume.free();
      base.free();
      expect((await read(child(target))).equals(at.i3[target])).toBe(true);
    }
    await deepOk(i3);
  });

  it('prune --keep-last 1 merges the full into the last set, which stands alone and restores exactly', async () => {
    const started = Date.now();
    const result = await pruneBackups(conn, {
      domain: name,
      policy: { keepLast: 1 },
      pools: [TESTHOST_VG],
      lockDir,
    });
    report(`prune, the full into i3 (both disks): ${(Date.now() - started) / 1000} s`);
    expect(result.executed.map((e) => [e.setId, e.action])).toEqual([[sets.full.id, 'merge-into-child']]);
    const listed = await catalogued();
    expect(listed.map((s) => s.id)).toEqual([sets.i3.id]);
    expect(listed[0].parentId).toBeUndefined();
    const names = await lvNames();
    expect(names.filter((n) => n.includes(name) && n.endsWith('.merge.qcow2'))).toEqual([]);
    for (const target of TARGETS) {
      expect(names).not.toContain(volumeOf(sets.full, target));
      expect((await read(volumeOf(sets.i3, target))).equals(at.i3[target])).toBe(true);
      expect(await layerProblems(volumeOf(sets.i3, target))).toEqual([]);
      report(`${target} alone: LV ${await lvBytes(volumeOf(sets.i3, target))} bytes for a ${DISK}-byte disk`);
    }
    await deepOk(listed[0]);
    const dir = await openPool(conn, TESTHOST_DIR_POOL);
    try {
      const restored = await restoreBackup(conn, {
        setId: sets.i3.id,
        scanPools: [TESTHOST_VG],
        pool: TESTHOST_DIR_POOL,
      });
      expect(restored.damage).toEqual([]);
      for (const v of restored.volumes)
        expect((await readThroughDriver(dir, v.volume, DISK)).equals(at.i3[v.target])).toBe(true);
    } finally {
      closePools([dir]);
    }
  });
});
