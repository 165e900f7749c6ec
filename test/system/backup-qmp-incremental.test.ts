// Incrementals through the QMP engine (QEMU blockdev-backup sync=incremental from a temporary bitmap
// merged from the parent checkpoint's), into a dir pool, on real two-disk domains with known writes:
// every point restores byte for byte, the checkpoint chain is libvirt's, libvirt's job continues a
// QMP chain and the other way round, only changed clusters are stored, the parent's bitmap is left
// as it was, a set may mix fulls and incrementals, and a run killed mid-copy is swept.
import path from 'node:path';
import { createBackup, type BackupResult, type CreateBackupOptions } from '../../src/core/backup/coordinator';
import { changedBitmapName } from '../../src/core/backup/qmp-job';
import { restoreBackup } from '../../src/core/restore/restore';
import { scanCatalog } from '../../src/core/catalog/scan';
import { checkpointRecord } from '../../src/core/shared/checkpoints';
import type { Connection } from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { setIdPrefix } from '../../src/pool/volume-names';
import { imageInfo } from '../../src/tools/qemu-img';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  poolVolumeNames,
  qemuBitmaps,
  qemuLeftovers,
  sameContent,
  spawnBackupChild,
  type TestDomain,
} from '../support';

const MiB = 1024 * 1024;
const GRANULE = 64 * 1024;
jest.setTimeout(300_000);

