// qemu-img command lines are built by pure functions; these pin the exact argv.
import {
  compareArgv,
  convertArgv,
  createEncryptedQcow2Argv,
  isPbkdfBenchmarkGlitch,
  retryPbkdfGlitch,
  infoArgv,
  parseInfo,
  secretPipes,
  keyHolder,
} from '../../src/tools/qemu-img';

describe('qemu-img argv', () => {
  it('info reads shared images (-U) as JSON with an explicit format', () => {
    expect(infoArgv({ path: '/p/a.qcow2', format: 'qcow2' })).toEqual([
      'qemu-img',
      'info',
      '-U',
      '--output=json',
      '-f',
      'qcow2',
      '/p/a.qcow2',
    ]);
    expect(infoArgv({ path: '/p/a.qcow2', format: 'qcow2' }, true)).toContain('--backing-chain');
  });

  it('convert creates compat 1.1 qcow2 targets and reuses existing ones with -n', () => {
    expect(
      convertArgv({ path: '/b/inc.qcow2', format: 'qcow2' }, { path: '/r/out.qcow2', format: 'qcow2' }),
    ).toEqual([
      'qemu-img',
      'convert',
      '-U',
      '-p',
      '-W',
      '-m',
      '8',
      '-f',
      'qcow2',
      '-O',
      'qcow2',
      '-o',
      'compat=1.1',
      '/b/inc.qcow2',
      '/r/out.qcow2',
    ]);
    const reuse = convertArgv(
      { path: 'a', format: 'qcow2' },
      { path: '/dev/vg/lv', format: 'raw' },
      { targetExists: true },
    );
    expect(reuse).toContain('-n');
    expect(reuse).not.toContain('compat=1.1');
  });

  it("convert copies only the source's top layer over an existing target's backing (-B), as a merge does", () => {
    const argv = convertArgv(
      { path: '/p/inc1.qcow2', format: 'qcow2' },
      { path: '/p/inc2.merge.qcow2', format: 'qcow2' },
      { targetExists: true, topLayerOver: { path: '/p/full.qcow2', format: 'qcow2' } },
    );
    expect(argv.slice(-5)).toEqual(['-n', '-B', '/p/full.qcow2', '/p/inc1.qcow2', '/p/inc2.merge.qcow2']);
  });

  it("knows QEMU's PBKDF benchmark glitch (tried again) from real failures (not)", () => {
    expect(isPbkdfBenchmarkGlitch('qemu-img: /p/c.merge.qcow2: Unable to get accurate CPU usage')).toBe(true);
    expect(
      isPbkdfBenchmarkGlitch('qemu-img: /p/c.merge.qcow2: Could not create file: No space left on device'),
    ).toBe(false);
  });

  it('tries a LUKS create again only on the glitch, three times at most', async () => {
    const glitch = new Error('qemu-img: /p/v.qcow2: Unable to get accurate CPU usage');
    const failingTwice = jest
      .fn()
      .mockRejectedValueOnce(glitch)
      .mockRejectedValueOnce(glitch)
      .mockResolvedValue('made');
    await expect(retryPbkdfGlitch(failingTwice)).resolves.toBe('made');
    expect(failingTwice).toHaveBeenCalledTimes(3);
    const alwaysGlitching = jest.fn().mockRejectedValue(glitch);
    await expect(retryPbkdfGlitch(alwaysGlitching)).rejects.toBe(glitch);
    expect(alwaysGlitching).toHaveBeenCalledTimes(3);
    const full = new Error('qemu-img: /p/v.qcow2: Could not create file: No space left on device');
    const realFailure = jest.fn().mockRejectedValue(full);
    await expect(retryPbkdfGlitch(realFailure)).rejects.toBe(full);
    expect(realFailure).toHaveBeenCalledTimes(1);
  });

  it('creates an encrypted qcow2 with the key from a pipe, never in argv', () => {
    const key = { id: 'volback-key-5a1d0c3e', value: Buffer.from('c2VjcmV0') };
    const argv = createEncryptedQcow2Argv('/p/c.merge.qcow2', 33554432, key, {
      path: '/p/full.qcow2',
      format: 'qcow2',
    });
    expect(argv).toEqual([
      'qemu-img',
      'create',
      '--object',
      'secret,id=volback-key-5a1d0c3e,file=/dev/fd/3,format=base64',
      '-q',
      '-f',
      'qcow2',
      '-o',
      'compat=1.1,encrypt.format=luks,encrypt.key-secret=volback-key-5a1d0c3e',
      '-b',
      '/p/full.qcow2',
      '-F',
      'qcow2',
      '/p/c.merge.qcow2',
      '33554432',
    ]);
    expect(argv.join(' ')).not.toContain('c2VjcmV0');
    expect(secretPipes(keyHolder(key)).secrets).toEqual([key.value]);
    expect(createEncryptedQcow2Argv('/p/f.merge.qcow2', 1024, key)).not.toContain('-b');
  });

  it('compare names both formats', () => {
    expect(compareArgv({ path: 'a', format: 'qcow2' }, { path: 'b', format: 'raw' })).toEqual([
      'qemu-img',
      'compare',
      '-U',
      '-f',
      'qcow2',
      '-F',
      'raw',
      'a',
      'b',
    ]);
  });

  it('parses compat, backing file and bitmaps from qemu-img info JSON', () => {
    const info = parseInfo({
      'virtual-size': 1073741824,
      'actual-size': 200704,
      format: 'qcow2',
      'full-backing-filename': '/b/full.qcow2',
      'format-specific': {
        type: 'qcow2',
        data: { compat: '1.1', bitmaps: [{ name: 'volback-1', flags: ['auto'], granularity: 65536 }] },
      },
    });
    expect(info).toEqual({
      virtualSize: 1073741824,
      actualSize: 200704,
      format: 'qcow2',
      backingFile: '/b/full.qcow2',
      compat: '1.1',
      bitmaps: [{ name: 'volback-1', flags: ['auto'], granularity: 65536 }],
    });
  });
});
