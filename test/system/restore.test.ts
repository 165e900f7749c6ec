// restoreBackup and restoreDomain against real libvirtd, real QEMU domains and real qcow2 chains:
// every point of a chain restores byte for byte into raw and qcow2, sparse stays sparse, another pool,
// clones boot beside their original, clobbering is refused, overwrite only when shut off (then the
// next backup is full), and a cancelled restore leaves no volume.
import { createBackup, type BackupDefaults, type BackupResult } from '../../src/core/backup/coordinator';
import { restoreDomain } from '../../src/core/restore/domain';
import { restoreBackup, type RestoreProgress } from '../../src/core/restore/restore';
import { ErrorCodes, isVolbackError } from '../../src/errors';
import type { Connection } from '../../src/libvirt';
import { run } from '../../src/tools/exec';
import { imageInfo } from '../../src/tools/qemu-img';
import { parseDomainXml } from '../../src/xml/libvirt-domain';
import {
  Cleanup,
  createDirPool,
  createTestDomain,
  openSystemConnection,
  sameContent,
  uniqueName,
  type TestDomain,
  backupLocation,
  poolVolumeNames,
} from '../support';
import { MiB, cleanupDomainByName } from './restore-helpers';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

jest.setTimeout(240_000);

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (!isVolbackError(err) || err.code !== code) throw err;
    if (message) expect(err.message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('restore on real domains', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let defaults: BackupDefaults;
  let lockDir: string;
  let vm: TestDomain;
  const points: Array<{ label: string; result: BackupResult; models: Record<string, string> }> = [];

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    ({ defaults, lockDir } = backupLocation(conn, cleanup));
    vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB], label: 'restore' });
    const snap = (label: string) => ({
      vda: vm.snapshotModel('vda', label),
      vdb: vm.snapshotModel('vdb', label),
    });

    await vm.write('vda', 0xab, 1 * MiB, 2 * MiB);
    await vm.write('vdb', 0xcd, 0, 1 * MiB);
    points.push({
      label: 'full',
      result: await createBackup(conn, vm.name, { defaults, lockDir }),
      models: snap('full'),
    });
    await vm.write('vda', 0x11, 5 * MiB, 1 * MiB);
    await vm.write('vda', 0x00, 1 * MiB, 64 * 1024); // zeros over data: the restore must not resurrect it
    points.push({
      label: 'inc1',
      result: await createBackup(conn, vm.name, { defaults, lockDir }),
      models: snap('inc1'),
    });
    await vm.write('vdb', 0x22, 8 * MiB, 512 * 1024);
    await vm.write('vda', 0x33, 30 * MiB, 100_000);
    points.push({
      label: 'inc2',
      result: await createBackup(conn, vm.name, { defaults, lockDir }),
      models: snap('inc2'),
    });
    expect(points.map((p) => p.result.set.kind)).toEqual(['full', 'incremental', 'incremental']);
  });
  afterAll(() => cleanup.run());

  it('restores every point of the chain byte for byte into raw and qcow2; holes stay holes; progress ends at the total', async () => {
    for (const point of points) {
      for (const format of ['raw', 'qcow2'] as const) {
        const progress: RestoreProgress[] = [];
        const { volumes, setId } = await restoreBackup(conn, {
          scanPools: [defaults.pool],
          setId: point.result.set.id,
          format,
          onProgress: (p) => progress.push(p),
        });
        expect(setId).toBe(point.result.set.id);
        expect(volumes.map((v) => v.target)).toEqual(['vda', 'vdb']);
        for (const v of volumes) {
          expect(v).toMatchObject({ pool: defaults.pool, format });
          expect(v.volume).toMatch(
            new RegExp(`^${vm.name}\\.${v.target}\\.restored-\\d{8}T\\d{6}Z(-\\d+)?\\.${format}$`),
          );
          expect(await sameContent({ path: v.path, format }, point.models[v.target])).toBe(true);
          const info = await imageInfo({ path: v.path, format });
          expect(info.backingFile).toBeUndefined(); // flattened
          expect(info.bitmaps).toEqual([]);
          // At most 3 MiB of data were ever written per disk: the copy must not allocate the whole disk.
          expect(info.actualSize).toBeLessThan(6 * MiB);
          const last = progress.filter((p) => p.target === v.target).pop()!;
          expect(last.bytesDone).toBe(last.bytesTotal);
          expect(last.bytesTotal).toBe(v.target === 'vda' ? 32 * MiB : 16 * MiB);
        }
      }
    }
  });

  it('restores one disk by set-id prefix into another pool under a given name', async () => {
    const target = await createDirPool(conn, cleanup, 'restore-to');
    const inc1 = points[1];
    const { volumes } = await restoreBackup(conn, {
      scanPools: [defaults.pool],
      setId: inc1.result.set.id.slice(0, 8),
      disks: ['vdb'],
      pool: target.name,
      format: 'raw',
      volumeNames: { vdb: 'data-disk.img' },
    });
    expect(volumes).toEqual([
      {
        target: 'vdb',
        pool: target.name,
        volume: 'data-disk.img',
        format: 'raw',
        path: `${target.dir}/data-disk.img`,
      },
    ]);
    expect(await sameContent({ path: volumes[0].path, format: 'raw' }, inc1.models.vdb)).toBe(true);
    // The same name again is refused; nothing is overwritten.
    await expectCode(
      restoreBackup(conn, {
        scanPools: [defaults.pool],
        setId: inc1.result.set.id,
        disks: ['vdb'],
        pool: target.name,
        volumeNames: { vdb: 'data-disk.img' },
      }),
      ErrorCodes.CONFLICT,
      /already exists/,
    );
    expect(await sameContent({ path: volumes[0].path, format: 'raw' }, inc1.models.vdb)).toBe(true);
  });

  it('refuses unknown and ambiguous set ids and unknown disks', async () => {
    await expectCode(
      restoreBackup(conn, { setId: '00000000-dead-4bad-8bad-000000000000' }),
      ErrorCodes.NOT_FOUND,
      /no backup set/,
    );
    await expectCode(
      restoreBackup(conn, { scanPools: [defaults.pool], setId: points[0].result.set.id, disks: ['vdz'] }),
      ErrorCodes.NOT_FOUND,
      /no backup of disk vdz/,
    );
    await expectCode(
      restoreBackup(conn, { scanPools: [defaults.pool], setId: 'not-an-id!' }),
      ErrorCodes.INVALID_INPUT,
    );
    // A target pool that does not exist: exit 2 for the CLI, and nothing is created anywhere.
    const before = await poolVolumeNames(conn, defaults.pool);
    const absent = uniqueName('no-pool');
    await expectCode(
      restoreBackup(conn, { scanPools: [defaults.pool], setId: points[0].result.set.id, pool: absent }),
      ErrorCodes.NOT_FOUND,
      new RegExp(`storage pool '${absent}' does not exist`),
    );
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);
    // A name volback keeps for itself (clean-up acts on those) is refused, before anything is made.
    await expectCode(
      restoreBackup(conn, {
        scanPools: [defaults.pool],
        setId: points[0].result.set.id,
        disks: ['vda'],
        volumeNames: { vda: 'decoy.volback-intent.json' },
      }),
      ErrorCodes.INVALID_INPUT,
      /is a name volback reserves: '\.volback-intent\.json' names removal intents/,
    );
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);
  });

  it('refuses a layer whose header another tool pointed at a file outside its chain, before anything is made', async () => {
    // A rewritten header could name any file of the host as backing, and a restore would copy it.
    const inc1 = points[1].result.set;
    const layer = inc1.disks.find((d) => d.target === 'vda')!.volume!.name;
    const pool = await conn.lookupStoragePoolByName(defaults.pool);
    const volume = await pool.lookupVolumeByName(layer);
    const file = await volume.getPath();
    const parent = (await imageInfo({ path: file, format: 'qcow2' })).backingFile!;
    volume.free();
    pool.free();
    const victim = path.join(os.tmpdir(), `${uniqueName('victim')}.raw`);
    fs.writeFileSync(victim, Buffer.alloc(32 * MiB, 0x5a));
    cleanup.add(`victim ${victim}`, async () => fs.rmSync(victim, { force: true }));
    await run(['qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', victim, '-F', 'raw', file]);
    try {
      const before = await poolVolumeNames(conn, defaults.pool);
      await expectCode(
        restoreBackup(conn, { scanPools: [defaults.pool], setId: inc1.id, disks: ['vda'] }),
        ErrorCodes.CHAIN_BROKEN,
        new RegExp(
          `volume ${layer} .* is not a sound layer of its chain: .*stands on ${victim}, not on its parent`,
        ),
      );
      expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);
    } finally {
      await run(['qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', parent, '-F', 'qcow2', file]);
      const again = await conn.lookupStoragePoolByName(defaults.pool);
      await again.refresh(); // libvirt may have read the forged header
      again.free();
    }
  });

  it('restores a clone beside the running original (new name and UUID) that boots with the same disks', async () => {
    const name = uniqueName('clone');
    cleanupDomainByName(conn, cleanup, name);
    const inc2 = points[2];
    const clone = await restoreDomain(conn, {
      scanPools: [defaults.pool],
      setId: inc2.result.set.id,
      name,
      newUuid: true,
      start: true,
    });
    expect(clone.name).toBe(name);
    expect(clone.uuid).not.toBe(inc2.result.set.domain.uuid);
    expect(await vm.domain.isActive()).toBe(true);
    const dom = await conn.lookupDomainByName(name);
    try {
      expect(await dom.isActive()).toBe(true);
      const live = await parseDomainXml(await dom.getXMLDesc());
      expect(live.uuid).toBe(clone.uuid);
      expect(live.disks.map((d) => [d.target, d.sourcePath])).toEqual(
        clone.volumes.map((v) => [v.target, v.path]),
      );
      for (const v of clone.volumes) {
        expect(await sameContent({ path: v.path, format: v.format }, inc2.models[v.target])).toBe(true);
      }
    } finally {
      dom.free();
    }
  });

  it('refuses to clobber an existing domain (same name or same UUID) and to replace a running one', async () => {
    const setId = points[0].result.set.id;
    const before = await poolVolumeNames(conn, defaults.pool);
    await expectCode(
      restoreDomain(conn, { scanPools: [defaults.pool], setId }),
      ErrorCodes.CONFLICT,
      new RegExp(`${vm.name} .*running.*in the way`),
    );
    await expectCode(
      restoreDomain(conn, { scanPools: [defaults.pool], setId, name: uniqueName('same-uuid') }),
      ErrorCodes.CONFLICT,
      /in the way/,
    );
    await expectCode(
      restoreDomain(conn, { scanPools: [defaults.pool], setId, replace: true }),
      ErrorCodes.CONFLICT,
      /only a shut-off domain can be replaced/,
    );
    // Refused before anything was created.
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);
  });

  it('overwrites the original disks only when the domain is shut off; the next backup is full and correct', async () => {
    const full = points[0];
    await expectCode(
      restoreBackup(conn, {
        scanPools: [defaults.pool],
        setId: full.result.set.id,
        overwrite: true,
        lockDir,
      }),
      ErrorCodes.CONFLICT,
      /is running/,
    );
    // Refused before anything changed: the disk still holds the newest data.
    expect(await vm.diskMatches('vda', points[2].models.vda)).toBe(true);

    await vm.domain.destroy();
    expect((await vm.domain.listAllCheckpoints()).length).toBe(3);
    const { volumes } = await restoreBackup(conn, {
      scanPools: [defaults.pool],
      setId: full.result.set.id,
      overwrite: true,
      lockDir,
    });
    expect(volumes.map((v) => [v.target, v.path, v.pool, v.format])).toEqual(
      vm.disks.map((d) => [d.target, d.path, vm.pool.name, 'qcow2']),
    );
    for (const d of vm.disks) {
      expect(await vm.diskMatches(d.target, full.models[d.target])).toBe(true);
      expect((await imageInfo({ path: d.path, format: 'qcow2' })).bitmaps).toEqual([]);
    }
    expect(await vm.domain.listAllCheckpoints()).toEqual([]);

    const next = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(next.set.kind).toBe('full');
    expect(next.set.fallbackReason).toMatch(
      /is gone from the domain and its bitmap from the disks \(restored over/,
    );
    expect(next.set.disks.every((d) => d.kind === 'full')).toBe(true);
    const restored = await restoreBackup(conn, {
      scanPools: [defaults.pool],
      setId: next.set.id,
      format: 'raw',
    });
    for (const v of restored.volumes) {
      expect(await sameContent({ path: v.path, format: 'raw' }, full.models[v.target])).toBe(true);
    }
  });
});

