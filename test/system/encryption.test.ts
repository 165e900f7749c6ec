// Encrypted backups (docs/encryption.md) on a real domain with known writes, into a real dir pool,
// with a real libvirt secret: a full and an incremental are LUKS-encrypted qcow2 (qemu-img says so,
// and their raw bytes hold none of the patterns written), the incremental inherits the chain's
// secret, every point restores byte for byte into a plain volume, the metadata names the secret and
// never holds its value (nor does the log), and a wrong passphrase or a missing secret refuses the
// restore with nothing created in the target pool.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createBackup, type BackupResult } from '../../src/core/backup/coordinator';
import { restoreBackup } from '../../src/core/restore/restore';
import { verifyBackup } from '../../src/core/catalog/verify';
import type { Connection } from '../../src/libvirt';
import type { BackupDefinition, BackupSet } from '../../src/model';
import { METADATA_VOLUME_SUFFIX } from '../../src/pool/volume-names';
import { imageInfo } from '../../src/tools/qemu-img';
import {
  Cleanup,
  captureDebugLog,
  backupLocation,
  createTestDomain,
  defineVolumeSecret,
  holdsPattern,
  openSystemConnection,
  poolVolumeNames,
  sameContent,
  setSecretValue,
  uniqueName,
  virshSystem,
} from '../support';

const MiB = 1024 * 1024;
jest.setTimeout(600_000);

