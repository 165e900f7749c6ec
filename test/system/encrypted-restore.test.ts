// lane: testhost (scripts/test-lanes)
// Restores into encrypted volumes (docs/encryption.md, "Restoring into encrypted volumes") on a real
// domain, a real dir pool and real libvirt secrets: every point of an encrypted chain (and a plain
// full) restores into LUKS qcow2 volumes of another secret, byte for byte read through that key, with
// none of the written patterns in the files' raw bytes; a domain restored onto them starts (QEMU
// unlocks them with the secret libvirt hands it) and a guest write lands encrypted; a secret this host lacks, a raw format and an
// overwrite are refused with nothing created. Then the test host, given the pool's files and the
// secret, restores and verifies the chain over qemu+ssh through libvirt alone (volback's reader
// decrypts), and refuses it, creating nothing, while it lacks the secret or has a wrong one.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createBackup, type BackupResult } from '../../src/core/backup/coordinator';
import { restoreBackup } from '../../src/core/restore/restore';
import { restoreDomain } from '../../src/core/restore/domain';
import { verifyBackup } from '../../src/core/catalog/verify';
import { kindOf } from '../../src/host/connection-kind';
import { flushDisk, writeDiskPattern } from '../../src/host/scratch-domain';
import { virDomainUndefineFlagsValues, type Connection } from '../../src/libvirt';
import type { BackupDefinition, SecretRef } from '../../src/model';
import type { RestoredVolume } from '../../src/core/restore/common';
import { imageInfo, keyedImage } from '../../src/tools/qemu-img';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  defineVolumeSecret,
  holdsPattern,
  openSystemConnection,
  openTestHost,
  mirrorPoolOnTestHost,
  setSecretValue,
  testHost,
  testHostSshUri,
  poolVolumeNames,
  sameContent,
  uniqueName,
  writePattern,
} from '../support';

const MiB = 1024 * 1024;
jest.setTimeout(600_000);

const PATTERNS = [0xab, 0x3c, 0x5d];

