// The qcow2 reader against real images made by qemu-img/qemu-io: its map and bytes must be QEMU's own.
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isVolbackError } from '../../src/errors';
import {
  MAX_COALESCED_READ,
  Qcow2FormatError,
  layeredReader,
  openQcow2,
  rawGuestReader,
  type ByteSource,
  type GuestExtent,
  type GuestReader,
  type Qcow2Image,
} from '../../src/formats/qcow2';

let dir: string;
const open: fsp.FileHandle[] = [];

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'volback-qcow2-'));
});
afterAll(async () => {
  await Promise.all(open.map((h) => h.close()));
  await fsp.rm(dir, { recursive: true, force: true });
});

const file = (name: string): string => path.join(dir, name);
const tool = (cmd: string, ...args: string[]): string =>
  execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** `qemu-img create -q -f FORMAT [-o OPTIONS] [-b BACKING -F BACKING_FORMAT] NAME SIZE`. */
const create = (
  name: string,
  size: string | undefined,
  opts: { format?: string; options?: string; backing?: [string, string] } = {},
): string =>
  tool(
    'qemu-img',
    'create',
    '-q',
    '-f',
    opts.format ?? 'qcow2',
    ...(opts.options ? ['-o', opts.options] : []),
    ...(opts.backing ? ['-b', opts.backing[0], '-F', opts.backing[1]] : []),
    name,
    ...(size === undefined ? [] : [size]),
  );
/** qemu-io commands on one image, each `-c`. */
const io = (image: string, format: string, ...commands: string[]): string =>
  tool('qemu-io', '-f', format, ...commands.flatMap((c) => ['-c', c]), image);

/** A ByteSource over a local file that records every read it serves. */
interface CountingSource extends ByteSource {
  reads: Array<{ offset: number; length: number }>;
}
async function fileSource(name: string): Promise<CountingSource> {
  const handle = await fsp.open(file(name), 'r');
  open.push(handle);
  const { size } = await handle.stat();
  const reads: CountingSource['reads'] = [];
  return {
    size,
    reads,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > size)
        throw new Error(`read ${offset}+${length} past ${size}`);
      reads.push({ offset, length });
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    },
  };
}

/** What qemu-img map says this one layer stores, its backing cut off: the reader's expected layerExtents(). */
function qemuLayerMap(name: string): GuestExtent[] {
  const spec = JSON.stringify({
    driver: 'qcow2',
    file: { driver: 'file', filename: file(name) },
    backing: null,
  });
  return mergeMap(JSON.parse(tool('qemu-img', 'map', '--output=json', `json:${spec}`)), () => true);
}

/** The same from the plain map over the whole chain: entries at depth 0 are the top layer's own. */
function qemuTopOfChainMap(name: string): GuestExtent[] {
  return mergeMap(
    JSON.parse(tool('qemu-img', 'map', '--output=json', '-f', 'qcow2', file(name))),
    (e) => e.depth === 0,
  );
}

interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
}
function mergeMap(entries: MapEntry[], mine: (e: MapEntry) => boolean): GuestExtent[] {
  const out: GuestExtent[] = [];
  for (const e of entries) {
    if (!mine(e) || !e.present) continue;
    const kind = e.data ? 'data' : 'zero';
    const last = out[out.length - 1];
    if (last && last.kind === kind && last.start + last.length === e.start) last.length += e.length;
    else out.push({ start: e.start, length: e.length, kind });
  }
  return out;
}

/** The whole guest disk as qemu-img converts it to raw. */
async function qemuGuestBytes(name: string, format = 'qcow2'): Promise<Buffer> {
  const raw = file(`${name}.expected.raw`);
  tool('qemu-img', 'convert', '-f', format, '-O', 'raw', file(name), raw);
  return fsp.readFile(raw);
}

/** Deterministic pseudo-random numbers, so a failing range can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** `length` bytes that do not compress, the same for the same seed. */
function pseudoRandom(seed: number, length: number): Buffer {
  const next = prng(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4) out.writeUInt32LE(Math.floor(next() * 2 ** 32), i);
  return out;
}

