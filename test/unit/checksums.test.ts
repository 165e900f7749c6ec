// The pure parts of checksums: extent arithmetic, the document format and names, which layer of a
// chain provides each extent, seeded samples, merged findings, the layer ranges of `qemu-img map`,
// damage records and what the catalog makes of them.
import { createHash } from 'node:crypto';
import { ErrorCodes, isVolbackError } from '../../src/errors';
import {
  MAX_EXTENTS,
  checksumDocumentName,
  checksumDocumentVolume,
  extentCount,
  extentRange,
  extentSizeFor,
  extentsOf,
  formatChecksumDocument,
  nextChecksumDocumentName,
  parseChecksumDocument,
  type ChecksumDocument,
} from '../../src/pool/checksums';
import {
  describeFinding,
  mergeFindings,
  planView,
  runsOf,
  sampleExtents,
  unrecordedExtents,
  type DamageFinding,
} from '../../src/core/shared/checksums';
import {
  damageMessage,
  damageVolumeName,
  damagedMetadataVolume,
  parseDamageRecord,
  type DamageRecord,
} from '../../src/core/catalog/damage';
import { damageNotes, type CatalogScan, type StoredSet } from '../../src/core/catalog/scan';
import { buildCatalog } from '../../src/core/catalog/chains';
import { strayVolumesOf } from '../../src/core/removal/repair';
import { topLayerRanges } from '../../src/tools/qemu-img';
import type { BackupSet } from '../../src/model';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

describe('extent arithmetic', () => {
  it('1 MiB up to 256 GiB, then doubled so a disk never has more than MAX_EXTENTS', () => {
    expect(extentSizeFor(16 * MiB)).toBe(MiB);
    expect(extentSizeFor(256 * GiB)).toBe(MiB);
    expect(extentSizeFor(256 * GiB + 1)).toBe(2 * MiB);
    expect(extentSizeFor(TiB)).toBe(4 * MiB);
    expect(extentCount(TiB, extentSizeFor(TiB))).toBe(MAX_EXTENTS);
    expect(extentCount(16 * TiB, extentSizeFor(16 * TiB))).toBeLessThanOrEqual(MAX_EXTENTS);
  });

  it('ranges of extents, the last one short', () => {
    expect(extentCount(10 * MiB + 5, MiB)).toBe(11);
    expect(extentRange(3, MiB, 10 * MiB + 5)).toEqual({ start: 3 * MiB, length: MiB });
    expect(extentRange(10, MiB, 10 * MiB + 5)).toEqual({ start: 10 * MiB, length: 5 });
  });

  it('every extent a stored byte falls in, once, ascending, none past the end', () => {
    expect(
      extentsOf(
        [
          { start: 5 * MiB, length: 64 * 1024 },
          { start: 0, length: 1 },
          { start: MiB - 1, length: 2 }, // straddles extents 0 and 1
          { start: 3 * MiB, length: 0 },
          { start: 9 * MiB, length: 10 * MiB }, // runs past a 10 MiB disk
        ],
        MiB,
        10 * MiB,
      ),
    ).toEqual([0, 1, 5, 9]);
  });
});

