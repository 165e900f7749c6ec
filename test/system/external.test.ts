// External (pull-mode) backups on qemu:///system with a real QEMU NBD export, read by Debian's NBD
// clients (nbdinfo, qemu-img), never by volback: point-in-time content while the guest keeps writing,
// dirty extents of incrementals, a failed session, one job per domain, crash cleanup.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Connection } from '../../src/libvirt';
import { createBackup } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { volbackCheckpoints } from '../../src/core/shared/checkpoints';
import {
  beginExternalBackup,
  endExternalBackup,
  type ExternalSession,
} from '../../src/core/external/session-lifecycle';
import { defaultUnixSocket } from '../../src/host/nbd-endpoints';
import { BITMAP_GRANULE } from '../../src/core/external/plan';
import { readSession } from '../../src/core/external/session';
import { isVolbackError } from '../../src/errors';
import type { BackupDefinition } from '../../src/model';
import { imagesEqual } from '../../src/tools/qemu-img';
import { Cleanup, createTestDomain, openSystemConnection, type TestDomain } from '../support';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const KiB = 1024;

jest.setTimeout(180_000);

type Extent = [start: number, end: number];

/** Dirty extents of an export as nbdinfo reads them through the bitmap's meta context. */
async function dirtyExtents(uri: string, context: string): Promise<Extent[]> {
  const { stdout } = await run('nbdinfo', ['--json', `--map=${context}`, uri]);
  const map = JSON.parse(stdout) as Array<{ offset: number; length: number; type: number }>;
  return merge(map.filter((e) => e.type & 1).map((e) => [e.offset, e.offset + e.length] as Extent));
}

function merge(extents: Extent[]): Extent[] {
  const sorted = [...extents].sort((a, b) => a[0] - b[0]);
  const out: Extent[] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** Writes rounded out to bitmap granules: what a bitmap may report for them. */
const granular = (writes: Extent[]): Extent[] =>
  merge(
    writes.map(([s, e]) => [
      Math.floor(s / BITMAP_GRANULE) * BITMAP_GRANULE,
      Math.ceil(e / BITMAP_GRANULE) * BITMAP_GRANULE,
    ]),
  );

/** Each reported extent matches one expected write within one granule at each end. */
function expectExtentsMatch(actual: Extent[], writes: Extent[]): void {
  const expected = merge(writes);
  expect(actual.length).toBe(granular(expected).length);
  granular(expected).forEach(([s, e], i) => {
    expect(Math.abs(actual[i][0] - s)).toBeLessThanOrEqual(BITMAP_GRANULE);
    expect(Math.abs(actual[i][1] - e)).toBeLessThanOrEqual(BITMAP_GRANULE);
  });
}

/** Copies a whole export to a local raw file with qemu-img (an NBD client that is not volback). */
async function readExport(uri: string, file: string): Promise<void> {
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, file]);
}

