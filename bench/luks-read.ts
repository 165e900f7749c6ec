// Bench: what decryption costs volback's own qcow2 reader (the remote read path, docs/encryption.md
// "Reading over a remote connection"). One disk of random data, as a plain qcow2 and as a LUKS qcow2
// (QEMU's default cipher, fast key derivation so the open does not dominate), both read whole from
// local files through openQcow2 in 4 MiB steps; `qemu-img convert` of the LUKS image to raw (QEMU's
// own decryption) for comparison. Variants alternate; medians and ratios against the plain read.
//   npx tsc -p tsconfig.json && node dist/bench/luks-read.js [repetitions] [disk MiB]
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openQcow2, type ByteSource } from '../src/formats/qcow2';
import { log, median, sh } from './common';

const reps = Number(process.argv[2] ?? 3);
const MiB = 1024 ** 2;
const size = Number(process.argv[3] ?? 256) * MiB;
const STEP = 4 * MiB;
const PASS = 'bench passphrase';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-bench-luks-'));
const secret = ['--object', `secret,id=k0,data=${PASS}`];

function fileSource(file: string): ByteSource & { close(): void } {
  const fd = fs.openSync(file, 'r');
  return {
    size: fs.fstatSync(fd).size,
    async read(offset, length) {
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, offset);
      return buf;
    },
    close: () => fs.closeSync(fd),
  };
}

/** Seconds to read the whole disk through volback's reader. */
async function readAll(file: string, passphrase?: Buffer): Promise<number> {
  const source = fileSource(file);
  const image = await openQcow2(source, file, passphrase);
  const start = performance.now();
  for (let at = 0; at < size; at += STEP) await image.read(at, Math.min(STEP, size - at));
  const seconds = (performance.now() - start) / 1000;
  image.close();
  source.close();
  return seconds;
}

async function main(): Promise<void> {
  const raw = path.join(dir, 'disk.raw');
  const fd = fs.openSync(raw, 'w');
  for (let at = 0; at < size; at += 64 * MiB)
    fs.writeSync(fd, randomBytes(Math.min(64 * MiB, size - at)), 0, undefined, at);
  fs.closeSync(fd);
  const plain = path.join(dir, 'plain.qcow2');
  const luks = path.join(dir, 'luks.qcow2');
  await sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=1.1', raw, plain]);
  await sh('qemu-img', [
    'convert',
    ...secret,
    '-f',
    'raw',
    '-O',
    'qcow2',
    '-o',
    'compat=1.1,encrypt.format=luks,encrypt.key-secret=k0,encrypt.iter-time=10',
    raw,
    luks,
  ]);
  fs.rmSync(raw);
  const times: Record<string, number[]> = { plain: [], luks: [], qemu: [] };
  for (let r = 0; r < reps; r++) {
    times.plain.push(await readAll(plain));
    times.luks.push(await readAll(luks, Buffer.from(PASS)));
    const out = path.join(dir, 'out.raw');
    const start = performance.now();
    await sh('qemu-img', [
      'convert',
      ...secret,
      '--image-opts',
      `driver=qcow2,file.filename=${luks},encrypt.key-secret=k0`,
      '-O',
      'raw',
      out,
    ]);
    times.qemu.push((performance.now() - start) / 1000);
    fs.rmSync(out);
    log(
      `rep ${r + 1}: plain ${times.plain[r].toFixed(2)} s, luks ${times.luks[r].toFixed(2)} s, qemu-img ${times.qemu[r].toFixed(2)} s`,
    );
  }
  const base = median(times.plain);
  const row = (what: string, t: number[]): string =>
    `| ${what} | ${median(t).toFixed(2)} s | ${(size / MiB / median(t)).toFixed(0)} MiB/s | ${(median(t) / base).toFixed(2)}× |`;
  console.log(`${size / MiB} MiB of random data, ${reps} repetitions, medians\n`);
  console.log('| read | time | rate | vs plain read |\n|---|---:|---:|---:|');
  console.log(row('volback reader, plain qcow2', times.plain));
  console.log(row('volback reader, LUKS qcow2 (decrypting)', times.luks));
  console.log(row('qemu-img convert of the LUKS qcow2 to raw', times.qemu));
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => fs.rmSync(dir, { recursive: true, force: true }));