describe('checksum documents', () => {
  const doc: ChecksumDocument = {
    setId: '11111111-2222-4333-8444-555555555555',
    diskBackupId: '66666666-7777-4888-9999-aaaaaaaaaaaa',
    volume: 'vm1.vda.20261126T001500Z-11111111.qcow2',
    virtualSize: 10 * MiB + 5,
    extentSize: MiB,
    digests: new Map([
      [10, digest('last')],
      [0, digest('first')],
      [3, digest('three')],
    ]),
  };

  it('round-trips, extents in order, one line each', () => {
    const text = formatChecksumDocument(doc);
    expect(text.split('\n').slice(0, 8)).toEqual([
      'volback-checksums v1',
      `set ${doc.setId}`,
      `disk ${doc.diskBackupId}`,
      `volume ${doc.volume}`,
      `virtual-size ${10 * MiB + 5}`,
      `extent-size ${MiB}`,
      'algorithm sha256',
      'extents 3',
    ]);
    expect(text.split('\n')[8]).toBe(`0 ${digest('first').toString('base64')}`);
    const back = parseChecksumDocument(text, 'doc');
    expect([...back.digests.keys()]).toEqual([0, 3, 10]);
    expect(back).toEqual({ ...doc, digests: new Map([...doc.digests].sort((a, b) => a[0] - b[0])) });
  });

  it('stays under the document store limit at the most extents', () => {
    const big = new Map<number, Buffer>();
    for (let i = 0; i < MAX_EXTENTS; i++) big.set(i, digest(String(i)));
    const text = formatChecksumDocument({ ...doc, virtualSize: TiB, extentSize: 4 * MiB, digests: big });
    expect(Buffer.byteLength(text)).toBeLessThan(16 * MiB);
    expect(parseChecksumDocument(text, 'big').digests.size).toBe(MAX_EXTENTS);
  });

  it.each([
    ['another header', (t: string) => t.replace('volback-checksums v1', 'volback-checksums v2'), 'line 1'],
    ['a missing field', (t: string) => t.replace(/^algorithm sha256\n/m, ''), 'algorithm'],
    [
      'an extent size that is no power of two',
      (t: string) => t.replace(`extent-size ${MiB}`, 'extent-size 1000000'),
      'power of two',
    ],
    ['an extent out of order', (t: string) => t.replace(/^0 /m, '4 '), 'out of order'],
    ['an extent past the end', (t: string) => t.replace(/^10 /m, '11 '), 'past the disk'],
    ['a count that does not match', (t: string) => t.replace('extents 3', 'extents 4'), 'exactly 4'],
    ['a line cut short', (t: string) => t.slice(0, -10), 'extent'],
    [
      'a digest of the wrong size',
      (t: string) => t.replace(/^3 \S+/m, `3 ${Buffer.alloc(16).toString('base64')}`),
      'base64',
    ],
  ])('refuses %s', (_what, change, message) => {
    const run = () => parseChecksumDocument(change(formatChecksumDocument(doc)), 'pool/x.sums');
    expect(run).toThrow(message);
    try {
      run();
    } catch (err) {
      expect(isVolbackError(err, ErrorCodes.XML_INVALID)).toBe(true);
      expect((err as Error).message).toContain('pool/x.sums, line');
    }
  });

  it('names: the data volume plus .sums, the other name after a merge, and back', () => {
    const volume = 'vm1.vda.20261126T001500Z-11111111.qcow2';
    expect(checksumDocumentName(volume)).toBe(`${volume}.sums`);
    expect(nextChecksumDocumentName(`${volume}.sums`, volume)).toBe(`${volume}.msums`);
    expect(nextChecksumDocumentName(`${volume}.msums`, volume)).toBe(`${volume}.sums`);
    expect(checksumDocumentVolume(`${volume}.msums`)).toBe(volume);
    expect(checksumDocumentVolume(volume)).toBeUndefined();
    // The longest data volume name (121) still gives a name of at most 127 characters.
    expect(checksumDocumentName('x'.repeat(121), 1).length).toBeLessThanOrEqual(127);
  });
});

describe('which layer provides each extent', () => {
  const full = {
    digests: new Map([
      [0, digest('f0')],
      [1, digest('f1')],
      [5, digest('f5')],
    ]),
    held: [0, 1, 5],
  };
  const inc = {
    digests: new Map([
      [1, digest('i1')],
      [7, digest('i7')],
    ]),
    held: [1, 7],
  };

  it('the newest layer that stores an extent provides it, with its digest', () => {
    expect(planView([full, inc])).toEqual([
      { index: 0, provider: 0, digest: digest('f0') },
      { index: 1, provider: 1, digest: digest('i1') },
      { index: 5, provider: 0, digest: digest('f5') },
      { index: 7, provider: 1, digest: digest('i7') },
    ]);
  });

  it('a layer without checksums provides what it stores, unchecked', () => {
    expect(
      planView([{ held: [0, 2] }, inc]).map((v) => [v.index, v.provider, v.digest !== undefined]),
    ).toEqual([
      [0, 0, false],
      [1, 1, true],
      [2, 0, false],
      [7, 1, true],
    ]);
  });

  it('data a layer stores that its checksums do not list is unrecorded', () => {
    expect(unrecordedExtents({ digests: inc.digests, held: [1, 2, 3, 7, 9] })).toEqual([2, 3, 9]);
    expect(unrecordedExtents({ held: [1, 2] })).toEqual([]);
    expect(runsOf([2, 3, 9, 10, 11, 20])).toEqual([
      [2, 3],
      [9, 11],
      [20, 20],
    ]);
  });
});