describe('restore into encrypted volumes', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let env: ReturnType<typeof backupLocation>;
  // The backups' secret, and the other one the restored volumes get.
  const source = { uuid: randomUUID(), usage: uniqueName('encr-src') };
  const sourcePassphrase = Buffer.from(randomBytes(24).toString('hex'));
  // The encrypted chain the first case makes, for the case that restores it on the test host.
  let chain: { fullId: string; incId: string; fullModel: string; incModel: string } | undefined;
  const target = { uuid: randomUUID(), usage: uniqueName('encr-dst') };
  const targetPassphrase = Buffer.from(randomBytes(24).toString('hex'));
  const targetKey = { id: 'test-target-key', value: Buffer.from(targetPassphrase.toString('base64')) };

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
    await defineVolumeSecret(source.uuid, source.usage, { passphrase: sourcePassphrase, cleanup });
    await defineVolumeSecret(target.uuid, target.usage, { passphrase: targetPassphrase, cleanup });
  });
  // How long each restore took, printed for docs/encryption.md.
  const timings: Record<string, number> = {};
  afterAll(async () => {
    process.stderr.write(`encrypted-restore timings (ms): ${JSON.stringify(timings)}\n`);
    await cleanup.run();
  });

  const backup = (name: string, definition: BackupDefinition): Promise<BackupResult> =>
    createBackup(conn, name, { defaults: env.defaults, lockDir: env.lockDir, definition });
  const restoreInto = (
    setId: string,
    encryptTarget: SecretRef,
    more: { format?: 'raw'; overwrite?: boolean } = {},
  ) =>
    restoreBackup(conn, {
      setId,
      scanPools: [env.defaults.pool],
      lockDir: env.lockDir,
      encryptTarget,
      ...more,
    });

  /** The restored volume is LUKS qcow2 of the target secret, holds `model` through its key, and no pattern in clear. */
  async function expectEncryptedCopy(volume: RestoredVolume, model: string): Promise<void> {
    expect(volume.encryption).toEqual({ format: 'luks', secretUuid: target.uuid, secretUsage: target.usage });
    expect((await imageInfo({ path: volume.path, format: 'qcow2' })).encryption).toBe('luks');
    expect(
      await sameContent(await keyedImage({ path: volume.path, format: 'qcow2' }, targetKey), model),
    ).toBe(true);
    const raw = fs.readFileSync(volume.path);
    expect(PATTERNS.filter((p) => holdsPattern(raw, p))).toEqual([]);
  }

  it('restores every point of an encrypted chain and a plain full into encrypted volumes; a domain on them starts', async () => {
    const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
      const start = Date.now();
      try {
        return await work();
      } finally {
        timings[what] = Date.now() - start;
      }
    };
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB], label: 'encr' });
    await vm.write('vda', 0xab, 1 * MiB, 2 * MiB);
    await vm.write('vda', 0x3c, 10 * MiB, 256 * 1024);
    const full = await timed('encrypted full backup', () =>
      backup(vm.name, {
        mode: 'push',
        kind: 'full',
        disks: [],
        encryption: { format: 'luks', secret: { uuid: source.uuid } },
      }),
    );
    const fullModel = vm.snapshotModel('vda', 'full');
    await vm.write('vda', 0x5d, 5 * MiB, 1 * MiB);
    const inc = await timed('encrypted incremental backup', () =>
      backup(vm.name, { mode: 'push', kind: 'auto', disks: [] }),
    );
    const incModel = vm.snapshotModel('vda', 'inc');
    chain = { fullId: full.set.id, incId: inc.set.id, fullModel, incModel };
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    expect(inc.set.encryption?.secretUuid).toBe(source.uuid);
    const plain = await backup(vm.name, {
      mode: 'push',
      kind: 'full',
      disks: [],
      encryption: { format: 'none' },
    });
    expect(plain.set.encryption).toBeUndefined();
    // The test's own check can fail: the domain's plain disk does hold the patterns.
    expect(PATTERNS.filter((p) => holdsPattern(fs.readFileSync(vm.disks[0].path), p))).toEqual(PATTERNS);

    // The encrypted full, decrypted with its own secret and written through the target's (named by UUID).
    const fromFull = await timed('restore of the encrypted full', () =>
      restoreInto(full.set.id, { uuid: target.uuid }),
    );
    await expectEncryptedCopy(fromFull.volumes[0], fullModel);
    // A plain full into an encrypted volume (the target secret named by usage).
    const fromPlain = await timed('restore of the plain full', () =>
      restoreInto(plain.set.id, { usage: target.usage }),
    );
    await expectEncryptedCopy(fromPlain.volumes[0], incModel);

    // The incremental's point as a domain: its disk names the target secret and it starts (QEMU opens
    // the volume with the passphrase libvirt gives it, or the start fails).
    const name = uniqueName('encr-restored');
    const restored = await timed('restore and start of the incremental as a domain', () =>
      restoreDomain(conn, {
        setId: inc.set.id,
        scanPools: [env.defaults.pool],
        name,
        newUuid: true,
        start: true,
        encryptTarget: { usage: target.usage },
      }),
    );
    const dom = cleanup.domain(
      await conn.lookupDomainByName(name),
      virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    );
    expect(await dom.isActive()).toBe(true);
    const liveXml = await dom.getXMLDesc();
    expect(liveXml).toMatch(
      new RegExp(`<encryption format=.luks.[^>]*>\\s*<secret type=.passphrase. uuid=.${target.uuid}.`),
    );
    // A write through the running QEMU lands encrypted with the target key: QEMU and volback use one key.
    await writeDiskPattern(dom, 'vda', 0x77, 12 * MiB, 64 * 1024);
    await flushDisk(dom, 'vda');
    const written = path.join(path.dirname(incModel), 'vda.guest-write.raw');
    fs.copyFileSync(incModel, written);
    writePattern(written, 0x77, 12 * MiB, 64 * 1024);
    await expectEncryptedCopy(restored.volumes[0], written);
    expect(holdsPattern(fs.readFileSync(restored.volumes[0].path), 0x77)).toBe(false);
    await dom.destroy();

    // A secret this host lacks, a raw target and an overwrite: refused, nothing created anywhere.
    const before = await poolVolumeNames(conn, env.defaults.pool);
    const domPoolBefore = await poolVolumeNames(conn, vm.pool.name);
    const missing = randomUUID();
    const missingName = uniqueName('encr-missing');
    await expect(restoreInto(inc.set.id, { uuid: missing })).rejects.toThrow(
      new RegExp(`libvirt secret ${missing} is not defined on this host`),
    );
    await expect(
      restoreDomain(conn, {
        setId: inc.set.id,
        scanPools: [env.defaults.pool],
        name: missingName,
        newUuid: true,
        encryptTarget: { usage: 'no such usage' },
      }),
    ).rejects.toThrow(/libvirt secret with usage 'no such usage' is not defined on this host/);
    await expect(restoreInto(inc.set.id, { uuid: target.uuid }, { format: 'raw' })).rejects.toThrow(
      /encrypted volumes are LUKS-encrypted qcow2/,
    );
    await vm.domain.destroy();
    await expect(restoreInto(inc.set.id, { uuid: target.uuid }, { overwrite: true })).rejects.toThrow(
      /cannot encrypt them/,
    );
    expect(await poolVolumeNames(conn, env.defaults.pool)).toEqual(before);
    expect(await poolVolumeNames(conn, vm.pool.name)).toEqual(domPoolBefore);
    await expect(conn.lookupDomainByName(missingName)).rejects.toThrow();
    expect(await vm.diskMatches('vda', incModel)).toBe(true);
  });

  it('restores and verifies the encrypted chain on another host that holds the pool and the secret, through libvirt alone', async () => {
    expect(chain).toBeDefined();
    const { fullId, incId, fullModel, incModel } = chain!;
    // The test host over ssh (a key is read only over a private transport): the same pool files at the
    // same path (the incremental names its parent by path), and the same secret.
    const uri = await testHostSshUri();
    const remote = cleanup.connection(await openTestHost(uri));
    expect((await kindOf(remote)).local).toBe(false);
    const pool = await mirrorPoolOnTestHost(remote, cleanup, env.defaults.pool, env.defaults.path);
    const copied = (await pool.listVolumeNames()).sort();
    const remoteSha = async (file: string): Promise<string> =>
      (await testHost('ssh', 'sha256sum', file)).split(' ')[0];
    const localSha = (file: string): string =>
      createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const restoreThere = (setId: string) =>
      restoreBackup(remote, { setId, scanPools: [env.defaults.pool], lockDir: env.lockDir });

    // Without the secret there, and with a wrong passphrase: refused, nothing created.
    await expect(restoreThere(incId)).rejects.toThrow(
      new RegExp(`libvirt secret ${source.uuid} .*is not defined on this host`),
    );
    await defineVolumeSecret(source.uuid, source.usage, { passphrase: Buffer.from('wrong'), cleanup, uri });
    await expect(restoreThere(incId)).rejects.toThrow(/does not unlock volume/);
    await pool.refresh();
    expect((await pool.listVolumeNames()).sort()).toEqual(copied);

    await setSecretValue(source.uuid, sourcePassphrase, uri);
    for (const [setId, model] of [
      [fullId, fullModel],
      [incId, incModel],
    ] as const) {
      const started = Date.now();
      const result = await restoreThere(setId);
      process.stderr.write(`encrypted restore over ssh of ${setId}: ${Date.now() - started} ms\n`);
      expect(result.damage).toEqual([]);
      // Streamed through volback's reader, decrypted here: a raw volume there, equal to the guest's disk.
      expect(result.volumes).toEqual([
        expect.objectContaining({ target: 'vda', pool: env.defaults.pool, format: 'raw' }),
      ]);
      expect(result.volumes[0].encryption).toBeUndefined();
      expect(await remoteSha(result.volumes[0].path)).toBe(localSha(model));
    }
    const verified = await verifyBackup(remote, { setId: incId, deep: true, record: false });
    expect(verified).toMatchObject({ ok: true, damage: [] });
    expect(verified.disks.length).toBe(1);
  });
});
