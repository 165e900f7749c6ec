// Bench: one prune that removes N backup sets, against N single deletes of the same sets (what N
// `volback backup delete` runs do), each on its own dir pool holding the same N+1 two-disk sets, in
// one run. Also times what the previous prune added per removal: a catalog rebuilt from every set
// (in memory, for a chain of as many sets).
//   npx tsc -p tsconfig.json && node dist/bench/prune-many.js [sets] [single deletes]    (as root)
// The single deletes may be fewer than the sets (each costs a pass over the pool): one in every
// sets/singles is timed, the others are removed untimed in between, so the timed ones meet every pool
// size; their total is extrapolated from the mean and reported as such.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Connection, type StoragePool } from '../src/libvirt';
import type { BackupSet } from '../src/model';
import { scanCatalog } from '../src/core/catalog/scan';
import { buildCatalog } from '../src/core/catalog/chains';
import { copyIndex, deleteBackup, executeSteps, planRemoval } from '../src/core/removal/delete';
import { pruneBackups } from '../src/core/removal/prune';
import { backupVolumeName, metadataVolumeName } from '../src/pool/volume-names';
import { formatBackupSet } from '../src/xml';

const count = Number(process.argv[2] ?? 1000);
const singles = Math.min(count, Number(process.argv[3] ?? count));
const tag = `volback-bench-prune-${process.pid}`;
const root = '/var/lib/volback-bench';
const lockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-bench-locks-'));
const DOMAIN_XML = `<domain type='kvm'>\n  <name>bench</name>\n${'  <!-- a realistic domain XML is a few KiB -->\n'.repeat(60)}</domain>`;

/** N+1 independent two-disk fulls of one domain that no longer exists (as after months of fulls). */
function sets(pool: string, domainUuid: string): BackupSet[] {
  return Array.from({ length: count + 1 }, (_, i) => {
    const id = randomUUID();
    const createdAt = new Date(Date.UTC(2026, 0, 1) + i * 3600_000);
    return {
      id,
      volbackVersion: '0.1.0',
      mode: 'push',
      kind: 'full',
      state: 'complete',
      createdAt,
      domain: { name: 'benchvm', uuid: domainUuid },
      checkpoint: {
        name: `volback-${id}`,
        xml: `<domaincheckpoint><name>volback-${id}</name></domaincheckpoint>`,
      },
      disks: ['vda', 'vdb'].map((target) => ({
        id: randomUUID(),
        target,
        sourcePath: `/var/lib/libvirt/images/bench-${target}.qcow2`,
        sourceFormat: 'qcow2',
        volume: {
          pool,
          name: backupVolumeName({ domain: 'benchvm', disk: target, createdAt, setId: id, format: 'qcow2' }),
          format: 'qcow2' as const,
        },
        kind: 'full' as const,
        virtualSize: 1 << 30,
        bytesCopied: 1 << 20,
      })),
      domainXml: DOMAIN_XML,
    };
  });
}

/** The same sets as one chain: each an incremental on the one before (documents only, never stored). */
function asChain(all: BackupSet[]): BackupSet[] {
  return all.map((set, i) => {
    if (i === 0) return set;
    const parent = all[i - 1];
    return {
      ...set,
      kind: 'incremental',
      parentId: parent.id,
      disks: set.disks.map((d, j) => ({ ...d, kind: 'incremental', parentId: parent.disks[j].id })),
    };
  });
}

/** A dir pool holding the sets: written as files (fast set-up), then defined; everything timed goes through libvirt. */
async function fill(conn: Connection, name: string, all: BackupSet[]): Promise<StoragePool> {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  for (const set of all) {
    for (const disk of set.disks) fs.writeFileSync(path.join(dir, disk.volume!.name), '');
    const meta = metadataVolumeName({ domain: set.domain.name, createdAt: set.createdAt, setId: set.id });
    fs.writeFileSync(path.join(dir, meta), await formatBackupSet(set), { mode: 0o600 });
  }
  const pool = await conn.defineStoragePool(
    `<pool type='dir'><name>${name}</name><target><path>${dir}</path></target></pool>`,
  );
  await pool.create();
  await scanCatalog(conn, { pools: [name] }); // warm: this host's index, as on a host that lists daily
  return pool;
}