describe('samples', () => {
  const candidates = Array.from({ length: 1000 }, (_, i) => i * 3);

  it('the same seed picks the same extents; another seed others; sorted and distinct', () => {
    const a = sampleExtents(candidates, 32, 1234);
    expect(sampleExtents(candidates, 32, 1234)).toEqual(a);
    expect(a).toHaveLength(32);
    expect(new Set(a).size).toBe(32);
    expect([...a].sort((x, y) => x - y)).toEqual(a);
    for (const x of a) expect(candidates).toContain(x);
    expect(sampleExtents(candidates, 32, 4321)).not.toEqual(a);
  });

  it('all of them when there are no more, none for 0', () => {
    expect(sampleExtents([5, 6, 7], 32, 1)).toEqual([5, 6, 7]);
    expect(sampleExtents(candidates, 0, 1)).toEqual([]);
  });

  it('spreads over the whole disk (every tenth is hit by some of 20 seeds)', () => {
    const hit = new Set<number>();
    for (let seed = 0; seed < 20; seed++)
      for (const x of sampleExtents(candidates, 32, seed)) hit.add(Math.floor(x / 300));
    expect(hit.size).toBe(10);
  });
});

describe('findings', () => {
  const f = (start: number, end: number, volume = 'v', reason = 'mismatch'): DamageFinding => ({
    setId: 's',
    diskBackupId: 'd',
    target: 'vda',
    pool: 'p',
    volume,
    range: { start, end },
    reason,
  });

  it('adjacent ranges of one volume and reason become one', () => {
    expect(mergeFindings([f(0, 10), f(10, 20), f(30, 40), f(40, 50, 'w'), f(50, 60, 'w', 'other')])).toEqual([
      f(0, 20),
      f(30, 40),
      f(40, 50, 'w'),
      f(50, 60, 'w', 'other'),
    ]);
  });

  it('a finding names set, disk, volume, pool and inclusive byte range', () => {
    expect(describeFinding(f(MiB, 2 * MiB))).toBe(
      `set s disk vda volume v (pool p) bytes ${MiB}-${2 * MiB - 1}: mismatch`,
    );
  });
});

describe('layer ranges from qemu-img map', () => {
  const map = [
    { start: 0, length: MiB, depth: 1, present: true, zero: false, data: true },
    { start: MiB, length: 64 * 1024, depth: 0, present: true, zero: false, data: true },
    { start: MiB + 64 * 1024, length: 64 * 1024, depth: 0, present: true, zero: true, data: false },
    { start: 2 * MiB, length: MiB, depth: 0, present: false, zero: true, data: false },
    { start: 3 * MiB, length: MiB, depth: 0, present: true, zero: false, data: true },
  ];

  it('an overlay stores its data and the zero clusters that hide its backing', () => {
    expect(topLayerRanges(map, true)).toEqual([
      { start: MiB, length: 128 * 1024 },
      { start: 3 * MiB, length: MiB },
    ]);
  });

  it('without a backing a zero cluster stores nothing (as a raw hole)', () => {
    expect(topLayerRanges(map, false)).toEqual([
      { start: MiB, length: 64 * 1024 },
      { start: 3 * MiB, length: MiB },
    ]);
  });
});

