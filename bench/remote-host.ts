// Bench: backup and restore on a remote host (the LVM test host, scripts/testhost, over qemu+tcp),
// one run, ratios against baselines measured in the same run on the same host, timed there:
//  1. a full backup of the running domain's disk (volback createBackup: libvirt's push job on the
//     host, then the checksums read back over the connection) against `qemu-img convert -U` of the
//     same disk into a new qcow2 file on the host;
//  2. a restore of the incremental (two layers): `qemu-img convert` of the chain on the host against
//     volback's copy alone (the dir driver's copyVolume, virStorageVolCreateXMLFrom: libvirt runs
//     qemu-img on the host) and volback's whole restore (restoreBackup: the copy, then every extent
//     of the new volume read back through libvirt's ranged downloads and checked).
//   npx tsc -p tsconfig.json && node dist/bench/remote-host.js [disk MiB] [written MiB]   (as root;
//   default 256 and 128; the test host must be running: scripts/testhost start)
import { execFile } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Connection, virDomainUndefineFlagsValues, type StoragePool } from '../src/libvirt';
import { createBackup } from '../src/core/backup/coordinator';
import { restoreBackup } from '../src/core/restore/restore';
import { buildDomainXml, flushDisk, writeDiskPattern } from '../src/host/scratch-domain';
import { chooseVirtType } from '../src/host/virt-type';
import type { BackupSet } from '../src/model';
import { closePools, openPool } from '../src/pool/pool-layer';

const sh = promisify(execFile);
const MiB = 1024 ** 2;
const diskSize = Number(process.argv[2] ?? 256) * MiB;
const written = Number(process.argv[3] ?? 128) * MiB;
const CHUNK = 8 * MiB;
const tag = `vbbench-rr-${process.pid}`;
const cleanups: Array<() => Promise<unknown>> = [];
const log = (msg: string): void =>
  void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const seconds = async (fn: () => Promise<unknown>): Promise<number> => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};
const testHost = async (...args: string[]): Promise<string> =>
  (await sh('bash', [path.join(__dirname, '..', '..', 'scripts', 'testhost'), ...args])).stdout.trim();

/** Seconds `command` (a qemu-img convert into a file) takes on the test host, with the file synced, timed there. */
async function onHost(command: string): Promise<number> {
  const out = command.split(' ').pop()!;
  const nanos = await testHost(
    'ssh',
    `t0=$(date +%s%N); ${command} && sync -f ${out}; t1=$(date +%s%N); echo $((t1 - t0))`,
  );
  const s = Number(nanos) / 1e9;
  if (!Number.isFinite(s) || s <= 0) throw new Error(`timing on the host: ${nanos}`);
  return s;
}

async function newDirPool(conn: Connection, name: string): Promise<StoragePool> {
  const pool = await conn.defineStoragePool(
    `<pool type='dir'><name>${name}</name><target><path>/var/lib/libvirt/${name}</path></target></pool>`,
  );
  await pool.build();
  await pool.create();
  cleanups.push(async () => {
    await pool.refresh();
    for (const v of await pool.listAllVolumes()) await v.delete().finally(() => v.free());
    await pool.destroy();
    await pool.delete();
    await pool.undefine();
  });
  return pool;
}

