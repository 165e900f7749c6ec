// Merges of encrypted chains (docs/encryption.md) on a real domain with known writes, in a real dir
// pool, with a real libvirt secret: an encrypted full and two incrementals; deleting the middle one
// merges it into the newest, pruning the oldest merges the full into it; every remaining point
// restores byte for byte, the merged volumes stay LUKS-encrypted (qemu-img says so) and their raw
// bytes hold none of the patterns written; with the secret gone, a delete, a prune and their dry
// runs are refused naming it, and nothing in the pool changes.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createBackup, type BackupResult } from '../../src/core/backup/coordinator';
import { restoreBackup } from '../../src/core/restore/restore';
import { verifyBackup } from '../../src/core/catalog/verify';
import { deleteBackup } from '../../src/core/removal/delete';
import { pruneBackups } from '../../src/core/removal/prune';
import type { Connection } from '../../src/libvirt';
import type { BackupDefinition, BackupSet } from '../../src/model';
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
  uniqueName,
  virshSystem,
} from '../support';
import { catalogSets } from './fixtures/delete-helpers';

const MiB = 1024 * 1024;
jest.setTimeout(1_800_000);

/** Every file of a directory with a digest of its bytes: what "nothing changed" means here. */
function fileDigests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).sort())
    out[f] = createHash('sha256')
      .update(fs.readFileSync(path.join(dir, f)))
      .digest('hex');
  return out;
}

