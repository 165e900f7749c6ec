// Live restore in the real Ceph cluster's rbd pool: a domain restored from an incremental of a
// two-disk chain backed up into RBD starts on clones of the backup images' protected snapshots, reads
// the backup's point in time plus its new writes through QEMU, the backups it reads cannot be
// deleted, and once volback flattens the clones under the running domain they stand alone with the
// expected content; the backup images read the same and store the same extents as before.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBackup, type BackupResult } from '../../src/core/backup/coordinator';
import { deleteBackup } from '../../src/core/removal/delete';
import { finishLiveRestores, liveRestoreStatus } from '../../src/core/restore/live';
import { ErrorCodes, isVolbackError } from '../../src/errors';
import type { Connection } from '../../src/libvirt';
import type { OpenPool } from '../../src/pool/pool-layer';
import { checkDiskPattern, flushDisk, writeDiskPattern } from '../../src/host/scratch-domain';
import { convertImage, imagesEqual, type ImageRef } from '../../src/tools/qemu-img';
import { parseDomainXml } from '../../src/xml/libvirt-domain';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  writePattern,
  type TestDomain,
} from '../support';
import { openTestRbdPool } from '../support/rbd';
import { MiB, liveRestoreClone } from './restore-helpers';

jest.setTimeout(600_000);

describe('live restore in an rbd pool', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let rbd: OpenPool;
  let vm: TestDomain;
  let full: BackupResult;
  let inc: BackupResult;
  let scratch: string;
  let lockDir: string;

  /** A volume of the rbd pool as qemu-img reads it, through its key. */
  const imageOf = async (name: string): Promise<ImageRef> => {
    const volume = await rbd.pool.lookupVolumeByName(name);
    try {
      return await rbd.driver.image(rbd, volume);
    } finally {
      volume.free();
    }
  };
  /** What each backup image reads as (sha256 of its guest bytes) and which extents it stores. */
  const backupState = async (): Promise<Record<string, unknown>> => {
    const out: Record<string, unknown> = {};
    for (const r of [full, inc])
      for (const d of r.set.disks) {
        const file = path.join(scratch, `${d.volume!.name}.raw`);
        await convertImage(await imageOf(d.volume!.name), { path: file, format: 'raw' });
        const volume = await rbd.pool.lookupVolumeByName(d.volume!.name);
        try {
          out[d.volume!.name] = {
            sha256: createHash('sha256').update(fs.readFileSync(file)).digest('hex'),
            extents: await rbd.driver.layerExtents(rbd, volume),
          };
        } finally {
          volume.free();
          fs.rmSync(file);
        }
      }
    return out;
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    const env = backupLocation(conn, cleanup);
    lockDir = env.lockDir;
    rbd = await openTestRbdPool(conn, cleanup);
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-rbd-live-'));
    cleanup.add(`scratch ${scratch}`, async () => fs.rmSync(scratch, { recursive: true, force: true }));
    vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB], label: 'rbdlive' });
    const backup = () =>
      createBackup(conn, vm.name, {
        defaults: { ...env.defaults, pool: rbd.name, format: 'raw' },
        lockDir: env.lockDir,
      });
    await vm.write('vda', 0xab, 1 * MiB, 3 * MiB);
    await vm.write('vdb', 0xcd, 0, 2 * MiB);
    full = await backup();
    await vm.write('vda', 0x11, 8 * MiB, 1 * MiB);
    await vm.write('vdb', 0x22, 4 * MiB, 512 * 1024);
    inc = await backup();
    expect(inc.set.kind).toBe('incremental');
  });
  afterAll(() => cleanup.run());

  it('runs the domain on clones of the backup, then flattens them under it', async () => {
    const before = await backupState();
    const { result, domain, name } = await liveRestoreClone(conn, cleanup, {
      setId: inc.set.id,
      pool: rbd.name,
      label: 'rbdliveup',
      lockDir,
    });
    expect(await domain.isActive()).toBe(true);
    // Network disks with their <auth>, on clones of the backup images.
    const disks = (await parseDomainXml(await domain.getXMLDesc(0))).disks;
    expect(disks.map((d) => d.type)).toEqual(['network', 'network']);
    for (const v of result.volumes) {
      const volume = await rbd.pool.lookupVolumeByName(v.volume);
      try {
        expect((await rbd.driver.checkLayer(rbd, volume)).join()).toMatch(/is a clone of/);
      } finally {
        volume.free();
      }
    }
    expect(result.live!.disks.map((d) => d.state)).toEqual(['waiting', 'waiting']);
    const refused = await deleteBackup(conn, {
      setId: full.set.id,
      dependents: 'cascade',
      pools: [rbd.name],
      lockDir,
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isVolbackError(refused) && refused.code === ErrorCodes.CONFLICT).toBe(true);
    expect((refused as Error).message).toContain(`live restore of domain ${name}`);

    // The guest reads the backup's point in time and its own writes.
    const expected: Record<string, string> = {};
    for (const target of ['vda', 'vdb']) {
      expected[target] = path.join(scratch, `${target}.expected.raw`);
      fs.copyFileSync(vm.snapshotModel(target, 'inc'), expected[target]);
    }
    const write = async (target: string, pattern: number, offset: number, length: number) => {
      await writeDiskPattern(domain, target, pattern, offset, length);
      writePattern(expected[target], pattern, offset, length);
    };
    await write('vda', 0x77, 2 * MiB, 1 * MiB);
    await write('vdb', 0x88, 12 * MiB, 256 * 1024);
    await checkDiskPattern(domain, 'vda', 0xab, 1 * MiB, 1 * MiB);
    await checkDiskPattern(domain, 'vda', 0x77, 2 * MiB, 1 * MiB);
    await checkDiskPattern(domain, 'vda', 0x11, 8 * MiB, 1 * MiB);
    await checkDiskPattern(domain, 'vdb', 0x22, 4 * MiB, 512 * 1024);
    await checkDiskPattern(domain, 'vdb', 0x88, 12 * MiB, 256 * 1024);

    const done = await finishLiveRestores(conn, { id: result.live!.id, wait: true, pools: [rbd.name] });
    expect(done[0].disks.map((d) => d.state)).toEqual(['done', 'done']);
    expect(await liveRestoreStatus(conn, { pools: [rbd.name] })).toEqual([]);
    expect(await domain.isActive()).toBe(true);
    for (const v of result.volumes) {
      await flushDisk(domain, v.target);
      const volume = await rbd.pool.lookupVolumeByName(v.volume);
      try {
        expect(await rbd.driver.checkLayer(rbd, volume)).toEqual([]);
      } finally {
        volume.free();
      }
      expect(await imagesEqual(await imageOf(v.volume), { path: expected[v.target], format: 'raw' })).toBe(
        true,
      );
    }
    // Still readable through QEMU after the flatten, and the backups were only read.
    await checkDiskPattern(domain, 'vda', 0x77, 2 * MiB, 1 * MiB);
    await checkDiskPattern(domain, 'vdb', 0xcd, 0, 2 * MiB);
    expect(await backupState()).toEqual(before);
  });
});
