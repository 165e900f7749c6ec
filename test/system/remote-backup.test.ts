// lane: testhost (scripts/test-lanes)
// volback on a remote host: the LVM test host (scripts/testhost) over qemu+tcp, a libvirtd volback
// does not run beside. A two-disk TCG domain on qcow2 files of the host's dir pool gets a full and an
// incremental into a backup pool on that host; what the pool holds is read back through libvirt
// alone (ranged downloads and volback's qcow2 reader) and equals what was written at each point.
import { createBackup } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { verifyBackup } from '../../src/core/catalog/verify';
import { deleteBackup } from '../../src/core/removal/delete';
import { flushDisk } from '../../src/host/scratch-domain';
import { kindOf } from '../../src/host/connection-kind';
import { type Connection, type StoragePool } from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { RemoteChain } from '../../src/pool/remote-image';
import {
  Cleanup,
  createRemoteDirPool,
  createRemoteDomain,
  type RemoteDomain,
  REPO_ROOT,
  openTestHost,
  testHost,
  testHostSshUri,
  uniqueName,
} from '../support';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureLocationPool, closePools } from '../../src/pool/pool-layer';
import { parsePoolTargetMode, parsePoolTargetPath } from '../../src/xml/libvirt-storage';

const MiB = 1024 * 1024;
const DISK = 16 * MiB;

jest.setTimeout(300_000);

