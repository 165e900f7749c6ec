// Bench: backups into the Ceph test cluster's rbd pool (scripts/ceph), one run, ratios against
// baselines measured in the same run:
//  1. a full backup of a running domain's random-data disk into RBD (volback createBackup) against
//     `qemu-img convert -U` of the same disk into a new RBD image;
//  2. the bytes an incremental adds to the pool against the bytes the guest changed;
//  3. a catalog scan of N sets (documents only) in the rbd pool against the same N sets in a dir pool,
//     first scan (no index) and warm (index).
//   npx tsc -p tsconfig.json && node dist/bench/rbd.js [disk GiB] [sets]     (as root; default 1, 2000)
import { execFile } from 'node:child_process';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Connection, virDomainUndefineFlagsValues, type StoragePool } from '../src/libvirt';
import { createBackup } from '../src/core/backup/coordinator';
import { scanCatalog } from '../src/core/catalog/scan';
import { configFromEnvironment } from '../src/config';
import { buildDomainXml, flushDisk, writeDiskPattern } from '../src/host/scratch-domain';
import { chooseVirtType } from '../src/host/virt-type';
import type { BackupSet } from '../src/model';
import { frameDocument } from '../src/pool/documents';
import { closePools, openPool, type OpenPool } from '../src/pool/pool-layer';
import { metadataVolumeName } from '../src/pool/volume-names';
import { formatBackupSet } from '../src/xml';
import { cephAuthFromPool } from '../pool-drivers/rbd/auth';
import { connectCeph } from '../pool-drivers/rbd/ceph';

const sh = promisify(execFile);
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const diskSize = Number(process.argv[2] ?? 1) * GiB;
const setCount = Number(process.argv[3] ?? 2000);
const tag = `vbbench-rbd-${process.pid}`;
const root = '/var/lib/volback-bench';
const cleanups: Array<() => Promise<unknown>> = [];
const log = (msg: string): void =>
  void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const seconds = async (fn: () => Promise<unknown>): Promise<number> => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};