/** Reads the whole disk in uneven pieces, plus unaligned random ranges, and compares with `expected`. */
async function expectSameGuestBytes(reader: GuestReader, expected: Buffer): Promise<void> {
  expect(reader.size).toBe(expected.length);
  const pieces: Buffer[] = [];
  for (let pos = 0, k = 0; pos < expected.length; k++) {
    const length = Math.min(expected.length - pos, [3 * 1024 * 1024 + 7, 511, 65537, 1][k % 4]);
    pieces.push(await reader.read(pos, length));
    pos += length;
  }
  expect(Buffer.concat(pieces).equals(expected)).toBe(true);
  const random = prng(expected.length);
  for (let k = 0; k < 40; k++) {
    const start = Math.floor(random() * expected.length);
    const length = Math.floor(random() * Math.min(300_000, expected.length - start));
    const got = await reader.read(start, length);
    if (!got.equals(expected.subarray(start, start + length)))
      throw new Error(`guest bytes differ in ${start}+${length}`);
  }
}

/** Writes the same mix into any image: patterns at odd places, zero clusters (v3), an unmapped zero write. */
function scribble(name: string, clusterSize: number, size: number): void {
  io(
    name,
    'qcow2',
    `write -P 0x41 0 ${clusterSize * 3}`,
    `write -P 0x42 ${clusterSize * 5 + 512} 1536`,
    `write -z ${clusterSize * 8} ${clusterSize * 2}`,
    `write -P 0x43 ${size - clusterSize * 2} ${clusterSize}`,
    `write -P 0x44 ${clusterSize * 12} ${clusterSize * 4}`,
    `write -z -u ${clusterSize * 13} ${clusterSize}`,
    `write -P 0x45 ${clusterSize * 1} 4096`,
  );
}