describe('backups of a remote host, through libvirt alone', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let backups: StoragePool;
  const lockDir = `/tmp/volback-remote-locks-${process.pid}`;

  beforeAll(async () => {
    conn = cleanup.connection(await openTestHost());
    backups = await createRemoteDirPool(conn, cleanup, uniqueName('remote-backups'));
  });

  afterAll(() => cleanup.run());

  /** Every disk of `set` as the pool holds it, read through libvirt, equals `model`. */
  async function expectStored(set: BackupSet, model: Record<string, Buffer>): Promise<void> {
    for (const disk of set.disks) {
      const volume = await backups.lookupVolumeByName(disk.volume!.name);
      const chain = await RemoteChain.open(conn, volume);
      try {
        expect(chain.virtualSize).toBe(DISK);
        expect((await chain.read(0, DISK)).equals(model[disk.target])).toBe(true);
      } finally {
        chain.close();
        volume.free();
      }
    }
  }

  /** A running two-disk TCG domain on qcow2 files of the host's dir pool, and a model of its disks. */
  const remoteDomain = (): Promise<RemoteDomain> => createRemoteDomain(conn, cleanup, 'remote-vm', DISK);

  it('takes a full and an incremental of a two-disk domain; each reads back as written; the full merges into the incremental', async () => {
    expect((await kindOf(conn)).local).toBe(false);
    const { name, domain, model, write } = await remoteDomain();
    const backup = async (): Promise<BackupSet> => {
      for (const target of ['vda', 'vdb']) await flushDisk(domain, target);
      const result = await createBackup(conn, name, {
        defaults: { pool: await backups.getName(), path: '/nonexistent', format: 'qcow2' },
        lockDir,
      });
      return result.set;
    };

    await write('vda', 0x11, MiB, 2 * MiB);
    await write('vdb', 0x22, 5 * MiB + 4096, 300 * 1024);
    const full = await backup();
    expect(full.kind).toBe('full');
    const atFull = { vda: Buffer.from(model.vda), vdb: Buffer.from(model.vdb) };
    await write('vda', 0x33, 2 * MiB, 64 * 1024); // over the full's data
    await write('vdb', 0x44, 12 * MiB, MiB);
    const inc = await backup();
    expect(inc).toMatchObject({ kind: 'incremental', parentId: full.id });
    // what the incremental copied: the changed granules only
    expect(inc.disks.find((d) => d.target === 'vda')!.bytesCopied).toBe(64 * 1024);
    expect(inc.disks.find((d) => d.target === 'vdb')!.bytesCopied).toBe(MiB);

    await expectStored(full, atFull);
    await expectStored(inc, model);

    // the catalog and verify see both, checksums included, read through libvirt
    const listed = (await scanCatalog(conn)).stored.filter((s) => s.set.domain.name === name);
    expect(listed.map((s) => s.set.id).sort()).toEqual([full.id, inc.id].sort());
    for (const set of [full, inc]) {
      expect(set.disks.every((d) => d.checksums !== undefined)).toBe(true);
      expect(await verifyBackup(conn, { setId: set.id, deep: true, record: false })).toMatchObject({
        verdict: 'ok',
        damage: [],
      });
    }

    const states = async (): Promise<string[]> =>
      (await scanCatalog(conn)).stored
        .filter((s) => s.set.domain.name === name)
        .map((s) => `${s.set.kind}:${s.set.state}`)
        .sort();
    expect(await states()).toEqual(['full:complete', 'incremental:complete']);

    // Deleting the full merges it into the incremental, which becomes a full: QEMU on the host streams the full's data
    // into it (a paused helper domain), and it then stands alone with the same content.
    await deleteBackup(conn, { setId: full.id, dependents: 'merge' });
    expect(await states()).toEqual(['full:complete']); // the incremental's set, now a full
    const after = (await scanCatalog(conn)).stored.filter((s) => s.set.domain.name === name);
    expect(after.map((s) => s.set.id)).toEqual([inc.id]);
    await backups.refresh();
    const left = await backups.listVolumeNames();
    for (const d of full.disks) expect(left).not.toContain(d.volume!.name);
    expect(left.some((v) => v.endsWith('.volback-intent.json'))).toBe(false);
    for (const disk of inc.disks) {
      const volume = await backups.lookupVolumeByName(disk.volume!.name);
      const chain = await RemoteChain.open(conn, volume);
      try {
        expect(chain.backingPath).toBeUndefined();
      } finally {
        chain.close();
        volume.free();
      }
    }
    await expectStored(inc, model);
    expect(await verifyBackup(conn, { setId: inc.id, deep: true, record: false })).toMatchObject({
      verdict: 'ok',
      damage: [],
    });
    const helpers = await Promise.all(
      (await conn.listAllDomains()).map((d) => d.getName().finally(() => d.free())),
    );
    expect(helpers.filter((n) => n.startsWith('volback-stream-'))).toEqual([]);
    await deleteBackup(conn, { setId: inc.id, dependents: 'refuse' });
    expect(await states()).toEqual([]);
  });

  it("creates a backup pool on the host's own file system, checking its directory there, not here", async () => {
    // Exists here, wide open; does not exist on the host: made there 0711, this machine's untouched.
    const made = uniqueName('remote-location');
    const here = `/var/lib/libvirt/${made}`;
    fs.mkdirSync(here, { mode: 0o777 });
    fs.chmodSync(here, 0o777);
    cleanup.add(`local ${here}`, async () => fs.rmSync(here, { recursive: true, force: true }));
    const opened = await ensureLocationPool(conn, { pool: made, path: here });
    const pool = cleanup.pool(await conn.lookupStoragePoolByName(made), { deleteStorage: true });
    closePools([opened]);
    const xml = await pool.getXMLDesc();
    expect(await parsePoolTargetPath(xml)).toBe(here);
    expect(await parsePoolTargetMode(xml)).toBe(0o711);
    expect(await pool.isActive()).toBe(true);
    expect(fs.statSync(here).mode & 0o777).toBe(0o777);

    // Exists on the host and others can write it: refused, and nothing stays defined.
    const open = uniqueName('remote-open');
    await testHost('ssh', `mkdir -m 0777 /var/lib/libvirt/${open}`);
    cleanup.add(`host dir ${open}`, () => testHost('ssh', `rmdir /var/lib/libvirt/${open}`));
    await expect(ensureLocationPool(conn, { pool: open, path: `/var/lib/libvirt/${open}` })).rejects.toThrow(
      `directory /var/lib/libvirt/${open} is writable by other users (mode 777)`,
    );
    expect(
      await conn.lookupStoragePoolByName(open).then(
        () => 'defined',
        () => 'gone',
      ),
    ).toBe('gone');
  });

  it.each(['tcp', 'ssh'])(
    'runs the CLI against the host over qemu+%s: backup create, list, show, verify --deep, restore, prune, delete',
    async (transport) => {
      const { name, domain, write } = await remoteDomain();
      const uri = transport === 'ssh' ? await testHostSshUri() : conn.uri;
      expect(uri.startsWith(`qemu+${transport}://`)).toBe(true);
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-remote-cli-'));
      cleanup.add(`temp ${tmp}`, async () => fs.rmSync(tmp, { recursive: true, force: true }));
      const poolName = uniqueName('remote-cli');
      const config = path.join(tmp, 'volback.conf');
      fs.writeFileSync(
        config,
        `default_pool_layout = "single"\ndefault_pool = "${poolName}"\ndefault_pool_path = "/var/lib/libvirt/${poolName}"\n`,
      );
      cleanup.add(`pool ${poolName}`, async () => {
        const pool = await conn.lookupStoragePoolByName(poolName).catch(() => undefined);
        if (!pool) return;
        const c = new Cleanup();
        c.pool(pool, { deleteVolumes: true, deleteStorage: true });
        await c.run();
      });
      const cli = async (...args: string[]): Promise<unknown> => {
        const { stdout } = await promisify(execFile)(
          process.execPath,
          [
            path.join(REPO_ROOT, 'dist/src/cli/main.js'),
            ...args,
            '--connect',
            uri,
            '--config',
            config,
            '--json',
          ],
          { env: { ...process.env, VOLBACK_LOCK_DIR: path.join(tmp, 'locks'), VOLBACK_CONFIG: undefined } },
        );
        return JSON.parse(stdout);
      };

      await write('vda', 0x51, 3 * MiB, MiB);
      for (const target of ['vda', 'vdb']) await flushDisk(domain, target);
      const created = (await cli('backup', 'create', name)) as { set: BackupSet };
      expect(created.set).toMatchObject({ kind: 'full', domain: { name } });
      const listed = JSON.stringify(await cli('backup', 'list'));
      expect(listed).toContain(created.set.id);
      expect(await cli('backup', 'show', created.set.id)).toMatchObject({
        id: created.set.id,
        state: 'complete',
      });
      expect(await cli('backup', 'verify', created.set.id, '--deep')).toMatchObject({ verdict: 'ok' });
      const restored = (await cli('backup', 'restore', created.set.id, '--disk', 'vda')) as {
        volumes: Array<{ pool: string; volume: string }>;
      };
      expect(restored.volumes).toEqual([expect.objectContaining({ pool: poolName })]);
      const pool = await conn.lookupStoragePoolByName(poolName);
      await pool.refresh();
      const volume = await pool.lookupVolumeByName(restored.volumes[0].volume);
      const chain = await RemoteChain.open(conn, volume);
      try {
        expect((await chain.read(3 * MiB, MiB)).equals(Buffer.alloc(MiB, 0x51))).toBe(true);
      } finally {
        chain.close();
      }
      await volume.delete();
      volume.free();
      pool.free();

      // Retention keeps the newest: the full merges into the incremental on the host.
      await write('vdb', 0x52, 0, MiB);
      for (const target of ['vda', 'vdb']) await flushDisk(domain, target);
      const next = (await cli('backup', 'create', name)) as { set: BackupSet };
      expect(next.set).toMatchObject({ kind: 'incremental', parentId: created.set.id });
      await cli('backup', 'prune', name, '--keep-last', '1', '--yes');
      const kept = JSON.stringify(await cli('backup', 'list'));
      expect(kept).not.toContain(created.set.id);
      expect(kept).toContain(next.set.id);
      expect(await cli('backup', 'verify', next.set.id, '--deep')).toMatchObject({ verdict: 'ok' });

      await cli('backup', 'delete', next.set.id, '--yes');
      expect(JSON.stringify(await cli('backup', 'list'))).not.toContain(next.set.id);
    },
  );
});
