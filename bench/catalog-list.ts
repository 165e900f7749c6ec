// Bench: listing 10,000 backup volumes in one dir pool through volback's catalog, against
// `virsh vol-list` of the same pool in the same run (the machine is shared: ratios, not absolutes).
// The pool holds two-disk backup sets: 10,000 data volumes and 5,000 metadata volumes. (libvirt's
// remote protocol lists at most 16,384 volumes per pool, for virsh as for volback.)
//   npx tsc -p tsconfig.json && node dist/bench/catalog-list.js [data volumes]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Connection } from '../src/libvirt';
import type { BackupSet } from '../src/model';
import { scanCatalog } from '../src/core/catalog/scan';
import { metadataVolumeName } from '../src/pool/volume-names';
import { benchSet } from './common';
import { formatBackupSet } from '../src/xml';

const dataVolumes = Number(process.argv[2] ?? 10_000);
const count = dataVolumes / 2; // backup sets of two disks
const poolName = `volback-bench-catalog-${process.pid}`;
const dir = `/var/lib/volback-bench/${poolName}`;
const setAt = (i: number, parent?: BackupSet): BackupSet =>
  benchSet(
    { name: `bench${i % 50}`, uuid: '4dea22b3-1d52-d8f3-2516-782e98ab3fa0' },
    poolName,
    new Date(Date.UTC(2026, 0, 1) + i * 3600_000),
    parent,
  );

async function populate(): Promise<void> {
  // The pool's contents are written as files (fast set-up); everything measured goes through libvirt.
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  let parent: BackupSet | undefined;
  const template = await formatBackupSet(setAt(0));
  for (let i = 0; i < count; i++) {
    const set = setAt(i, i % 10 === 0 ? undefined : parent);
    const xml = i === 0 ? template : await formatBackupSet(set);
    for (const disk of set.disks) fs.writeFileSync(path.join(dir, disk.volume!.name), '');
    fs.writeFileSync(
      path.join(
        dir,
        metadataVolumeName({ domain: set.domain.name, createdAt: set.createdAt, setId: set.id }),
      ),
      xml,
      { mode: 0o600 },
    );
    parent = set;
  }
}

async function main(): Promise<void> {
  const conn = await Connection.open('qemu:///system');
  console.error(
    `populating ${count} two-disk backup sets (${dataVolumes} data + ${count} metadata volumes) in ${dir} ...`,
  );
  await populate();
  const pool = await conn.defineStoragePool(
    `<pool type='dir'><name>${poolName}</name><target><path>${dir}</path></target></pool>`,
  );
  try {
    await pool.create();
    const t0 = performance.now();
    execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'vol-list', poolName], { maxBuffer: 1 << 28 });
    const virsh = performance.now() - t0;
    // First scan of a pool nobody listed before: reads every document and writes the pool's index.
    const t1 = performance.now();
    const cold = await scanCatalog(conn, { pools: [poolName] });
    const coldMs = performance.now() - t1;
    // Every later scan (any host, fresh connection): the index, plus whatever is new since.
    const fresh = await Connection.open('qemu:///system');
    const t2 = performance.now();
    const warm = await scanCatalog(fresh, { pools: [poolName] });
    const warmMs = performance.now() - t2;
    await fresh.close();
    for (const scan of [cold, warm]) {
      if (scan.stored.length !== count || scan.invalid.length)
        throw new Error(`listed ${scan.stored.length} sets, ${scan.invalid.length} invalid`);
    }
    console.log(
      JSON.stringify({
        backupVolumes: dataVolumes,
        metadataVolumes: count,
        virshVolListMs: Math.round(virsh),
        volbackFirstListMs: Math.round(coldMs),
        volbackListMs: Math.round(warmMs),
        ratioToVirsh: +(warmMs / virsh).toFixed(2),
        firstListRatioToVirsh: +(coldMs / virsh).toFixed(2),
      }),
    );
  } finally {
    await pool.destroy().catch(() => undefined);
    await pool.undefine();
    fs.rmSync(dir, { recursive: true, force: true });
    await conn.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
