// <volbackupset> metadata: data-driven valid/invalid cases, byte-stable round trips, and a seeded
// property test that random BackupSets survive format -> parse unchanged. Real libxml2 validation throughout.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, VolbackError, XmlValidationError } from '../../src/errors';
import type { BackupSet, DiskBackup } from '../../src/model';
import { formatBackupSet, parseBackupSet, parseBackupSets } from '../../src/xml/backup-metadata';

const DIR = path.join(__dirname, '../data/xml/metadata');
const files = readdirSync(DIR).filter((f) => f.endsWith('.xml'));

function expectation(xml: string, file: string): { line?: number; element?: string; message: string } {
  const m = /<!--\s*expect:\s*(.*?)\s*-->/.exec(xml);
  if (!m) throw new Error(`${file}: an -invalid.xml file needs an <!-- expect: ... --> comment`);
  const spec = m[1] as string;
  const line = /\bline=(\d+)/.exec(spec);
  const element = /\belement=(\S+)/.exec(spec);
  const message = /\bmessage=(.*)$/.exec(spec);
  if (!message) throw new Error(`${file}: expect comment lacks message=`);
  return { line: line ? Number(line[1]) : undefined, element: element?.[1], message: message[1] as string };
}

describe.each(files.filter((f) => f.endsWith('-invalid.xml')))('invalid %s', (file) => {
  test('is refused with the expected location and message', async () => {
    const xml = readFileSync(path.join(DIR, file), 'utf8');
    const want = expectation(xml, file);
    const err = await parseBackupSet(xml, `pool/${file}`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(XmlValidationError);
    const e = err as XmlValidationError;
    expect(e.code).toBe(ErrorCodes.XML_INVALID);
    expect(e.location.source).toBe(`pool/${file}`);
    expect(e.message).toContain(want.message);
    if (want.line !== undefined) expect(e.location.line).toBe(want.line);
    if (want.element !== undefined) expect(e.location.element).toBe(want.element);
  });
});

describe.each(files.filter((f) => !f.endsWith('-invalid.xml')))('valid %s', (file) => {
  test('format(parse(x)) is byte-identical and parse is stable', async () => {
    const xml = readFileSync(path.join(DIR, file), 'utf8');
    const set = await parseBackupSet(xml, file);
    const formatted = await formatBackupSet(set);
    expect(formatted).toBe(xml);
    expect(await parseBackupSet(formatted, file)).toStrictEqual(set);
  });
});

test('a stored document reads into the model', async () => {
  const set = await parseBackupSet(readFileSync(path.join(DIR, 'incremental-push.xml'), 'utf8'), 'x');
  expect(set).toMatchObject({
    id: '0b6f3c1e-8d2a-4c5e-9f1a-2b3c4d5e6f70',
    kind: 'incremental',
    parentId: '7a1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f',
    createdAt: new Date('2026-11-26T00:15:00.123Z'),
    checkpoint: { name: 'volback-0b6f3c1e', parent: 'volback-7a1e2d3c' },
    disks: [{ target: 'vda', kind: 'incremental', virtualSize: 10737418240, volume: { pool: 'volback' } }],
  });
  expect(set.checkpoint?.xml).toBe(
    '<domaincheckpoint>\n  <name>volback-0b6f3c1e</name>\n</domaincheckpoint>\n',
  );
});

// ---- table of model-level round trips ----

function baseSet(overrides: Partial<BackupSet> = {}): BackupSet {
  return {
    id: '11111111-2222-4333-8444-555555555555',
    volbackVersion: '0.1.0',
    mode: 'push',
    kind: 'full',
    state: 'complete',
    createdAt: new Date('2026-11-26T00:15:00.123Z'),
    domain: { name: 'vm1', uuid: '4dea22b3-1d52-d8f3-2516-782e98ab3fa0' },
    disks: [
      {
        id: '66666666-7777-4888-9999-aaaaaaaaaaaa',
        target: 'vda',
        sourcePath: '/var/lib/libvirt/images/vm1.qcow2',
        sourceFormat: 'qcow2',
        volume: { pool: 'volback', name: 'vm1-vda.qcow2', format: 'qcow2' },
        kind: 'full',
        virtualSize: 1073741824,
        bytesCopied: 1073741824,
      },
    ],
    domainXml: "<domain type='kvm'><name>vm1</name></domain>",
    ...overrides,
  };
}

const roundTrips: Array<[string, BackupSet]> = [
  ['minimal full, optional fields absent', baseSet()],
  ['special characters in domain XML', baseSet({ domainXml: `<a b='1' c="2">&amp; < > & ' " ]]> </a>` })],
  [
    'non-ASCII and astral characters',
    baseSet({ domainXml: '<d>Grüße 日本語 🚀</d>', description: 'ünïcode — ok' }),
  ],
  ['multiline with CRLF and tabs', baseSet({ domainXml: '<domain>\r\n\t<name>vm1</name>\r\n</domain>\r\n' })],
  ['leading and trailing whitespace kept', baseSet({ domainXml: '\n   <domain/>   \n\n' })],
  ['whitespace-only description', baseSet({ description: '   ' })],
  ['empty description', baseSet({ description: '' })],
  [
    'incremental with checkpoint and fallback',
    baseSet({
      kind: 'incremental',
      parentId: '22222222-3333-4444-8555-666666666666',
      completedAt: new Date('2026-11-26T00:20:00.000Z'),
      checkpoint: { name: 'volback-1', parent: 'volback-0', xml: '<domaincheckpoint>\n</domaincheckpoint>' },
      fallbackReason: "bitmap 'x' & <y> missing",
    }),
  ],
  [
    'external pull disk without volume, odd source path',
    baseSet({
      mode: 'pull',
      state: 'external',
      disks: [
        {
          id: '66666666-7777-4888-9999-aaaaaaaaaaab',
          target: 'sda',
          sourcePath: 'rbd:pool/img \'a\' "b" &\n\tc',
          sourceFormat: 'raw',
          kind: 'full',
          bitmap: 'volback-1',
          virtualSize: 0,
          bytesCopied: Number.MAX_SAFE_INTEGER,
        },
      ],
    }),
  ],
];

test.each(roundTrips)('round trip: %s', async (_name, set) => {
  const xml = await formatBackupSet(set);
  const back = await parseBackupSet(xml, 'table');
  expect(back).toStrictEqual(set);
  expect(await formatBackupSet(back)).toBe(xml);
});

describe('formatBackupSet refuses what it could not read back', () => {
  test.each<[string, Partial<BackupSet>, string]>([
    [
      'incremental without parent',
      { kind: 'incremental' },
      "incremental backup set requires a <parent id='...'/>",
    ],
    ['no disks', { disks: [] }, '<disks> must hold at least one <disk>'],
    ['invalid date', { createdAt: new Date('nope') }, "<createdAt> 'Invalid Date'"],
    [
      'negative size',
      { disks: [{ ...(baseSet().disks[0] as DiskBackup), virtualSize: -1 }] },
      "<virtualSize> '-1'",
    ],
    [
      'fractional size',
      { disks: [{ ...(baseSet().disks[0] as DiskBackup), bytesCopied: 1.5 }] },
      "<bytesCopied> '1.5'",
    ],
    ['empty domain XML', { domainXml: '' }, '<domainXml> must not be empty'],
  ])('%s', async (_name, overrides, message) => {
    const err = await formatBackupSet(baseSet(overrides)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(XmlValidationError);
    expect((err as XmlValidationError).fault).toBe('system');
    expect((err as Error).message).toContain(message);
  });

  test('characters XML cannot carry', async () => {
    await expect(formatBackupSet(baseSet({ domainXml: '<a>\u0001</a>' }))).rejects.toThrow(VolbackError);
    await expect(formatBackupSet(baseSet({ domainXml: '<a>\u0001</a>' }))).rejects.toThrow('U+0001');
  });
});

// ---- property test: seeded random BackupSets ----

/** mulberry32: small, seeded, reproducible. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generator(seed: number) {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const maybe = <T>(f: () => T): T | undefined => (r() < 0.5 ? f() : undefined);
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
  const uuid = () => `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
  // Code points, not UTF-16 units: a lone surrogate is not text (formatBackupSet rightly refuses it).
  const from = (alphabet: string, min: number, max: number) => {
    const chars = [...alphabet];
    return Array.from({ length: min + int(max - min + 1) }, () => chars[int(chars.length)]).join('');
  };
  const TEXT = 'abcXYZ 019<>&\'"\n\t\r;]]>-—üß日🚀';
  const SAFE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.:-';
  const volumeName = () => `v${from(SAFE, 0, 40)}`.replace(/_/g, '');
  const checkpointName = () => `cp${from('abc012_-.', 0, 20)}`;
  const date = () => new Date(int(4102444800000));
  const size = () => pick([0, 1, int(2 ** 31), Number.MAX_SAFE_INTEGER, int(2 ** 40)]);

  return (): BackupSet => {
    const kind = pick(['full', 'incremental'] as const);
    const disks: DiskBackup[] = Array.from({ length: 1 + int(4) }, (_, i) => {
      const diskKind = kind === 'full' ? 'full' : pick(['full', 'incremental'] as const);
      const disk: DiskBackup = {
        id: uuid(),
        target: `vd${'abcdefgh'[i]}`,
        sourcePath: from(TEXT, 1, 30),
        sourceFormat: pick(['qcow2', 'raw', 'vmdk']),
        kind: diskKind,
        virtualSize: size(),
        bytesCopied: size(),
      };
      if (diskKind === 'incremental') disk.parentId = uuid();
      const volume = maybe(() => ({
        pool: `p${from(SAFE, 0, 10)}`,
        name: volumeName(),
        format: pick(['qcow2', 'raw'] as const),
      }));
      if (volume) disk.volume = volume;
      const bitmap = maybe(checkpointName);
      if (bitmap) disk.bitmap = bitmap;
      return disk;
    });
    const set: BackupSet = {
      id: uuid(),
      volbackVersion: from('0123456789.', 1, 8),
      mode: pick(['push', 'pull'] as const),
      kind,
      state: pick(['complete', 'external', 'merging', 'deleting'] as const),
      createdAt: date(),
      domain: { name: from(TEXT, 1, 20), uuid: uuid() },
      disks,
      domainXml: from(TEXT, 1, 200),
    };
    if (kind === 'incremental') set.parentId = uuid();
    const completedAt = maybe(date);
    if (completedAt) set.completedAt = completedAt;
    const description = maybe(() => from(TEXT, 0, 30));
    if (description !== undefined) set.description = description;
    const fallbackReason = maybe(() => from(TEXT, 0, 30));
    if (fallbackReason !== undefined) set.fallbackReason = fallbackReason;
    const checkpoint = maybe(() => {
      const cp: NonNullable<BackupSet['checkpoint']> = { name: checkpointName(), xml: from(TEXT, 1, 80) };
      const parent = maybe(checkpointName);
      if (parent) cp.parent = parent;
      return cp;
    });
    if (checkpoint) set.checkpoint = checkpoint;
    return set;
  };
}

test('property: 300 seeded random backup sets survive format -> parse unchanged', async () => {
  const next = generator(20261126);
  const sets = Array.from({ length: 300 }, next);
  const docs: Array<{ xml: string; source: string }> = [];
  for (const set of sets) docs.push({ xml: await formatBackupSet(set), source: set.id });
  const results = await parseBackupSets(docs);
  results.forEach((result, i) => {
    if (!result.ok) throw result.error;
    expect(result.set).toStrictEqual(sets[i]);
  });
});