describe('single qcow2 images', () => {
  const cases = [
    { compat: '0.10', clusterSize: 4096 },
    { compat: '0.10', clusterSize: 65536 },
    { compat: '0.10', clusterSize: 2 * 1024 * 1024 },
    { compat: '1.1', clusterSize: 4096 },
    { compat: '1.1', clusterSize: 65536 },
    { compat: '1.1', clusterSize: 2 * 1024 * 1024 },
    { compat: '1.1', clusterSize: 512 },
  ];
  it.each(cases)('compat $compat, $clusterSize-byte clusters: map and bytes are QEMU’s', async (c) => {
    const name = `single-${c.compat}-${c.clusterSize}.qcow2`;
    // A size that is not a whole number of clusters, so the last cluster is cut short.
    const size = c.clusterSize * 40 + 1536;
    create(name, `${size}`, { options: `compat=${c.compat},cluster_size=${c.clusterSize}` });
    scribble(name, c.clusterSize, size);

    const image = await openQcow2(await fileSource(name), name);
    expect(image).toMatchObject({
      virtualSize: size,
      clusterSize: c.clusterSize,
      version: c.compat === '0.10' ? 2 : 3,
    });
    expect(image.backing).toBeUndefined();
    const extents = await image.layerExtents();
    expect(extents).toEqual(qemuLayerMap(name));
    if (c.compat === '1.1') expect(extents.some((e) => e.kind === 'zero')).toBe(true);
    await expectSameGuestBytes(layeredReader(image), await qemuGuestBytes(name));
  });

  it('coalesces host-contiguous clusters into reads of at most MAX_COALESCED_READ, each L2 table read once', async () => {
    const name = 'contiguous.qcow2';
    tool('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=65536', name, '16M');
    io(name, 'qcow2', 'write -P 0x5a 0 10M');
    const source = await fileSource(name);
    const image = await openQcow2(source, name);
    source.reads.length = 0;
    const bytes = await image.read(0, 16 * 1024 * 1024);
    expect(bytes.subarray(0, 10 * 1024 * 1024).every((b) => b === 0x5a)).toBe(true);
    expect(bytes.subarray(10 * 1024 * 1024).every((b) => b === 0)).toBe(true);
    const l2Reads = source.reads.filter((r) => r.length === 65536);
    const dataReads = source.reads.filter((r) => r.length !== 65536);
    expect(l2Reads).toHaveLength(1);
    expect(dataReads.map((r) => r.length)).toEqual([MAX_COALESCED_READ, MAX_COALESCED_READ, 2 * 1024 * 1024]);
  });

  it('does not join guest-adjacent clusters stored out of order, and serves concurrent reads', async () => {
    const name = 'reversed.qcow2';
    tool('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=65536', name, '1M');
    io(name, 'qcow2', ...[3, 2, 1, 0].map((c) => `write -P 0x${(0x60 + c).toString(16)} ${c * 65536} 64k`));
    const image = await openQcow2(await fileSource(name), name);
    const expected = await qemuGuestBytes(name);
    await expectSameGuestBytes(layeredReader(image), expected);
    const ranges = [0, 1, 2, 3, 4, 5].map((k) => ({ start: k * 40_000 + 17, length: 70_000 }));
    const got = await Promise.all(ranges.map((r) => image.read(r.start, r.length)));
    ranges.forEach((r, k) =>
      expect(got[k].equals(expected.subarray(r.start, r.start + r.length))).toBe(true),
    );
  });

  it('accepts the longer L1 table QEMU leaves after a shrink, ignoring entries past the disk', async () => {
    const name = 'shrunk.qcow2';
    tool('qemu-img', 'create', '-q', '-f', 'qcow2', name, '2G');
    io(name, 'qcow2', 'write -P 0x71 1G 64k', 'write -P 0x72 100M 64k');
    tool('qemu-img', 'resize', '-q', '--shrink', name, '512M');
    expect((await fsp.readFile(file(name))).readUInt32BE(36)).toBe(4); // the L1 for 2 GiB stays
    const image = await openQcow2(await fileSource(name), name);
    expect(image.virtualSize).toBe(512 * 1024 * 1024);
    expect(await image.layerExtents()).toEqual(qemuLayerMap(name));
    expect(await image.layerExtents()).toEqual([{ start: 100 * 1024 * 1024, length: 65536, kind: 'data' }]);
  });

  it('opens a 256 TiB disk reading only its header and L1 table', async () => {
    const name = 'huge.qcow2';
    tool('qemu-img', 'create', '-q', '-f', 'qcow2', name, '256T');
    io(name, 'qcow2', `write -P 0x61 ${2 ** 47} 64k`);
    const source = await fileSource(name);
    const image = await openQcow2(source, name);
    expect(image.virtualSize).toBe(2 ** 48);
    expect(await image.layerExtents()).toEqual([{ start: 2 ** 47, length: 65536, kind: 'data' }]);
    const read = source.reads.reduce((sum, r) => sum + r.length, 0);
    expect(read).toBeLessThan(4 * 1024 * 1024 + 256 * 1024); // the 4 MiB L1, the header cluster, one L2
    expect((await image.read(2 ** 47 - 1, 2)).equals(Buffer.from([0, 0x61]))).toBe(true);
  });
});

