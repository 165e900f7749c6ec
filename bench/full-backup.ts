// Bench: a full backup of a 4 GiB random-data qcow2 disk of a running domain through volback's
// createBackup, against `qemu-img convert -U` of the same disk in the same run (the practical limit),
// plus bench-only prototypes of other full-backup engines, and an incremental after 1% of the disk
// changed against copying just those extents. Variants alternate; medians and ratios are reported.
//   npx tsc -p tsconfig.json && node dist/bench/full-backup.js [repetitions] [disk GiB]     (as root)
import { randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  Connection,
  virDomainBackupBeginFlags,
  virDomainGetJobStatsFlags,
  virDomainJobType,
  type Domain,
  type StoragePool,
} from '../src/libvirt';
import { createBackup, type FullBackupEngine } from '../src/core/backup/coordinator';
import { dropVolbackCheckpoints, removeCheckpoint } from '../src/core/shared/checkpoints';
import { writeDiskPattern } from '../src/host/scratch-domain';
import { volumeXml } from '../src/xml/libvirt-storage';
import { storedDataBytes } from '../src/tools/qemu-img';
import { benchSource, Cleanups, log, median, runBench, sh } from './common';

const reps = Number(process.argv[2] ?? 3);
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const diskSize = Number(process.argv[3] ?? 4) * GiB;
const tag = `vbbench-full-${process.pid}`;
const root = '/var/lib/volback-bench';
const srcDir = path.join(root, `${tag}-src`);
const bakDir = path.join(root, `${tag}-bak`);
const sockDir = path.join('/run/volback-bench', tag);
const lockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-bench-locks-'));

const fsyncFile = (file: string): void => {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
};

interface Ctx {
  conn: Connection;
  domain: Domain;
  name: string;
  srcPath: string;
  srcPool: StoragePool;
  bakPool: StoragePool;
  qemu: { uid: number; gid: number };
  compare: boolean;
}

/** Creates a qcow2 (compat 1.1) volume in the backup pool and returns its path. */
async function newVolume(ctx: Ctx, name: string, extra = ''): Promise<string> {
  const xml = volumeXml({
    name,
    type: 'file',
    format: 'qcow2',
    compat: '1.1',
    mode: '0600',
    capacity: diskSize,
    allocation: 0,
  }).replace('</target>', `${extra}</target>`);
  const vol = await ctx.bakPool.createVolume(xml);
  try {
    return await vol.getPath();
  } finally {
    vol.free();
  }
}

async function emptyBackupPool(ctx: Ctx): Promise<void> {
  await ctx.bakPool.refresh();
  for (const vol of await ctx.bakPool.listAllVolumes()) {
    await vol.delete().catch(() => undefined);
    vol.free();
  }
}

async function assertSameAsSource(ctx: Ctx, target: string, what: string): Promise<void> {
  if (!ctx.compare) return;
  // The domain idles (no guest OS): the live disk still holds the backup's point in time.
  await sh('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', ctx.srcPath, target]).catch(
    (err: Error) => {
      throw new Error(`${what}: the copy differs from the disk: ${err.message}`);
    },
  );
}