describe('damage records', () => {
  const record: DamageRecord = {
    format: 'volback-damage',
    version: 1,
    setId: 'set-a',
    recordedAt: '2026-11-26T00:00:00.000Z',
    host: 'host-a',
    by: 'verify --deep',
    findings: [
      {
        setId: 'set-a',
        diskBackupId: 'd',
        target: 'vda',
        pool: 'p',
        volume: 'v',
        range: { start: 0, end: MiB },
        reason: 'mismatch',
      },
      {
        setId: 'set-a',
        diskBackupId: 'd',
        target: 'vdb',
        pool: 'p',
        volume: 'w',
        reason: 'document missing',
      },
    ],
  };

  it('names sit beside the metadata volume', () => {
    expect(damageVolumeName('vm1.20261126T001500Z-1a2b3c4d.volback.xml')).toBe(
      'vm1.20261126T001500Z-1a2b3c4d.volback-damage.json',
    );
    expect(damagedMetadataVolume('vm1.20261126T001500Z-1a2b3c4d.volback-damage.json')).toBe(
      'vm1.20261126T001500Z-1a2b3c4d.volback.xml',
    );
    expect(() => damageVolumeName('vm1.vda.x.qcow2')).toThrow('not a metadata volume name');
  });

  it('round-trips and refuses what is malformed', () => {
    expect(parseDamageRecord(JSON.stringify(record), 'x')).toEqual(record);
    expect(() => parseDamageRecord('{"format":"volback-damage","version":1', 'x')).toThrow(
      'not a damage record',
    );
    expect(() =>
      parseDamageRecord(
        JSON.stringify({ ...record, findings: [{ ...record.findings[0], range: { start: 5, end: 5 } }] }),
        'x',
      ),
    ).toThrow('mistyped');
    expect(damageMessage(record)).toBe(
      `verify --deep on host-a at 2026-11-26T00:00:00.000Z found damaged data: set set-a disk vda volume v (pool p) bytes 0-${MiB - 1}: mismatch (and 1 more)`,
    );
  });

  it('marks the set stored beside each record; an unreadable record still marks it', () => {
    const stored = [
      { set: { id: 'set-a' } as BackupSet, pool: 'p', metadataVolume: 'a.volback.xml' },
      { set: { id: 'set-b' } as BackupSet, pool: 'p', metadataVolume: 'b.volback.xml' },
    ] as StoredSet[];
    expect(
      damageNotes(stored, [
        { pool: 'p', volume: 'a.volback-damage.json', metadataVolume: 'a.volback.xml', record },
        {
          pool: 'p',
          volume: 'b.volback-damage.json',
          metadataVolume: 'b.volback.xml',
          error: new Error('cut short'),
        },
        { pool: 'q', volume: 'a.volback-damage.json', metadataVolume: 'a.volback.xml', record },
      ]),
    ).toEqual([
      { setId: 'set-a', message: damageMessage(record) },
      {
        setId: 'set-b',
        message: 'its damage record b.volback-damage.json in pool p cannot be read (cut short)',
      },
    ]);
  });
});

describe('repair: leftovers of checksums', () => {
  const scan = (strays: string[]): CatalogScan =>
    ({
      catalog: buildCatalog([]),
      stored: [],
      invalid: [],
      strayVolumes: strays.map((volume) => ({ pool: 'p', volume })),
      liveRestores: [],
      damage: [],
      pools: ['p'],
      unreadable: [],
    }) as CatalogScan;

  it("removes a stray's checksum document and a gone set's damage record, of this domain only", () => {
    const data = 'vm1.vda.20261126T001500Z-1a2b3c4d.qcow2';
    const { mine, kept } = strayVolumesOf(
      scan([
        data,
        `${data}.sums`,
        `${data}.msums`,
        'vm1.20261126T001500Z-1a2b3c4d.volback-damage.json',
        'vm2.vda.20261126T001500Z-1a2b3c4d.qcow2.sums',
        'vm2.20261126T001500Z-1a2b3c4d.volback-damage.json',
        'user-notes.sums',
      ]),
      'vm1',
    );
    expect(mine.map((m) => m.name)).toEqual([
      data,
      `${data}.sums`,
      `${data}.msums`,
      'vm1.20261126T001500Z-1a2b3c4d.volback-damage.json',
    ]);
    expect(mine[1].reason).toContain('the checksum document of a data volume of an interrupted backup');
    expect(mine[3].reason).toContain('damage record');
    expect(kept).toEqual([]);
  });
});
