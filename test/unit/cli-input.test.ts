// What a person gives the CLI: times, set-id prefixes, --volume-name pairs and definition files
// (size cap, file kinds, strict UTF-8). Hostile or mistyped input must be refused with exit 2.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { definitionFrom, parseTime } from '../../src/cli/commands/backup';
import { parseVolumeNames } from '../../src/cli/commands/restore';
import { ExitCode, UsageError, exitCodeFor } from '../../src/cli/exit-codes';
import { readInputFile, setIdArgument } from '../../src/cli/input';
import { MAX_INPUT_FILE_BYTES, utf8Problem } from '../../src/tools/user-text';

const usageError = (fn: () => unknown): UsageError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect(exitCodeFor(err)).toBe(ExitCode.USAGE);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
};

describe('parseTime', () => {
  const now = new Date('2026-11-26T12:00:00Z');

  it.each([
    ['2026-11-26', '2026-11-26T00:00:00.000Z'],
    ['2026-11-26T10:00', '2026-11-26T10:00:00.000Z'],
    ['2026-11-26T10:00:05Z', '2026-11-26T10:00:05.000Z'],
    ['2026-11-26T10:00:05.250', '2026-11-26T10:00:05.250Z'],
    ['2026-11-26T10:00:00+02:00', '2026-11-26T08:00:00.000Z'],
    ['2026-11-26T10:00:00-05:30', '2026-11-26T15:30:00.000Z'],
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
    ['2026-12-31T23:59:59Z', '2026-12-31T23:59:59.000Z'],
    ['30m', '2026-11-26T11:30:00.000Z'],
    ['7d', '2026-11-19T12:00:00.000Z'],
  ])('accepts %s', (value, iso) => {
    expect(parseTime(value, 'since', now).toISOString()).toBe(iso);
  });

  it.each([
    '2026-02-30',
    '2026-02-29',
    '2026-04-31',
    '2026-13-01',
    '2026-00-10',
    '2026-11-00',
    '2026-11-26T24:00',
    '2026-11-26T10:60',
    '2026-11-26T10:00:60Z',
    '2026-11-26T10:00:00+25:00',
    '2026-11-26 10:00',
    '1',
    'March 7',
    'yesterday',
    '',
  ])('refuses %j naming the flag and the value', (value) => {
    const err = usageError(() => parseTime(value, 'until', now));
    expect(err.message).toContain(`--until '${value}'`);
  });
});

describe('--volume-name pairs', () => {
  it('maps disks to names', () => {
    expect(parseVolumeNames(['vda=web.qcow2', 'vdb=db.raw'])).toEqual({ vda: 'web.qcow2', vdb: 'db.raw' });
    expect(parseVolumeNames(undefined)).toBeUndefined();
  });

  it('refuses a disk named twice, naming it', () => {
    const err = usageError(() => parseVolumeNames(['vda=a.qcow2', 'vdb=b.qcow2', 'vda=c.qcow2']));
    expect(err.message).toContain('vda');
    expect(err.message).toContain('more than once');
  });

  it('refuses a pair without a disk or a name', () => {
    usageError(() => parseVolumeNames(['=x.qcow2']));
    usageError(() => parseVolumeNames(['vda=']));
  });
});

describe('set-id arguments', () => {
  it.each(['1a2b', '1A2B3C4D', '0b6f3c1e-8d2a', '0b6f3c1e-8d2a-4c5e-9f1a-2b3c4d5e6f70'])(
    'accepts %s',
    (id) => {
      expect(setIdArgument(id)).toBe(id);
    },
  );

  it.each(['', 'a', '1a2', '1-2-3', '1a2-', 'xyz1234', '1a2b/..'])('refuses %j', (id) => {
    const err = usageError(() => setIdArgument(id));
    expect(err.message).toMatch(/at least 4|not a backup set id/);
  });
});

describe('input files (--definition)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-input-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string | Buffer): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  };

  it('reads a definition file', async () => {
    const def = await definitionFrom({
      definition: file('ok.xml', '<volbackup><type>full</type></volbackup>'),
    });
    expect(def?.kind).toBe('full');
  });

  it('refuses a file over the size limit, naming it, without reading it all', async () => {
    const big = file('big.xml', Buffer.alloc(MAX_INPUT_FILE_BYTES + 1, 0x20));
    await expect(definitionFrom({ definition: big })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      fault: 'user',
      message: expect.stringContaining(big),
    });
    await expect(definitionFrom({ definition: big })).rejects.toThrow(/larger than 1 MiB/);
  });

  it('refuses a device (/dev/zero) at once instead of reading without end', async () => {
    await expect(definitionFrom({ definition: '/dev/zero' })).rejects.toThrow(
      /\/dev\/zero is a character device/,
    );
  });

  it('refuses a directory', async () => {
    await expect(definitionFrom({ definition: dir })).rejects.toThrow(/is a directory/);
  });

  it('reads a pipe (process substitution, /dev/stdin) up to the limit', async () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = fs.promises.writeFile(fifo, '<volbackup/>');
    expect(await readInputFile(fifo, 'definition')).toBe('<volbackup/>');
    await writer;
  });

  it('reads standard input for -', async () => {
    const stdin = Readable.from([Buffer.from('<volbackup>'), Buffer.from('</volbackup>')]);
    expect(await readInputFile('-', 'definition', { stdin })).toBe('<volbackup></volbackup>');
    const endless = Readable.from(
      (function* () {
        for (;;) yield Buffer.alloc(64 * 1024, 0x20);
      })(),
    );
    await expect(readInputFile('-', 'definition', { stdin: endless })).rejects.toThrow(
      /standard input is larger than 1 MiB/,
    );
  });

  it('refuses bytes that are not UTF-8, naming the file, line and byte offset', async () => {
    const latin1 = file(
      'latin1.xml',
      Buffer.from('<volbackup>\n  <description>caf\xe9</description>\n</volbackup>', 'latin1'),
    );
    const err = await definitionFrom({ definition: latin1 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain(latin1);
    expect(err?.message).toContain('not UTF-8');
    expect(err?.message).toContain('line 2');
    expect(err?.message).toContain('byte offset 30');
  });

  it('a missing file is exit 2 naming it', async () => {
    const err = await definitionFrom({ definition: path.join(dir, 'absent.xml') }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(exitCodeFor(err)).toBe(ExitCode.USAGE);
    expect((err as Error).message).toContain('absent.xml');
  });
});

describe('utf8Problem', () => {
  it.each([
    ['ascii', Buffer.from('abc'), undefined],
    ['multibyte', Buffer.from('café ✓ 𝄞'), undefined],
    ['lone continuation', Buffer.from([0x61, 0x80]), 1],
    ['truncated sequence', Buffer.from([0x61, 0x62, 0xe2, 0x9c]), 2],
    ['overlong encoding', Buffer.from([0xc0, 0xaf]), 0],
    ['surrogate', Buffer.from([0x61, 0xed, 0xa0, 0x80]), 1],
    ['beyond U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80]), 0],
    ['invalid lead byte', Buffer.from([0x0a, 0xff]), 1],
  ])('%s', (_what, bytes, offset) => {
    expect(utf8Problem(bytes)?.offset).toBe(offset);
  });

  it('gives the line and column of the bad byte', () => {
    expect(utf8Problem(Buffer.from([0x61, 0x0a, 0x62, 0x63, 0xff]))).toEqual({
      offset: 4,
      line: 2,
      column: 3,
    });
  });
});