describe('backing chains', () => {
  it('an overlay on a shorter raw backing: its own map, and the chain’s bytes', async () => {
    tool('qemu-img', 'create', '-q', '-f', 'raw', 'base.raw', '3M');
    io('base.raw', 'raw', 'write -P 0x11 0 3M');
    create('over-raw.qcow2', '4M', { options: 'cluster_size=4096', backing: ['base.raw', 'raw'] });
    io(
      'over-raw.qcow2',
      'qcow2',
      'write -P 0x22 100000 9000',
      'write -z 1M 64k',
      'write -z -u 0 4k',
      'write -P 0x23 3583k 2k',
    );

    const top = await openQcow2(await fileSource('over-raw.qcow2'), 'over-raw.qcow2');
    expect(top.backing).toEqual({ file: 'base.raw', format: 'raw' });
    const extents = await top.layerExtents();
    expect(extents).toEqual(qemuLayerMap('over-raw.qcow2'));
    expect(extents).toEqual(qemuTopOfChainMap('over-raw.qcow2'));
    const chain = layeredReader(top, rawGuestReader(await fileSource('base.raw')));
    await expectSameGuestBytes(chain, await qemuGuestBytes('over-raw.qcow2'));
  });

  it('a chain of three qcow2 layers of different versions and cluster sizes', async () => {
    tool('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=65536', 'c-base.qcow2', '12M');
    io('c-base.qcow2', 'qcow2', 'write -P 0x31 0 12M');
    create('c-mid.qcow2', undefined, {
      options: 'compat=0.10,cluster_size=4096',
      backing: ['c-base.qcow2', 'qcow2'],
    });
    io('c-mid.qcow2', 'qcow2', 'write -P 0x32 1000 3M', 'write -z 5M 1M', 'write -P 0x33 11M 4k');
    create('c-top.qcow2', undefined, { options: 'cluster_size=2M', backing: ['c-mid.qcow2', 'qcow2'] });
    io('c-top.qcow2', 'qcow2', 'write -P 0x34 2M 1234', 'write -z 8M 2M', 'write -z -u 10M 2M');

    const layers: Qcow2Image[] = [];
    for (const name of ['c-base.qcow2', 'c-mid.qcow2', 'c-top.qcow2']) {
      const image = await openQcow2(await fileSource(name), name);
      expect(await image.layerExtents()).toEqual(qemuLayerMap(name));
      layers.push(image);
    }
    expect(layers.map((l) => l.backing)).toEqual([
      undefined,
      { file: 'c-base.qcow2', format: 'qcow2' },
      { file: 'c-mid.qcow2', format: 'qcow2' },
    ]);
    expect(await layers[2].layerExtents()).toEqual(qemuTopOfChainMap('c-top.qcow2'));
    const chain = layers.reduce<GuestReader | undefined>(
      (below, image) => layeredReader(image, below),
      undefined,
    )!;
    await expectSameGuestBytes(chain, await qemuGuestBytes('c-top.qcow2'));
  });
});

describe('compressed clusters', () => {
  const cases = [
    { type: 'zlib', clusterSize: 65536 },
    { type: 'zstd', clusterSize: 65536 },
    { type: 'zstd', clusterSize: 4096 },
    { type: 'zstd', clusterSize: 2 * 1024 * 1024 },
  ];
  it.each(cases)('$type, $clusterSize-byte clusters: map and bytes are QEMU’s', async (c) => {
    const name = `compressed-${c.type}-${c.clusterSize}.qcow2`;
    const size = c.clusterSize * 24 + 1536;
    // Patterns (they compress), random clusters (QEMU stores them uncompressed), zeros and a short last cluster.
    create(`${name}.src`, `${size}`, { options: `cluster_size=${c.clusterSize}` });
    scribble(`${name}.src`, c.clusterSize, size);
    await fsp.writeFile(file(`${name}.rand`), pseudoRandom(c.clusterSize, c.clusterSize * 2));
    io(`${name}.src`, 'qcow2', `write -s ${file(`${name}.rand`)} ${c.clusterSize * 17} ${c.clusterSize * 2}`);
    const options = `cluster_size=${c.clusterSize},compression_type=${c.type}`;
    tool('qemu-img', ...'convert -c -f qcow2 -O qcow2 -o'.split(' '), options, `${name}.src`, name);

    const image = await openQcow2(await fileSource(name), name);
    const extents = await image.layerExtents();
    expect(extents).toEqual(qemuLayerMap(name));
    const check = JSON.parse(tool('qemu-img', 'check', '--output=json', file(name))) as Record<
      string,
      number
    >;
    expect(check['compressed-clusters']).toBeGreaterThan(0);
    expect(check['compressed-clusters']).toBeLessThan(check['allocated-clusters']);
    await expectSameGuestBytes(layeredReader(image), await qemuGuestBytes(name));
  });

  it('a chain of a compressed full and an overlay of compressed writes (zstd), as volback stores one', async () => {
    const options = 'compat=1.1,compression_type=zstd';
    create('z-base.qcow2', '4M', { options });
    io('z-base.qcow2', 'qcow2', 'write -c -P 0x31 0 1M', 'write -c -P 0x32 2M 64k');
    create('z-top.qcow2', undefined, { options, backing: ['z-base.qcow2', 'qcow2'] });
    io('z-top.qcow2', 'qcow2', 'write -c -P 0x33 512k 128k', 'write -z 2M 64k', 'write -c -P 0x34 3M 64k');

    const base = await openQcow2(await fileSource('z-base.qcow2'), 'z-base.qcow2');
    const top = await openQcow2(await fileSource('z-top.qcow2'), 'z-top.qcow2');
    expect(await top.layerExtents()).toEqual(qemuLayerMap('z-top.qcow2'));
    await expectSameGuestBytes(layeredReader(top, layeredReader(base)), await qemuGuestBytes('z-top.qcow2'));
  });
});

