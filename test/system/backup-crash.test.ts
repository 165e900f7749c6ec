// A full backup whose process is killed mid-copy (SIGKILL: no cleanup code runs) leaves QEMU's job,
// its target node, fd set and bitmap, and a target volume without metadata. The next backup of the
// domain removes all of it, then succeeds; the interrupted set is never listed.
import { spawn } from 'node:child_process';
import { createBackup } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import type { Connection } from '../../src/libvirt';
import { setIdPrefix } from '../../src/pool/volume-names';
import {
  Cleanup,
  REPO_ROOT,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  poolVolumeNames,
  qemuBitmaps,
  qemuLeftovers,
  sameContent,
  tsChildArgs,
} from '../support';

jest.setTimeout(240_000);
const MiB = 1024 * 1024;

/** Backs up in a child process that reports its set id and progress on stdout; the test kills it. */
const CHILD = `
const [uri, domain, pool, path, lockDir] = process.argv.slice(1);
(async () => {
  const { Connection } = require('./src/libvirt');
  const { createBackup } = require('./src/core/backup/coordinator');
  const conn = await Connection.open(uri);
  await createBackup(conn, domain, {
    defaults: { pool, path, format: 'qcow2' }, lockDir,
    onProgress: (p) => {
      if (p.phase === 'copying' && p.bytesDone > 0 && p.bytesDone < p.bytesTotal) process.stdout.write('copying ' + p.setId + '\\n');
    },
  });
  process.stdout.write('finished\\n');
})().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\\n'); process.exit(1); });
`;

describe('a full backup killed mid-copy', () => {
  const cleanup = new Cleanup();
  let conn: Connection;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
  });
  afterAll(() => cleanup.run());

  it('is cleaned up by the next backup of the domain, which then succeeds', async () => {
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [1024 * MiB, 64 * MiB], label: 'bcrash' });
    await vm.write('vda', 0x3c, 0, 512 * MiB);
    await vm.write('vdb', 0x3d, MiB, MiB);

    const child = spawn(
      process.execPath,
      tsChildArgs(CHILD, ['qemu:///system', vm.name, defaults.pool, defaults.path, lockDir]),
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let killedSetId = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const outcome = await new Promise<string>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        const copying = /copying (\S+)/.exec(c.toString());
        if (copying && !killedSetId) {
          killedSetId = copying[1];
          child.kill('SIGKILL');
        }
        if (c.toString().includes('finished')) resolve('finished');
      });
      child.on('close', (code, signal) => resolve(signal ?? `exit ${code}: ${stderr}`));
    });
    expect(outcome).toBe('SIGKILL');

    // What the kill left: QEMU objects of the run, its checkpoint's bitmaps, volumes without metadata.
    const prefix = setIdPrefix(killedSetId);
    expect(await qemuLeftovers(vm.domain)).toEqual(
      expect.arrayContaining([`node volback-${prefix}-vda`, `node volback-${prefix}-vdb`]),
    );
    expect(await qemuBitmaps(vm.domain)).toEqual([`volback-${killedSetId}`]);
    const ofKilledRun = async (): Promise<string[]> =>
      (await poolVolumeNames(conn, defaults.pool)).filter((n) => n.includes(`-${prefix}.`));
    expect((await ofKilledRun()).length).toBe(2);

    const next = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(next.set.kind).toBe('full');
    expect(await qemuLeftovers(vm.domain)).toEqual([]);
    expect(await qemuBitmaps(vm.domain)).toEqual([next.set.checkpoint!.name]);
    expect(await ofKilledRun()).toEqual([]);
    const scan = await scanCatalog(conn, { pools: [defaults.pool] });
    expect([...scan.catalog.sets.keys()]).toEqual([next.set.id]);
    expect(scan.strayVolumes).toEqual([]);
    for (const disk of vm.disks) {
      const volume = next.set.disks.find((d) => d.target === disk.target)!.volume!;
      expect(
        await sameContent({ path: `${defaults.path}/${volume.name}`, format: 'qcow2' }, disk.modelPath),
      ).toBe(true);
    }
  });
});