async function main(): Promise<void> {
  const conn = await Connection.open(await testHost('uri'));
  cleanups.push(async () => conn.close());
  const backups = await newDirPool(conn, `${tag}-backups`);
  const disks = await newDirPool(conn, `${tag}-disks`);
  const disk = await disks.createVolume(
    `<volume><name>${tag}.qcow2</name><capacity>${diskSize}</capacity><allocation>0</allocation><target><format type='qcow2'/><compat>1.1</compat></target></volume>`,
  );
  const name = `${tag}-vm`;
  const domain = await conn.defineDomain(
    buildDomainXml({ name, virt: await chooseVirtType(conn), disks: [{ path: await disk.getPath() }] }),
  );
  cleanups.push(async () => {
    if (await domain.isActive()) await domain.destroy();
    await domain.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
  });
  await domain.create();
  log(`writing ${written / MiB} MiB into a ${diskSize / MiB} MiB disk`);
  const chunks = written / CHUNK;
  for (let i = 0; i < chunks; i++) {
    // spread over the disk, so the copy meets data and holes
    const at = Math.floor((i * diskSize) / chunks / CHUNK) * CHUNK;
    await writeDiskPattern(domain, 'vda', 0x10 + (i % 200), at, CHUNK);
  }
  const backup = async (full = false): Promise<BackupSet> => {
    await flushDisk(domain, 'vda');
    const defaults = { pool: await backups.getName(), path: '/nonexistent', format: 'qcow2' as const };
    return (
      await createBackup(conn, name, {
        defaults,
        lockDir: `/tmp/${tag}-locks`,
        ...(full ? { definition: { mode: 'push' as const, kind: 'full' as const, disks: [] } } : {}),
      })
    ).set;
  };
  // Baseline of the full: the same disk copied by qemu-img on the host, timed there.
  await flushDisk(domain, 'vda');
  const fullBaseline = await onHost(
    `qemu-img convert -U -f qcow2 -O qcow2 ${await disk.getPath()} /var/lib/libvirt/${tag}-disks/full-baseline.qcow2`,
  );
  // The copy alone first (a set without checksums), then the default; the incremental builds on that.
  const copyOnly = await seconds(async () => {
    const defaults = { pool: await backups.getName(), path: '/nonexistent', format: 'qcow2' as const };
    await createBackup(conn, name, {
      defaults,
      lockDir: `/tmp/${tag}-locks`,
      checksums: false,
      definition: { mode: 'push', kind: 'full', disks: [] },
    });
  });
  let full: BackupSet | undefined;
  const fullSeconds = await seconds(async () => {
    full = await backup(true);
  });
  if (!full || full.kind !== 'full') throw new Error('the first backup is not a full');
  await writeDiskPattern(domain, 'vda', 0xee, CHUNK / 2, 4 * CHUNK);
  const inc = await backup();
  await domain.destroy();
  const top = inc.disks[0].volume!.name;
  const topPath = `/var/lib/libvirt/${tag}-backups/${top}`;
  log(`full ${full.id}, incremental ${inc.id}: restoring the incremental (2 layers)`);

  const baseline = await onHost(
    `qemu-img convert -f qcow2 -O qcow2 ${topPath} /var/lib/libvirt/${tag}-disks/baseline.qcow2`,
  );
  await disks.refresh();

  const opened = await openPool(conn, await backups.getName());
  const target = await openPool(conn, await disks.getName());
  const source = await opened.pool.lookupVolumeByName(top);
  const copy = await seconds(async () => {
    const spec = { name: 'copy.qcow2', format: 'qcow2' as const, capacity: diskSize };
    (await target.driver.copyVolume!(target, spec, source)).free();
  });
  source.free();
  closePools([opened, target]);

  let restored = 0;
  const restore = await seconds(async () => {
    const result = await restoreBackup(conn, {
      setId: inc.id,
      scanPools: [await backups.getName()],
      pool: await disks.getName(),
    });
    restored = result.volumes.length;
  });
  if (restored !== 1) throw new Error(`restore made ${restored} volumes`);

  const row = (what: string, s: number, base = baseline): string =>
    `| ${what} | ${s.toFixed(2)} | ${(diskSize / MiB / s).toFixed(1)} | ${(base / s).toFixed(2)}× |`;
  process.stdout.write(
    [
      `disk ${diskSize / MiB} MiB, ${written / MiB} MiB written, incremental of ${(4 * CHUNK) / MiB} MiB`,
      '| what | seconds | MiB/s of disk | baseline ÷ this |',
      '|---|---:|---:|---:|',
      row('full: qemu-img convert -U of the disk on the host (baseline)', fullBaseline, fullBaseline),
      row("full: volback createBackup without checksums (libvirt's job on the host)", copyOnly, fullBaseline),
      row(
        'full: volback createBackup (+ checksums read back over the connection)',
        fullSeconds,
        fullBaseline,
      ),
      row('restore: qemu-img convert of the chain on the host (baseline)', baseline),
      row("restore: volback's copy, virStorageVolCreateXMLFrom", copy),
      row('restore: volback restoreBackup (copy + read-back check over the connection)', restore),
      '',
    ].join('\n'),
  );
}

main()
  .catch((err: unknown) => {
    process.exitCode = 1;
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  })
  .finally(async () => {
    for (const undo of cleanups.reverse()) await undo().catch((e: unknown) => log(`cleanup: ${String(e)}`));
  });
