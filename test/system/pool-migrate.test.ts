// `volback pool migrate` on the real libvirtd (docs/scale.md): a single-pool installation's full and
// incremental of a domain move into the domain's pool and restore byte for byte from it; the root
// keeps no volume of theirs and every volume of others; --dry-run changes nothing; a run killed
// between its commit and the root copies' deletion is finished by the next; a rerun is a no-op.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBackup, type BackupDefaults } from '../../src/core/backup/coordinator';
import { listBackups } from '../../src/core/catalog/scan';
import { restoreBackup } from '../../src/core/restore/restore';
import { migrateRootPool } from '../../src/core/migration/pool-migrate';
import { domainPoolName } from '../../src/pool/default-layout';
import { lockDomain } from '../../src/core/shared/domain-lock';
import { virDomainUndefineFlagsValues, type Connection } from '../../src/libvirt';
import type { BackupDefinition } from '../../src/model';
import { imageInfo } from '../../src/tools/qemu-img';
import {
  Cleanup,
  REPO_ROOT,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  defineVolumeSecret,
  holdsPattern,
  poolVolumeNames,
  sameContent,
  tsChildArgs,
  uniqueName,
  virshSystem,
} from '../support';

jest.setTimeout(300_000);
const MiB = 1024 * 1024;

/** Runs migrateRootPool for one domain in a child process that kills itself at `crashAt`. */
const CHILD = `
const { Connection } = require('./src/libvirt');
const { migrateRootPool } = require('./src/core/migration/pool-migrate');
(async () => {
  const [pool, poolPath, domain, lockDir] = process.argv.slice(1);
  const conn = await Connection.open(process.env.VOLBACK_TEST_URI ?? 'qemu:///system');
  await migrateRootPool(conn, { root: { pool, path: poolPath }, domain, lockDir });
  await conn.close();
})().catch((err) => { process.stderr.write(String(err.stack ?? err) + '\\n'); process.exit(1); });
`;

/**
 * Runs CHILD's migration of domain `uuid` of `root`, killing itself at crash point `point`: the
 * signal that ended it, and its stderr when no signal did.
 */
function migrateKilledAt(
  point: string,
  root: { pool: string; path: string },
  uuid: string,
  lockDir: string,
): { signal: NodeJS.Signals | null; stderr: string } {
  const child = spawnSync(process.execPath, tsChildArgs(CHILD, [root.pool, root.path, uuid, lockDir]), {
    cwd: REPO_ROOT,
    env: { ...process.env, VOLBACK_TEST_CRASH_AT: point },
    encoding: 'utf8',
  });
  return { signal: child.signal, stderr: child.signal ? '' : child.stderr };
}

