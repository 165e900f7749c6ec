// Live restore against real libvirtd and QEMU: a domain restored from an incremental of a two-disk
// chain runs on qcow2 layers over the backup before its data is copied; what QEMU reads while the
// block pulls run is the backup's point in time plus the new writes; backups it reads cannot be
// deleted; afterwards the disks stand alone and equal a normal restore plus the same writes, and the
// backup volumes are byte for byte what they were. A volback killed mid-copy leaves a correct running
// domain, and the next runs (repair, a waiting finish) restart a stopped pull and copy a shut-off
// domain's disks offline.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createBackup, type BackupDefaults, type BackupResult } from '../../src/core/backup/coordinator';
import { restoreBackup } from '../../src/core/restore/restore';
import { finishLiveRestores, liveRestoreStatus } from '../../src/core/restore/live';
import { deleteBackup } from '../../src/core/removal/delete';
import { listBackups } from '../../src/core/catalog/scan';
import { repair } from '../../src/core/removal/repair';
import { pruneBackups } from '../../src/core/removal/prune';
import { isLiveRestoreRecord } from '../../src/core/shared/live-records';
import { ErrorCodes, isVolbackError } from '../../src/errors';
import type { Connection, Domain } from '../../src/libvirt';
import { checkDiskPattern, flushDisk, writeDiskPattern } from '../../src/host/scratch-domain';
import { imageInfo, imagesEqual } from '../../src/tools/qemu-img';
import { closePools, deleteVolumeIfPresent, openPool, volumeImage } from '../../src/pool/pool-layer';
import { writeDocument } from '../../src/pool/documents';
import {
  Cleanup,
  createTestDomain,
  openSystemConnection,
  backupLocation,
  poolVolumeNames,
  uniqueName,
  REPO_ROOT,
  tsChildArgs,
  writePattern,
  type TestDomain,
} from '../support';
import { MiB, cleanupDomainByName, liveRestoreClone } from './restore-helpers';

jest.setTimeout(300_000);

const KiB = 1024;

/** sha256 of every backup data volume of the sets, by path: what "never written" is checked against. */
async function backupHashes(
  conn: Connection,
  results: readonly BackupResult[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of results)
    for (const d of r.set.disks) {
      const { path: file } = await volumeImage(conn, d.volume!.pool, d.volume!.name);
      out.set(file, createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
    }
  expect(out.size).toBe(4);
  return out;
}

/** Writes through QEMU into a running domain and into a local raw file standing for what it should hold. */
async function writeBoth(
  domain: Domain,
  target: string,
  model: string,
  pattern: number,
  offset: number,
  length: number,
): Promise<void> {
  await writeDiskPattern(domain, target, pattern, offset, length);
  writePattern(model, pattern, offset, length);
}

async function expectConflict(promise: Promise<unknown>, message: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (!isVolbackError(err) || err.code !== ErrorCodes.CONFLICT) throw err;
    expect(err.message).toMatch(message);
    return;
  }
  throw new Error('expected ERR_CONFLICT');
}