describe('hostile images', () => {
  /** A fresh real v3 image (64 KiB clusters, one written cluster) to forge copies from. */
  async function original(
    name: string,
    options = 'cluster_size=65536',
    extra: string[] = [],
  ): Promise<Buffer> {
    tool('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', options, ...extra, name, '8M');
    io(name, 'qcow2', 'write -P 0x77 64k 64k');
    return fsp.readFile(file(name));
  }
  /** Writes `bytes` as `name` and returns what opening it, listing its map and reading it all throws. */
  async function failureOf(name: string, bytes: Buffer): Promise<Qcow2FormatError> {
    await fsp.writeFile(file(name), bytes);
    const source = await fileSource(name);
    try {
      const image = await openQcow2(source, name);
      await image.layerExtents();
      await image.read(0, image.virtualSize);
    } catch (err) {
      expect(err).toBeInstanceOf(Qcow2FormatError);
      expect(isVolbackError(err, 'ERR_XML_INVALID')).toBe(true);
      expect((err as Qcow2FormatError).fault).toBe('system');
      expect((err as Error).message).toContain(name);
      // However the file lies, the reader never asks for more than the L1 limit at once.
      expect(Math.max(0, ...source.reads.map((r) => r.length))).toBeLessThanOrEqual(32 * 1024 * 1024);
      return err as Qcow2FormatError;
    }
    throw new Error(`${name} was accepted`);
  }
  const forged = (base: Buffer, edit: (b: Buffer) => void): Buffer => {
    const copy = Buffer.from(base);
    edit(copy);
    return copy;
  };
  const l1Offset = (b: Buffer): number => Number(b.readBigUInt64BE(40));
  const l2Offset = (b: Buffer): number => Number(b.readBigUInt64BE(l1Offset(b)) & 0x00fffffffffffe00n);

  it('refuses forged header fields, naming the field and its offset', async () => {
    const real = await original('real.qcow2');
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      ['magic', (b) => b.write('QFJ', 0, 'latin1'), /magic: not a qcow2 file \(file offset 0\)/],
      ['version', (b) => b.writeUInt32BE(4, 4), /version 4 is not supported/],
      [
        'crypt',
        (b) => b.writeUInt32BE(1, 32),
        /crypt_method 1: only plain \(0\) and LUKS \(2\) images are read/,
      ],
      [
        'dirty',
        (b) => b.writeBigUInt64BE(1n, 72),
        /incompatible_features dirty: not supported \(file offset 72\)/,
      ],
      ['extl2', (b) => b.writeBigUInt64BE(1n << 4n, 72), /incompatible_features extended L2/],
      ['unknown-bit', (b) => b.writeBigUInt64BE(1n << 40n, 72), /incompatible_features bit 40/],
      ['cluster-bits', (b) => b.writeUInt32BE(22, 20), /cluster_bits 22 is outside 9\.\.21/],
      ['header-length', (b) => b.writeUInt32BE(105, 100), /header_length 105/],
      ['compression', (b) => b.writeUInt8(1, 104), /compression_type 1/],
      ['l1-eof', (b) => b.writeBigUInt64BE(BigInt(b.length + 65536), 40), /L1 table at \d+ .* outside/],
      [
        'l1-unaligned',
        (b) => b.writeBigUInt64BE(BigInt(l1Offset(b) + 512), 40),
        /l1_table_offset \d+ is not cluster aligned/,
      ],
      [
        'size-unsafe',
        (b) => b.writeBigUInt64BE(1n << 60n, 24),
        /size \d+ is out of range \(file offset 24\)/,
      ],
      [
        'size-tiny-l1',
        (b) => b.writeBigUInt64BE(1n << 50n, 24),
        /l1_size 1 is too small: size \d+ needs 2097152/,
      ],
      ['l1-huge', (b) => b.writeUInt32BE(0xffffffff, 36), /l1_size 4294967295 is above/],
      [
        'l2-unaligned',
        (b) => b.writeBigUInt64BE(b.readBigUInt64BE(l1Offset(b)) + 512n, l1Offset(b)),
        /L1 entry 0: L2 table offset \d+ is not cluster aligned/,
      ],
      [
        'l2-eof',
        (b) => b.writeBigUInt64BE((1n << 63n) | BigInt(b.length + 65536 * 4), l1Offset(b)),
        /L1 entry 0: L2 table at \d+ is past the end/,
      ],
      [
        'l1-reserved',
        (b) => b.writeUInt8(b[l1Offset(b) + 7] | 1, l1Offset(b) + 7),
        /L1 entry 0 has reserved bits set/,
      ],
      [
        'data-eof',
        (b) => b.writeBigUInt64BE((1n << 63n) | BigInt(b.length + 65536 * 8), l2Offset(b) + 8),
        /L2 entry for guest offset 65536: data offset \d+ is past the end/,
      ],
      [
        'data-unaligned',
        (b) => b.writeBigUInt64BE((1n << 63n) | 0x30200n, l2Offset(b) + 8),
        /data offset 197120 is not cluster aligned/,
      ],
      [
        'l2-reserved',
        (b) => b.writeUInt8(b[l2Offset(b) + 15] | 2, l2Offset(b) + 15),
        /L2 entry for guest offset 65536: reserved bits are set/,
      ],
      ['truncated', (b) => b.fill(0, 50), /magic|header/],
    ];
    for (const [label, edit, expected] of cases) {
      const name = `forged-${label}.qcow2`;
      const bytes = label === 'truncated' ? real.subarray(0, 50) : forged(real, edit);
      const err = await failureOf(name, bytes);
      expect(`${label}: ${err.message}`).toMatch(new RegExp(`^${label}: .*${expected.source}`));
    }
  });

  it('names the file offset of a bad table entry', async () => {
    const real = await original('offsets.qcow2');
    const l2 = l2Offset(real);
    const err = await failureOf(
      'offsets-bad.qcow2',
      forged(real, (b) => b.writeUInt8(b[l2 + 15] | 2, l2 + 15)),
    );
    expect(err.fileOffset).toBe(l2 + 8);
  });

  it('refuses L1 entries that share one L2 table', async () => {
    const real = await original('shared-l2.qcow2', 'cluster_size=4096'); // 4 L1 entries, the first in use
    const err = await failureOf(
      'shared-l2-forged.qcow2',
      forged(real, (b) => b.writeBigUInt64BE(b.readBigUInt64BE(l1Offset(b)), l1Offset(b) + 8)),
    );
    expect(err.message).toMatch(/L1 table: two entries share the L2 table at \d+/);
  });

  it('refuses compressed clusters it cannot trust, naming the cluster', async () => {
    // Half random (stored as is), half patterns (compressed), so the image has both kinds.
    await fsp.writeFile(
      file('to-compress.raw'),
      Buffer.concat([pseudoRandom(1, 2 * 65536), Buffer.alloc(6 * 65536, 0x61)]),
    );
    tool(
      'qemu-img',
      'convert',
      '-c',
      '-f',
      'raw',
      '-O',
      'qcow2',
      '-o',
      'compression_type=zstd',
      'to-compress.raw',
      'zstd.qcow2',
    );
    const real = await fsp.readFile(file('zstd.qcow2'));
    const entry = l2Offset(real) + 2 * 8; // guest cluster 2: the first compressed one
    expect(real.readUInt8(entry) & 0x40).toBe(0x40);
    const shift = 62n - (16n - 8n);
    const host = Number(real.readBigUInt64BE(entry) & ((1n << shift) - 1n));
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      [
        'garbled',
        (b) => b.fill(0xee, host, host + 16),
        new RegExp(`compressed cluster \\(\\d+ bytes, zstd\\): zstd: .* \\(file offset ${host}\\)`),
      ],
      [
        'copied',
        (b) => b.writeUInt8(b[entry] | 0x80, entry),
        /L2 entry for guest offset 131072: a compressed cluster has the copied flag/,
      ],
      [
        'outside',
        (b) => b.writeBigUInt64BE((1n << 62n) | BigInt(b.length + 4096), entry),
        /L2 entry for guest offset 131072: compressed data offset \d+ is outside the file/,
      ],
      ['wrong-type', (b) => b.writeUInt8(0, 104), /compression_type 0 with its feature bit/],
      ['unknown-type', (b) => b.writeUInt8(2, 104), /compression_type 2 is not zlib \(0\) or zstd \(1\)/],
    ];
    for (const [label, edit, expected] of cases) {
      const err = await failureOf(`zstd-${label}.qcow2`, forged(real, edit));
      expect(`${label}: ${err.message}`).toMatch(new RegExp(`^${label}: .*${expected.source}`));
    }
  });

  it('refuses a zero flag in a version 2 image', async () => {
    const real = await original('v2.qcow2', 'compat=0.10,cluster_size=65536');
    const err = await failureOf(
      'v2-zero.qcow2',
      forged(real, (b) => b.writeUInt8(b[l2Offset(b) + 15] | 1, l2Offset(b) + 15)),
    );
    expect(err.message).toMatch(/zero flag is not valid in a version 2 image/);
  });

  it('refuses backing file names that are too long or not printable, and bad format names', async () => {
    tool('qemu-img', 'create', '-q', '-f', 'raw', 'b.raw', '8M');
    const real = await original('with-backing.qcow2', 'cluster_size=65536', ['-b', 'b.raw', '-F', 'raw']);
    const nameAt = Number(real.readBigUInt64BE(8));
    const formatAt = real.indexOf('raw', 104, 'latin1');
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      ['control', (b) => b.writeUInt8(0x1b, nameAt), /backing file name has control characters/],
      ['not-utf8', (b) => b.writeUInt8(0xff, nameAt), /backing file name is not UTF-8/],
      ['too-long', (b) => b.writeUInt32BE(2000, 16), /backing_file_size 2000 is outside 1\.\.1023/],
      ['past-cluster', (b) => b.writeBigUInt64BE(65536n - 2n, 8), /backing file name at 65534/],
      ['format', (b) => b.write('r\nw', formatAt, 'latin1'), /backing format is not a short format name/],
      [
        'ext-length',
        (b) => b.writeUInt32BE(0x10000, formatAt - 4),
        /length 65536 runs past the extension area/,
      ],
    ];
    for (const [label, edit, expected] of cases) {
      const err = await failureOf(`backing-${label}.qcow2`, forged(real, edit));
      expect(err.message).toMatch(expected);
    }
  });

  it('refuses reads outside the disk as bad input, not as damage', async () => {
    await original('range.qcow2');
    const image = await openQcow2(await fileSource('range.qcow2'), 'range.qcow2');
    await expect(image.read(8 * 1024 * 1024 - 1, 2)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(image.read(-1, 1)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    expect(await image.read(123, 0)).toHaveLength(0);
  });
});