describe('cancelling a restore', () => {
  const cleanup = new Cleanup();
  let conn: Connection;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
  });
  afterAll(() => cleanup.run());

  it('kills the copy mid-way and leaves no volume behind', async () => {
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [256 * MiB], label: 'cancel' });
    for (let i = 0; i < 6; i++) await vm.write('vda', 0x40 + i, i * 40 * MiB, 32 * MiB);
    const full = await createBackup(conn, vm.name, { defaults, lockDir });
    const before = await poolVolumeNames(conn, defaults.pool);

    const controller = new AbortController();
    const seen: RestoreProgress[] = [];
    const restore = restoreBackup(conn, {
      scanPools: [defaults.pool],
      setId: full.set.id,
      format: 'raw',
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.bytesDone > 0 && p.bytesDone < p.bytesTotal) controller.abort();
      },
    });
    await expectCode(restore, ErrorCodes.CANCELLED);
    // The copy was running (qemu-img reported partial progress) when it was killed.
    expect(seen.some((p) => p.bytesDone > 0 && p.bytesDone < p.bytesTotal)).toBe(true);
    expect(seen.some((p) => p.bytesDone === p.bytesTotal)).toBe(false);
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);

    // An already aborted signal creates nothing either.
    await expectCode(
      restoreBackup(conn, { scanPools: [defaults.pool], setId: full.set.id, signal: AbortSignal.abort() }),
      ErrorCodes.CANCELLED,
    );
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);
  });
});