async function cephEnv(): Promise<Record<string, string>> {
  const { stdout } = await sh('bash', [path.join(__dirname, '..', '..', 'scripts', 'ceph'), 'env']);
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

async function dirPool(conn: Connection, name: string): Promise<StoragePool> {
  const dir = path.join(root, name);
  const pool = await conn.defineStoragePool(
    `<pool type='dir'><name>${name}</name><target><path>${dir}</path><permissions><mode>0711</mode></permissions></target></pool>`,
  );
  await pool.build();
  await pool.create();
  cleanups.push(async () => {
    await pool.destroy().catch(() => undefined);
    await pool.undefine().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return pool;
}

/** Used bytes of one RBD image as Ceph accounts them (`rbd du`: allocated objects). */
async function rbdUsed(env: Record<string, string>, image: string): Promise<number> {
  const { stdout } = await sh('rbd', [
    '-c',
    env.CEPH_CONF,
    'du',
    '--format',
    'json',
    `${env.VOLBACK_CEPH_POOL}/${image}`,
  ]);
  const du = JSON.parse(stdout) as { images: Array<{ name: string; snapshot?: string; used_size: number }> };
  return du.images.filter((i) => i.name === image && !i.snapshot).reduce((s, i) => s + i.used_size, 0);
}

async function backupBench(conn: Connection, rbd: OpenPool, env: Record<string, string>): Promise<void> {
  const src = await dirPool(conn, `${tag}-src`);
  const srcPath = path.join(root, `${tag}-src`, 'vda.qcow2');
  const raw = path.join(root, `${tag}-src`, 'fill.raw');
  log(`writing ${diskSize / GiB} GiB of random data ...`);
  const fd = fs.openSync(raw, 'w');
  for (let off = 0; off < diskSize; off += 64 * MiB)
    fs.writeSync(fd, randomBytes(64 * MiB), 0, 64 * MiB, off);
  fs.closeSync(fd);
  await sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=1.1', raw, srcPath]);
  fs.rmSync(raw);
  await src.refresh();
  const forced = configFromEnvironment(process.env).virtType;
  const virt = await chooseVirtType(conn, forced ?? 'auto', `VOLBACK_VIRT_TYPE=${forced}`);
  const domain = await conn.defineDomain(buildDomainXml({ name: tag, virt, disks: [{ path: srcPath }] }));
  cleanups.push(async () => {
    await domain.destroy().catch(() => undefined);
    await domain
      .undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
      .catch(() => undefined);
  });
  await domain.create();
  await sh('dd', [`if=${srcPath}`, 'of=/dev/null', 'bs=4M']); // warm the page cache
  const lockDir = fs.mkdtempSync('/tmp/volback-bench-locks-');
  const defaults = { pool: rbd.name, path: '/nonexistent', format: 'raw' as const };
  const target = `rbd:${env.VOLBACK_CEPH_POOL}/${tag}-convert:id=${env.VOLBACK_CEPH_USER}:conf=${env.CEPH_CONF}:keyring=${env.VOLBACK_CEPH_KEYRING}`;
  const removeConverted = (): Promise<unknown> =>
    sh('rbd', ['-c', env.CEPH_CONF, 'rm', `${env.VOLBACK_CEPH_POOL}/${tag}-convert`]).catch(() => undefined);
  cleanups.push(removeConverted);

  const convert = await seconds(() =>
    sh('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', srcPath, target]),
  );
  await removeConverted();
  const volbackFull = async (checksums: boolean): Promise<number> =>
    seconds(() =>
      createBackup(conn, tag, {
        defaults,
        lockDir,
        checksums,
        definition: { mode: 'push', kind: 'full', disks: [] },
      }),
    );
  const withSums = await volbackFull(true);
  const withoutSums = await volbackFull(false);
  const convert2 = await seconds(() =>
    sh('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', srcPath, target]),
  );
  await removeConverted();
  const baseline = (convert + convert2) / 2;
  log(
    `full: qemu-img convert into RBD ${convert.toFixed(1)} s / ${convert2.toFixed(1)} s; volback ${withSums.toFixed(1)} s, without checksums ${withoutSums.toFixed(1)} s`,
  );
  console.log(
    `| full of ${diskSize / GiB} GiB into RBD | qemu-img convert ${baseline.toFixed(1)} s | volback ${withSums.toFixed(1)} s (${(baseline / withSums).toFixed(2)}×) | without checksums ${withoutSums.toFixed(1)} s (${(baseline / withoutSums).toFixed(2)}×) |`,
  );

  // Incremental: 64 extents written at random places, of random sizes between 4 KiB and 512 KiB.
  const written: Array<[number, number]> = [];
  for (let i = 0; i < 64; i++) {
    const length = randomInt(1, 129) * 4096;
    const offset = randomInt(0, (diskSize - length) / 4096) * 4096;
    await writeDiskPattern(domain, 'vda', 0x40 + (i % 64), offset, length);
    written.push([offset, offset + length]);
  }
  await flushDisk(domain, 'vda');
  const changed = unionBytes(written);
  // What QEMU's backup job copies: its smallest copy unit is 64 KiB (block-copy's cluster size).
  const granules = unionBytes(
    written.map(([a, b]) => [roundDown(a, GRANULE), roundDown(b + GRANULE - 1, GRANULE)]),
  );
  const inc = (await createBackup(conn, tag, { defaults, lockDir })).set;
  const image = inc.disks[0].volume!.name;
  const volume = await rbd.pool.lookupVolumeByName(image);
  const stored = await rbd.driver.storedBytes(rbd, volume);
  volume.free();
  const used = await rbdUsed(env, image);
  console.log(
    `| incremental after ${changed} bytes changed in 64 extents (${granules} bytes in 64 KiB granules) | stored extents ${stored} B (${(stored / changed).toFixed(2)}× changed, ${(stored / granules).toFixed(2)}× granules) | rbd du ${used} B (${(used / changed).toFixed(2)}×) |`,
  );
}

const GRANULE = 64 * 1024;
const roundDown = (n: number, unit: number): number => n - (n % unit);

/** Bytes covered by half-open ranges [start, end), overlaps counted once. */
function unionBytes(ranges: ReadonlyArray<readonly [number, number]>): number {
  let total = 0;
  let reach = 0;
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (end <= reach) continue;
    total += end - Math.max(start, reach);
    reach = end;
  }
  return total;
}