describe('encrypted backups', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let env: ReturnType<typeof backupLocation>;
  const secretUuid = randomUUID();
  const usage = uniqueName('enc-secret');
  // Printable, so a leak would show in any text; never written anywhere by the test but the secret.
  const passphrase = Buffer.from(randomBytes(24).toString('hex'));
  let logFile: string;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
    // The test undefines it itself on the way; a run that failed earlier leaves it to the cleanup.
    await defineVolumeSecret(secretUuid, usage, { passphrase, cleanup });
    logFile = captureDebugLog(cleanup);
  });
  afterAll(() => cleanup.run());

  const byUsage: BackupDefinition = {
    mode: 'push',
    kind: 'auto',
    disks: [],
    encryption: { format: 'luks', secret: { usage } },
  };
  const PLAIN_FULL: BackupDefinition = {
    mode: 'push',
    kind: 'full',
    disks: [],
    encryption: { format: 'none' },
  };
  const backup = (name: string, definition?: BackupDefinition): Promise<BackupResult> =>
    createBackup(conn, name, { defaults: env.defaults, lockDir: env.lockDir, definition });
  const volumePath = (set: BackupSet): string => path.join(env.defaults.path, set.disks[0].volume!.name);
  const restoreInto = (set: BackupSet, pool: string) =>
    restoreBackup(conn, { setId: set.id, scanPools: [env.defaults.pool], lockDir: env.lockDir, pool });

  it('encrypts a full and its incremental, restores each point byte for byte, and refuses without the key', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB], label: 'enc' });
    await vm.write('vda', 0xab, 1 * MiB, 2 * MiB);
    await vm.write('vda', 0x3c, 20 * MiB, 256 * 1024);
    const full = await backup(vm.name, byUsage);
    const fullModel = vm.snapshotModel('vda', 'full');
    expect(full.set.encryption).toEqual({ format: 'luks', secretUuid, secretUsage: usage });
    expect(full.set.disks[0].checksums).toBeDefined();

    await vm.write('vda', 0x5d, 5 * MiB, 1 * MiB);
    await vm.write('vda', 0xab, 24 * MiB, 64 * 1024);
    // No encryption asked: an incremental of an encrypted chain keeps the chain's secret.
    const inc = await backup(vm.name);
    const incModel = vm.snapshotModel('vda', 'inc');
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(inc.set.encryption).toEqual(full.set.encryption);
    expect(inc.set.disks[0].bytesCopied).toBe(MiB + 64 * 1024);
    // QEMU holds no key object once a run is over (the engine removes it on every path).
    const keyObjects = async (): Promise<string[]> =>
      (await vm.domain.qmp<Array<{ name: string }>>('qom-list', { path: '/objects' }))
        .map((o) => o.name)
        .filter((n) => n.startsWith('volback-key-'));
    expect(await keyObjects()).toEqual([]);
    // One a killed run would leave is removed by the next run's sweep, a plain full here (which adds none).
    await vm.domain.addSecretObject(`volback-key-${secretUuid.slice(0, 8)}`, Buffer.from('bGVmdG92ZXI='));
    expect(await keyObjects()).toEqual([`volback-key-${secretUuid.slice(0, 8)}`]);
    const plain = await backup(vm.name, { ...PLAIN_FULL });
    expect(plain.set).toMatchObject({ kind: 'full' });
    expect(plain.set.encryption).toBeUndefined();
    expect(await keyObjects()).toEqual([]);

    // qemu-img sees LUKS-encrypted qcow2; the files' raw bytes hold none of the patterns written.
    for (const set of [full.set, inc.set]) {
      const info = await imageInfo({ path: volumePath(set), format: 'qcow2' });
      expect({ volume: set.disks[0].volume!.name, encryption: info.encryption }).toEqual({
        volume: set.disks[0].volume!.name,
        encryption: 'luks',
      });
      const raw = fs.readFileSync(volumePath(set));
      expect([0xab, 0x3c, 0x5d].filter((p) => holdsPattern(raw, p))).toEqual([]);
    }
    // The test's own check can fail: the domain's plain disk does hold the pattern.
    expect(holdsPattern(fs.readFileSync(vm.disks[0].path), 0xab)).toBe(true);

    // verify reads every encrypted layer with the key, against the checksums taken at backup time.
    const verified = await verifyBackup(conn, { setId: inc.set.id, deep: true });
    expect(verified.disks.map((d) => ({ ok: d.ok, problems: d.problems }))).toEqual([
      { ok: true, problems: [] },
    ]);

    // Every point restores, decrypted into a plain volume, byte for byte.
    for (const [set, model] of [
      [full.set, fullModel],
      [inc.set, incModel],
    ] as const) {
      const { volumes } = await restoreInto(set, env.defaults.pool);
      expect(volumes.length).toBe(1);
      expect(await sameContent({ path: volumes[0].path, format: volumes[0].format }, model)).toBe(true);
      const info = await imageInfo({ path: volumes[0].path, format: volumes[0].format });
      expect(info.encryption).toBeUndefined();
    }

    // Over the domain's own disks (shut off): the full's point, decrypted in place.
    await vm.domain.destroy();
    const over = await restoreBackup(conn, {
      setId: full.set.id,
      scanPools: [env.defaults.pool],
      lockDir: env.lockDir,
      overwrite: true,
    });
    expect(over.volumes.map((v) => v.target)).toEqual(['vda']);
    expect(await vm.diskMatches('vda', fullModel)).toBe(true);

    // The metadata documents name the secret, never its value; neither does the log.
    const hex = passphrase.toString();
    const b64 = passphrase.toString('base64');
    const metadata = fs
      .readdirSync(env.defaults.path)
      .filter((f) => f.endsWith(METADATA_VOLUME_SUFFIX))
      .map((f) => fs.readFileSync(path.join(env.defaults.path, f), 'utf8'));
    expect(metadata.length).toBeGreaterThanOrEqual(2);
    expect(metadata.filter((m) => m.includes(secretUuid)).length).toBeGreaterThanOrEqual(2);
    expect(metadata.filter((m) => m.includes(hex) || m.includes(b64))).toEqual([]);
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    expect([hex, b64].filter((s) => log.includes(s))).toEqual([]);

    // A wrong passphrase: refused, naming the secret, with nothing created in the target pool.
    const before = await poolVolumeNames(conn, env.defaults.pool);
    await setSecretValue(secretUuid, Buffer.from('not-the-passphrase'));
    await expect(restoreInto(inc.set, env.defaults.pool)).rejects.toThrow(
      new RegExp(`passphrase of libvirt secret ${secretUuid} .*does not unlock`),
    );
    expect(await poolVolumeNames(conn, env.defaults.pool)).toEqual(before);

    // No such secret on this host: refused by UUID and usage, nothing created.
    await virshSystem('secret-undefine', secretUuid);
    const missing = await restoreInto(full.set, env.defaults.pool).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(missing?.message).toContain(secretUuid);
    expect(missing?.message).toContain(usage);
    expect(missing?.message).toContain('is not defined on this host');
    expect(await poolVolumeNames(conn, env.defaults.pool)).toEqual(before);

    // A backup asking for a secret this host lacks is refused before any volume is made.
    await expect(backup(vm.name, { ...byUsage, kind: 'full' })).rejects.toThrow(
      /is not defined on this host/,
    );
    expect(await poolVolumeNames(conn, env.defaults.pool)).toEqual(before);
  });
});
