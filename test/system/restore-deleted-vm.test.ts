// The headline scenario: a VM with two disks is backed up (full + incremental), then destroyed,
// undefined with its checkpoints, its disks and its pool deleted. A fresh process with its own libvirt
// connection, which never saw the domain, lists the backups from the pool alone and rebuilds the VM
// from the incremental point; it boots with every disk equal, byte for byte, to that moment.
import { spawn } from 'node:child_process';
import { createBackup } from '../../src/core/backup/coordinator';
import { virDomainUndefineFlagsValues, type Connection } from '../../src/libvirt';
import { parseDomainXml } from '../../src/xml/libvirt-domain';
import {
  Cleanup,
  SYSTEM_URI,
  createTestDomain,
  openSystemConnection,
  sameContent,
  REPO_ROOT,
  backupLocation,
  poolVolumeNames,
  tsChildArgs,
} from '../support';
import { MiB, cleanupDomainByName } from './restore-helpers';

jest.setTimeout(240_000);

/** What an admin does on a fresh host, run in a fresh process (see test/support/ts-child.ts). */
const CHILD = `
const [uri, pool, domainName] = process.argv.slice(1);
(async () => {
  const { Connection } = require('./src/libvirt');
  const { scanCatalog, selectSets } = require('./src/core/catalog/scan');
  const { restoreDomain } = require('./src/core/restore/domain');
  const conn = await Connection.open(uri);
  try {
    // What an admin does: list what the pool holds, pick the newest backup of the VM, restore it.
    const scan = await scanCatalog(conn, { pools: [pool] });
    const sets = selectSets(scan, { domainName });
    const listed = sets.map((s) => ({ id: s.id, kind: s.kind, disks: s.disks.map((d) => d.target) }));
    const restored = await restoreDomain(conn, { setId: sets[0].id.slice(0, 8), start: true, scanPools: [pool] });
    process.stdout.write(JSON.stringify({ listed, restored }));
  } finally {
    await conn.close();
  }
})().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\\n');
  process.exit(1);
});
`;

function runChild(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, tsChildArgs(CHILD, args), {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`restore child exited ${code}: ${err}`)),
    );
  });
}

describe('restoring a deleted VM from pool contents alone', () => {
  const cleanup = new Cleanup();
  let conn: Connection;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
  });
  afterAll(() => cleanup.run());

  it('rebuilds and boots the VM at its incremental point in a fresh process', async () => {
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB], label: 'deleted' });
    cleanupDomainByName(conn, cleanup, vm.name); // the restored one: same name and UUID
    const originalXml = await vm.domain.getXMLDesc();

    await vm.write('vda', 0x5a, 0, 3 * MiB);
    await vm.write('vdb', 0xa5, 4 * MiB, 2 * MiB);
    const full = await createBackup(conn, vm.name, { defaults, lockDir });
    await vm.write('vda', 0x77, 2 * MiB, 2 * MiB);
    await vm.write('vdb', 0x00, 4 * MiB, 1 * MiB);
    await vm.write('vdb', 0x99, 15 * MiB, 1 * MiB);
    const inc = await createBackup(conn, vm.name, { defaults, lockDir });
    expect([full.set.kind, inc.set.kind]).toEqual(['full', 'incremental']);
    const models = { vda: vm.snapshotModel('vda', 'inc'), vdb: vm.snapshotModel('vdb', 'inc') };
    await vm.write('vda', 0xee, 0, MiB); // after the backup: must not come back

    // The VM is gone: domain, checkpoint metadata, disk volumes, their pool.
    const uuid = await vm.domain.getUUIDString();
    await vm.domain.destroy();
    await vm.domain.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
    for (const name of await poolVolumeNames(conn, vm.pool.name)) {
      const vol = await vm.pool.pool.lookupVolumeByName(name);
      await vol.delete().finally(() => vol.free());
    }
    await vm.pool.pool.destroy();
    await vm.pool.pool.delete();
    await vm.pool.pool.undefine();
    await expect(conn.lookupDomainByUUID(uuid)).rejects.toThrow();

    // A fresh process and connection that never saw the domain.
    const { listed, restored } = JSON.parse(await runChild([SYSTEM_URI, defaults.pool, vm.name]));
    expect(listed).toEqual([
      { id: inc.set.id, kind: 'incremental', disks: ['vda', 'vdb'] },
      { id: full.set.id, kind: 'full', disks: ['vda', 'vdb'] },
    ]);
    expect(restored).toMatchObject({ name: vm.name, uuid, setId: inc.set.id });

    const dom = await conn.lookupDomainByName(vm.name);
    try {
      expect(await dom.isActive()).toBe(true);
      const before = await parseDomainXml(originalXml);
      const after = await parseDomainXml(await dom.getXMLDesc());
      expect(after.uuid).toBe(uuid);
      expect(after.type).toBe(before.type);
      expect(after.disks.map((d) => [d.target, d.device, d.format])).toEqual(
        before.disks.map((d) => [d.target, d.device, d.format]),
      );
      // Same devices apart from the disks' sources (element names in order, e.g. disk, disk, controller…, memballoon).
      const devices = (xml: string): string[] =>
        [...(/<devices>([\s\S]*)<\/devices>/.exec(xml)?.[1] ?? '').matchAll(/^ {4}<([a-z]+)/gm)].map(
          (m) => m[1],
        );
      expect(devices(await dom.getXMLDesc())).toEqual(devices(originalXml));
      for (const v of restored.volumes as Array<{ target: 'vda' | 'vdb'; path: string; format: 'qcow2' }>) {
        expect(after.disks.find((d) => d.target === v.target)!.sourcePath).toBe(v.path);
        expect(await sameContent({ path: v.path, format: v.format }, models[v.target])).toBe(true);
      }
    } finally {
      dom.free();
    }
  });
});