async function waitNoJob(domain: Domain): Promise<void> {
  for (;;) {
    const s = await domain.getJobStats();
    if (s.type === virDomainJobType.VIR_DOMAIN_JOB_NONE) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- (a) the practical limit: qemu-img convert of the live disk -----------------------------------
async function qemuImgConvert(ctx: Ctx, extraArgs: string[]): Promise<number> {
  const target = path.join(bakDir, `convert-${randomUUID()}.qcow2`);
  try {
    const t0 = performance.now();
    await sh('qemu-img', [
      'convert',
      '-U',
      ...extraArgs,
      '-f',
      'qcow2',
      '-O',
      'qcow2',
      '-o',
      'compat=1.1',
      ctx.srcPath,
      target,
    ]);
    fsyncFile(target);
    return performance.now() - t0;
  } finally {
    fs.rmSync(target, { force: true });
  }
}

// ---- (b) volback: createBackup, full -------------------------------------------------------------
/**
 * Phase times of one createBackup: the copy (from `copying` to the first later phase) and the
 * checksum read-back (from `checksums` to `committing`).
 */
function phaseClock(): {
  onProgress: (p: { phase: string }) => void;
  job: () => number;
  sums: () => number;
} {
  const at: Record<string, number> = {};
  return {
    onProgress: (p) => void (at[p.phase] ??= performance.now()),
    job: () => (at.checksums ?? at.committing) - at.copying,
    sums: () => (at.checksums === undefined ? 0 : at.committing - at.checksums),
  };
}

async function volbackFull(
  ctx: Ctx,
  keep = false,
  fullBackupEngine: FullBackupEngine = 'qmp',
  checksums = true,
): Promise<{ wall: number; job: number; sums: number; setVolume: string }> {
  const clock = phaseClock();
  const t0 = performance.now();
  const result = await createBackup(ctx.conn, ctx.name, {
    definition: {
      mode: 'push',
      kind: 'full',
      disks: [],
      location: { pool: path.basename(bakDir), path: bakDir },
    },
    defaults: { pool: path.basename(bakDir), path: bakDir, format: 'qcow2' },
    lockDir,
    fullBackupEngine,
    checksums,
    onProgress: clock.onProgress,
  });
  const wall = performance.now() - t0;
  const vol = result.set.disks[0].volume!;
  const volPath = path.join(bakDir, vol.name);
  // Both engines have synced the target; the fsync here is the same one every variant pays.
  fsyncFile(volPath);
  await assertSameAsSource(ctx, volPath, 'volback full');
  if (!keep) {
    await dropVolbackCheckpoints(ctx.domain);
    await emptyBackupPool(ctx);
  }
  return { wall: wall, job: clock.job(), sums: clock.sums(), setVolume: volPath };
}

// ---- candidate (i): libvirt pull mode + qemu-img convert from the NBD export ---------------------
async function pullConvert(ctx: Ctx, readOnly = false): Promise<{ wall: number; copy: number }> {
  const ck = `vbbench-pull-${randomUUID().slice(0, 8)}`;
  const target = await newVolume(ctx, `${ck}.qcow2`);
  const scratch = await newVolume(ctx, `${ck}.scratch.qcow2`);
  const socket = path.join(sockDir, 'nbd.sock');
  let started = false;
  const t0 = performance.now();
  try {
    const backupXml =
      `<domainbackup mode='pull'><server transport='unix' socket='${socket}'/><disks>` +
      `<disk name='vda' backup='yes' type='file' exportname='vda'><scratch file='${scratch}'/><driver type='qcow2'/></disk>` +
      `</disks></domainbackup>`;
    const checkpointXml = `<domaincheckpoint><name>${ck}</name><disks><disk name='vda' checkpoint='bitmap' bitmap='${ck}'/></disks></domaincheckpoint>`;
    await ctx.domain.backupBegin(
      backupXml,
      checkpointXml,
      virDomainBackupBeginFlags.VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL,
    );
    started = true;
    const c0 = performance.now();
    if (readOnly) {
      // Diagnostic: how fast the export alone can be read (nothing written).
      await sh('nbdcopy', ['--requests=16', `nbd+unix:///vda?socket=${socket}`, 'null:']);
    } else {
      await sh('qemu-img', [
        'convert',
        '-W',
        '-m',
        '16',
        '-n',
        '--image-opts',
        `driver=nbd,server.type=unix,server.path=${socket},export=vda`,
        '-O',
        'qcow2',
        target,
      ]);
      fsyncFile(target);
    }
    const copy = performance.now() - c0;
    await ctx.domain.abortJob(); // ends the pull job: the checkpoint stays, as volback's would
    started = false;
    await waitNoJob(ctx.domain);
    const wall = performance.now() - t0;
    if (!readOnly) await assertSameAsSource(ctx, target, 'pull + qemu-img convert');
    return { wall, copy };
  } finally {
    if (started) await ctx.domain.abortJob().catch(() => undefined);
    await waitNoJob(ctx.domain).catch(() => undefined);
    await removeCheckpoint(ctx.domain, ck).catch(() => undefined);
    await emptyBackupPool(ctx);
  }
}

// ---- candidate (ii): QMP blockdev-backup, no-flush target, x-perf max-chunk 4M -------------------
async function qmp(domain: Domain, execute: string, args?: object): Promise<unknown> {
  const out = JSON.parse(
    await domain.qemuMonitorCommand(JSON.stringify(args ? { execute, arguments: args } : { execute })),
  );
  if (out.error) throw new Error(`${execute}: ${out.error.desc}`);
  return out.return;
}

async function qmpBackup(ctx: Ctx, perf: Record<string, unknown>, noFlush = true): Promise<{ wall: number }> {
  const id = randomUUID().slice(0, 8);
  const target = await newVolume(ctx, `vbbench-qmp-${id}.qcow2`);
  fs.chownSync(target, ctx.qemu.uid, ctx.qemu.gid);
  const node = `vbbench-tgt-${id}`;
  const job = `vbbench-job-${id}`;
  const bitmap = `vbbench-qmp-${id}`;
  const blocks = (await qmp(ctx.domain, 'query-block')) as Array<{
    qdev?: string;
    inserted?: { 'node-name': string };
  }>;
  const src = blocks.find((b) => b.qdev?.includes('virtio-disk0'))!.inserted!['node-name'];
  let added = false;
  let jobStarted = false;
  let bitmapAdded = false;
  const t0 = performance.now();
  try {
    await qmp(ctx.domain, 'blockdev-add', {
      driver: 'qcow2',
      'node-name': node,
      cache: { 'no-flush': noFlush },
      file: { driver: 'file', filename: target, cache: { 'no-flush': noFlush } },
    });
    added = true;
    const xPerf = Object.keys(perf).length ? { 'x-perf': perf } : {};
    // One transaction: the bitmap (the checkpoint) starts exactly at the copy's point in time.
    await qmp(ctx.domain, 'transaction', {
      actions: [
        { type: 'block-dirty-bitmap-add', data: { node: src, name: bitmap, persistent: true } },
        {
          type: 'blockdev-backup',
          data: { device: src, target: node, sync: 'full', 'job-id': job, 'auto-dismiss': false, ...xPerf },
        },
      ],
    });
    bitmapAdded = true;
    jobStarted = true;
    for (;;) {
      const jobs = (await qmp(ctx.domain, 'query-jobs')) as Array<{
        id: string;
        status: string;
        error?: string;
      }>;
      const j = jobs.find((x) => x.id === job);
      if (!j || j.status === 'concluded') {
        if (j?.error) throw new Error(`blockdev-backup failed: ${j.error}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await qmp(ctx.domain, 'job-dismiss', { id: job });
    jobStarted = false;
    await qmp(ctx.domain, 'blockdev-del', { 'node-name': node });
    added = false;
    fsyncFile(target); // no-flush: the one flush of the whole copy
    const wall = performance.now() - t0;
    await assertSameAsSource(ctx, target, `QMP blockdev-backup ${JSON.stringify(perf)}`);
    return { wall };
  } finally {
    if (jobStarted) {
      await qmp(ctx.domain, 'job-cancel', { id: job }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      await qmp(ctx.domain, 'job-dismiss', { id: job }).catch(() => undefined);
    }
    if (added) await qmp(ctx.domain, 'blockdev-del', { 'node-name': node }).catch(() => undefined);
    if (bitmapAdded)
      await qmp(ctx.domain, 'block-dirty-bitmap-remove', { node: src, name: bitmap }).catch(() => undefined);
    await emptyBackupPool(ctx);
  }
}

// ---- candidate (iii): the same libvirt push job, target qcow2 with larger clusters ---------------
async function pushJob(ctx: Ctx, clusterKiB: number): Promise<{ wall: number }> {
  const ck = `vbbench-push-${randomUUID().slice(0, 8)}`;
  const extra = clusterKiB ? `<clusterSize unit='KiB'>${clusterKiB}</clusterSize>` : '';
  const target = await newVolume(ctx, `${ck}.qcow2`, extra);
  const t0 = performance.now();
  try {
    const backupXml =
      `<domainbackup mode='push'><disks><disk name='vda' backup='yes' type='file'>` +
      `<target file='${target}'/><driver type='qcow2'/></disk></disks></domainbackup>`;
    const checkpointXml = `<domaincheckpoint><name>${ck}</name><disks><disk name='vda' checkpoint='bitmap' bitmap='${ck}'/></disks></domaincheckpoint>`;
    await ctx.domain.backupBegin(
      backupXml,
      checkpointXml,
      virDomainBackupBeginFlags.VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL,
    );
    await waitNoJob(ctx.domain);
    const final = await ctx.domain.getJobStats(virDomainGetJobStatsFlags.VIR_DOMAIN_JOB_STATS_COMPLETED);
    if (final.type !== virDomainJobType.VIR_DOMAIN_JOB_COMPLETED)
      throw new Error(`push job ended ${final.type}: ${String(final.stats.errmsg)}`);
    fsyncFile(target);
    const wall = performance.now() - t0;
    await assertSameAsSource(ctx, target, `push, ${clusterKiB || 64} KiB clusters`);
    return { wall };
  } finally {
    await waitNoJob(ctx.domain).catch(() => undefined);
    await removeCheckpoint(ctx.domain, ck).catch(() => undefined);
    await emptyBackupPool(ctx);
  }
}

// ---- (c) incremental after 1% of the disk changed ---------------------------------------------------
/** Baseline: a new qcow2 overlay on the full backup, then each changed 1 MiB extent copied into it. */
async function copyExtents(
  ctx: Ctx,
  parent: string,
  offsets: number[],
): Promise<{ wall: number; bytes: number }> {
  const overlay = path.join(bakDir, `extents-${randomUUID()}.qcow2`);
  try {
    const t0 = performance.now();
    await sh('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      'compat=1.1',
      '-b',
      parent,
      '-F',
      'qcow2',
      overlay,
    ]);
    const slice = (file: string, off: number): string =>
      `driver=raw,offset=${off},size=${MiB},file.driver=qcow2,file.file.driver=file,file.file.filename=${file}`;
    for (const off of offsets) {
      await sh('qemu-img', [
        'convert',
        '-U',
        '-n',
        '--image-opts',
        slice(ctx.srcPath, off),
        '--target-image-opts',
        slice(overlay, off),
      ]);
    }
    fsyncFile(overlay);
    const wall = performance.now() - t0;
    const bytes = await storedDataBytes({ path: overlay, format: 'qcow2' });
    await assertSameAsSource(ctx, overlay, 'extent copy');
    return { wall, bytes };
  } finally {
    fs.rmSync(overlay, { force: true });
  }
}

async function volbackIncremental(
  ctx: Ctx,
  checksums = true,
): Promise<{ wall: number; job: number; sums: number; bytes: number; fileBytes: number }> {
  const clock = phaseClock();
  const t0 = performance.now();
  const result = await createBackup(ctx.conn, ctx.name, {
    definition: { mode: 'push', kind: 'incremental', disks: [] },
    defaults: { pool: path.basename(bakDir), path: bakDir, format: 'qcow2' },
    lockDir,
    checksums,
    onProgress: clock.onProgress,
  });
  const wall = performance.now() - t0;
  const disk = result.set.disks[0];
  const file = path.join(bakDir, disk.volume!.name);
  fsyncFile(file);
  await assertSameAsSource(ctx, file, 'volback incremental');
  return {
    wall,
    job: clock.job(),
    sums: clock.sums(),
    bytes: disk.bytesCopied,
    fileBytes: fs.statSync(file).blocks * 512,
  };
}

// ---- set-up ---------------------------------------------------------------------------------------
function rotate<T>(xs: T[], n: number): T[] {
  return xs.map((_, i) => xs[(i + n) % xs.length]);
}

const cleanups = new Cleanups();

async function main(conn: Connection): Promise<void> {
  cleanups.push(async () => fs.rmSync(lockDir, { recursive: true, force: true }));
  try {
    const name = tag;
    const { srcPool, bakPool, srcPath, domain } = await benchSource(conn, cleanups, {
      root,
      srcDir,
      bakDir,
      name,
      size: diskSize,
    });
    await domain.create();
    const live = await domain.getXMLDesc();
    const m = /<seclabel[^>]*model='dac'[^>]*>\s*<label>\+?(\d+):\+?(\d+)<\/label>/.exec(live);
    if (!m) throw new Error('cannot tell QEMU uid:gid from the live XML');
    const qemu = { uid: Number(m[1]), gid: Number(m[2]) };
    // The NBD socket's directory: QEMU (not root) binds the socket there (see src/core/external.ts).
    fs.mkdirSync(path.dirname(sockDir), { recursive: true, mode: 0o711 });
    fs.mkdirSync(sockDir, { mode: 0o700 });
    fs.chownSync(sockDir, qemu.uid, qemu.gid);
    cleanups.push(async () => fs.rmSync(sockDir, { recursive: true, force: true }));

    const ctx: Ctx = { conn, domain, name, srcPath, srcPool, bakPool, qemu, compare: true };
    // Warm the page cache with one untimed read of the source, so every variant reads from the same cache.
    await sh('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', srcPath, '/dev/null']).catch(() =>
      sh('dd', [`if=${srcPath}`, 'of=/dev/null', 'bs=4M']),
    );

    const full: Record<string, number[]> = {};
    const add = (k: string, ms: number): void => void (full[k] ??= []).push(ms);
    const variants: Array<[string, () => Promise<void>]> = [
      ['a  qemu-img convert -U', async () => add('a  qemu-img convert -U', await qemuImgConvert(ctx, []))],
      [
        'a2 qemu-img convert -U -W -m 16',
        async () => add('a2 qemu-img convert -U -W -m 16', await qemuImgConvert(ctx, ['-W', '-m', '16'])),
      ],
      [
        'b  volback createBackup full',
        async () => {
          const r = await volbackFull(ctx);
          add('b  volback createBackup full', r.wall);
          add('b  volback job alone', r.job);
          add('b  volback checksums alone', r.sums);
        },
      ],
      [
        'b0 volback createBackup full, no checksums',
        async () => {
          const r = await volbackFull(ctx, false, 'qmp', false);
          add('b0 volback createBackup full, no checksums', r.wall);
        },
      ],
      [
        'b2 volback createBackup full, libvirt engine',
        async () => {
          const r = await volbackFull(ctx, false, 'libvirt');
          add('b2 volback createBackup full, libvirt engine', r.wall);
        },
      ],
      [
        'i  pull + qemu-img convert -W -m 16 from NBD',
        async () => {
          const r = await pullConvert(ctx);
          add('i  pull + qemu-img convert -W -m 16 from NBD', r.wall);
          add('i  … the convert alone', r.copy);
        },
      ],
      [
        'i0 pull, export read by nbdcopy to null: (diagnostic)',
        async () =>
          add('i0 pull, export read by nbdcopy to null: (diagnostic)', (await pullConvert(ctx, true)).copy),
      ],
      [
        'ii QMP blockdev-backup no-flush, max-chunk 4M',
        async () =>
          add(
            'ii QMP blockdev-backup no-flush, max-chunk 4M',
            (await qmpBackup(ctx, { 'max-chunk': 4 * MiB })).wall,
          ),
      ],
      [
        'ii QMP blockdev-backup no-flush, default chunk',
        async () => add('ii QMP blockdev-backup no-flush, default chunk', (await qmpBackup(ctx, {})).wall),
      ],
      [
        'ii QMP blockdev-backup no-flush, max-chunk 64K',
        async () =>
          add(
            'ii QMP blockdev-backup no-flush, max-chunk 64K',
            (await qmpBackup(ctx, { 'max-chunk': 64 * 1024 })).wall,
          ),
      ],
      [
        'ii QMP blockdev-backup flush, max-chunk 64K',
        async () =>
          add(
            'ii QMP blockdev-backup flush, max-chunk 64K',
            (await qmpBackup(ctx, { 'max-chunk': 64 * 1024 }, false)).wall,
          ),
      ],
      [
        'ii QMP blockdev-backup no-flush, copy-range',
        async () =>
          add(
            'ii QMP blockdev-backup no-flush, copy-range',
            (await qmpBackup(ctx, { 'use-copy-range': true })).wall,
          ),
      ],
      [
        'ii QMP blockdev-backup flush, copy-range',
        async () =>
          add(
            'ii QMP blockdev-backup flush, copy-range',
            (await qmpBackup(ctx, { 'use-copy-range': true }, false)).wall,
          ),
      ],
      [
        'iii push job, 64 KiB target clusters',
        async () => add('iii push job, 64 KiB target clusters', (await pushJob(ctx, 0)).wall),
      ],
      [
        'iii push job, 2 MiB target clusters',
        async () => add('iii push job, 2 MiB target clusters', (await pushJob(ctx, 2048)).wall),
      ],
    ];
    const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
    const chosen = variants.filter(([label]) => !only || only.test(label));
    const loads: number[][] = [];
    for (let rep = 0; rep < reps; rep++) {
      ctx.compare = rep === 0; // check every engine's copy once, outside the timings
      for (const [label, fn] of rotate(chosen, rep)) {
        loads.push(os.loadavg());
        log(`rep ${rep + 1}/${reps}: ${label}`);
        await fn();
      }
    }

    // (c) incremental after 1% of the disk (41 × 1 MiB at random 1 MiB-aligned offsets) changed.
    const incr: Record<string, number[]> = {};
    const addI = (k: string, v: number): void => void (incr[k] ??= []).push(v);
    if (!process.env.BENCH_SKIP_INCREMENTAL) {
      for (let rep = 0; rep < reps; rep++) {
        ctx.compare = rep === 0;
        await dropVolbackCheckpoints(domain);
        await emptyBackupPool(ctx);
        const parent = (await volbackFull(ctx, true)).setVolume;
        const changes = async (): Promise<number[]> => {
          const offsets = new Set<number>();
          while (offsets.size < Math.round(diskSize / MiB / 100))
            offsets.add(randomInt(diskSize / MiB) * MiB);
          for (const off of offsets) await writeDiskPattern(domain, 'vda', randomInt(1, 255), off, MiB);
          return [...offsets];
        };
        // Two incrementals of the same size per rep, one with checksums and one without, in turn first.
        const withFirst = rep % 2 === 0;
        const incremental = async (checksums: boolean): Promise<void> => {
          const label = checksums ? 'volback incremental' : 'volback incremental, no checksums';
          log(`rep ${rep + 1}/${reps}: ${label}`);
          const r = await volbackIncremental(ctx, checksums);
          addI(`${label} ms`, r.wall);
          if (!checksums) return;
          addI('volback incremental job ms', r.job);
          addI('volback incremental checksums ms', r.sums);
          addI('volback incremental bytes', r.bytes);
          addI('volback incremental file bytes', r.fileBytes);
        };
        const offsets = await changes();
        loads.push(os.loadavg());
        const order = rep % 2 ? ['volback', 'extents'] : ['extents', 'volback'];
        for (const which of order) {
          if (which === 'extents') {
            log(`rep ${rep + 1}/${reps}: incremental extents`);
            const r = await copyExtents(ctx, parent, offsets);
            addI('extent copy ms', r.wall);
            addI('extent copy bytes', r.bytes);
          } else await incremental(withFirst);
        }
        await changes();
        await incremental(!withFirst);
      }
      await dropVolbackCheckpoints(domain);
      await emptyBackupPool(ctx);
    }

    const base = median(full['a  qemu-img convert -U'] ?? [NaN]);
    const rows = Object.entries(full).map(([k, v]) => ({
      variant: k,
      medianS: +(median(v) / 1000).toFixed(2),
      runsS: v.map((x) => +(x / 1000).toFixed(2)),
      MBps: Math.round(diskSize / 1e6 / (median(v) / 1000)),
      throughputRatioToConvert: +(base / median(v)).toFixed(2),
    }));
    console.table(rows);
    const incrRows = Object.entries(incr).map(([k, v]) => ({
      what: k,
      median: Math.round(median(v)),
      runs: v.map(Math.round),
    }));
    if (incrRows.length) console.table(incrRows);
    const la = loads.map((l) => l[0]);
    console.log(
      JSON.stringify({
        diskGiB: diskSize / GiB,
        reps,
        loadAverage1m: { min: Math.min(...la), median: +median(la).toFixed(2), max: Math.max(...la) },
        full: rows,
        incremental: incrRows,
        incrementalTimeRatio: incr['volback incremental ms']
          ? +(median(incr['volback incremental ms']) / median(incr['extent copy ms'])).toFixed(2)
          : undefined,
        incrementalBytesRatio: incr['volback incremental bytes']
          ? +(median(incr['volback incremental bytes']) / median(incr['extent copy bytes'])).toFixed(2)
          : undefined,
        checksumsFullTimeRatio: full['b0 volback createBackup full, no checksums']
          ? +(
              median(full['b  volback createBackup full']) /
              median(full['b0 volback createBackup full, no checksums'])
            ).toFixed(2)
          : undefined,
        checksumsIncrementalTimeRatio: incr['volback incremental, no checksums ms']
          ? +(
              median(incr['volback incremental ms']) / median(incr['volback incremental, no checksums ms'])
            ).toFixed(2)
          : undefined,
      }),
    );
  } finally {
    await cleanups.run();
  }
}

runBench(main);
