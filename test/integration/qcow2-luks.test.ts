// volback's qcow2 reader on LUKS-encrypted images made by qemu-img and written by qemu-io: with the
// passphrase its guest bytes are exactly what QEMU decrypts; without it, with a wrong one, or with a
// forged LUKS header, nothing is read and the error names what is wrong.
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { layeredReader, openQcow2, type ByteSource, type Qcow2Image } from '../../src/formats/qcow2';

const PASS = 'correct horse battery staple';
const MiB = 1024 * 1024;
let dir: string;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'volback-luks-'));
});
afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);
const secretArg = `secret,id=k0,data=${PASS}`;
const tool = (...args: string[]): string =>
  execFileSync(args[0], args.slice(1), { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** An image opened with the key at every layer of its chain, for qemu-io and qemu-img convert. */
const keyed = (name: string, backing?: string): string =>
  `driver=qcow2,file.filename=${file(name)},encrypt.key-secret=k0` +
  (backing
    ? `,backing.driver=qcow2,backing.file.filename=${file(backing)},backing.encrypt.key-secret=k0`
    : '');

/** An encrypted qcow2 with fast key derivation, optionally over `backing`. */
function createLuks(name: string, size: number, opts: { backing?: string; extra?: string } = {}): void {
  const o = [`compat=1.1,encrypt.format=luks,encrypt.key-secret=k0`, 'encrypt.iter-time=10'];
  if (opts.extra) o.push(opts.extra);
  tool(
    'qemu-img',
    'create',
    '-q',
    '--object',
    secretArg,
    '-f',
    'qcow2',
    '-o',
    o.join(','),
    ...(opts.backing ? ['-b', file(opts.backing), '-F', 'qcow2'] : []),
    file(name),
    String(size),
  );
}
const write = (spec: string, ...commands: string[]): string =>
  tool('qemu-io', '--object', secretArg, '--image-opts', ...commands.flatMap((c) => ['-c', c]), spec);
/** What QEMU decrypts: the chain flattened to raw. */
async function qemuGuestBytes(spec: string, out: string): Promise<Buffer> {
  tool('qemu-img', 'convert', '--object', secretArg, '--image-opts', spec, '-O', 'raw', file(out));
  return fsp.readFile(file(out));
}

async function fileSource(name: string): Promise<ByteSource> {
  const bytes = await fsp.readFile(file(name));
  return {
    size: bytes.length,
    read: async (offset, length) => Buffer.from(bytes.subarray(offset, offset + length)),
  };
}
const openLayer = async (name: string, pass: string | null = PASS): Promise<Qcow2Image> =>
  openQcow2(await fileSource(name), name, pass === null ? undefined : Buffer.from(pass));

describe('LUKS-encrypted qcow2 through volback reader', () => {
  const size = 4 * MiB + 512; // not a whole number of clusters
  let base: Qcow2Image;
  let top: Qcow2Image;
  let expectedBase: Buffer;
  let expectedChain: Buffer;

  beforeAll(async () => {
    createLuks('base.qcow2', size);
    write(
      keyed('base.qcow2'),
      'write -P 0xab 65536 131072',
      'write -P 0x5c 1049000 3000',
      `write -P 0x11 ${size - 512} 512`,
    );
    createLuks('top.qcow2', size, { backing: 'base.qcow2' });
    write(keyed('top.qcow2', 'base.qcow2'), 'write -P 0xcd 100000 50000', 'write -z 65536 65536');
    expectedBase = await qemuGuestBytes(keyed('base.qcow2'), 'base.raw');
    expectedChain = await qemuGuestBytes(keyed('top.qcow2', 'base.qcow2'), 'chain.raw');
    base = await openLayer('base.qcow2');
    top = await openLayer('top.qcow2');
  });
  afterAll(() => {
    base?.close();
    top?.close();
  });

  it('reads every guest byte of a layer and of a chain as QEMU decrypts them', async () => {
    expect(base.virtualSize).toBe(size);
    expect((await base.read(0, size)).equals(expectedBase)).toBe(true);
    expect(top.backing?.file).toBe(file('base.qcow2'));
    expect((await layeredReader(top, layeredReader(base)).read(0, size)).equals(expectedChain)).toBe(true);
    // The written patterns are there, so the comparison is not between two blanks.
    expect(expectedChain.subarray(131072, 150000).every((b) => b === 0xcd)).toBe(true);
    expect(expectedChain.subarray(size - 512).every((b) => b === 0x11)).toBe(true);
  });

  it('reads ranges that start and end inside a sector', async () => {
    const chain = layeredReader(top, layeredReader(base));
    for (const [start, length] of [
      [1, 1],
      [65537, 700],
      [99999, 50003],
      [1048999, 3002],
      [size - 513, 513],
    ]) {
      expect((await chain.read(start, length)).equals(expectedChain.subarray(start, start + length))).toBe(
        true,
      );
    }
  });

  it('keeps no plaintext in the file: the patterns are only readable through the key', async () => {
    const raw = await fsp.readFile(file('base.qcow2'));
    expect(raw.includes(Buffer.alloc(4096, 0xab))).toBe(false);
  });

  // Why volback never compresses an encrypted backup, and its reader refuses such a cluster:
  // QEMU 7.2 writes a compressed cluster of a LUKS qcow2 unencrypted, and qemu-img refuses the mix.
  it('finds a compressed cluster QEMU wrote into a LUKS image stored in clear, and refuses it', async () => {
    createLuks('compressed.qcow2', MiB);
    const text = Buffer.from('volback compressed, not encrypted. '.repeat(2000)).subarray(0, 65536);
    await fsp.writeFile(file('text.bin'), text);
    write(keyed('compressed.qcow2'), `write -c -s ${file('text.bin')} 0 64k`);
    const image = await fsp.readFile(file('compressed.qcow2'));
    // Guest cluster 0's L2 entry (L1 table offset at byte 40, cluster bits at 20): compressed (bit
    // 62), its data at the low 62 - (cluster bits - 8) bits. It inflates to the text, no key needed.
    const clusterBits = image.readUInt32BE(20);
    const l2 = Number(image.readBigUInt64BE(Number(image.readBigUInt64BE(40))) & 0x00fffffffffffe00n);
    const entry = image.readBigUInt64BE(l2);
    expect((entry >> 62n) & 1n).toBe(1n);
    const at = Number(entry & ((1n << BigInt(62 - (clusterBits - 8))) - 1n));
    const clear = zlib.inflateRawSync(image.subarray(at, at + 65536), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    expect(clear.subarray(0, 65536).equals(text)).toBe(true);
    const layer = await openLayer('compressed.qcow2');
    try {
      await expect(layer.read(0, 4096)).rejects.toThrow('a compressed cluster in an encrypted image');
    } finally {
      layer.close();
    }
    expect(() =>
      tool(
        'qemu-img',
        'convert',
        '-c',
        '--object',
        secretArg,
        '-O',
        'qcow2',
        '-o',
        'encrypt.format=luks,encrypt.key-secret=k0',
        file('text.bin'),
        file('refused.qcow2'),
      ),
    ).toThrow('Compression and encryption not supported at the same time');
  });

  it('maps a layer without the passphrase but reads no data; a wrong one opens nothing', async () => {
    const locked = await openLayer('base.qcow2', null);
    try {
      expect(await locked.layerExtents()).toEqual(await base.layerExtents());
      expect((await locked.layerExtents()).length).toBeGreaterThan(0);
      await expect(locked.read(65536, 512)).rejects.toThrow(
        "base.qcow2 is encrypted (LUKS): reading its data needs its chain's key",
      );
      expect((await locked.read(0, 512)).equals(Buffer.alloc(512))).toBe(true); // a hole holds nothing secret
    } finally {
      locked.close();
    }
    await expect(openLayer('base.qcow2', 'wrong')).rejects.toThrow(
      'base.qcow2: Invalid password, cannot unlock any keyslot of its LUKS header',
    );
  });

  it('refuses a read after close: the master key is gone', async () => {
    const layer = await openLayer('base.qcow2');
    layer.close();
    await expect(layer.read(65536, 512)).rejects.toThrow('read after close');
  });
});

describe('LUKS variants and forged headers', () => {
  /** The file offset of the LUKS header, from the image's full disk encryption extension. */
  async function luksOffset(name: string): Promise<number> {
    const bytes = await fsp.readFile(file(name));
    for (let at = bytes.readUInt32BE(100); ;) {
      const type = bytes.readUInt32BE(at);
      const length = bytes.readUInt32BE(at + 4);
      if (type === 0x0537be77) return Number(bytes.readBigUInt64BE(at + 8));
      if (type === 0) throw new Error('no encryption header');
      at += 8 + Math.ceil(length / 8) * 8;
    }
  }
  async function forged(name: string, edit: (bytes: Buffer, luks: number) => void): Promise<string> {
    const bytes = await fsp.readFile(file('plain-base.qcow2'));
    edit(bytes, await luksOffset('plain-base.qcow2'));
    await fsp.writeFile(file(name), bytes);
    return name;
  }

  beforeAll(() => {
    createLuks('plain-base.qcow2', MiB);
    write(keyed('plain-base.qcow2'), 'write -P 0x77 0 4096');
  });

  it('reads AES-128 with SHA-512 (libvirt default, AES-256 with SHA-256, is above)', async () => {
    createLuks('aes128.qcow2', MiB, { extra: 'encrypt.cipher-alg=aes-128,encrypt.hash-alg=sha512' });
    write(keyed('aes128.qcow2'), 'write -P 0x42 4096 8192');
    const layer = await openLayer('aes128.qcow2');
    try {
      expect((await layer.read(4096, 8192)).every((b) => b === 0x42)).toBe(true);
      expect(
        (await layer.read(0, MiB)).equals(await qemuGuestBytes(keyed('aes128.qcow2'), 'aes128.raw')),
      ).toBe(true);
    } finally {
      layer.close();
    }
  });

  it('refuses a cipher mode it does not read, naming it', async () => {
    createLuks('cbc.qcow2', MiB, {
      extra: 'encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256',
    });
    await expect(openLayer('cbc.qcow2')).rejects.toThrow(
      'cbc.qcow2: LUKS header cipher aes-cbc-essiv:sha256 with a 32-byte key is not read by volback',
    );
  });

  it('refuses forged LUKS fields before deriving any key', async () => {
    const cases: Array<[string, (b: Buffer, luks: number) => void, string]> = [
      ['magic', (b, l) => b.write('LUKX', l, 'latin1'), 'LUKS header magic: not a LUKS header'],
      ['version', (b, l) => b.writeUInt16BE(2, l + 6), 'LUKS header version 2: only LUKS1'],
      [
        'iterations',
        (b, l) => b.writeUInt32BE(0xffffffff, l + 208 + 4),
        'key slot 0: 4294967295 iterations are outside',
      ],
      [
        'stripes',
        (b, l) => b.writeUInt32BE(1_000_000, l + 208 + 44),
        'key slot 0: 1000000 stripes are outside 1..4000',
      ],
      ['material', (b, l) => b.writeUInt32BE(0x7fffffff, l + 208 + 40), 'its key material at'],
      ['no-slot', (b, l) => b.writeUInt32BE(0xdead, l + 208), 'LUKS header has no active key slot'],
      [
        'crypt-without-header',
        (b) => b.writeUInt32BE(0, 32),
        'full disk encryption header in an image that is not encrypted',
      ],
    ];
    for (const [name, edit, message] of cases) {
      await expect(openLayer(await forged(`${name}.qcow2`, edit))).rejects.toThrow(message);
    }
  });

  it('refuses a master key digest that no slot matches (a tampered digest)', async () => {
    const name = await forged('digest.qcow2', (b, l) => {
      b[l + 112] ^= 0xff;
    });
    await expect(openLayer(name)).rejects.toThrow('cannot unlock any keyslot');
  });
});
