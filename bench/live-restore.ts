// Bench: time to a started domain, live restore against normal restore, in one run. A domain's
// 4 GiB random-data qcow2 disk gets one full backup through createBackup; then, alternating which
// goes first, restoreDomain restores it as a clone and starts it either normally (the whole disk
// copied and checked, then the domain started) or live (a layer over the backup, the domain started
// at once, libvirt's block pull copying the rest), and the live copy is waited for with
// finishLiveRestores. Medians and the ratio of the same run are reported.
//   npx tsc -p tsconfig.json && node dist/bench/live-restore.js [repetitions] [disk GiB]     (as root)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Connection, isLibvirtNotFound, virDomainUndefineFlagsValues } from '../src/libvirt';
import { createBackup, type BackupDefaults } from '../src/core/backup/coordinator';
import { restoreDomain } from '../src/core/restore/domain';
import { finishLiveRestores } from '../src/core/restore/live';
import type { RestoreDomainResult } from '../src/core/restore/common';
import { benchSource, Cleanups, log, median, runBench, sh } from './common';

const reps = Number(process.argv[2] ?? 3);
const GiB = 1024 ** 3;
const diskSize = Number(process.argv[3] ?? 4) * GiB;
const tag = `vbbench-live-${process.pid}`;
const root = '/var/lib/volback-bench';
const srcDir = path.join(root, `${tag}-src`);
const bakDir = path.join(root, `${tag}-bak`);
const lockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-bench-locks-'));

const seconds = (ms: number): number => +(ms / 1000).toFixed(2);

// ---- one restore, timed, and everything it made removed again ------------------------------------
interface Ctx {
  conn: Connection;
  setId: string;
  pool: string;
}

/** Destroys and undefines domain `name` when it exists. */
async function removeDomain(conn: Connection, name: string): Promise<void> {
  let domain;
  try {
    domain = await conn.lookupDomainByName(name);
  } catch (err) {
    if (isLibvirtNotFound(err)) return;
    throw err;
  }
  try {
    if (await domain.isActive()) await domain.destroy();
    await domain.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
  } finally {
    domain.free();
  }
}

/** Deletes the volumes a restore made, through their pools. */
async function removeVolumes(conn: Connection, result: RestoreDomainResult): Promise<void> {
  for (const v of result.volumes) {
    const pool = await conn.lookupStoragePoolByName(v.pool);
    try {
      const vol = await pool.lookupVolumeByName(v.volume);
      try {
        await vol.delete();
      } finally {
        vol.free();
      }
    } finally {
      pool.free();
    }
  }
}

/** Throws unless the restored domain runs. */
async function assertRunning(conn: Connection, name: string): Promise<void> {
  const domain = await conn.lookupDomainByName(name);
  try {
    if (!(await domain.isActive())) throw new Error(`restored domain ${name} is not running`);
  } finally {
    domain.free();
  }
}

let restores = 0;

/**
 * One restore of the set as a started clone: `toRunning` is the restoreDomain call (it returns with
 * the domain running); for a live restore `copied` is from the same start until finishLiveRestores
 * (waiting) returns with every disk standing alone. The domain and its volumes are removed after.
 */
async function restoreOnce(ctx: Ctx, live: boolean): Promise<{ toRunning: number; copied?: number }> {
  const name = `${tag}-${live ? 'live' : 'normal'}-${++restores}`;
  let result: RestoreDomainResult | undefined;
  try {
    const t0 = performance.now();
    result = await restoreDomain(ctx.conn, {
      setId: ctx.setId,
      scanPools: [ctx.pool],
      name,
      newUuid: true,
      ...(live ? { live: true } : { start: true }),
    });
    const toRunning = performance.now() - t0;
    await assertRunning(ctx.conn, name);
    if (!live) return { toRunning };
    if (!result.live) throw new Error('a live restore returned no live state');
    const states = await finishLiveRestores(ctx.conn, { id: result.live.id, wait: true, pools: [ctx.pool] });
    const copied = performance.now() - t0;
    const notDone = states.flatMap((s) => s.disks).filter((d) => d.state !== 'done');
    if (notDone.length)
      throw new Error(`live restore ${result.live.id} ended with disks ${JSON.stringify(notDone)}`);
    await assertRunning(ctx.conn, name);
    return { toRunning, copied };
  } finally {
    await removeDomain(ctx.conn, name).catch((err: Error) => log(`cleanup of ${name}: ${err.message}`));
    if (result)
      await removeVolumes(ctx.conn, result).catch((err: Error) =>
        log(`cleanup of ${name}'s volumes: ${err.message}`),
      );
    // What the deletes and the copy left dirty is written out before the next variant is timed.
    await sh('sync');
  }
}

