// A restore killed mid-copy (SIGKILL: no cleanup code runs) leaves a half-written volume and its
// marker; the next restore into that pool finds them, removes the partial volume, and succeeds.
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { createBackup } from '../../src/core/backup/coordinator';
import { restoreBackup } from '../../src/core/restore/restore';
import {
  isRestoreMarker,
  markerDocument,
  restoreMarkerName,
  undoCrashedRestores,
} from '../../src/core/restore/marker';
import { closePools, openPool } from '../../src/pool/pool-layer';
import type { Connection } from '../../src/libvirt';
import {
  Cleanup,
  createTestDomain,
  openSystemConnection,
  sameContent,
  REPO_ROOT,
  backupLocation,
  poolVolumeNames,
  tsChildArgs,
} from '../support';
import { MiB } from './restore-helpers';
import { writeDocument } from '../../src/pool/documents';

jest.setTimeout(240_000);

/** Restores in a child process that reports progress on stdout; the test kills it mid-copy. */
const CHILD = `
const [uri, pool, setId, lockDir] = process.argv.slice(1);
(async () => {
  const { Connection } = require('./src/libvirt');
  const { restoreBackup } = require('./src/core/restore/restore');
  const conn = await Connection.open(uri);
  await restoreBackup(conn, {
    setId, scanPools: [pool], lockDir,
    onProgress: (p) => { if (p.bytesDone > 0 && p.bytesDone < p.bytesTotal) process.stdout.write('copying\\n'); },
  });
  process.stdout.write('finished\\n');
})().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\\n'); process.exit(1); });
`;

describe('a restore killed mid-copy', () => {
  const cleanup = new Cleanup();
  let conn: Connection;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
  });
  afterAll(() => cleanup.run());

  it('is undone by the next restore into the same pool', async () => {
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [256 * MiB], label: 'rcrash' });
    for (let i = 0; i < 6; i++) await vm.write('vda', 0x50 + i, i * 40 * MiB, 32 * MiB);
    const full = await createBackup(conn, vm.name, { defaults, lockDir });
    const before = await poolVolumeNames(conn, defaults.pool);

    const child = spawn(
      process.execPath,
      tsChildArgs(CHILD, ['qemu:///system', defaults.pool, full.set.id, lockDir]),
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const outcome = await new Promise<string>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        if (c.toString().includes('copying')) child.kill('SIGKILL');
        if (c.toString().includes('finished')) resolve('finished');
      });
      child.on('close', (code, signal) => resolve(signal ?? `exit ${code}: ${stderr}`));
    });
    expect(outcome).toBe('SIGKILL');

    // What the crash left: one partial volume and the marker that names it.
    const created = async (): Promise<string[]> =>
      (await poolVolumeNames(conn, defaults.pool)).filter(
        (n) => !before.includes(n) && !n.startsWith('volback-catalog'),
      );
    const leftover = await created();
    const partial = leftover.filter((n) => !isRestoreMarker(n));
    expect(partial).toHaveLength(1);
    expect(leftover.filter(isRestoreMarker)).toEqual([restoreMarkerName(partial[0])]);

    // A live owner's restore is never touched; this one's owner is dead, so both go.
    const pool = await openPool(conn, defaults.pool);
    try {
      expect(await undoCrashedRestores(pool)).toEqual([partial[0]]);
    } finally {
      closePools([pool]);
    }
    expect(await created()).toEqual([]);

    // The next restore does the same before it copies: leave another dead restore's volume and marker.
    const leftoverName = `${vm.name}.vda.restored-20200101T000000Z.qcow2`;
    const p2 = await openPool(conn, defaults.pool);
    try {
      (
        await p2.driver.createRestoreVolume(p2, { name: leftoverName, format: 'qcow2', capacity: MiB })
      ).free();
      const dead = {
        volume: leftoverName,
        setId: full.set.id,
        pid: spawnSync('true').pid,
        host: hostname(),
        startedAt: new Date().toISOString(),
      };
      await writeDocument(p2, restoreMarkerName(leftoverName), markerDocument(dead));
    } finally {
      closePools([p2]);
    }
    expect(await created()).toHaveLength(2);
    const again = await restoreBackup(conn, { setId: full.set.id, scanPools: [defaults.pool], lockDir });
    expect(await created()).toEqual([again.volumes[0].volume]);
    expect(await sameContent({ path: again.volumes[0].path, format: 'qcow2' }, vm.disks[0].modelPath)).toBe(
      true,
    );

    // A marker this host's volback did not sign — someone else wrote it into the pool, naming a
    // volume of theirs as a crashed restore — is left alone, and so is the volume it names.
    const theirs = 'someone-elses-disk.qcow2';
    const forged = restoreMarkerName(theirs);
    const p3 = await openPool(conn, defaults.pool);
    try {
      (await p3.driver.createRestoreVolume(p3, { name: theirs, format: 'qcow2', capacity: MiB })).free();
      const marker = {
        volume: theirs,
        setId: full.set.id,
        pid: spawnSync('true').pid,
        host: hostname(),
        startedAt: new Date().toISOString(),
      };
      await writeDocument(p3, forged, JSON.stringify({ marker, mac: '0'.repeat(64) }));
      expect(await undoCrashedRestores(p3)).toEqual([]);
    } finally {
      closePools([p3]);
    }
    expect(await created()).toEqual(expect.arrayContaining([theirs, forged]));
  });
});
