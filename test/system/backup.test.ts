// The backup coordinator against real libvirtd and real QEMU domains with known writes (HMP qemu-io):
// chains restore byte for byte, increments copy only what changed, cancel leaves nothing, drift is
// recovered, shut-off domains and concurrency behave.
import path from 'node:path';
import { createBackup, type BackupDefaults, type BackupResult } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { checkpointRecord } from '../../src/core/shared/checkpoints';
import { isVolbackError } from '../../src/errors';
import {
  virDomainDestroyFlagsValues,
  virDomainUndefineFlagsValues,
  virDomainXMLFlags,
  type Connection,
} from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { setIdPrefix } from '../../src/pool/volume-names';
import { run } from '../../src/tools/exec';
import { imageInfo } from '../../src/tools/qemu-img';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  qemuBitmaps,
  qemuLeftovers,
  sameContent,
  type TestDomain,
} from '../support';

const MiB = 1024 * 1024;
const GRANULE = 64 * 1024;
jest.setTimeout(180_000);

describe('backup coordinator on real domains', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let defaults: BackupDefaults;
  let lockDir: string;

  const volumePath = (set: BackupSet, target: string): string => {
    const disk = set.disks.find((d) => d.target === target)!;
    return path.join(defaults.path, disk.volume!.name);
  };
  const backup = (
    vm: TestDomain,
    extra: Partial<Parameters<typeof createBackup>[2]> = {},
  ): Promise<BackupResult> => createBackup(conn, vm.name, { defaults, lockDir, ...extra });
  const expectContent = async (set: BackupSet, target: string, model: string): Promise<void> => {
    expect(await sameContent({ path: volumePath(set, target), format: 'qcow2' }, model)).toBe(true);
  };
  const volumesOfSet = async (setId: string): Promise<string[]> => {
    const pool = await conn.lookupStoragePoolByName(defaults.pool);
    await pool.refresh();
    const names = await Promise.all((await pool.listAllVolumes()).map((v) => v.getName()));
    pool.free();
    return names.filter((n) => n.includes(`-${setIdPrefix(setId)}.`));
  };
  /** Runs `fn` and counts the libvirt jobs that completed on the domain meanwhile (job-completed events). */
  const withLibvirtJobs = async <T>(vm: TestDomain, fn: () => Promise<T>): Promise<[T, number]> => {
    let jobs = 0;
    const unsubscribe = await conn.onDomainEvent('jobCompleted', () => jobs++, { domain: vm.domain });
    try {
      const result = await fn();
      await new Promise((r) => setTimeout(r, 200)); // events are delivered asynchronously
      return [result, jobs];
    } finally {
      await unsubscribe();
    }
  };
  const checkpointNames = async (vm: TestDomain): Promise<string[]> =>
    Promise.all((await vm.domain.listAllCheckpoints()).map((c) => c.getName()));

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    ({ defaults, lockDir } = backupLocation(conn, cleanup));
  });
  afterAll(() => cleanup.run());

  it('takes a full and incrementals of a two-disk domain; every point restores byte for byte', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [64 * MiB, 32 * MiB] });
    await vm.write('vda', 0xab, 1 * MiB, 2 * MiB);
    await vm.write('vdb', 0xcd, 0, 1 * MiB);
    const full = await backup(vm);
    const fullModels = { vda: vm.snapshotModel('vda', 'full'), vdb: vm.snapshotModel('vdb', 'full') };

    await vm.write('vda', 0x11, 5 * MiB, 1 * MiB);
    await vm.write('vda', 0x12, 9 * MiB, 100_000); // ends inside a granule
    const inc1 = await backup(vm);
    const inc1Models = { vda: vm.snapshotModel('vda', 'inc1'), vdb: vm.snapshotModel('vdb', 'inc1') };

    await vm.write('vdb', 0x22, 8 * MiB, 512 * 1024);
    await vm.write('vda', 0xab, 1 * MiB, 64 * 1024); // same bytes as before: still a changed extent
    const inc2 = await backup(vm);

    expect([full.set.kind, inc1.set.kind, inc2.set.kind]).toEqual(['full', 'incremental', 'incremental']);
    expect([inc1.set.parentId, inc2.set.parentId]).toEqual([full.set.id, inc1.set.id]);
    for (const target of ['vda', 'vdb']) {
      await expectContent(full.set, target, fullModels[target as 'vda' | 'vdb']);
      await expectContent(inc1.set, target, inc1Models[target as 'vda' | 'vdb']);
      await expectContent(inc2.set, target, vm.disks.find((d) => d.target === target)!.modelPath);
    }
    // Increments are overlays on their parent's volume: the chain is plain qcow2.
    const info = await imageInfo({ path: volumePath(inc2.set, 'vda'), format: 'qcow2' });
    expect(info.backingFile).toBe(volumePath(inc1.set, 'vda'));

    // Copied bytes: what was written, plus at most one granule per written extent.
    const copied = (set: BackupSet, t: string) => set.disks.find((d) => d.target === t)!.bytesCopied;
    expect(copied(inc1.set, 'vda')).toBeGreaterThanOrEqual(MiB + 100_000);
    expect(copied(inc1.set, 'vda')).toBeLessThanOrEqual(MiB + 100_000 + 2 * GRANULE);
    expect(copied(inc1.set, 'vdb')).toBe(0);
    expect(copied(inc2.set, 'vdb')).toBe(512 * 1024);
    expect(copied(inc2.set, 'vda')).toBe(64 * 1024);

    // The catalog, from pool contents alone, shows the chain.
    const scan = await scanCatalog(conn, { pools: [defaults.pool] });
    expect(scan.catalog.sets.get(inc2.set.id)).toMatchObject({ restorable: true, parentId: inc1.set.id });
    expect(scan.catalog.sets.get(full.set.id)!.childIds).toEqual([inc1.set.id]);
    expect(await checkpointNames(vm)).toEqual(
      expect.arrayContaining([
        full.set.checkpoint!.name,
        inc1.set.checkpoint!.name,
        inc2.set.checkpoint!.name,
      ]),
    );
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
  });

  it("gives a disk with backup='no' no volume", async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB, 16 * MiB] });
    await vm.write('vda', 0x31, 0, MiB);
    const result = await backup(vm, {
      definition: { mode: 'push', kind: 'auto', disks: [{ name: 'vdb', backup: false }] },
    });
    expect(result.set.disks.map((d) => d.target)).toEqual(['vda']);
    const volumes = await volumesOfSet(result.set.id);
    expect(volumes.some((n) => n.includes('.vdb.'))).toBe(false);
    expect(volumes.some((n) => n.includes('.vda.'))).toBe(true);
    await expectContent(result.set, 'vda', vm.disks[0].modelPath);
  });

  it.each(['qmp', 'libvirt'] as const)(
    'leaves no volume, no checkpoint and no listed backup when cancelled mid-job (%s engine)',
    async (fullBackupEngine) => {
      const vm = await createTestDomain(conn, cleanup, { diskSizes: [1024 * MiB], label: 'cancel' });
      await vm.write('vda', 0x5a, 0, 512 * MiB);
      const before = await checkpointNames(vm);
      const controller = new AbortController();
      let setId = '';
      let sawProgress = false;
      let diskSeen: { target: string; bytesDone: number; bytesTotal: number } | undefined;
      const attempt = backup(vm, {
        fullBackupEngine,
        signal: controller.signal,
        onProgress: (p) => {
          setId = p.setId;
          diskSeen ??= p.disks?.find((d) => d.bytesDone > 0 && d.bytesDone < d.bytesTotal);
          // Cancel once the job and its disk both report partial progress.
          if (
            p.phase === 'copying' &&
            p.bytesDone > 0 &&
            p.bytesDone < p.bytesTotal &&
            diskSeen &&
            !sawProgress
          ) {
            sawProgress = true;
            controller.abort();
          }
        },
      });
      await expect(attempt).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
      expect(sawProgress).toBe(true);
      expect(diskSeen).toMatchObject({ target: 'vda', bytesTotal: 1024 * MiB }); // the disk's own part of the job
      expect(await volumesOfSet(setId)).toEqual([]);
      expect(await checkpointNames(vm)).toEqual(before);
      const scan = await scanCatalog(conn, { pools: [defaults.pool] });
      expect(scan.catalog.sets.has(setId)).toBe(false);
      expect(scan.strayVolumes.filter((v) => v.volume.includes(setIdPrefix(setId)))).toEqual([]);
      expect(await qemuLeftovers(vm.domain)).toEqual([]);
      expect(await qemuBitmaps(vm.domain)).toEqual([]);
    },
  );

  it('copies a full through one QMP transaction and registers its checkpoint as libvirt would', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [64 * MiB, 32 * MiB] });
    await vm.write('vda', 0x61, 3 * MiB, 5 * MiB);
    await vm.write('vdb', 0x62, 30 * MiB, MiB);
    // libvirt ran no job of its own: the copy was QEMU's blockdev-backup.
    const [full1, full1Jobs] = await withLibvirtJobs(vm, () => backup(vm));
    expect(full1Jobs).toBe(0);
    await vm.write('vda', 0x63, 40 * MiB, MiB);
    // Incrementals are libvirt's push job, from the QMP full's bitmaps.
    const [inc, incJobs] = await withLibvirtJobs(vm, () => backup(vm));
    expect(incJobs).toBe(1);
    await vm.write('vdb', 0x64, 0, MiB);
    const full2 = await backup(vm, { definition: { mode: 'push', kind: 'full', disks: [] } });

    expect([full1.set.kind, inc.set.kind, full2.set.kind]).toEqual(['full', 'incremental', 'full']);
    expect(inc.set.disks.find((d) => d.target === 'vda')!.bytesCopied).toBe(MiB);
    for (const target of ['vda', 'vdb'])
      await expectContent(full2.set, target, vm.disks.find((d) => d.target === target)!.modelPath);
    // The checkpoint tree is what libvirt's own job builds: each new checkpoint under the newest one.
    expect(full1.set.checkpoint!.parent).toBeUndefined();
    expect(inc.set.checkpoint!.parent).toBe(full1.set.checkpoint!.name);
    expect((await checkpointRecord(vm.domain, full2.set.checkpoint!.name)).parent).toBe(
      inc.set.checkpoint!.name,
    );
    expect((await qemuBitmaps(vm.domain)).sort()).toEqual(
      [full1.set.checkpoint!.name, inc.set.checkpoint!.name, full2.set.checkpoint!.name].sort(),
    );
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
    // The full's checkpoint carries the next incremental like one libvirt made.
    await vm.write('vda', 0x65, 50 * MiB, 2 * MiB);
    const inc2 = await backup(vm);
    expect(inc2.set).toMatchObject({ kind: 'incremental', parentId: full2.set.id });
    expect(inc2.set.disks.map((d) => d.bytesCopied)).toEqual([2 * MiB, 0]);
    await expectContent(inc2.set, 'vda', vm.disks[0].modelPath);
  });

  it('backs up a paused domain; the fd set QEMU keeps while paused costs no later backup its base', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB], label: 'paused' });
    await vm.write('vda', 0x74, 0, 2 * MiB);
    await vm.domain.qmp('stop');
    const full = await backup(vm);
    await expectContent(full.set, 'vda', vm.disks[0].modelPath);
    // QEMU 7.2 closes removed fds only while running: the set stays listed, naming the full's run.
    expect(await qemuLeftovers(vm.domain)).toEqual([expect.stringMatching(/^fd set \d+$/)]);
    await vm.domain.qmp('cont');
    await vm.write('vda', 0x75, 8 * MiB, MiB);
    const inc = await backup(vm);
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(inc.set.fallbackReason).toBeUndefined();
    await expectContent(inc.set, 'vda', vm.disks[0].modelPath);
    expect(await qemuLeftovers(vm.domain)).toEqual([]); // the lingering fd set is gone too
  });

  it("copies a disk whose top node is a filter (copy-on-read) through libvirt's job", async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB], start: false, label: 'cor' });
    // Same definition (the domain object stays valid), with a copy-on-read filter over vda's image.
    const defined = await vm.domain.getXMLDesc(virDomainXMLFlags.VIR_DOMAIN_XML_INACTIVE);
    const withFilter = defined.replace(
      /<driver name='qemu' type='qcow2'\/>/,
      "<driver name='qemu' type='qcow2' copy_on_read='on'/>",
    );
    expect(withFilter).not.toBe(defined);
    (await conn.defineDomain(withFilter)).free();
    await vm.domain.create();
    await vm.write('vda', 0x73, 2 * MiB, MiB);
    const [full, jobs] = await withLibvirtJobs(vm, () => backup(vm));
    expect(jobs).toBe(1);
    await expectContent(full.set, 'vda', vm.disks[0].modelPath);
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
    // The qcow2 under the filter keeps its bitmaps: the next backup is an incremental of what changed.
    await vm.write('vda', 0x74, 9 * MiB, MiB);
    const inc = await backup(vm);
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(inc.set.disks[0].bytesCopied).toBe(MiB);
    await expectContent(inc.set, 'vda', vm.disks[0].modelPath);
  });

  it.each(['qmp', 'libvirt'] as const)(
    'writes a full into a raw volume when asked (%s engine)',
    async (engine) => {
      const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB] });
      await vm.write('vda', 0x76, 5 * MiB, 3 * MiB);
      await vm.write('vdb', 0x77, 0, MiB);
      const full = await backup(vm, {
        fullBackupEngine: engine,
        definition: {
          mode: 'push',
          kind: 'full',
          disks: [{ name: 'vda', backup: true, target: { format: 'raw' } }],
        },
      });
      const vda = full.set.disks.find((d) => d.target === 'vda')!;
      expect(vda.volume!.format).toBe('raw');
      expect(
        await sameContent({ path: volumePath(full.set, 'vda'), format: 'raw' }, vm.disks[0].modelPath),
      ).toBe(true);
      await expectContent(full.set, 'vdb', vm.disks[1].modelPath);
    },
  );

  it('a data volume deleted outside volback breaks its chain in the catalog; the next backup does not stand on it', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB] });
    const deleteOutside = async (set: BackupSet): Promise<void> => {
      const pool = await conn.lookupStoragePoolByName(defaults.pool);
      const volume = await pool.lookupVolumeByName(set.disks[0].volume!.name);
      await volume.delete();
      volume.free();
      pool.free();
    };
    await vm.write('vda', 0xc1, 0, MiB);
    const full = await backup(vm);
    await vm.write('vda', 0xc2, 2 * MiB, MiB);
    const inc1 = await backup(vm);
    await vm.write('vda', 0xc3, 4 * MiB, MiB);
    const inc2 = await backup(vm);

    // The middle of the chain goes: it and what stands on it are broken, the full is not.
    await deleteOutside(inc1.set);
    let catalog = (await scanCatalog(conn, { pools: [defaults.pool] })).catalog;
    expect(catalog.sets.get(inc1.set.id)!.problems.map((p) => p.kind)).toContain('missing-volume');
    expect(catalog.sets.get(inc2.set.id)!.problems.map((p) => p.kind)).toContain('broken');
    expect(catalog.sets.get(full.set.id)!.restorable).toBe(true);
    await vm.write('vda', 0xc4, 6 * MiB, MiB);
    const onFull = await backup(vm);
    expect(onFull.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    await expectContent(onFull.set, 'vda', vm.disks[0].modelPath);

    // The full goes too: no base is left, and the full that follows says why.
    await deleteOutside(full.set);
    catalog = (await scanCatalog(conn, { pools: [defaults.pool] })).catalog;
    expect(catalog.sets.get(full.set.id)!.problems[0].message).toMatch(/is missing from pool/);
    expect(catalog.sets.get(onFull.set.id)!.restorable).toBe(false);
    await vm.write('vda', 0xc5, 8 * MiB, MiB);
    const next = await backup(vm);
    expect(next.set.kind).toBe('full');
    expect(next.set.fallbackReason).toMatch(
      new RegExp(`the newest backup ${onFull.set.id} cannot be built on: .*missing from pool`),
    );
    await expectContent(next.set, 'vda', vm.disks[0].modelPath);
  });

  it('refuses a description XML cannot hold before anything is made', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [8 * MiB] });
    const fresh = backupLocation(conn, cleanup); // a location no backup created yet
    const err = await createBackup(conn, vm.name, {
      ...fresh,
      definition: { mode: 'push', kind: 'auto', disks: [], description: 'nightly\u0007 bell' },
    }).catch((e: unknown) => e);
    expect(isVolbackError(err, 'ERR_INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(/U\+0007/);
    expect(await checkpointNames(vm)).toEqual([]);
    // Refused before the first step: the location pool was not even created (once it was, and
    // copied every disk, before the commit refused the description).
    await expect(conn.lookupStoragePoolByName(fresh.defaults.pool)).rejects.toThrow();
  });

  it('continues a raw full with qcow2 increments: a later backup create needs no --full', async () => {
    // Once, every backup after a raw full failed: the planner chose an increment the driver refused.
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB] });
    await vm.write('vda', 0x91, 0, 2 * MiB);
    const full = await backup(vm, {
      definition: {
        mode: 'push',
        kind: 'full',
        disks: [{ name: 'vda', backup: true, target: { format: 'raw' } }],
      },
    });
    expect(full.set.disks[0].volume!.format).toBe('raw');
    await vm.write('vda', 0x92, 4 * MiB, MiB);
    const inc = await backup(vm);
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(inc.set.disks[0]).toMatchObject({ kind: 'incremental', bytesCopied: MiB });
    expect(inc.set.disks[0].volume!.format).toBe('qcow2');
    const info = await imageInfo({ path: volumePath(inc.set, 'vda'), format: 'qcow2' });
    expect(info.backingFile).toBe(volumePath(full.set, 'vda'));
    await expectContent(inc.set, 'vda', vm.disks[0].modelPath);
  });

  it("takes fulls through libvirt's push job when configured so", async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB] });
    await vm.write('vda', 0x71, MiB, 3 * MiB);
    const [full, jobs] = await withLibvirtJobs(vm, () => backup(vm, { fullBackupEngine: 'libvirt' }));
    expect(jobs).toBe(1);
    await expectContent(full.set, 'vda', vm.disks[0].modelPath);
    await vm.write('vda', 0x72, 20 * MiB, MiB);
    const inc = await backup(vm, { fullBackupEngine: 'libvirt' });
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(inc.set.disks[0].bytesCopied).toBe(MiB);
    await expectContent(inc.set, 'vda', vm.disks[0].modelPath);
  });

  it('commits each incremental only after QEMU closed its target: exact bytes and content at once', async () => {
    // libvirt reports its push job complete before it closes the target; read then, the target's
    // qcow2 metadata still sits in QEMU's cache. Several rounds: the window is a few milliseconds.
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB] });
    await vm.write('vda', 0x80, 0, MiB);
    await backup(vm);
    for (let round = 1; round <= 8; round++) {
      await vm.write('vda', 0x80 + round, round * 2 * MiB, MiB);
      const inc = await backup(vm);
      const target = volumePath(inc.set, 'vda');
      // Without -U, qemu-img needs the image's write lock: QEMU no longer holds the target open.
      await run(['qemu-img', 'info', '-f', 'qcow2', target]);
      expect({ round, kind: inc.set.kind, bytes: inc.set.disks[0].bytesCopied }).toEqual({
        round,
        kind: 'incremental',
        bytes: MiB,
      });
      await expectContent(inc.set, 'vda', vm.disks[0].modelPath);
    }
  });

  it('re-registers checkpoints after the domain is undefined and redefined', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB] });
    await vm.write('vda', 0x41, 0, MiB);
    const full = await backup(vm);
    // The domain loses its checkpoint metadata; the bitmaps stay in the qcow2 file.
    const definedXml = await vm.domain.getXMLDesc(virDomainXMLFlags.VIR_DOMAIN_XML_INACTIVE);
    await vm.domain.destroy(virDomainDestroyFlagsValues.VIR_DOMAIN_DESTROY_GRACEFUL);
    await vm.domain.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
    (await conn.defineDomain(definedXml)).free();
    await vm.domain.create();
    expect(await checkpointNames(vm)).toEqual([]);
    await vm.write('vda', 0x42, 4 * MiB, MiB);
    const inc = await backup(vm);
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(inc.set.fallbackReason).toBeUndefined();
    expect(inc.set.disks[0].bytesCopied).toBe(MiB);
    await expectContent(inc.set, 'vda', vm.disks[0].modelPath);
    expect(await checkpointNames(vm)).toEqual(
      expect.arrayContaining([full.set.checkpoint!.name, inc.set.checkpoint!.name]),
    );
  });

  it('stays correct across a destroy and restart of the domain', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB] });
    await vm.write('vda', 0x51, 0, MiB);
    await backup(vm);
    await vm.domain.destroy();
    await vm.domain.create();
    await vm.write('vda', 0x52, 2 * MiB, MiB);
    const next = await backup(vm);
    // Either the bitmaps survived (incremental of exactly the change) or a full says why.
    if (next.set.kind === 'incremental') expect(next.set.disks[0].bytesCopied).toBe(MiB);
    else expect(next.set.fallbackReason).toBeTruthy();
    await expectContent(next.set, 'vda', vm.disks[0].modelPath);
  });

  it('falls back to a full, with the reason recorded, when a bitmap was deleted', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB] });
    await vm.write('vda', 0x61, 0, MiB);
    const full = await backup(vm);
    await vm.domain.destroy(virDomainDestroyFlagsValues.VIR_DOMAIN_DESTROY_GRACEFUL);
    await run(['qemu-img', 'bitmap', '--remove', vm.disks[0].path, full.set.checkpoint!.name]);
    await vm.domain.create();
    await vm.write('vda', 0x62, 3 * MiB, MiB);
    const next = await backup(vm);
    expect(next.set.kind).toBe('full');
    expect(next.set.fallbackReason).toMatch(
      new RegExp(`missing or broken bitmap '${full.set.checkpoint!.name}'`),
    );
    await expectContent(next.set, 'vda', vm.disks[0].modelPath);
    expect(await checkpointNames(vm)).toEqual([next.set.checkpoint!.name]);
    // The new chain continues normally.
    await vm.write('vda', 0x63, 5 * MiB, MiB);
    const inc = await backup(vm);
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: next.set.id });
    await expectContent(inc.set, 'vda', vm.disks[0].modelPath);
  });

  it('copies a qcow2 disk of compat 0.10 in full every time: QEMU says it keeps no persistent bitmaps', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB] });
    await vm.domain.destroy(virDomainDestroyFlagsValues.VIR_DOMAIN_DESTROY_GRACEFUL);
    await run(['qemu-img', 'amend', '-f', 'qcow2', '-o', 'compat=0.10', vm.disks[0].path]);
    await vm.domain.create();
    await vm.write('vda', 0x64, MiB, MiB);
    const first = await backup(vm);
    await vm.write('vda', 0x65, 4 * MiB, MiB);
    const second = await backup(vm);
    for (const { set } of [first, second]) {
      expect(set.kind).toBe('full');
      expect(set.disks[0].bitmap).toBeUndefined();
    }
    expect(second.set.disks[0].bytesCopied).toBeGreaterThanOrEqual(2 * MiB);
    await expectContent(second.set, 'vda', vm.disks[0].modelPath);
  });

  it('backs up a shut-off domain, full and then incremental, and leaves it shut off', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB] });
    await vm.write('vda', 0x71, MiB, MiB);
    await vm.domain.destroy(virDomainDestroyFlagsValues.VIR_DOMAIN_DESTROY_GRACEFUL);
    const full = await backup(vm);
    expect(await vm.domain.isActive()).toBe(false);
    await expectContent(full.set, 'vda', vm.disks[0].modelPath);

    await vm.domain.create();
    await vm.write('vda', 0x72, 6 * MiB, MiB);
    await vm.domain.destroy(virDomainDestroyFlagsValues.VIR_DOMAIN_DESTROY_GRACEFUL);
    const inc = await backup(vm);
    expect(await vm.domain.isActive()).toBe(false);
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(inc.set.disks[0].bytesCopied).toBe(MiB);
    await expectContent(inc.set, 'vda', vm.disks[0].modelPath);
  });

  it('refuses a second backup of the same domain while one runs; other domains run in parallel', async () => {
    const a = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB] });
    const b = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB] });
    await a.write('vda', 0x81, 0, MiB);
    await b.write('vda', 0x82, 0, MiB);
    const results = await Promise.allSettled([backup(a), backup(a), backup(b)]);
    const sameDomain = results.slice(0, 2);
    expect(sameDomain.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = sameDomain.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(isVolbackError(refused.reason, 'ERR_CONFLICT')).toBe(true);
    expect(String(refused.reason.message)).toMatch(/is busy: backup of/);
    expect(results[2].status).toBe('fulfilled');
  });
});