const cleanups = new Cleanups();

async function main(conn: Connection): Promise<void> {
  cleanups.push(async () => fs.rmSync(lockDir, { recursive: true, force: true }));
  const loadStart = os.loadavg();
  try {
    const name = tag;
    const { domain } = await benchSource(conn, cleanups, {
      root,
      srcDir,
      bakDir,
      name,
      size: diskSize,
    });
    // Restored clones get new names from the bench's tag; any one a failure left behind goes too.
    cleanups.push(async () => {
      for (let i = 1; i <= restores; i++)
        for (const kind of ['normal', 'live'])
          await removeDomain(conn, `${tag}-${kind}-${i}`).catch(() => undefined);
    });
    await domain.create();

    const defaults: BackupDefaults = { pool: path.basename(bakDir), path: bakDir, format: 'qcow2' };
    log(`full backup of ${name} into pool ${defaults.pool} ...`);
    const b0 = performance.now();
    const backup = await createBackup(conn, name, { defaults, lockDir });
    log(`full backup ${backup.set.id}: ${seconds(performance.now() - b0)} s`);
    // The source domain is not needed any more: it stops, so that only the restored clones run.
    await domain.destroy();
    const backupFile = path.join(bakDir, backup.set.disks[0].volume!.name);
    const stored = (await sh('qemu-img', ['info', '--output=json', '-U', backupFile])).stdout;
    log(`backup volume: ${(JSON.parse(stored) as { 'actual-size': number })['actual-size']} bytes on disk`);
    await sh('sync');

    const ctx: Ctx = { conn, setId: backup.set.id, pool: defaults.pool };
    const normal: number[] = [];
    const live: number[] = [];
    const liveCopied: number[] = [];
    const loads: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 ? ['live', 'normal'] : ['normal', 'live'];
      for (const which of order) {
        loads.push(os.loadavg()[0]);
        log(`rep ${rep + 1}/${reps}: ${which} restore`);
        const r = await restoreOnce(ctx, which === 'live');
        if (which === 'live') {
          live.push(r.toRunning);
          liveCopied.push(r.copied!);
          log(`  running after ${seconds(r.toRunning)} s, copy complete after ${seconds(r.copied!)} s`);
        } else {
          normal.push(r.toRunning);
          log(`  running after ${seconds(r.toRunning)} s`);
        }
      }
    }
    const loadEnd = os.loadavg();

    const mNormal = median(normal);
    const mLive = median(live);
    console.table([
      {
        what: 'normal restore: call to a running domain',
        medianS: seconds(mNormal),
        runsS: normal.map(seconds),
      },
      { what: 'live restore: call to a running domain', medianS: seconds(mLive), runsS: live.map(seconds) },
      {
        what: 'live: copy complete after (from the call)',
        medianS: seconds(median(liveCopied)),
        runsS: liveCopied.map(seconds),
      },
    ]);
    console.log(`ratio normal/live (time to a running domain): ${(mNormal / mLive).toFixed(1)}×`);
    console.log(`ratio live/normal: ${(mLive / mNormal).toFixed(4)}`);
    console.log(
      `load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadEnd
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      JSON.stringify({
        diskGiB: diskSize / GiB,
        reps,
        normalS: normal.map(seconds),
        liveS: live.map(seconds),
        liveCopiedS: liveCopied.map(seconds),
        medianNormalS: seconds(mNormal),
        medianLiveS: seconds(mLive),
        medianLiveCopiedS: seconds(median(liveCopied)),
        ratioNormalToLive: +(mNormal / mLive).toFixed(2),
        ratioLiveToNormal: +(mLive / mNormal).toFixed(4),
        loadAverageStart: loadStart,
        loadAverageEnd: loadEnd,
        loadAverage1m: {
          min: Math.min(...loads),
          median: +median(loads).toFixed(2),
          max: Math.max(...loads),
        },
      }),
    );
  } finally {
    await cleanups.run();
  }
}

runBench(main);
