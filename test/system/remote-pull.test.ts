// lane: testhost (scripts/test-lanes)
// Pull mode on a remote host: the LVM test host over qemu+tcp. QEMU there exports a running domain's
// disks over NBD on the host's loopback (the port given, as volback cannot see the host's free
// ports); a third-party client here (qemu-img, nbdinfo) reaches it through an ssh tunnel, reads the
// disks as they were at the session's start while the guest keeps writing, then the changed blocks
// of an incremental session through the dirty bitmap. Unix sockets and port-less servers are refused
// before anything is made.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomInt } from 'node:crypto';
import { beginExternalBackup, endExternalBackup } from '../../src/core/external/session-lifecycle';
import { flushDisk } from '../../src/host/scratch-domain';
import { type Connection, type Domain, type StoragePool } from '../../src/libvirt';
import type { BackupDefinition } from '../../src/model';
import {
  Cleanup,
  createRemoteDirPool,
  createRemoteDomain,
  type RemoteDomain,
  openTestHost,
  testHostTunnel,
  uniqueName,
} from '../support';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const DISK = 16 * MiB;

jest.setTimeout(300_000);

describe('pull mode on a remote host', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let remote: RemoteDomain;
  let domain: Domain;
  let name: string;
  let work: string;
  const lockDir = `/tmp/volback-remote-pull-locks-${process.pid}`;
  const backupPool = uniqueName('remote-pull-backups');
  const defaults = { pool: backupPool, path: '/nonexistent', format: 'qcow2' as const };
  let backups: StoragePool;
  const pull = (port: number, over: Partial<BackupDefinition> = {}): BackupDefinition => ({
    mode: 'pull',
    kind: 'auto',
    disks: [],
    server: { transport: 'tcp', name: '127.0.0.1', port },
    ...over,
  });
  /** A port on the test host's loopback for one session (QEMU binds it; a clash fails the begin). */
  const hostPort = (): number => randomInt(20_000, 40_000);
  /** What the backup pool (scratch volumes, set documents) holds now. */
  const volumes = async (): Promise<string[]> => {
    await backups.refresh();
    return (await backups.listVolumeNames()).sort();
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openTestHost());
    backups = await createRemoteDirPool(conn, cleanup, backupPool);
    remote = await createRemoteDomain(conn, cleanup, 'remote-pull', DISK);
    ({ name, domain } = remote);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-remote-pull-'));
    cleanup.add(`work ${work}`, async () => fs.rmSync(work, { recursive: true, force: true }));
  });

  afterAll(() => cleanup.run());

  it('refuses a unix socket and a TCP server without a port, before anything is made', async () => {
    const before = await volumes();
    await expect(
      beginExternalBackup(conn, name, {
        definition: pull(0, { server: { transport: 'unix', socket: '/run/volback/nbd/x/nbd.sock' } }),
        defaults,
        lockDir,
      }),
    ).rejects.toThrow(/would be on the remote host/);
    await expect(
      beginExternalBackup(conn, name, {
        definition: pull(0, { server: { transport: 'tcp', name: '127.0.0.1' } }),
        defaults,
        lockDir,
      }),
    ).rejects.toThrow(/needs a port/);
    expect(await volumes()).toEqual(before);
    expect(await domain.backupGetXMLDesc().catch(() => 'no job')).toBe('no job');
  });

  it('exports the disks at the start of the session through a tunnel, then the changed blocks', async () => {
    await remote.write('vda', 0x81, MiB, 2 * MiB);
    await remote.write('vdb', 0x82, 6 * MiB, 512 * 1024);
    for (const target of ['vda', 'vdb']) await flushDisk(domain, target);
    const port = hostPort();
    const full = await beginExternalBackup(conn, name, {
      definition: pull(port, { kind: 'full' }),
      defaults,
      lockDir,
    });
    expect(full.server).toEqual({ transport: 'tcp', name: '127.0.0.1', port, tls: false });
    const atBegin: Record<string, Buffer> = {
      vda: Buffer.from(remote.model.vda),
      vdb: Buffer.from(remote.model.vdb),
    };
    // The guest keeps writing: the export still shows the start (copy-before-write into scratch).
    await remote.write('vda', 0x83, MiB, 64 * 1024);
    const tunnel = await testHostTunnel(port);
    try {
      for (const disk of full.disks) {
        const file = path.join(work, `${disk.target}.full.raw`);
        await run('qemu-img', [
          'convert',
          '-f',
          'raw',
          '-O',
          'raw',
          `nbd://127.0.0.1:${tunnel.localPort}/${disk.exportName}`,
          file,
        ]);
        expect(fs.readFileSync(file).equals(atBegin[disk.target])).toBe(true);
      }
    } finally {
      tunnel.close();
    }
    const ended = await endExternalBackup(conn, name, { success: true, lockDir });
    expect(ended.set).toMatchObject({ id: full.setId, mode: 'pull', state: 'external', kind: 'full' });

    await remote.write('vdb', 0x84, 12 * MiB, MiB);
    for (const target of ['vda', 'vdb']) await flushDisk(domain, target);
    const port2 = hostPort();
    const inc = await beginExternalBackup(conn, name, { definition: pull(port2), defaults, lockDir });
    expect(inc.kind).toBe('incremental');
    const tunnel2 = await testHostTunnel(port2);
    try {
      const vdb = inc.disks.find((d) => d.target === 'vdb')!;
      const { stdout } = await run('nbdinfo', [
        '--json',
        `--map=${vdb.dirtyBitmapContext}`,
        `nbd://127.0.0.1:${tunnel2.localPort}/${vdb.exportName}`,
      ]);
      const dirty = (JSON.parse(stdout) as Array<{ offset: number; length: number; type: number }>)
        .filter((e) => e.type & 1)
        .map((e) => [e.offset, e.offset + e.length]);
      expect(dirty).toEqual([[12 * MiB, 13 * MiB]]);
    } finally {
      tunnel2.close();
    }
    const last = await endExternalBackup(conn, name, { success: true, lockDir });
    expect(await domain.backupGetXMLDesc().catch(() => 'no job')).toBe('no job');
    // Scratch volumes are gone; the two sets' documents stay (and the pool's catalog index).
    expect((await volumes()).filter((v) => !v.startsWith('volback-catalog.'))).toEqual(
      [ended.metadata!.volume, last.metadata!.volume].sort(),
    );
  });
});
