// Bench: stored bytes and time of volback's uncompressed full backup, its zstd full backup
// (docs/compression.md) and `qemu-img convert -c -O qcow2 -o compression_type=zstd` of the same disk,
// in one run, on a disk of mixed real data: an ext4 filesystem (`mkfs.ext4 -d`) holding text from
// /usr/share, binaries from /usr/bin and random bytes. Variants alternate; medians and ratios against
// the uncompressed backup are reported.
//   npx tsc -p tsconfig.json && node dist/bench/compression.js [repetitions] [disk MiB]     (as root)
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Connection, StoragePool } from '../src/libvirt';
import { createBackup } from '../src/core/backup/coordinator';
import { dropVolbackCheckpoints } from '../src/core/shared/checkpoints';
import type { Compression } from '../src/model';
import { benchSource, Cleanups, log, median, runBench, sh } from './common';

const reps = Number(process.argv[2] ?? 3);
const MiB = 1024 ** 2;
const diskSize = Number(process.argv[3] ?? 512) * MiB;
const tag = `vbbench-zstd-${process.pid}`;
const root = '/var/lib/volback-bench';
const srcDir = path.join(root, `${tag}-src`);
const bakDir = path.join(root, `${tag}-bak`);
const lockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-bench-locks-'));

/** Bytes a file takes on disk (its allocated blocks), and its length. */
const footprint = (file: string): { stored: number; length: number } => {
  const st = fs.statSync(file);
  return { stored: st.blocks * 512, length: st.size };
};

/** Copies regular files under `from` into `to` (same relative paths) while `pick` says so, up to `budget` bytes. */
function copyTree(
  from: string,
  to: string,
  budget: number,
  pick: (file: string, size: number) => boolean,
): number {
  let used = 0;
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (used >= budget) return;
      const file = path.join(dir, e.name);
      if (e.isDirectory()) walk(file);
      else if (e.isFile()) {
        const size = fs.statSync(file).size;
        if (size === 0 || used + size > budget || !pick(file, size)) continue;
        const dest = path.join(to, path.relative(from, file));
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.copyFileSync(file, dest);
        used += size;
      }
    }
  };
  walk(from);
  return used;
}

/** Already compressed or binary formats are left out of the "text" part. */
const TEXTLIKE = (file: string): boolean =>
  !/\.(gz|xz|bz2|zst|lz4|zip|png|jpe?g|gif|ico|mo|ttf|otf|woff2?|pyc)$/i.test(file);

/**
 * The mixed disk: about a quarter each of text (/usr/share, uncompressed formats), binaries
 * (/usr/bin) and random bytes, as files of an ext4 filesystem filling the disk, converted to qcow2.
 */
async function fillMixedQcow2(rawPath: string, qcowPath: string, size: number): Promise<void> {
  const tree = fs.mkdtempSync(path.join(path.dirname(rawPath), 'tree-'));
  try {
    const quarter = Math.floor(size / 4);
    const text = copyTree(
      '/usr/share',
      path.join(tree, 'share'),
      quarter,
      (f, n) => TEXTLIKE(f) && n < 4 * MiB,
    );
    const bins = copyTree('/usr/bin', path.join(tree, 'bin'), quarter, () => true);
    const random = Math.floor(quarter / MiB) * MiB;
    const fd = fs.openSync(path.join(tree, 'random.bin'), 'w');
    try {
      for (let off = 0; off < random; off += MiB) fs.writeSync(fd, randomBytes(MiB));
    } finally {
      fs.closeSync(fd);
    }
    log(
      `mixed data: ${(text / MiB).toFixed(0)} MiB text, ${(bins / MiB).toFixed(0)} MiB binaries, ${random / MiB} MiB random`,
    );
    await sh('mkfs.ext4', ['-q', '-F', '-d', tree, rawPath, `${size / 1024}k`]);
  } finally {
    fs.rmSync(tree, { recursive: true, force: true });
  }
  await sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=1.1', rawPath, qcowPath]);
  fs.rmSync(rawPath);
}

const fsyncFile = (file: string): void => {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
};

interface Sample {
  wall: number;
  /** The copy alone (volback: from its `copying` phase to the next one). */
  copy: number;
  /** volback: its checksum read-back (the `checksums` phase); 0 for qemu-img. */
  sums: number;
  stored: number;
  length: number;
}

/** Every volume of the backup pool deleted through libvirt (the next catalog scan finds none gone). */
async function emptyBackupPool(pool: StoragePool): Promise<void> {
  await pool.refresh();
  for (const vol of await pool.listAllVolumes()) {
    await vol.delete().catch(() => undefined);
    vol.free();
  }
}

