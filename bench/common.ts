// What the benches share: medians, timestamped progress on stderr, a random-data source disk, dir
// pools of their own, and a clean-up list that also runs when the bench is interrupted.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection, virDomainUndefineFlagsValues, type Domain, type StoragePool } from '../src/libvirt';
import { configFromEnvironment } from '../src/config';
import { buildDomainXml } from '../src/host/scratch-domain';
import { chooseVirtType } from '../src/host/virt-type';
import type { BackupSet } from '../src/model';
import { backupVolumeName } from '../src/pool/volume-names';

export const sh = promisify(execFile);

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const log = (msg: string): void =>
  void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** A qcow2 (compat 1.1) of `size` bytes of random data, every cluster stored, made through a raw file. */
export async function fillRandomQcow2(rawPath: string, qcowPath: string, size: number): Promise<void> {
  const fd = fs.openSync(rawPath, 'w');
  try {
    const chunk = Buffer.alloc(64 * 1024 * 1024);
    for (let off = 0; off < size; off += chunk.length) {
      chunk.set(randomBytes(chunk.length));
      fs.writeSync(fd, chunk, 0, chunk.length, off);
    }
  } finally {
    fs.closeSync(fd);
  }
  await sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=1.1', rawPath, qcowPath]);
  fs.rmSync(rawPath);
}

/** A dir pool named after its directory, built and started. */
export async function defineDirPool(conn: Connection, dir: string, mode: string): Promise<StoragePool> {
  const pool = await conn.defineStoragePool(
    `<pool type='dir'><name>${path.basename(dir)}</name><target><path>${dir}</path><permissions><mode>${mode}</mode></permissions></target></pool>`,
  );
  await pool.build();
  await pool.create();
  return pool;
}

/** Every volume of a pool deleted, then the pool stopped, undefined and its directory removed. */
export function poolCleanup(pool: StoragePool, dir: string): () => Promise<void> {
  return async () => {
    await pool
      .refresh()
      .then(async () => {
        for (const vol of await pool.listAllVolumes()) {
          await vol.delete().catch(() => undefined);
          vol.free();
        }
      })
      .catch(() => undefined);
    await pool.destroy().catch(() => undefined);
    await pool.undefine().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

/** Runs a bench's main on its own connection and sets the exit code when it fails. */
export function runBench(main: (conn: Connection) => Promise<void>): void {
  Connection.open('qemu:///system')
    .then((conn) => main(conn).finally(() => conn.close()))
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}

/** What a bench made, undone last-made first at its end, or when SIGINT/SIGTERM stops it. */
export class Cleanups {
  private readonly undos: Array<() => Promise<unknown>> = [];

  constructor() {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        log(`${signal}: cleaning up`);
        void this.run().finally(() => process.exit(130));
      });
    }
  }

  push(undo: () => Promise<unknown>): void {
    this.undos.push(undo);
  }

  async run(): Promise<void> {
    for (const undo of this.undos.splice(0).reverse())
      await undo().catch((err: Error) => log(`cleanup: ${err.message}`));
  }
}

/** A bench's own source and backup pools and a defined domain whose one disk holds random data. */
export interface BenchSource {
  srcPool: StoragePool;
  bakPool: StoragePool;
  srcPath: string;
  domain: Domain;
}

/**
 * Makes `srcDir` and `bakDir` into pools (under `root`), fills `vda.qcow2` in the first with `size`
 * random bytes (or what `fill` writes there instead) and defines domain `name` on it (not started),
 * every step registered on `cleanups`.
 */
export async function benchSource(
  conn: Connection,
  cleanups: Cleanups,
  where: { root: string; srcDir: string; bakDir: string; name: string; size: number },
  fill: (rawPath: string, qcowPath: string, size: number) => Promise<void> = fillRandomQcow2,
): Promise<BenchSource> {
  fs.mkdirSync(where.root, { recursive: true, mode: 0o755 });
  fs.chmodSync(where.root, 0o755);
  const srcPool = await defineDirPool(conn, where.srcDir, '0755');
  cleanups.push(poolCleanup(srcPool, where.srcDir));
  const bakPool = await defineDirPool(conn, where.bakDir, '0711');
  cleanups.push(poolCleanup(bakPool, where.bakDir));
  const srcPath = path.join(where.srcDir, 'vda.qcow2');
  log(`writing ${where.size / 1024 ** 3} GiB into ${srcPath} ...`);
  await fill(path.join(where.srcDir, 'fill.raw'), srcPath, where.size);
  await srcPool.refresh();

  const forced = configFromEnvironment(process.env).virtType;
  const virt = await chooseVirtType(conn, forced ?? 'auto', `VOLBACK_VIRT_TYPE=${forced}`);
  log(`domains run as ${virt.virtType} (cpu ${virt.cpu}): ${virt.reason}`);
  const domain = await conn.defineDomain(
    buildDomainXml({ name: where.name, virt, disks: [{ path: srcPath }] }),
  );
  cleanups.push(async () => {
    await domain.destroy().catch(() => undefined);
    await domain
      .undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
      .catch(() => undefined);
  });
  return { srcPool, bakPool, srcPath, domain };
}

/** A realistic domain XML of a few KiB, as stored in every catalog bench's set. */
export const BENCH_DOMAIN_XML = `<domain type='kvm'>\n  <name>bench</name>\n${'  <!-- a realistic domain XML is a few KiB -->\n'.repeat(60)}</domain>`;

/** A complete two-disk (vda, vdb) set of `domain` in `pool` made at `createdAt`: a full, or an incremental on `parent`. */
export function benchSet(
  domain: BackupSet['domain'],
  pool: string,
  createdAt: Date,
  parent?: BackupSet,
): BackupSet {
  const id = randomUUID();
  return {
    id,
    volbackVersion: '0.1.0',
    mode: 'push',
    kind: parent ? 'incremental' : 'full',
    state: 'complete',
    createdAt,
    parentId: parent?.id,
    domain,
    disks: ['vda', 'vdb'].map((target, d) => ({
      id: randomUUID(),
      target,
      sourcePath: `/var/lib/libvirt/images/${domain.name}-${target}.qcow2`,
      sourceFormat: 'qcow2',
      volume: {
        pool,
        name: backupVolumeName({ domain: domain.name, disk: target, createdAt, setId: id, format: 'qcow2' }),
        format: 'qcow2' as const,
      },
      kind: parent ? ('incremental' as const) : ('full' as const),
      parentId: parent?.disks[d].id,
      virtualSize: 1 << 30,
      bytesCopied: 1 << 20,
    })),
    domainXml: BENCH_DOMAIN_XML,
  };
}
