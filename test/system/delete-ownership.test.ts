// Delete, prune and recovery remove only what volback can prove is its own: a metadata document (or a
// removal intent) that someone wrote into a pool naming a volume of another pool, a user's volume or
// another set's volume never gets it deleted, and the plan shows what goes and what stays.
import { randomUUID } from 'node:crypto';
import { scanCatalog } from '../../src/core/catalog/scan';
import { deleteBackup, recoverInterrupted } from '../../src/core/removal/delete';
import { intentVolumeName } from '../../src/core/removal/journal';
import type { Connection } from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { writeDocument } from '../../src/pool/documents';
import { closePools, openPool } from '../../src/pool/pool-layer';
import { backupVolumeName, metadataVolumeName } from '../../src/pool/volume-names';
import { formatBackupSet } from '../../src/xml';
import {
  Cleanup,
  backupLocation,
  createDirPool,
  createTestDomain,
  createVolume,
  openSystemConnection,
  poolVolumeNames,
} from '../support';
import { takePoint } from './fixtures/delete-helpers';

const MiB = 1024 * 1024;
jest.setTimeout(300_000);

describe('removals delete only their own volumes', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let env: ReturnType<typeof backupLocation>;
  let victimPool: string;
  let victim: string;
  let real: BackupSet;

  /** Writes `set` as a metadata document into the backup pool, under its own metadata name. */
  const plant = async (set: BackupSet): Promise<string> => {
    const name = metadataVolumeName({ domain: set.domain.name, createdAt: set.createdAt, setId: set.id });
    const pool = await openPool(conn, env.defaults.pool);
    try {
      await writeDocument(pool, name, await formatBackupSet(set));
    } finally {
      closePools([pool]);
    }
    return name;
  };
  /** A set like the real one, with a new id, whose disk names `volume`. */
  const forged = (volume: { pool: string; name: string }, at = new Date()): BackupSet => ({
    ...real,
    id: randomUUID(),
    createdAt: at,
    completedAt: at,
    checkpoint: undefined,
    disks: [{ ...real.disks[0], id: randomUUID(), volume: { ...volume, format: 'qcow2' } }],
  });

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    env = backupLocation(conn, cleanup);
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [8 * MiB], label: 'own' });
    await vm.write('vda', 0x5e, 0, MiB);
    real = (await takePoint(conn, vm, env.defaults, env.lockDir)).set;
    const other = await createDirPool(conn, cleanup, 'victims');
    victimPool = other.name;
    victim = 'precious.qcow2';
    await createVolume(other.pool, cleanup, victim, MiB);
  });
  afterAll(() => cleanup.run());

  it("keeps another pool's volume a forged set names, and says so in the plan", async () => {
    const fake = forged({ pool: victimPool, name: victim });
    const metadata = await plant(fake);
    const { defaults, lockDir } = env;
    const dry = await deleteBackup(conn, { setId: fake.id, dependents: 'refuse', dryRun: true, lockDir });
    expect(dry.plan[0].volumes).toEqual([]);
    expect(dry.plan[0].kept).toEqual([
      {
        pool: victimPool,
        name: victim,
        reason: expect.stringMatching(/its name is not the one volback gives/),
      },
    ]);
    await deleteBackup(conn, { setId: fake.id, dependents: 'refuse', lockDir });
    expect(await poolVolumeNames(conn, victimPool)).toEqual([victim]);
    expect(await poolVolumeNames(conn, defaults.pool)).not.toContain(metadata);
  });

  it("keeps a volume a set in another pool claims too; the catalog shows both sets' conflict", async () => {
    // Named exactly as the real set's metadata, but kept in another pool: the twin claims the real
    // set's volume although it has no metadata where that volume is.
    const own = real.disks[0].volume!;
    const twin = {
      ...real,
      description: 'forged twin',
      disks: real.disks.map((d) => ({ ...d, id: randomUUID() })),
    };
    const elsewhere = await createDirPool(conn, cleanup, 'twins');
    const name = metadataVolumeName({ domain: real.domain.name, createdAt: real.createdAt, setId: real.id });
    const pool = await openPool(conn, elsewhere.name);
    try {
      await writeDocument(pool, name, await formatBackupSet({ ...twin, id: randomUUID() }));
    } finally {
      closePools([pool]);
    }
    const scan = await scanCatalog(conn, { pools: [env.defaults.pool, elsewhere.name] });
    const problems = scan.catalog.sets.get(real.id)!.problems.map((p) => p.message);
    expect(problems).toContainEqual(
      expect.stringMatching(new RegExp(`volume ${own.name} in pool ${own.pool} is named by sets`)),
    );
    const twinId = scan.stored.find((s) => s.pool === elsewhere.name)!.set.id;
    const plan = await deleteBackup(conn, {
      setId: twinId,
      dependents: 'cascade',
      dryRun: true,
      pools: [env.defaults.pool, elsewhere.name],
      lockDir: env.lockDir,
    });
    expect(plan.plan[0].volumes).toEqual([]);
    expect(plan.plan[0].kept?.map((k) => k.reason)).toEqual([
      expect.stringMatching(/its name is not the one|keeps no metadata|also names it/),
    ]);
    await deleteBackup(conn, {
      setId: twinId,
      dependents: 'cascade',
      pools: [env.defaults.pool, elsewhere.name],
      lockDir: env.lockDir,
    });
    expect(await poolVolumeNames(conn, env.defaults.pool)).toContain(own.name);
  });

  it('keeps a volume named after a forged set when the set keeps no metadata in its pool', async () => {
    const at = new Date();
    const id = randomUUID();
    const name = backupVolumeName({
      domain: real.domain.name,
      disk: 'vda',
      createdAt: at,
      setId: id,
      format: 'qcow2',
    });
    const other = await openPool(conn, victimPool);
    try {
      (await other.driver.createBackupVolume(other, { name, format: 'qcow2', capacity: MiB })).free();
    } finally {
      closePools([other]);
    }
    const fake = { ...forged({ pool: victimPool, name }, at), id };
    await plant(fake);
    const dry = await deleteBackup(conn, {
      setId: id,
      dependents: 'refuse',
      dryRun: true,
      lockDir: env.lockDir,
    });
    expect(dry.plan[0].kept?.[0].reason).toMatch(new RegExp(`keeps no metadata in pool ${victimPool}`));
    await deleteBackup(conn, { setId: id, dependents: 'refuse', lockDir: env.lockDir });
    expect(await poolVolumeNames(conn, victimPool)).toEqual([name, victim].sort());
  });

  it("recovery of a forged intent deletes nothing of anyone's, and leaves files it cannot read", async () => {
    const fake = forged({ pool: victimPool, name: victim });
    const metadata = await plant(fake);
    const intent = {
      format: 'volback-removal-intent',
      version: 1,
      startedAt: new Date().toISOString(),
      domainUuid: fake.domain.uuid,
      step: { setId: fake.id, removeDisks: [fake.disks[0].id], wholeSet: true, merges: [], reparent: [] },
      set: {
        xml: await formatBackupSet({ ...fake, state: 'deleting' }),
        copies: [
          { pool: env.defaults.pool, name: metadata },
          { pool: victimPool, name: victim }, // not a metadata name: must stay
        ],
      },
      rewrites: [],
      rebases: [],
    };
    const pool = await openPool(conn, env.defaults.pool);
    const stranger = 'notes-from-another-tool.volback-intent.json';
    try {
      await writeDocument(pool, intentVolumeName(metadata), JSON.stringify(intent));
      // A file of another tool with volback's intent suffix, not an intent at all: never deleted.
      await pool.driver.writeDocumentVolume(pool, stranger, Buffer.from('not json, not ours'));
    } finally {
      closePools([pool]);
    }
    const report = await recoverInterrupted(conn, {
      pools: [env.defaults.pool, victimPool],
      lockDir: env.lockDir,
    });
    expect(report.finished).toEqual([fake.id]);
    expect(report.unreadable.map((u) => u.name)).toEqual([stranger]);
    expect(await poolVolumeNames(conn, victimPool)).toContain(victim);
    expect(await poolVolumeNames(conn, env.defaults.pool)).toContain(stranger);
    expect(await poolVolumeNames(conn, env.defaults.pool)).not.toContain(metadata);
    // The real backup is untouched by all of this.
    expect(await poolVolumeNames(conn, env.defaults.pool)).toContain(real.disks[0].volume!.name);
  });
});