async function volbackFull(
  conn: Connection,
  bakPool: StoragePool,
  name: string,
  compression: Compression,
  srcPath: string,
  check: boolean,
): Promise<Sample> {
  const at: Record<string, number> = {};
  const pool = path.basename(bakDir);
  const t0 = performance.now();
  const result = await createBackup(conn, name, {
    definition: { mode: 'push', kind: 'full', disks: [], compression, location: { pool, path: bakDir } },
    defaults: { pool, path: bakDir, format: 'qcow2' },
    lockDir,
    onProgress: (p) => void (at[p.phase] ??= performance.now()),
  });
  const wall = performance.now() - t0;
  const file = path.join(bakDir, result.set.disks[0].volume!.name);
  fsyncFile(file);
  // The domain idles (no guest OS): the live disk still holds the backup's point in time.
  if (check) await sh('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', srcPath, file]);
  const sample = {
    wall,
    copy: (at.checksums ?? at.committing) - at.copying,
    sums: at.checksums === undefined ? 0 : at.committing - at.checksums,
    ...footprint(file),
  };
  const domain = await conn.lookupDomainByName(name);
  try {
    await dropVolbackCheckpoints(domain);
  } finally {
    domain.free();
  }
  await emptyBackupPool(bakPool);
  return sample;
}

async function qemuImgZstd(srcPath: string, check: boolean): Promise<Sample> {
  const target = path.join(bakDir, 'convert-zstd.qcow2');
  try {
    const t0 = performance.now();
    await sh('qemu-img', [
      'convert',
      '-U',
      '-c',
      '-f',
      'qcow2',
      '-O',
      'qcow2',
      '-o',
      'compat=1.1,compression_type=zstd',
      srcPath,
      target,
    ]);
    fsyncFile(target);
    const wall = performance.now() - t0;
    if (check) await sh('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', srcPath, target]);
    return { wall, copy: wall, sums: 0, ...footprint(target) };
  } finally {
    fs.rmSync(target, { force: true });
  }
}

async function main(conn: Connection): Promise<void> {
  const cleanups = new Cleanups();
  const name = tag;
  try {
    const { bakPool, srcPath, domain } = await benchSource(
      conn,
      cleanups,
      { root, srcDir, bakDir, name, size: diskSize },
      fillMixedQcow2,
    );
    cleanups.push(async () => fs.rmSync(lockDir, { recursive: true, force: true }));
    await domain.create();
    const source = footprint(srcPath);
    log(`source: ${diskSize / MiB} MiB virtual, ${(source.stored / MiB).toFixed(1)} MiB stored`);
    // One untimed read, so every variant reads from the page cache.
    await sh('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', srcPath, '/dev/null']).catch(
      () => undefined,
    );
    const variants: Array<[string, (check: boolean) => Promise<Sample>]> = [
      ['volback full, uncompressed', (c) => volbackFull(conn, bakPool, name, 'none', srcPath, c)],
      ['volback full, zstd', (c) => volbackFull(conn, bakPool, name, 'zstd', srcPath, c)],
      ['qemu-img convert -c (zstd)', (c) => qemuImgZstd(srcPath, c)],
    ];
    const samples = new Map<string, Sample[]>(variants.map(([label]) => [label, []]));
    for (let rep = 0; rep < reps; rep++) {
      for (let i = 0; i < variants.length; i++) {
        const [label, run] = variants[(i + rep) % variants.length];
        const s = await run(rep === 0); // the first repetition checks every copy against the disk
        samples.get(label)!.push(s);
        log(
          `${label}: ${(s.wall / 1000).toFixed(2)} s (copy ${(s.copy / 1000).toFixed(2)} s, checksums ${(s.sums / 1000).toFixed(2)} s), ${(s.stored / MiB).toFixed(1)} MiB stored`,
        );
      }
    }
    // The copy is what compression changes; the whole call also scans every pool's catalog (on a
    // shared host, other users' pools too), so its wall time is reported but not the ratio's basis.
    const base = samples.get(variants[0][0])!;
    const of = (list: Sample[], k: keyof Sample): number => median(list.map((s) => s[k]));
    const sec = (ms: number): string => (ms / 1000).toFixed(2);
    console.log(
      '| variant | stored MiB | stored vs uncompressed | copy s | copy vs uncompressed | checksums s | whole call s |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const [label, list] of samples) {
      const volback = label.startsWith('volback');
      console.log(
        `| ${label} | ${(of(list, 'stored') / MiB).toFixed(1)} | ${(of(list, 'stored') / of(base, 'stored')).toFixed(2)} | ${sec(of(list, 'copy'))} | ${(of(list, 'copy') / of(base, 'copy')).toFixed(2)} | ${volback ? sec(of(list, 'sums')) : '-'} | ${sec(of(list, 'wall'))} |`,
      );
    }
    console.log(
      `source: ${diskSize / MiB} MiB virtual, ${(source.stored / MiB).toFixed(1)} MiB stored; ${reps} repetitions, medians`,
    );
  } finally {
    await cleanups.run();
  }
}

runBench(main);