describe('merges of encrypted chains', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let env: ReturnType<typeof backupLocation>;
  const secretUuid = randomUUID();
  const usage = uniqueName('encm-secret');
  const passphrase = Buffer.from(randomBytes(24).toString('hex'));
  let logFile: string;
  const defineSecret = (): Promise<void> => defineVolumeSecret(secretUuid, usage, { passphrase });

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
    await defineVolumeSecret(secretUuid, usage, { passphrase, cleanup });
    logFile = captureDebugLog(cleanup);
  });
  afterAll(() => cleanup.run());

  const ENCRYPTED: BackupDefinition = {
    mode: 'push',
    kind: 'auto',
    disks: [],
    encryption: { format: 'luks', secret: { usage } },
  };
  const PATTERNS = [0xab, 0x3c, 0x5d, 0x4e, 0x6f, 0x7a];

  it('deletes the middle set and prunes the oldest of an encrypted chain, keeping every point and the encryption', async () => {
    const { defaults, lockDir } = env;
    const pools = [defaults.pool];
    const backup = (name: string): Promise<BackupResult> =>
      createBackup(conn, name, { defaults, lockDir, definition: ENCRYPTED });
    const volumePath = (set: BackupSet): string => path.join(defaults.path, set.disks[0].volume!.name);
    const restoresExactly = async (set: BackupSet, model: Parameters<typeof sameContent>[1]) => {
      const { volumes } = await restoreBackup(conn, {
        setId: set.id,
        scanPools: pools,
        lockDir,
        pool: defaults.pool,
      });
      return sameContent({ path: volumes[0].path, format: volumes[0].format }, model);
    };
    /** A merged volume: LUKS for qemu-img, standing on `backing` (none: alone), no pattern in its raw bytes. */
    const stillEncrypted = async (set: BackupSet, backing: string | undefined) => {
      const info = await imageInfo({ path: volumePath(set), format: 'qcow2' });
      const raw = fs.readFileSync(volumePath(set));
      expect({
        encryption: info.encryption,
        backing: info.backingFile,
        patterns: PATTERNS.filter((p) => holdsPattern(raw, p)),
      }).toEqual({ encryption: 'luks', backing, patterns: [] });
    };

    const vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB], label: 'encm' });
    await vm.write('vda', 0xab, 1 * MiB, 2 * MiB);
    await vm.write('vda', 0x3c, 20 * MiB, 256 * 1024);
    const full = await backup(vm.name);
    const fullModel = vm.snapshotModel('vda', 'full');
    await vm.write('vda', 0x5d, 5 * MiB, 1 * MiB);
    await vm.write('vda', 0x4e, 1.5 * MiB, 512 * 1024); // over the full's data
    const inc1 = await backup(vm.name);
    await vm.write('vda', 0x6f, 8 * MiB, 1 * MiB);
    await vm.write('vda', 0x7a, 5.25 * MiB, 256 * 1024); // over inc1's data
    const inc2 = await backup(vm.name);
    const incModel = vm.snapshotModel('vda', 'inc2');
    expect([full, inc1, inc2].map((b) => b.set.kind)).toEqual(['full', 'incremental', 'incremental']);
    expect(inc2.set.encryption).toEqual({ format: 'luks', secretUuid, secretUsage: usage });
    // The test's own pattern check can fail: the domain's plain disk holds them.
    const plainDisk = fs.readFileSync(vm.disks[0].path);
    expect(PATTERNS.filter((p) => holdsPattern(plainDisk, p))).toEqual(PATTERNS);

    // The middle set goes: inc1's layer merges into inc2, which then stands on the full.
    const dry = await deleteBackup(conn, {
      setId: inc1.set.id,
      dependents: 'merge',
      dryRun: true,
      pools,
      lockDir,
    });
    expect(dry.plan.flatMap((s) => s.merges).map((m) => m.into)).toEqual([inc2.set.disks[0].id]);
    const t0 = Date.now();
    const deleted = await deleteBackup(conn, { setId: inc1.set.id, dependents: 'merge', pools, lockDir });
    const deleteMs = Date.now() - t0;
    expect(deleted.merged.map((m) => m.into)).toEqual([inc2.set.disks[0].id]);
    let sets = await catalogSets(conn, defaults.pool);
    expect([...sets.keys()].sort()).toEqual([full.set.id, inc2.set.id].sort());
    expect(sets.get(inc2.set.id)!.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    await stillEncrypted(inc2.set, volumePath(full.set));
    expect((await poolVolumeNames(conn, defaults.pool)).filter((n) => n.includes('.merge.'))).toEqual([]);
    expect(await restoresExactly(full.set, fullModel)).toBe(true);
    expect(await restoresExactly(inc2.set, incModel)).toBe(true);

    // Without the secret: a delete, a prune and their dry runs are refused naming it; nothing changes.
    await virshSystem('secret-undefine', secretUuid);
    const volumesBefore = await poolVolumeNames(conn, defaults.pool);
    const bytesBefore = fileDigests(defaults.path);
    // One after another: each takes the domain's lock.
    const refusals = [
      () => deleteBackup(conn, { setId: full.set.id, dependents: 'merge', dryRun: true, pools, lockDir }),
      () => deleteBackup(conn, { setId: full.set.id, dependents: 'merge', pools, lockDir }),
      () => pruneBackups(conn, { domain: vm.name, policy: { keepLast: 1 }, dryRun: true, pools, lockDir }),
      () => pruneBackups(conn, { domain: vm.name, policy: { keepLast: 1 }, pools, lockDir }),
    ];
    for (const refusal of refusals) {
      const err = await refusal().then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(
        new RegExp(`cannot merge disk backup .*${secretUuid}.*usage '${usage}'.*is not defined on this host`),
      );
    }
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(volumesBefore);
    expect(fileDigests(defaults.path)).toEqual(bytesBefore);

    // The secret back (same UUID and value): prune keeps the newest, the full merges into it.
    await defineSecret();
    const t1 = Date.now();
    const pruned = await pruneBackups(conn, { domain: vm.name, policy: { keepLast: 1 }, pools, lockDir });
    const pruneMs = Date.now() - t1;
    expect(pruned.executed.map((e) => [e.setId, e.action])).toEqual([[full.set.id, 'merge-into-child']]);
    sets = await catalogSets(conn, defaults.pool);
    expect([...sets.keys()]).toEqual([inc2.set.id]);
    expect(sets.get(inc2.set.id)!.set.kind).toBe('full');
    await stillEncrypted(inc2.set, undefined);
    expect(await restoresExactly(inc2.set, incModel)).toBe(true);
    // The merged checksums still describe the merged layer.
    const verified = await verifyBackup(conn, { setId: inc2.set.id, deep: true });
    expect(verified.disks.map((d) => ({ ok: d.ok, problems: d.problems }))).toEqual([
      { ok: true, problems: [] },
    ]);

    // The key never reached the log (which holds every command line at debug level).
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log).toContain('qemu-img');
    expect([passphrase.toString(), passphrase.toString('base64')].filter((s) => log.includes(s))).toEqual([]);
    process.stderr.write(
      `encrypted merge timings: delete of the middle set ${deleteMs} ms, prune of the full ${pruneMs} ms\n`,
    );
  });
});