describe('volback pool migrate (real libvirtd, real domains)', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let lockDir: string;
  let single: BackupDefaults;

  /** Removes a domain pool and its directory once the test is over (before the root goes). */
  const removeLater = (pool: string): void => cleanup.domainPool(conn, single, pool);

  const poolDefined = (pool: string): Promise<boolean> =>
    conn.lookupStoragePoolByName(pool).then(
      (p) => (p.free(), true),
      () => false,
    );

  const restoresAs = async (setId: string, pool: string, model: string): Promise<void> => {
    const restored = await restoreBackup(conn, { setId, scanPools: [pool], lockDir });
    expect(restored.volumes.map((v) => v.target)).toEqual(['vda']);
    expect(
      await sameContent({ path: restored.volumes[0].path, format: restored.volumes[0].format }, model),
    ).toBe(true);
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    const location = backupLocation(conn, cleanup);
    lockDir = location.lockDir;
    single = location.defaults;
  });
  afterAll(() => cleanup.run());

  it('moves a full and its incremental into the domain pool, crash-safe and idempotent', async () => {
    const root = { pool: single.pool, path: single.path };
    const a = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB], label: 'mig-a' });
    const b = await createTestDomain(conn, cleanup, { diskSizes: [8 * MiB], label: 'mig-b' });
    const [uuidA, uuidB] = [await a.domain.getUUIDString(), await b.domain.getUUIDString()];
    const [poolA, poolB] = [domainPoolName(root.pool, uuidA), domainPoolName(root.pool, uuidB)];
    removeLater(poolA);
    removeLater(poolB);

    // A single-pool installation: every set in the root.
    await a.write('vda', 0x71, 0, 3 * MiB);
    const full = await createBackup(conn, a.name, { defaults: single, lockDir });
    const atFull = a.snapshotModel('vda', 'full');
    await a.write('vda', 0x72, 5 * MiB, 2 * MiB);
    await a.write('vda', 0x73, MiB, 64 * 1024);
    const inc = await createBackup(conn, a.name, { defaults: single, lockDir });
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id });
    const atInc = a.snapshotModel('vda', 'inc');
    await b.write('vda', 0x81, 2 * MiB, MiB);
    const fullB = await createBackup(conn, b.name, { defaults: single, lockDir });
    for (const s of [full, inc, fullB]) expect(s.set.disks[0].volume!.pool).toBe(root.pool);
    // A volume that is not volback's, in the root: it must stay.
    const rootPool = await conn.lookupStoragePoolByName(root.pool);
    (
      await rootPool.createVolume(
        `<volume><name>foreign.img</name><capacity>1048576</capacity><target><format type='raw'/></target></volume>`,
      )
    ).free();
    rootPool.free();
    const before = await poolVolumeNames(conn, root.pool);
    const ours = (names: string[], ...ids: string[]): string[] =>
      names.filter((n) => ids.some((id) => n.includes(id.slice(0, 8))));

    // --dry-run: says what it would do, changes nothing.
    const dry = await migrateRootPool(conn, { root, dryRun: true, lockDir });
    expect(dry.sets.map((s) => [s.setId, s.action, s.pool]).sort()).toEqual(
      [
        [full.set.id, 'would-move', poolA],
        [inc.set.id, 'would-move', poolA],
        [fullB.set.id, 'would-move', poolB],
      ].sort(),
    );
    expect(await poolVolumeNames(conn, root.pool)).toEqual(before);
    expect(await poolDefined(poolA)).toBe(false);

    // Killed after A's chain is committed in its pool, before the root copies are deleted.
    expect(migrateKilledAt('migrate-committed', root, uuidA, lockDir)).toEqual({
      signal: 'SIGKILL',
      stderr: '',
    });
    expect(ours(await poolVolumeNames(conn, root.pool), full.set.id, inc.set.id)).toEqual(
      ours(before, full.set.id, inc.set.id),
    );
    const halfway = await listBackups(conn, { pools: [root.pool, poolA] });
    expect(halfway.sets.find((s) => s.set.id === inc.set.id)!.problems.map((p) => p.kind)).toContain(
      'duplicate-conflict',
    );

    // Killed after B's chain is copied and checked, before its commit: copies no metadata names.
    expect(migrateKilledAt('migrate-copied', root, uuidB, lockDir)).toEqual({
      signal: 'SIGKILL',
      stderr: '',
    });
    expect(ours(await poolVolumeNames(conn, poolB), fullB.set.id).length).toBeGreaterThan(0);
    expect((await listBackups(conn, { pools: [poolB] })).sets).toEqual([]);

    // A domain another job holds stays, with the reason, and nothing of it changes.
    const held = lockDomain(uuidB, 'a backup (the test)', lockDir);
    const busy = await migrateRootPool(conn, { root, domain: uuidB, lockDir }).finally(() => held.release());
    expect(busy.sets.map((s) => [s.setId, s.action])).toEqual([[fullB.set.id, 'kept']]);
    expect(busy.sets[0].reason).toContain('a backup (the test)');
    expect(ours(await poolVolumeNames(conn, root.pool), fullB.set.id)).toEqual(ours(before, fullB.set.id));

    // B no longer exists on the host: its sets still name its uuid, so they migrate too.
    await b.domain.destroy();
    await b.domain.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);

    // The rerun finishes A (committed before) and moves B.
    const rerun = await migrateRootPool(conn, { root, lockDir });
    expect(rerun.sets.map((s) => [s.setId, s.action, s.pool]).sort()).toEqual(
      [
        [full.set.id, 'finished', poolA],
        [inc.set.id, 'finished', poolA],
        [fullB.set.id, 'moved', poolB],
      ].sort(),
    );
    expect(rerun.keptVolumes).toEqual([]);
    const after = await poolVolumeNames(conn, root.pool);
    expect(ours(after, full.set.id, inc.set.id, fullB.set.id)).toEqual([]);
    expect(after).toContain('foreign.img');
    const others = before.filter((n) => !ours(before, full.set.id, inc.set.id, fullB.set.id).includes(n));
    expect(after).toEqual([...others, uuidA, uuidB].sort());

    // Every point is listed once, restorable, and restores byte for byte from its domain's pool.
    const listing = await listBackups(conn, { root: root.pool });
    for (const id of [full.set.id, inc.set.id, fullB.set.id]) {
      const listed = listing.sets.find((s) => s.set.id === id)!;
      expect({ id, restorable: listed.restorable, problems: listed.problems }).toEqual({
        id,
        restorable: true,
        problems: [],
      });
    }
    expect(listing.sets.find((s) => s.set.id === inc.set.id)!.set.disks[0].volume!.pool).toBe(poolA);
    // The interrupted copies were replaced: nothing in the domain pools that no metadata names.
    expect(listing.strayVolumes.filter((v) => [root.pool, poolA, poolB].includes(v.pool))).toEqual([]);
    await restoresAs(full.set.id, poolA, atFull);
    await restoresAs(inc.set.id, poolA, atInc);
    await restoresAs(fullB.set.id, poolB, b.disks[0].modelPath);

    // A rerun is a no-op.
    const [inRoot, inA, inB] = [
      await poolVolumeNames(conn, root.pool),
      await poolVolumeNames(conn, poolA),
      await poolVolumeNames(conn, poolB),
    ];
    const again = await migrateRootPool(conn, { root, lockDir });
    expect(again.sets).toEqual([]);
    expect(await poolVolumeNames(conn, root.pool)).toEqual(inRoot);
    expect(await poolVolumeNames(conn, poolA)).toEqual(inA);
    expect(await poolVolumeNames(conn, poolB)).toEqual(inB);

    // The chain goes on in the domain's pool: the next incremental stands on the migrated one.
    await a.write('vda', 0x74, 9 * MiB, MiB);
    const next = await createBackup(conn, a.name, { defaults: { ...single, layout: 'per-domain' }, lockDir });
    expect(next.set).toMatchObject({ kind: 'incremental', parentId: inc.set.id });
    expect(next.set.disks[0].volume!.pool).toBe(poolA);
    await restoresAs(next.set.id, poolA, a.disks[0].modelPath);
  });

  it('keeps a chain whose data volume is a symlink, copying nothing of what it points at', async () => {
    const root = { pool: single.pool, path: single.path };
    const c = await createTestDomain(conn, cleanup, { diskSizes: [8 * MiB], label: 'mig-link' });
    const uuidC = await c.domain.getUUIDString();
    const poolC = domainPoolName(root.pool, uuidC);
    removeLater(poolC);
    await c.write('vda', 0x91, 0, MiB);
    const full = await createBackup(conn, c.name, { defaults: single, lockDir });
    // Another tool swaps the backup's file for a link to a file of this host.
    const dataFile = path.join(root.path, full.set.disks[0].volume!.name);
    const secretFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'volback-mig-link-')), 'not-a-backup');
    fs.writeFileSync(secretFile, Buffer.alloc(MiB, 0xee), { mode: 0o600 });
    cleanup.add('link target', async () =>
      fs.rmSync(path.dirname(secretFile), { recursive: true, force: true }),
    );
    fs.rmSync(dataFile);
    fs.symlinkSync(secretFile, dataFile);
    const rootPool = await conn.lookupStoragePoolByName(root.pool);
    await rootPool.refresh();
    rootPool.free();

    const report = await migrateRootPool(conn, { root, domain: uuidC, lockDir });
    expect(report.sets.map((s) => [s.setId, s.action, s.reason])).toEqual([
      [full.set.id, 'kept', `set ${full.set.id}: ${dataFile} of pool '${root.pool}' is not a regular file`],
    ]);
    // The link and the set's metadata stay in the root; no domain pool was made.
    expect(fs.lstatSync(dataFile).isSymbolicLink()).toBe(true);
    expect((await listBackups(conn, { pools: [root.pool] })).sets.map((s) => s.set.id)).toContain(
      full.set.id,
    );
    expect(await poolDefined(poolC)).toBe(false);
  });

  it('moves an encrypted chain with its key once the secret is there, keeping it encrypted, and finishes a run killed while deleting the root copies', async () => {
    const root = { pool: single.pool, path: single.path };
    const secretUuid = randomUUID();
    const usage = uniqueName('mig-secret');
    const passphrase = Buffer.from(randomBytes(24).toString('hex'));
    await defineVolumeSecret(secretUuid, usage, { passphrase, cleanup });
    const e = await createTestDomain(conn, cleanup, { diskSizes: [8 * MiB], label: 'mig-enc' });
    const uuidE = await e.domain.getUUIDString();
    const poolE = domainPoolName(root.pool, uuidE);
    removeLater(poolE);
    const definition: BackupDefinition = {
      mode: 'push',
      kind: 'auto',
      disks: [],
      encryption: { format: 'luks', secret: { usage } },
    };
    await e.write('vda', 0xa1, 0, MiB);
    const full = await createBackup(conn, e.name, { defaults: single, lockDir, definition });
    await e.write('vda', 0xa2, 4 * MiB, 512 * 1024);
    const inc = await createBackup(conn, e.name, { defaults: single, lockDir, definition });
    expect(inc.set).toMatchObject({ kind: 'incremental', parentId: full.set.id, encryption: { secretUuid } });
    const atInc = e.snapshotModel('vda', 'inc');

    // Without the secret the chain stays, with the reason naming it; nothing is created.
    await virshSystem('secret-undefine', secretUuid);
    const before = await poolVolumeNames(conn, root.pool);
    const kept = await migrateRootPool(conn, { root, domain: uuidE, lockDir });
    expect(kept.sets.map((s) => [s.setId, s.action])).toEqual([
      [full.set.id, 'kept'],
      [inc.set.id, 'kept'],
    ]);
    expect(kept.sets[0].reason).toMatch(
      new RegExp(`${secretUuid}.*usage '${usage}'.*not defined on this host`),
    );
    expect(await poolVolumeNames(conn, root.pool)).toEqual(before);
    expect(await poolDefined(poolE)).toBe(false);

    // With it: killed once the incremental's root data volume is deleted, before its root metadata
    // (the key is then tried on the full's layer, and the incremental's copy checked on its own).
    await defineVolumeSecret(secretUuid, usage, { passphrase });
    expect(migrateKilledAt('migrate-deleting', root, uuidE, lockDir)).toEqual({
      signal: 'SIGKILL',
      stderr: '',
    });
    expect(await poolVolumeNames(conn, root.pool)).not.toContain(inc.set.disks[0].volume!.name);
    // The rerun finishes both; reported as the root's copies go: newest first.
    const moved = await migrateRootPool(conn, { root, domain: uuidE, lockDir });
    expect(moved.sets.map((s) => [s.setId, s.action, s.pool])).toEqual([
      [inc.set.id, 'finished', poolE],
      [full.set.id, 'finished', poolE],
    ]);
    const domainDir = path.join(root.path, poolE.slice(root.pool.length + 1));
    const [fullFile, incFile] = [full, inc].map((b) => path.join(domainDir, b.set.disks[0].volume!.name));
    expect(
      [
        await imageInfo({ path: fullFile, format: 'qcow2' }),
        await imageInfo({ path: incFile, format: 'qcow2' }),
      ].map((i) => [i.encryption, i.backingFile]),
    ).toEqual([
      ['luks', undefined],
      ['luks', fullFile],
    ]);
    expect(
      [fullFile, incFile].filter((f) => [0xa1, 0xa2].some((p) => holdsPattern(fs.readFileSync(f), p))),
    ).toEqual([]);
    const leftInRoot = (await poolVolumeNames(conn, root.pool)).filter((n) =>
      [full, inc].some((b) => n.includes(b.set.id.slice(0, 8))),
    );
    expect(leftInRoot).toEqual([]);
    await restoresAs(inc.set.id, poolE, atInc);
  });
});
