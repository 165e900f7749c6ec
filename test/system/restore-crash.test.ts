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
import { repair } from '../../src/core/removal/repair';
import { RESTORE_CRASH_POINTS } from '../../src/crash-point';
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

  /** A restore (new volumes, or a whole domain as a clone) in a child process that kills itself at `point`. */
  const STEP_CHILD = `
const [uri, pool, setId, lockDir, kind, name] = process.argv.slice(1);
(async () => {
  const { Connection } = require('./src/libvirt');
  const { restoreBackup } = require('./src/core/restore/restore');
  const { restoreDomain } = require('./src/core/restore/domain');
  const conn = await Connection.open(uri);
  const options = { setId, scanPools: [pool], lockDir };
  if (kind === 'domain') await restoreDomain(conn, { ...options, name, newUuid: true });
  else if (kind === 'replace') await restoreDomain(conn, { ...options, replace: true });
  else await restoreBackup(conn, options);
  process.stdout.write('finished\\n');
})().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\\n'); process.exit(1); });
`;

  // volumes: new volumes only; domain: a clone (new name and UUID); replace: over the shut-off original.
  const stepCases = RESTORE_CRASH_POINTS.flatMap((point) => [
    ...(point === 'restore-defined' || point === 'restore-replaced'
      ? []
      : [{ point, kind: 'volumes' as const }]),
    ...(point === 'restore-replaced' ? [] : [{ point, kind: 'domain' as const }]),
    { point, kind: 'replace' as const },
  ]);

  it.each(stepCases)(
    'killed after $point ($kind): repair leaves exactly what committed',
    async ({ point, kind }) => {
      const { defaults, lockDir } = backupLocation(conn, cleanup);
      const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB], label: 'rstep' });
      await vm.write('vda', 0x61, 0, 8 * MiB);
      await vm.write('vdb', 0x62, 4 * MiB, 4 * MiB);
      const full = await createBackup(conn, vm.name, { defaults, lockDir });
      const before = await poolVolumeNames(conn, defaults.pool);
      const clone = `${vm.name}-clone`;
      if (kind === 'replace') await vm.domain.destroy();
      const originalXml = await vm.domain.getXMLDesc();
      cleanup.add(`domain ${clone}`, async () => {
        const dom = await conn.lookupDomainByName(clone).catch(() => undefined);
        if (dom) await dom.undefine().finally(() => dom.free());
      });

      const child = spawnSync(
        process.execPath,
        tsChildArgs(STEP_CHILD, ['qemu:///system', defaults.pool, full.set.id, lockDir, kind, clone]),
        { cwd: REPO_ROOT, env: { ...process.env, VOLBACK_TEST_CRASH_AT: point }, encoding: 'utf8' },
      );
      expect({ point, signal: child.signal, stderr: child.signal ? '' : child.stderr }).toEqual({
        point,
        signal: 'SIGKILL',
        stderr: '',
      });

      await repair(conn, { lockDir, pools: [defaults.pool] });
      const committed = point === 'restore-committed' || point === 'restore-defined';
      const left = (await poolVolumeNames(conn, defaults.pool)).filter((n) => !before.includes(n));
      // No marker is left; restored volumes only of a restore that committed, both disks, whole.
      expect({ point, markers: left.filter(isRestoreMarker) }).toEqual({ point, markers: [] });
      const restored = left.filter((n) => !isRestoreMarker(n)).sort();
      expect({ point, count: restored.length }).toEqual({ point, count: committed ? 2 : 0 });
      for (const name of restored) {
        const disk = vm.disks.find((d) => name.includes(`.${d.target}.restored-`))!;
        const file = `${defaults.path}/${name}`;
        expect({ name, same: await sameContent({ path: file, format: 'qcow2' }, disk.modelPath) }).toEqual({
          name,
          same: true,
        });
      }
      const cloneDefined = await conn
        .lookupDomainByName(clone)
        .then((d) => (d.free(), true))
        .catch(() => false);
      expect({ point, cloneDefined }).toEqual({ point, cloneDefined: kind === 'domain' && committed });
      // Replacing: the domain is defined either way — on the restored volumes once the restore
      // committed, else again as it was (repair defines it from the definition kept on this host).
      if (kind === 'replace') {
        const now = await conn.lookupDomainByName(vm.name);
        const xml = await now.getXMLDesc().finally(() => now.free());
        if (committed) expect(restored.every((n) => xml.includes(n))).toBe(true);
        else expect(xml).toBe(originalXml);
      }
      // The backed-up VM is untouched.
      expect(await vm.diskMatches('vda', vm.disks[0].modelPath)).toBe(true);
      expect(await vm.diskMatches('vdb', vm.disks[1].modelPath)).toBe(true);
    },
  );
});