/** `count` two-disk set documents of one domain, as a catalog scan finds them. */
async function setDocuments(count: number): Promise<Array<{ name: string; bytes: Buffer }>> {
  const domain = `${tag}-vm`;
  const out: Array<{ name: string; bytes: Buffer }> = [];
  for (let i = 0; i < count; i++) {
    const set: BackupSet = {
      id: randomUUID(),
      volbackVersion: '0.1.0',
      mode: 'pull',
      kind: 'full',
      state: 'external',
      createdAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000),
      domain: { name: domain, uuid: '6a3e1d2c-0000-4000-8000-000000000001' },
      disks: ['vda', 'vdb'].map((target) => ({
        id: randomUUID(),
        target,
        sourcePath: `/var/lib/libvirt/images/${target}.qcow2`,
        sourceFormat: 'qcow2',
        kind: 'full' as const,
        virtualSize: GiB,
        bytesCopied: 0,
      })),
      domainXml: `<domain type='kvm'><name>${domain}</name>${'<!-- padding: a real domain XML is ~3 KB -->'.repeat(60)}</domain>`,
    };
    out.push({
      name: metadataVolumeName({ domain, createdAt: set.createdAt, setId: set.id }),
      bytes: frameDocument(await formatBackupSet(set)),
    });
  }
  return out;
}

async function catalogBench(conn: Connection, rbd: OpenPool): Promise<void> {
  log(`writing ${setCount} set documents into the rbd pool and into a dir pool ...`);
  const docs = await setDocuments(setCount);
  const ceph = await connectCeph(await cephAuthFromPool(conn, rbd.xml));
  const images = await ceph.pool((await cephEnv()).VOLBACK_CEPH_POOL);
  cleanups.push(async () => {
    for (const d of docs) await images.remove(d.name).catch(() => undefined);
    await rbd.pool.refresh();
    await ceph.close();
  });
  for (let i = 0; i < docs.length; i += 32)
    await Promise.all(
      docs.slice(i, i + 32).map(async (d) => {
        await images.create(d.name, d.bytes.length);
        await images.write(d.name, 0, d.bytes);
      }),
    );
  const dir = await dirPool(conn, `${tag}-cat`);
  for (const d of docs) fs.writeFileSync(path.join(root, `${tag}-cat`, d.name), d.bytes, { mode: 0o600 });
  await dir.refresh();
  const scan = async (pool: string): Promise<number> =>
    seconds(async () => {
      const c = await Connection.open('qemu:///system'); // a fresh connection, as a new process has
      try {
        const result = await scanCatalog(c, { pools: [pool] });
        if (result.stored.length < setCount)
          throw new Error(`${pool}: listed ${result.stored.length} of ${setCount}`);
      } finally {
        await c.close();
      }
    });
  const rbdFirst = await scan(rbd.name); // images libvirt has not seen: another host's, as it were
  const dirFirst = await scan(`${tag}-cat`);
  const rbdWarm = await scan(rbd.name);
  const dirWarm = await scan(`${tag}-cat`);
  console.log(
    `| first scan of ${setCount} sets (no index) | dir ${dirFirst.toFixed(2)} s | rbd ${rbdFirst.toFixed(2)} s | ${(rbdFirst / dirFirst).toFixed(2)}× |`,
  );
  console.log(
    `| later scan (index) | dir ${dirWarm.toFixed(2)} s | rbd ${rbdWarm.toFixed(2)} s | ${(rbdWarm / dirWarm).toFixed(2)}× |`,
  );
}

async function main(): Promise<void> {
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  const conn = await Connection.open('qemu:///system');
  const env = await cephEnv();
  const rbd = await openPool(conn, env.VOLBACK_CEPH_LIBVIRT_POOL);
  await rbd.pool.refresh();
  const before = new Set(await rbd.pool.listVolumeNames());
  cleanups.push(async () => {
    // Everything the bench added to the shared pool; clones go before their parents.
    for (let pass = 0; pass < 5; pass++) {
      await rbd.pool.refresh();
      for (const name of (await rbd.pool.listVolumeNames()).filter((n) => !before.has(n)))
        await rbd.pool
          .lookupVolumeByName(name)
          .then((v) => v.delete(2 /* WITH_SNAPSHOTS */).finally(() => v.free()))
          .catch(() => undefined);
    }
  });
  try {
    await backupBench(conn, rbd, env);
    if (setCount > 0) await catalogBench(conn, rbd);
  } finally {
    for (const undo of cleanups.reverse()) await undo().catch((err: Error) => log(`cleanup: ${err.message}`));
    closePools([rbd]);
    await conn.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