describe('incremental backups through the QMP engine', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let env: ReturnType<typeof backupLocation>;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
  });
  afterAll(() => cleanup.run());

  const backup = (vm: TestDomain, extra: Partial<CreateBackupOptions> = {}): Promise<BackupResult> =>
    createBackup(conn, vm.name, { defaults: env.defaults, lockDir: env.lockDir, ...extra });
  const volumePath = (set: BackupSet, target: string): string =>
    path.join(env.defaults.path, set.disks.find((d) => d.target === target)!.volume!.name);
  const stored = (set: BackupSet, target: string): number =>
    set.disks.find((d) => d.target === target)!.bytesCopied;
  /** The stored chain of `set`'s disk reads as `model`, and so does its flattened restore. */
  const expectPoint = async (set: BackupSet, models: Record<string, string>): Promise<void> => {
    for (const [target, model] of Object.entries(models))
      expect({
        target,
        same: await sameContent({ path: volumePath(set, target), format: 'qcow2' }, model),
      }).toEqual({ target, same: true });
    const { volumes } = await restoreBackup(conn, {
      setId: set.id,
      scanPools: [env.defaults.pool],
      lockDir: env.lockDir,
    });
    for (const v of volumes)
      expect({
        target: v.target,
        same: await sameContent({ path: v.path, format: v.format }, models[v.target]),
      }).toEqual({ target: v.target, same: true });
  };
  /** Runs `fn`, counting the libvirt jobs that completed on the domain meanwhile. */
  const libvirtJobs = async <T>(vm: TestDomain, fn: () => Promise<T>): Promise<[T, number]> => {
    let jobs = 0;
    const unsubscribe = await conn.onDomainEvent('jobCompleted', () => jobs++, { domain: vm.domain });
    try {
      const result = await fn();
      await new Promise((r) => setTimeout(r, 200)); // events arrive asynchronously
      return [result, jobs];
    } finally {
      await unsubscribe();
    }
  };
  /** Each node's bitmap of that name as QEMU shows it (node, count of dirty bytes, flags). */
  const bitmapState = async (vm: TestDomain, name: string) =>
    (
      await vm.domain.qmp<
        Array<{
          'node-name': string;
          'dirty-bitmaps'?: Array<{ name?: string; count: number; recording: boolean; persistent: boolean }>;
        }>
      >('query-named-block-nodes', { flat: true })
    ).flatMap((n) =>
      (n['dirty-bitmaps'] ?? [])
        .filter((b) => b.name === name)
        .map((b) => ({
          node: n['node-name'],
          count: b.count,
          recording: b.recording,
          persistent: b.persistent,
        })),
    );
  const parentOf = async (vm: TestDomain, set: BackupSet): Promise<string | undefined> =>
    (await checkpointRecord(vm.domain, set.checkpoint!.name)).parent;

  it('chains full → QMP incremental → libvirt incremental → QMP incremental, each byte for byte', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [64 * MiB, 32 * MiB], label: 'qmpinc' });
    await vm.write('vda', 0xab, 1 * MiB, 2 * MiB);
    await vm.write('vdb', 0xcd, 0, 1 * MiB);
    const full = await backup(vm);
    const fullModels = { vda: vm.snapshotModel('vda', 'full'), vdb: vm.snapshotModel('vdb', 'full') };

    await vm.write('vda', 0x11, 5 * MiB, 1 * MiB);
    await vm.write('vda', 0x12, 9 * MiB, 100_000); // ends inside a granule
    await vm.write('vdb', 0x13, 0, 64 * 1024); // over data the full holds
    const parentBitmap = await bitmapState(vm, full.set.checkpoint!.name);
    const [inc1, inc1Jobs] = await libvirtJobs(vm, () => backup(vm, { backupEngine: 'qmp' }));
    const inc1Models = { vda: vm.snapshotModel('vda', 'inc1'), vdb: vm.snapshotModel('vdb', 'inc1') };
    expect(inc1.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(inc1Jobs).toBe(0); // QEMU's job, not libvirt's
    // Only the changed clusters are stored: what was written, plus at most a granule per written extent.
    expect(stored(inc1.set, 'vda')).toBeGreaterThanOrEqual(MiB + 100_000);
    expect(stored(inc1.set, 'vda')).toBeLessThanOrEqual(MiB + 100_000 + 2 * GRANULE);
    expect(stored(inc1.set, 'vdb')).toBe(64 * 1024);
    // The overlay names its parent as backing, and the chain reads as the domain did.
    expect((await imageInfo({ path: volumePath(inc1.set, 'vda'), format: 'qcow2' })).backingFile).toBe(
      volumePath(full.set, 'vda'),
    );
    // The parent checkpoint's bitmap was only read: the same dirty bytes, still recording, still persistent.
    expect(parentBitmap.length).toBe(2);
    expect(await bitmapState(vm, full.set.checkpoint!.name)).toEqual(parentBitmap);
    expect(parentBitmap.every((b) => b.count > 0 && b.recording && b.persistent)).toBe(true);
    // The new checkpoint starts at the backup's point; nothing of the run is left in QEMU.
    expect((await bitmapState(vm, inc1.set.checkpoint!.name)).map((b) => b.count)).toEqual([0, 0]);
    expect((await qemuBitmaps(vm.domain)).sort()).toEqual(
      [full.set.checkpoint!.name, inc1.set.checkpoint!.name].sort(),
    );
    expect(await qemuLeftovers(vm.domain)).toEqual([]);

    // libvirt's job continues the chain QMP made.
    await vm.write('vdb', 0x22, 8 * MiB, 512 * 1024);
    await vm.write('vda', 0x23, 20 * MiB, 3 * MiB);
    const [inc2, inc2Jobs] = await libvirtJobs(vm, () => backup(vm));
    const inc2Models = { vda: vm.snapshotModel('vda', 'inc2'), vdb: vm.snapshotModel('vdb', 'inc2') };
    expect(inc2.set).toMatchObject({ kind: 'incremental', parentId: inc1.set.id });
    expect(inc2Jobs).toBe(1);
    expect(stored(inc2.set, 'vdb')).toBe(512 * 1024);
    expect(stored(inc2.set, 'vda')).toBe(3 * MiB);

    // And QMP continues libvirt's.
    await vm.write('vda', 0x31, 40 * MiB, 256 * 1024);
    const [inc3, inc3Jobs] = await libvirtJobs(vm, () => backup(vm, { backupEngine: 'qmp' }));
    expect(inc3.set).toMatchObject({ kind: 'incremental', parentId: inc2.set.id });
    expect(inc3Jobs).toBe(0);
    expect(stored(inc3.set, 'vda')).toBe(256 * 1024);
    expect(stored(inc3.set, 'vdb')).toBe(0);

    // libvirt's checkpoint list has the backups' chain.
    expect(await parentOf(vm, inc1.set)).toBe(full.set.checkpoint!.name);
    expect(await parentOf(vm, inc2.set)).toBe(inc1.set.checkpoint!.name);
    expect(await parentOf(vm, inc3.set)).toBe(inc2.set.checkpoint!.name);
    expect(inc1.set.checkpoint!.parent).toBe(full.set.checkpoint!.name);

    const now = { vda: vm.disks[0].modelPath, vdb: vm.disks[1].modelPath };
    await expectPoint(full.set, fullModels);
    await expectPoint(inc1.set, inc1Models);
    await expectPoint(inc2.set, inc2Models);
    await expectPoint(inc3.set, now);
    const scan = await scanCatalog(conn, { pools: [env.defaults.pool] });
    expect(scan.catalog.sets.get(inc3.set.id)).toMatchObject({ restorable: true, parentId: inc2.set.id });
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
  });

  it('copies a mixed set (one disk full, one incremental) in one transaction', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 32 * MiB], label: 'qmpmix' });
    await vm.write('vda', 0x41, 0, 2 * MiB);
    await vm.write('vdb', 0x42, 4 * MiB, 2 * MiB);
    // The first set has no vdb: in the next one vda continues, vdb starts its chain.
    const first = await backup(vm, {
      definition: { mode: 'push', kind: 'auto', disks: [{ name: 'vdb', backup: false }] },
    });
    await vm.write('vda', 0x43, 8 * MiB, MiB);
    const [mixed, jobs] = await libvirtJobs(vm, () => backup(vm, { backupEngine: 'qmp' }));
    const mixedModels = { vda: vm.snapshotModel('vda', 'mixed'), vdb: vm.snapshotModel('vdb', 'mixed') };
    expect(jobs).toBe(0);
    expect(mixed.set).toMatchObject({ kind: 'incremental', parentId: first.set.id });
    expect(mixed.set.disks.map((d) => [d.target, d.kind])).toEqual([
      ['vda', 'incremental'],
      ['vdb', 'full'],
    ]);
    expect(stored(mixed.set, 'vda')).toBe(MiB);
    expect(stored(mixed.set, 'vdb')).toBe(2 * MiB);
    expect(await parentOf(vm, mixed.set)).toBe(first.set.checkpoint!.name);
    // The new checkpoint has a bitmap on both disks, so the next incremental (libvirt's) covers both.
    expect((await bitmapState(vm, mixed.set.checkpoint!.name)).length).toBe(2);
    await vm.write('vdb', 0x44, 16 * MiB, MiB);
    const next = await backup(vm);
    expect(next.set.disks.map((d) => [d.target, d.kind, d.bytesCopied])).toEqual([
      ['vda', 'incremental', 0],
      ['vdb', 'incremental', MiB],
    ]);
    await expectPoint(mixed.set, mixedModels);
    await expectPoint(next.set, { vda: vm.disks[0].modelPath, vdb: vm.disks[1].modelPath });
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
  });

  it('killed mid-copy: the next backup sweeps its temporary bitmaps, nodes and volumes, and continues the chain', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [1024 * MiB, 64 * MiB], label: 'qmpkill' });
    await vm.write('vdb', 0x51, 0, MiB);
    const full = await backup(vm);
    await vm.write('vda', 0x52, 0, 512 * MiB);
    await vm.write('vdb', 0x53, 2 * MiB, MiB);
    const child = spawnBackupChild({
      domain: vm.name,
      defaults: env.defaults,
      lockDir: env.lockDir,
      kind: 'incremental',
      engine: 'qmp',
    });
    let killed = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const outcome = await new Promise<string>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        const copying = /copying (\S+)/.exec(c.toString());
        if (copying && !killed) {
          killed = copying[1];
          child.kill('SIGKILL');
        }
      });
      child.on('close', (code, signal) => resolve(signal ?? `exit ${code}: ${stderr}`));
    });
    expect(outcome).toBe('SIGKILL');
    const prefix = setIdPrefix(killed);
    // What the kill left: the temporary bitmaps beside the checkpoints, QEMU's nodes, the volumes.
    expect((await qemuBitmaps(vm.domain)).sort()).toEqual(
      [
        full.set.checkpoint!.name,
        `volback-${killed}`,
        changedBitmapName(prefix, 'vda'),
        changedBitmapName(prefix, 'vdb'),
      ].sort(),
    );
    expect(await qemuLeftovers(vm.domain)).toEqual(expect.arrayContaining([`node volback-${prefix}-vda`]));

    const next = await backup(vm, { backupEngine: 'qmp' });
    expect(next.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
    expect((await qemuBitmaps(vm.domain)).sort()).toEqual(
      [full.set.checkpoint!.name, next.set.checkpoint!.name].sort(),
    );
    expect((await poolVolumeNames(conn, env.defaults.pool)).filter((n) => n.includes(`-${prefix}.`))).toEqual(
      [],
    );
    // Every change since the full is in it: the killed run consumed nothing of the parent's bitmap.
    expect(stored(next.set, 'vda')).toBe(512 * MiB);
    expect(stored(next.set, 'vdb')).toBe(MiB);
    await expectPoint(next.set, { vda: vm.disks[0].modelPath, vdb: vm.disks[1].modelPath });
  });
});
