// Bench: the catalog at scale, in the per-domain layout of the default location (docs/scale.md).
// 100 domains with 300 two-disk sets each (30,000 sets: 60,000 data and 30,000 metadata volumes)
// in 100 dir pools, timed in one run against virsh on the same pools (the machine is shared:
// ratios, not absolutes): listing every set with a warm index against `virsh pool-list` plus a
// `vol-list` of each pool; listing one domain's sets against one `vol-list` of its pool; the first
// scan of pools nobody listed before; and the process's resident memory after each listing.
//   npx tsc -p tsconfig.json && node dist/bench/scale-catalog.js [domains] [sets per domain]
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Connection, type StoragePool } from '../src/libvirt';
import type { BackupSet } from '../src/model';
import { scanCatalog } from '../src/core/catalog/scan';
import { domainPoolName, domainPoolPath } from '../src/pool/default-layout';
import { metadataVolumeName } from '../src/pool/volume-names';
import { benchSet } from './common';
import { formatBackupSet } from '../src/xml';

const domains = Number(process.argv[2] ?? 100);
const setsPerDomain = Number(process.argv[3] ?? 300);
const root = `vbbench-scale${process.pid}`;
const rootPath = `/var/lib/volback-bench/${root}`;
const MiB = 1024 * 1024;

interface BenchDomain {
  name: string;
  uuid: string;
  pool: string;
  dir: string;
}

const setAt = (domain: BenchDomain, i: number, parent?: BackupSet): BackupSet =>
  benchSet(
    { name: domain.name, uuid: domain.uuid },
    domain.pool,
    new Date(Date.UTC(2026, 0, 1) + i * 86_400_000),
    parent,
  );

/** The pools' contents are written as files (fast set-up); everything measured goes through libvirt. */
async function populate(domain: BenchDomain): Promise<void> {
  fs.mkdirSync(domain.dir, { recursive: true, mode: 0o711 });
  let parent: BackupSet | undefined;
  for (let i = 0; i < setsPerDomain; i++) {
    // A weekly full and six daily incrementals on it, as a retention policy would keep.
    const set = setAt(domain, i, i % 7 === 0 ? undefined : parent);
    for (const disk of set.disks) fs.writeFileSync(path.join(domain.dir, disk.volume!.name), '');
    fs.writeFileSync(
      path.join(
        domain.dir,
        metadataVolumeName({ domain: domain.name, createdAt: set.createdAt, setId: set.id }),
      ),
      await formatBackupSet(set),
      { mode: 0o600 },
    );
    parent = set;
  }
}

/** Milliseconds one virsh process takes to run `commands` (one connection, as volback's one). */
function virsh(commands: string[]): number {
  const t0 = performance.now();
  execFileSync('virsh', ['-q', '-c', 'qemu:///system', commands.join(' ; ')], { maxBuffer: 1 << 28 });
  return performance.now() - t0;
}

const rssMiB = (): number => Math.round(process.memoryUsage().rss / MiB);

async function timedScan(
  options: Parameters<typeof scanCatalog>[1],
  expected: number,
): Promise<{ ms: number; rssMiB: number; pools: number }> {
  const conn = await Connection.open('qemu:///system');
  try {
    let pools = 0;
    const t0 = performance.now();
    const scan = await scanCatalog(conn, { ...options, onPoolRead: () => pools++ });
    const ms = performance.now() - t0;
    // Other pools of this host may be read too (a listing without --pool reads every candidate).
    const ours = (pool: string): boolean => pool.startsWith(`${root}-`);
    const mine = scan.stored.filter((s) => ours(s.pool));
    const invalid = scan.invalid.filter((i) => ours(i.pool));
    if (mine.length !== expected || invalid.length)
      throw new Error(`listed ${mine.length} sets of ${expected}, ${invalid.length} invalid`);
    return { ms, rssMiB: rssMiB(), pools };
  } finally {
    await conn.close();
  }
}

async function main(): Promise<void> {
  const conn = await Connection.open('qemu:///system');
  const bench: BenchDomain[] = Array.from({ length: domains }, (_, i) => {
    const uuid = randomUUID();
    return {
      name: `vbbench${i}`,
      uuid,
      pool: domainPoolName(root, uuid),
      dir: domainPoolPath(rootPath, uuid),
    };
  });
  const made: StoragePool[] = [];
  try {
    const tFill = performance.now();
    for (const d of bench) await populate(d);
    console.error(
      `filled ${domains} pools with ${domains * setsPerDomain} two-disk sets in ${Math.round((performance.now() - tFill) / 1000)} s`,
    );
    const tDefine = performance.now();
    for (const d of bench) {
      const pool = await conn.defineStoragePool(
        `<pool type='dir'><name>${d.pool}</name><target><path>${d.dir}</path></target></pool>`,
      );
      made.push(pool);
      await pool.create();
    }
    const defineMs = performance.now() - tDefine;
    const total = domains * setsPerDomain;
    const pools = bench.map((d) => d.pool);
    const one = bench[Math.floor(domains / 2)];
    const rssBefore = rssMiB();

    // A first scan of pools nobody listed: every document read and validated, each pool's index written.
    const first = await timedScan({ pools }, total);
    // The baseline: what an admin's listing of the same pools costs through libvirt.
    const virshAll = virsh(['pool-list --all', ...pools.map((p) => `vol-list ${p}`)]);
    // Every later listing of all sets (fresh connection, warm indexes): the pools found by name.
    const warm = await timedScan({ root }, total);
    const virshOne = virsh([`vol-list ${one.pool}`]);
    const oneDomain = await timedScan({ root, domainUuid: one.uuid }, setsPerDomain);

    console.log(
      JSON.stringify({
        domains,
        sets: total,
        volumes: total * 3,
        definePoolsMs: Math.round(defineMs),
        virshPoolListAndVolListsMs: Math.round(virshAll),
        firstScanMs: Math.round(first.ms),
        firstScanRatioToVirsh: +(first.ms / virshAll).toFixed(2),
        warmListAllMs: Math.round(warm.ms),
        warmListAllRatioToVirsh: +(warm.ms / virshAll).toFixed(2),
        warmListAllPoolsRead: warm.pools,
        virshVolListOnePoolMs: Math.round(virshOne),
        oneDomainMs: Math.round(oneDomain.ms),
        oneDomainRatioToVirshVolList: +(oneDomain.ms / virshOne).toFixed(2),
        oneDomainPoolsRead: oneDomain.pools,
        rssBeforeMiB: rssBefore,
        rssAfterFirstScanMiB: first.rssMiB,
        rssAfterWarmListAllMiB: warm.rssMiB,
        rssAfterOneDomainMiB: oneDomain.rssMiB,
      }),
    );
  } finally {
    for (const pool of made) {
      await pool.destroy().catch(() => undefined);
      await pool.undefine().catch(() => undefined);
      pool.free();
    }
    fs.rmSync(rootPath, { recursive: true, force: true });
    await conn.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