describe('live restore on real domains', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let defaults: BackupDefaults;
  let lockDir: string;
  let vm: TestDomain;
  let full: BackupResult;
  let inc: BackupResult;
  let models: Record<string, string>;
  let workDir: string;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    ({ defaults, lockDir } = backupLocation(conn, cleanup));
    vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB], label: 'live' });
    await vm.write('vda', 0xab, 1 * MiB, 3 * MiB);
    await vm.write('vdb', 0xcd, 0, 2 * MiB);
    full = await createBackup(conn, vm.name, { defaults, lockDir });
    await vm.write('vda', 0x11, 8 * MiB, 1 * MiB);
    await vm.write('vdb', 0x22, 4 * MiB, 512 * KiB);
    inc = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(inc.set.kind).toBe('incremental');
    models = { vda: vm.snapshotModel('vda', 'inc'), vdb: vm.snapshotModel('vdb', 'inc') };
    workDir = path.dirname(models.vda);
  });
  afterAll(() => cleanup.run());

  /** A copy of a model, for the writes one test makes on top of the backup's point. */
  const modelCopy = (target: string, label: string): string => {
    const file = path.join(workDir, `${target}.${label}.raw`);
    fs.copyFileSync(models[target], file);
    return file;
  };

  it('runs the domain before the data is copied, reads the backup plus new writes, then stands alone', async () => {
    const hashes = await backupHashes(conn, [full, inc]);
    const { result, domain, name } = await liveRestoreClone(conn, cleanup, {
      setId: inc.set.id,
      pool: defaults.pool,
      label: 'liveup',
      lockDir,
      bandwidth: 256 * KiB, // slow, so that the copy is still running while the test looks
    });
    expect(await domain.isActive()).toBe(true);
    expect(result.live?.disks.map((d) => d.target)).toEqual(['vda', 'vdb']);
    for (const v of result.volumes) {
      const info = await imageInfo({ path: v.path, format: 'qcow2' });
      // A layer over the backup's top volume: the domain runs on it with (almost) nothing copied yet.
      const top = inc.set.disks.find((d) => d.target === v.target)!.volume!;
      expect(info.backingFile).toBe((await volumeImage(conn, top.pool, top.name)).path);
      expect(info.actualSize).toBeLessThan(1 * MiB);
    }

    // While it copies: the catalog shows the restore, and the backups it reads cannot go.
    const listing = await listBackups(conn, { pools: [defaults.pool] });
    expect(listing.sets).toHaveLength(2);
    for (const s of listing.sets)
      expect(s.liveRestores).toEqual([expect.objectContaining({ domain: name, disks: ['vda', 'vdb'] })]);
    await expectConflict(
      deleteBackup(conn, { setId: full.set.id, dependents: 'cascade', lockDir }),
      new RegExp(`live restore of domain ${name}`),
    );
    await expectConflict(
      deleteBackup(conn, { setId: full.set.id, dependents: 'merge', lockDir }),
      new RegExp(`live restore of domain ${name}`),
    );
    // A dry run says the same, and a prune that would merge the full into the incremental refuses too.
    await expectConflict(
      deleteBackup(conn, { setId: full.set.id, dependents: 'cascade', lockDir, dryRun: true }),
      new RegExp(`live restore of domain ${name}`),
    );
    await expectConflict(
      pruneBackups(conn, {
        domain: vm.name,
        policy: { keepLast: 1 },
        merge: true,
        pools: [defaults.pool],
        lockDir,
      }),
      new RegExp(`live restore of domain ${name}`),
    );
    const status = await liveRestoreStatus(conn, { pools: [defaults.pool] });
    expect(status).toEqual([expect.objectContaining({ domain: name, ownHere: true })]);
    // One pull per domain at a time (QEMU 7.2 crashes when two end together): vdb waits its turn.
    expect(status[0].disks.map((d) => d.state)).toEqual(['copying', 'waiting']);

    // New writes while the pulls run, over backup data and beside it; QEMU reads both.
    const expected = { vda: modelCopy('vda', 'live'), vdb: modelCopy('vdb', 'live') };
    await writeBoth(domain, 'vda', expected.vda, 0x77, 2 * MiB, 1 * MiB);
    await writeBoth(domain, 'vdb', expected.vdb, 0x88, 12 * MiB, 256 * KiB);
    await checkDiskPattern(domain, 'vda', 0xab, 1 * MiB, 1 * MiB);
    await checkDiskPattern(domain, 'vda', 0x77, 2 * MiB, 1 * MiB);
    await checkDiskPattern(domain, 'vda', 0xab, 3 * MiB, 1 * MiB);
    await checkDiskPattern(domain, 'vda', 0x11, 8 * MiB, 1 * MiB);
    await checkDiskPattern(domain, 'vda', 0x00, 16 * MiB, 1 * MiB);
    await checkDiskPattern(domain, 'vdb', 0xcd, 0, 2 * MiB);
    await checkDiskPattern(domain, 'vdb', 0x22, 4 * MiB, 512 * KiB);
    await checkDiskPattern(domain, 'vdb', 0x88, 12 * MiB, 256 * KiB);

    await domain.blockJobSetSpeed('vda', 0);
    const done = await finishLiveRestores(conn, {
      id: result.live!.id,
      wait: true,
      bandwidth: 0,
      pools: [defaults.pool],
    });
    expect(done[0].disks.map((d) => d.state)).toEqual(['done', 'done']);
    expect((await poolVolumeNames(conn, defaults.pool)).filter(isLiveRestoreRecord)).toEqual([]);
    expect(await liveRestoreStatus(conn, { pools: [defaults.pool] })).toEqual([]);

    // Standing alone, equal to a normal restore of the same point plus the same writes.
    const normal = await restoreBackup(conn, {
      setId: inc.set.id,
      scanPools: [defaults.pool],
      format: 'raw',
    });
    for (const v of result.volumes) {
      await flushDisk(domain, v.target);
      const info = await imageInfo({ path: v.path, format: 'qcow2' });
      expect(info.backingFile).toBeUndefined();
      const copy = normal.volumes.find((n) => n.target === v.target)!;
      const [pattern, offset, length] =
        v.target === 'vda' ? [0x77, 2 * MiB, MiB] : [0x88, 12 * MiB, 256 * KiB];
      writePattern(copy.path, pattern, offset, length);
      expect(await imagesEqual({ path: v.path, format: 'qcow2' }, { path: copy.path, format: 'raw' })).toBe(
        true,
      );
      expect(
        await imagesEqual(
          { path: v.path, format: 'qcow2' },
          { path: expected[v.target as 'vda' | 'vdb'], format: 'raw' },
        ),
      ).toBe(true);
    }
    // The backups were only read.
    expect(await backupHashes(conn, [full, inc])).toEqual(hashes);
    // Read by nobody now, they can be removed again (a dry run shows it is allowed)...
    await deleteBackup(conn, { setId: full.set.id, dependents: 'cascade', lockDir, dryRun: true });
    // ...unless a record says otherwise: one nobody here signed still counts, and one that cannot be
    // read stops every removal from the pool (it might name these backups).
    const pool = await openPool(conn, defaults.pool);
    const forged = 'volback-live-aaaaaaaaaaaa.json';
    const unreadable = 'volback-live-bbbbbbbbbbbb.json';
    try {
      const record = {
        id: 'aaaaaaaaaaaa',
        domain: 'someone-elses-vm',
        host: 'another-host',
        pid: 1,
        bandwidth: 0,
        setId: inc.set.id,
        startedAt: new Date().toISOString(),
        disks: [
          {
            target: 'vda',
            pool: defaults.pool,
            volume: 'x.qcow2',
            reads: [{ diskId: inc.set.disks[0].id, setId: inc.set.id, pool: defaults.pool, volume: 'y' }],
          },
        ],
      };
      await writeDocument(pool, forged, JSON.stringify({ restore: record, mac: '0'.repeat(64) }));
      await expectConflict(
        deleteBackup(conn, { setId: full.set.id, dependents: 'cascade', lockDir, dryRun: true }),
        /live restore of domain someone-elses-vm \(disk vda, .* on another-host\)/,
      );
      expect(await liveRestoreStatus(conn, { pools: [defaults.pool] })).toEqual([
        expect.objectContaining({ domain: 'someone-elses-vm', ownHere: false }),
      ]);
      await deleteVolumeIfPresent(pool, forged);
      await writeDocument(pool, unreadable, 'not a record');
      await expectConflict(
        deleteBackup(conn, { setId: full.set.id, dependents: 'cascade', lockDir, dryRun: true }),
        new RegExp(`${unreadable} in pool '${defaults.pool}' cannot be read`),
      );
    } finally {
      await deleteVolumeIfPresent(pool, forged);
      await deleteVolumeIfPresent(pool, unreadable);
      closePools([pool]);
    }
  });

  it('survives volback killed mid-copy: repair restarts a stopped pull, a shut-off domain is copied offline', async () => {
    const name = uniqueName('livekill');
    cleanupDomainByName(conn, cleanup, name);
    // The CLI, waiting for the copy at 64 KiB/s; killed (no cleanup code runs) once the pulls run.
    const child = spawn(
      process.execPath,
      tsChildArgs(
        `require('./src/cli/main').main(process.argv.slice(1)).then((code) => process.exit(code));`,
        [
          'backup',
          'restore',
          inc.set.id,
          '--define',
          '--live',
          '--name',
          name,
          '--new-uuid',
          '--bandwidth',
          '0.0625',
          '--connect',
          'qemu:///system',
        ],
      ),
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<string>((resolve) =>
      child.on('close', (code, signal) => resolve(signal ?? `exit ${code}: ${stderr}`)),
    );
    // Killed once libvirt shows the first pull running: from then on volback only watches.
    let domain: Domain | undefined;
    for (let i = 0; i < 600 && !domain && child.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const status = await liveRestoreStatus(conn, { pools: [defaults.pool] });
      if (status.some((s) => s.domain === name && s.disks[0].state === 'copying'))
        domain = await conn.lookupDomainByName(name);
    }
    if (!domain) throw new Error(`the restore never showed a running pull; volback said: ${stderr}`);
    cleanup.add(`handle of ${name}`, async () => domain!.free());
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    // `backup restore --status` shows it, from another process.
    const shown = await new Promise<string>((resolve, reject) => {
      const status = spawn(
        process.execPath,
        tsChildArgs(
          `require('./src/cli/main').main(process.argv.slice(1)).then((code) => process.exit(code));`,
          ['backup', 'restore', '--status', '--json', '--connect', 'qemu:///system'],
        ),
        { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      status.stdout.on('data', (c: Buffer) => (out += c.toString()));
      status.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`--status exited ${code}`)),
      );
    });
    const listed = (
      JSON.parse(shown) as { liveRestores: Array<{ domain: string; disks: Array<{ target: string }> }> }
    ).liveRestores;
    expect(listed.find((r) => r.domain === name)?.disks.map((d) => d.target)).toEqual(['vda', 'vdb']);

    // The domain runs on, correct; the record still guards the backups.
    expect(await domain!.isActive()).toBe(true);
    await checkDiskPattern(domain!, 'vda', 0xab, 1 * MiB, 3 * MiB);
    await checkDiskPattern(domain!, 'vdb', 0x22, 4 * MiB, 512 * KiB);
    await expectConflict(
      deleteBackup(conn, { setId: inc.set.id, dependents: 'refuse', lockDir }),
      new RegExp(`live restore of domain ${name}`),
    );

    // A pull that stopped (as when libvirtd loses it) is restarted by repair.
    await domain!.blockJobAbort('vda');
    const waiting = await liveRestoreStatus(conn, { pools: [defaults.pool] });
    expect(waiting.find((s) => s.domain === name)!.disks.map((d) => d.state)).toEqual(['waiting', 'waiting']);
    const repaired = await repair(conn, { pools: [defaults.pool], lockDir });
    // Its pass started vda's pull again (vdb waits its turn); libvirt shows it running or done.
    // Only this domain's: other domains of the host may have checkpoints of pools not read here.
    expect(repaired.left.filter((l) => l.domain === name)).toEqual([
      expect.objectContaining({
        kind: 'live-restore',
        domain: name,
        reason: expect.stringMatching(/vda copying/),
      }),
    ]);
    const after = await liveRestoreStatus(conn, { pools: [defaults.pool] });
    expect(['copying', 'done']).toContain(after.find((s) => s.domain === name)!.disks[0].state);

    // Shut off mid-copy: the next finishing run copies the layers off their backups in place.
    const expected = { vda: modelCopy('vda', 'kill'), vdb: modelCopy('vdb', 'kill') };
    await writeBoth(domain!, 'vda', expected.vda, 0x5a, 20 * MiB, 512 * KiB);
    await flushDisk(domain!, 'vda');
    await domain!.destroy();
    const done = await finishLiveRestores(conn, { wait: true, pools: [defaults.pool] });
    expect(done.find((s) => s.domain === name)!.disks.map((d) => d.state)).toEqual(['done', 'done']);
    expect((await poolVolumeNames(conn, defaults.pool)).filter(isLiveRestoreRecord)).toEqual([]);
    const xml = await domain!.getXMLDesc(0);
    for (const target of ['vda', 'vdb'] as const) {
      const file = new RegExp(`<source file='([^']+)'[^>]*/>\\s*<target dev='${target}'`).exec(xml)?.[1];
      expect(file).toBeDefined();
      expect((await imageInfo({ path: file!, format: 'qcow2' })).backingFile).toBeUndefined();
      expect(
        await imagesEqual({ path: file!, format: 'qcow2' }, { path: expected[target], format: 'raw' }),
      ).toBe(true);
    }
  });
});