/** Applies only `extents` of `source` onto `target` (an incremental restore from the export's bytes). */
function applyExtents(source: string, target: string, extents: Extent[]): void {
  const src = fs.openSync(source, 'r');
  const dst = fs.openSync(target, 'r+');
  try {
    for (const [s, e] of extents) {
      const buf = Buffer.alloc(e - s);
      fs.readSync(src, buf, 0, buf.length, s);
      fs.writeSync(dst, buf, 0, buf.length, s);
    }
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}

const sameRaw = (a: string, b: string): Promise<boolean> =>
  imagesEqual({ path: a, format: 'raw' }, { path: b, format: 'raw' });

describe('external (pull-mode) backups', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let dom: TestDomain;
  let lockDir: string;
  let work: string;
  const defaults = (): { pool: string; path: string; format: 'qcow2' } => ({
    pool: dom.pool.name,
    path: dom.pool.dir,
    format: 'qcow2',
  });
  const pull = (over: Partial<BackupDefinition> = {}): BackupDefinition => ({
    mode: 'pull',
    kind: 'auto',
    disks: [],
    ...over,
  });
  /** Writes since the full's checkpoint, per disk. */
  const sinceFull: Record<string, Extent[]> = { vda: [], vdb: [] };
  const fullCopies: Record<string, string> = {};
  let fullSetId = '';

  const write = async (
    target: string,
    pattern: number,
    offset: number,
    length: number,
    track = true,
  ): Promise<void> => {
    await dom.write(target, pattern, offset, length);
    if (track) sinceFull[target].push([offset, offset + length]);
  };
  const poolVolumes = async (): Promise<string[]> => {
    await dom.pool.pool.refresh();
    const vols = await dom.pool.pool.listAllVolumes();
    const names = await Promise.all(vols.map((v) => v.getName()));
    vols.forEach((v) => v.free());
    return names;
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    dom = await createTestDomain(conn, cleanup, { diskSizes: [64 * MiB, 32 * MiB], label: 'ext' });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-ext-'));
    lockDir = path.join(work, 'locks');
    cleanup.add(`work ${work}`, async () => fs.rmSync(work, { recursive: true, force: true }));
  });
  afterAll(() => cleanup.run());

  it('exports a full at one point in time while the guest keeps writing, and refuses a push meanwhile', async () => {
    await write('vda', 0x11, 1 * MiB, 1 * MiB, false);
    await write('vdb', 0x22, 0, 512 * KiB, false);
    const session = await beginExternalBackup(conn, dom.name, {
      definition: pull({ kind: 'full' }),
      defaults: defaults(),
      lockDir,
    });
    const atBegin = { vda: dom.snapshotModel('vda', 'begin1'), vdb: dom.snapshotModel('vdb', 'begin1') };
    expect(session.kind).toBe('full');
    expect(session.server).toMatchObject({ transport: 'tcp', name: '127.0.0.1' });
    expect(session.disks.map((d) => [d.target, d.exportName, d.uri, d.dirtyBitmapContext])).toEqual([
      ['vda', 'vda', `nbd://127.0.0.1:${(session.server as { port: number }).port}/vda`, undefined],
      ['vdb', 'vdb', `nbd://127.0.0.1:${(session.server as { port: number }).port}/vdb`, undefined],
    ]);
    expect(await volbackCheckpoints(dom.domain)).toEqual([session.checkpoint]);
    expect(readSession(session.domain.uuid, lockDir)?.state).toBe('running');
    expect(await poolVolumes()).toEqual(expect.arrayContaining(session.disks.map((d) => d.scratch.volume)));

    // The guest overwrites data the reader has not read yet: copy-before-write keeps the old bytes.
    await write('vda', 0x33, 1 * MiB + 256 * KiB, 512 * KiB);
    await write('vdb', 0x44, 4 * MiB, 1 * MiB);

    // One job per domain: push and a second pull are refused while the session runs.
    const push = await createBackup(conn, dom.name, { defaults: defaults(), lockDir }).catch(
      (e: unknown) => e,
    );
    expect(isVolbackError(push, 'ERR_CONFLICT')).toBe(true);
    expect((push as Error).message).toContain(session.setId);
    const second = await beginExternalBackup(conn, dom.name, { defaults: defaults(), lockDir }).catch(
      (e: unknown) => e,
    );
    expect(isVolbackError(second, 'ERR_CONFLICT')).toBe(true);

    for (const disk of session.disks) {
      const file = path.join(work, `full-${disk.target}.raw`);
      await readExport(disk.uri, file);
      expect(await sameRaw(file, atBegin[disk.target as 'vda' | 'vdb'])).toBe(true);
      fullCopies[disk.target] = file;
    }

    const ended = await endExternalBackup(conn, dom.name, { success: true, lockDir });
    expect(ended.set).toMatchObject({ id: session.setId, mode: 'pull', state: 'external', kind: 'full' });
    expect(ended.set!.description).toMatch(/external backup begun by .+@.+, ended by .+@.+/);
    fullSetId = session.setId;
    const scan = await scanCatalog(conn, { pools: [dom.pool.name] });
    const stored = scan.catalog.sets.get(session.setId);
    expect(stored?.set.checkpoint?.name).toBe(session.checkpoint);
    expect(stored?.set.disks.every((d) => d.volume === undefined && d.bitmap === session.checkpoint)).toBe(
      true,
    );
    expect(scan.strayVolumes).toEqual([]);
    const left = await poolVolumes();
    for (const disk of session.disks) expect(left).not.toContain(disk.scratch.volume);
    expect(await volbackCheckpoints(dom.domain)).toEqual([session.checkpoint]);
    expect(readSession(session.domain.uuid, lockDir)).toBeUndefined();
  });

  /** Begins an incremental, reads its dirty extents and rebuilds each disk from the full plus those extents. */
  async function incrementalRound(
    label: string,
    extraDuringSession: () => Promise<void>,
  ): Promise<ExternalSession> {
    const session = await beginExternalBackup(conn, dom.name, { defaults: defaults(), lockDir });
    const atBegin = { vda: dom.snapshotModel('vda', label), vdb: dom.snapshotModel('vdb', label) };
    const expected = { vda: [...sinceFull.vda], vdb: [...sinceFull.vdb] };
    await extraDuringSession();
    expect(session.kind).toBe('incremental');
    expect(session.parentSetId).toBe(fullSetId);
    for (const disk of session.disks) {
      expect(disk.kind).toBe('incremental');
      expect(disk.dirtyBitmapContext).toBe(`qemu:dirty-bitmap:backup-${disk.target}`);
      const extents = await dirtyExtents(disk.uri, disk.dirtyBitmapContext!);
      expectExtentsMatch(extents, expected[disk.target as 'vda' | 'vdb']);
      const whole = path.join(work, `${label}-${disk.target}.export.raw`);
      await readExport(disk.uri, whole);
      const rebuilt = path.join(work, `${label}-${disk.target}.rebuilt.raw`);
      fs.copyFileSync(fullCopies[disk.target], rebuilt);
      applyExtents(whole, rebuilt, extents);
      expect(await sameRaw(rebuilt, atBegin[disk.target as 'vda' | 'vdb'])).toBe(true);
    }
    return session;
  }

  it('exports an incremental whose dirty extents are the writes since the base; a failed session leaves the next one complete', async () => {
    expect(fullSetId).not.toBe('');
    await write('vda', 0x55, 8 * MiB, 1 * MiB);
    const failed = await incrementalRound('inc1', () => write('vda', 0x66, 8 * MiB + 512 * KiB, 1 * MiB));
    const discarded = await endExternalBackup(conn, dom.name, { success: false, lockDir });
    expect(discarded.removedCheckpoint).toBe(failed.checkpoint);
    expect(await volbackCheckpoints(dom.domain)).not.toContain(failed.checkpoint);
    const afterFail = await scanCatalog(conn, { pools: [dom.pool.name] });
    expect(afterFail.catalog.sets.has(failed.setId)).toBe(false);

    // The next incremental (from the full again) covers the failed window's writes too.
    await write('vda', 0x77, 16 * MiB, 256 * KiB);
    await write('vdb', 0x78, 20 * MiB, 128 * KiB);
    const next = await incrementalRound('inc2', () => write('vdb', 0x79, 0, 64 * KiB));
    const ended = await endExternalBackup(conn, dom.name, { success: true, lockDir });
    expect(ended.set).toMatchObject({
      id: next.setId,
      kind: 'incremental',
      parentId: fullSetId,
      state: 'external',
    });
    expect(ended.set!.disks.every((d) => d.kind === 'incremental' && d.parentId)).toBe(true);
  });

  it('cleans up a session whose owner died before the next job, and push never builds on an external set', async () => {
    const dead = spawnSync('true').pid!;
    const crashed = await beginExternalBackup(conn, dom.name, {
      definition: pull({ kind: 'full' }),
      defaults: defaults(),
      lockDir,
      ownerPid: dead,
    });
    expect(await dom.domain.backupGetXMLDesc()).toContain("mode='pull'");
    const result = await createBackup(conn, dom.name, { defaults: defaults(), lockDir });
    // No push set exists yet: a full, even though external sets with checkpoints do.
    expect(result.set.kind).toBe('full');
    expect(readSession(crashed.domain.uuid, lockDir)).toBeUndefined();
    const checkpoints = await volbackCheckpoints(dom.domain);
    expect(checkpoints).not.toContain(crashed.checkpoint);
    expect(checkpoints).toContain(result.set.checkpoint!.name);
    const left = await poolVolumes();
    for (const disk of crashed.disks) expect(left).not.toContain(disk.scratch.volume);

    // Naming an external set as a push base is refused with a reason.
    const refused = await createBackup(conn, dom.name, {
      definition: { mode: 'push', kind: 'incremental', incrementalFrom: fullSetId, disks: [] },
      defaults: defaults(),
      lockDir,
    }).catch((e: unknown) => e);
    expect(isVolbackError(refused, 'ERR_CHAIN_BROKEN')).toBe(true);
  });

  it('exports over a unix socket in a dedicated directory only QEMU (and root) can enter', async () => {
    const uuid = await dom.domain.getUUIDString();
    const socket = defaultUnixSocket(uuid);
    const session = await beginExternalBackup(conn, dom.name, {
      definition: pull({ kind: 'full', server: { transport: 'unix', socket } }),
      defaults: defaults(),
      lockDir,
    });
    const dir = path.dirname(socket);
    const st = fs.statSync(dir);
    expect(st.mode & 0o777).toBe(0o700);
    expect(st.uid).not.toBe(0);
    expect(session.disks[0].uri).toBe(`nbd+unix:///vda?socket=${socket}`);
    const { stdout } = await run('nbdinfo', ['--size', session.disks[0].uri]);
    expect(Number(stdout.trim())).toBe(64 * MiB);
    await endExternalBackup(conn, dom.name, { success: false, lockDir });
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('refuses a scratch pool without room for the disk data the guest may overwrite, before touching the domain', async () => {
    // A dir pool on an 8 MiB tmpfs: a real pool that is really short of space.
    const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-small-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0711', 'tmpfs', mountPoint]);
    expect(mounted.status).toBe(0);
    cleanup.add(`tmpfs ${mountPoint}`, async () => {
      spawnSync('umount', [mountPoint]);
      fs.rmSync(mountPoint, { recursive: true, force: true });
    });
    const poolName = `vbt-small-${process.pid}`;
    const small = await conn.createStoragePool(
      `<pool type='dir'><name>${poolName}</name><target><path>${mountPoint}</path></target></pool>`,
    );
    cleanup.add(`pool ${poolName}`, async () => {
      await small.destroy().catch(() => undefined);
      small.free();
    });
    await write('vdb', 0x6b, 16 * MiB, 12 * MiB, false); // vdb now holds more than 8 MiB of data
    const checkpointsBefore = await volbackCheckpoints(dom.domain);
    const err = await beginExternalBackup(conn, dom.name, {
      definition: pull({
        kind: 'full',
        disks: [
          { name: 'vda', backup: false },
          { name: 'vdb', backup: true, scratchPool: poolName },
        ],
      }),
      defaults: defaults(),
      lockDir,
    }).catch((e: unknown) => e);
    expect(isVolbackError(err, 'ERR_POOL_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(`pool '${poolName}' has \\d+ bytes free but the scratch space of vdb needs`),
    );
    await expect(dom.domain.backupGetXMLDesc()).rejects.toThrow();
    expect(await volbackCheckpoints(dom.domain)).toEqual(checkpointsBefore);
    await small.refresh();
    expect(await small.listAllVolumes()).toEqual([]);
    expect(readSession(await dom.domain.getUUIDString(), lockDir)).toBeUndefined();
  });

  it('refuses an export without TLS on a non-loopback address, before touching the domain', async () => {
    const err = await beginExternalBackup(conn, dom.name, {
      definition: pull({ server: { transport: 'tcp', name: '0.0.0.0' } }),
      defaults: defaults(),
      lockDir,
    }).catch((e: unknown) => e);
    expect(isVolbackError(err, 'ERR_INVALID_INPUT')).toBe(true);
    await expect(dom.domain.backupGetXMLDesc()).rejects.toThrow();
  });
});