/** Removes sets through the journal without timing them (the same runner prune uses). */
async function removeUntimed(conn: Connection, pool: string, gone: BackupSet[]): Promise<void> {
  if (gone.length === 0) return;
  const scan = await scanCatalog(conn, { pools: [pool] });
  const steps = gone.flatMap((s) => planRemoval(scan.catalog, s.id, { dependents: 'refuse' }));
  await executeSteps(conn, copyIndex(scan), steps);
}

async function main(): Promise<void> {
  const conn = await Connection.open('qemu:///system');
  const made: Array<{ pool: StoragePool; name: string }> = [];
  try {
    const pruneName = `${tag}-a`;
    const deleteName = `${tag}-b`;
    console.error(`filling two pools with ${count + 1} two-disk sets each ...`);
    const pruneSets = sets(pruneName, randomUUID());
    made.push({ pool: await fill(conn, pruneName, pruneSets), name: pruneName });
    const deleteSets = sets(deleteName, randomUUID());
    made.push({ pool: await fill(conn, deleteName, deleteSets), name: deleteName });

    // What the previous prune added per removal: a catalog built from every remaining set, here of
    // the same number of sets as one chain (volback's usual shape: one full, incrementals on it).
    const chain = asChain(sets(pruneName, randomUUID()));
    const t0 = performance.now();
    for (let left = count + 1; left > 1; left--) buildCatalog(chain.slice(count + 1 - left));
    const rebuildMs = performance.now() - t0;

    const now = new Date(pruneSets[count].createdAt.getTime() + 60_000);
    const t1 = performance.now();
    const pruned = await pruneBackups(conn, {
      domain: pruneSets[0].domain.uuid,
      policy: { keepLast: 1 },
      now,
      pools: [pruneName],
      lockDir,
    });
    const pruneMs = performance.now() - t1;
    if (pruned.executed.length !== count) throw new Error(`prune removed ${pruned.executed.length} sets`);
    console.error(`prune of ${count} sets: ${Math.round(pruneMs)} ms; now the single deletes ...`);

    // Single deletes, oldest first. When fewer than the sets, one of every `stride` is timed and the
    // others go untimed in one batch, so the timed ones meet every pool size from N+1 down to 1.
    const stride = Math.max(1, Math.round(count / singles));
    let singleMs = 0;
    let timed = 0;
    for (let i = 0; i < count; i += stride) {
      if (stopping) throw new Error(`stopped by ${stopping}`);
      const t = performance.now();
      await deleteBackup(conn, {
        setId: deleteSets[i].id,
        dependents: 'refuse',
        pools: [deleteName],
        lockDir,
      });
      singleMs += performance.now() - t;
      timed++;
      if (timed % 10 === 0) console.error(`${timed} single deletes: ${Math.round(singleMs)} ms`);
      await removeUntimed(conn, deleteName, deleteSets.slice(i + 1, Math.min(i + stride, count)));
    }
    const singleTotal = (singleMs / timed) * count;

    const left = await scanCatalog(conn, { pools: [pruneName] });
    if (left.stored.length !== 1 || left.stored[0].set.id !== pruneSets[count].id)
      throw new Error(`prune left ${left.stored.length} sets`);
    console.log(
      JSON.stringify({
        sets: count,
        pruneMs: Math.round(pruneMs),
        pruneMsPerSet: +(pruneMs / count).toFixed(1),
        singleDeletesMeasured: timed,
        singleDeletesMs: Math.round(singleMs),
        singleDeletesTotalMs: Math.round(singleTotal),
        extrapolated: timed < count,
        ratioPruneToSingles: +(pruneMs / singleTotal).toFixed(3),
        previousPruneCatalogRebuildsOfAChainMs: Math.round(rebuildMs),
      }),
    );
  } finally {
    for (const { pool, name } of made) {
      await pool.destroy().catch(() => undefined);
      await pool.undefine().catch(() => undefined);
      fs.rmSync(path.join(root, name), { recursive: true, force: true });
    }
    fs.rmSync(lockDir, { recursive: true, force: true });
    await conn.close();
  }
}

// A stopped run still removes its pools (the finally blocks run once main's awaits reject).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => (stopping = signal));
let stopping: string | undefined;

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
