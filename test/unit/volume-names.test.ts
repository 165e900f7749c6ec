// Unit tests of backup and metadata volume names: fixed examples, then seeded property checks.
import { isVolbackError, ErrorCodes } from '../../src/errors';
import {
  backupVolumeName,
  domainVolumePart,
  formatUtcStamp,
  isSafeVolumeName,
  isValidDomainPart,
  MAX_DISK_LENGTH,
  MAX_DOMAIN_PART_LENGTH,
  MAX_VOLUME_NAME_LENGTH,
  mergeStagingVolumeName,
  metadataVolumeName,
  parseBackupVolumeName,
  parseMetadataVolumeName,
  parseUtcStamp,
  reservedNameReason,
  setIdPrefix,
} from '../../src/pool/volume-names';

const SET = '1a2b3c4d-0000-4000-8000-000000000001';
const AT = new Date('2026-11-26T00:15:00.789Z');

/** mulberry32: small seeded PRNG so property tests are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function expectInvalid(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(isVolbackError(err, ErrorCodes.INVALID_INPUT)).toBe(true);
    return;
  }
  throw new Error('expected ERR_INVALID_INPUT');
}

describe('formatUtcStamp / parseUtcStamp', () => {
  it('formats UTC to the second', () => {
    expect(formatUtcStamp(AT)).toBe('20261126T001500Z');
    expect(formatUtcStamp(new Date('2026-01-02T03:04:05+02:00'))).toBe('20260102T010405Z');
  });
  it('round-trips and rejects impossible stamps', () => {
    expect(parseUtcStamp('20261126T001500Z')?.toISOString()).toBe('2026-11-26T00:15:00.000Z');
    expect(parseUtcStamp('20260231T001500Z')).toBeUndefined();
    expect(parseUtcStamp('20261126T246000Z')).toBeUndefined();
    expect(parseUtcStamp('20261126T001500')).toBeUndefined();
  });
  it('refuses invalid dates', () => {
    expectInvalid(() => formatUtcStamp(new Date('nope')));
    expectInvalid(() => formatUtcStamp(new Date('+010000-01-01T00:00:00Z')));
  });
});

describe('domainVolumePart', () => {
  it('keeps names that are already safe', () => {
    for (const name of ['vm1', 'web-01', 'db_main', 'Win10', '_x', 'snap'])
      expect(domainVolumePart(name)).toBe(name);
  });
  it('sanitises and appends a hash when it had to change the name', () => {
    const a = domainVolumePart('vm 1');
    const b = domainVolumePart('vm_1');
    expect(b).toBe('vm_1');
    expect(a).toMatch(/^vm_1--[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(domainVolumePart('vm 1')).toBe(a); // stable
    expect(domainVolumePart('café.example.com')).toMatch(/^cafe_example_com--[0-9a-f]{8}$/);
    expect(domainVolumePart('仮想マシン')).toMatch(/^_--[0-9a-f]{8}$/);
  });
  it('never starts with - or . and defuses LVM reserved words', () => {
    expect(domainVolumePart('-vm')).toMatch(/^vm--vm--[0-9a-f]{8}$/);
    expect(domainVolumePart('.hidden')).toMatch(/^_hidden--[0-9a-f]{8}$/);
    expect(domainVolumePart('snapshot1')).toMatch(/^vm-snapshot1--/);
    expect(domainVolumePart('PVMOVE')).toMatch(/^vm-PVMOVE--/);
    expect(domainVolumePart('pool_tmeta')).toMatch(/^pool-tmeta--/);
    expect(domainVolumePart('a_cdata_rimage')).toMatch(/^a-cdata-rimage--/);
  });
  it('hashes a safe-looking name that ends like a hashed one, so the two cannot collide', () => {
    const hashed = domainVolumePart('vm 1');
    expect(domainVolumePart(hashed)).not.toBe(hashed);
  });
  it('truncates long names with a hash', () => {
    const long = 'x'.repeat(200);
    const part = domainVolumePart(long);
    expect(part.length).toBe(MAX_DOMAIN_PART_LENGTH);
    expect(part).not.toBe(domainVolumePart('x'.repeat(201)));
  });
  it('refuses an empty name', () => expectInvalid(() => domainVolumePart('')));
});

describe('backupVolumeName / metadataVolumeName', () => {
  it('builds the documented forms', () => {
    expect(backupVolumeName({ domain: 'vm1', disk: 'vda', createdAt: AT, setId: SET, format: 'qcow2' })).toBe(
      'vm1.vda.20261126T001500Z-1a2b3c4d.qcow2',
    );
    expect(backupVolumeName({ domain: 'vm1', disk: 'sdb', createdAt: AT, setId: SET, format: 'raw' })).toBe(
      'vm1.sdb.20261126T001500Z-1a2b3c4d.raw',
    );
    expect(metadataVolumeName({ domain: 'vm1', createdAt: AT, setId: SET })).toBe(
      'vm1.20261126T001500Z-1a2b3c4d.volback.xml',
    );
  });
  it('uses the set id to separate two backups in the same second', () => {
    const other = '9F8E7D6C-0000-4000-8000-000000000002';
    const a = backupVolumeName({ domain: 'vm1', disk: 'vda', createdAt: AT, setId: SET, format: 'qcow2' });
    const b = backupVolumeName({ domain: 'vm1', disk: 'vda', createdAt: AT, setId: other, format: 'qcow2' });
    expect(b).toBe('vm1.vda.20261126T001500Z-9f8e7d6c.qcow2');
    expect(a).not.toBe(b);
  });
  it('refuses bad disks, set ids and formats', () => {
    const base = { domain: 'vm1', disk: 'vda', createdAt: AT, setId: SET, format: 'qcow2' as const };
    expectInvalid(() => backupVolumeName({ ...base, disk: 'vd.a' }));
    expectInvalid(() => backupVolumeName({ ...base, disk: '0vda' }));
    expectInvalid(() => backupVolumeName({ ...base, disk: 'v'.repeat(17) }));
    expectInvalid(() => backupVolumeName({ ...base, setId: 'latest' }));
    expectInvalid(() => backupVolumeName({ ...base, format: 'vmdk' as never }));
    expect(setIdPrefix('ABCDEF01-2345')).toBe('abcdef01');
  });
});

describe('parsers', () => {
  it('parse what the builders produce', () => {
    expect(parseBackupVolumeName('vm1.vda.20261126T001500Z-1a2b3c4d.qcow2')).toEqual({
      domainPart: 'vm1',
      disk: 'vda',
      createdAt: new Date('2026-11-26T00:15:00Z'),
      setIdPrefix: '1a2b3c4d',
      format: 'qcow2',
    });
    expect(parseMetadataVolumeName('vm1.20261126T001500Z-1a2b3c4d.volback.xml')).toEqual({
      domainPart: 'vm1',
      createdAt: new Date('2026-11-26T00:15:00Z'),
      setIdPrefix: '1a2b3c4d',
    });
  });
  it('never mistake one kind for the other, nor unrelated volumes for either', () => {
    const data = 'vm1.vda.20261126T001500Z-1a2b3c4d.qcow2';
    const meta = 'vm1.20261126T001500Z-1a2b3c4d.volback.xml';
    expect(parseMetadataVolumeName(data)).toBeUndefined();
    expect(parseBackupVolumeName(meta)).toBeUndefined();
    for (const other of [
      'vm1.qcow2',
      'debian-12.iso',
      'vm1.vda.20261126T001500Z.qcow2',
      'vm1.vda.20261126T001500Z-1A2B3C4D.qcow2',
      'vm1.vda.20261326T001500Z-1a2b3c4d.qcow2',
      'vm1.20261126T001500Z-1a2b3c4d.xml',
      'x.20261126T001500Z-1a2b3c4d.volback.xml.bak',
      '-vm.20261126T001500Z-1a2b3c4d.volback.xml',
      'vm.1.20261126T001500Z-1a2b3c4d.volback.xml',
      'a_tmeta.20261126T001500Z-1a2b3c4d.volback.xml',
      `${'x'.repeat(120)}.20261126T001500Z-1a2b3c4d.volback.xml`,
    ]) {
      expect(parseMetadataVolumeName(other)).toBeUndefined();
      expect(parseBackupVolumeName(other)).toBeUndefined();
    }
  });
});

describe('isSafeVolumeName', () => {
  it('accepts the LVM character set', () => {
    expect(isSafeVolumeName('vm1.vda.20261126T001500Z-1a2b3c4d.qcow2')).toBe(true);
    expect(isSafeVolumeName('a+b_c-d.e')).toBe(true);
    // lvm2 matches its reserved words case-sensitively (strstr), so this is a valid LV name.
    expect(isSafeVolumeName('x_MLOG1')).toBe(true);
  });
  it.each([
    '',
    '-x',
    '.x',
    'a/b',
    'a@b',
    'a b',
    'é',
    'x_tmeta',
    'a:b',
    'snapshot-1',
    'pvmove0',
    'x'.repeat(128),
  ])('rejects %j', (name) => expect(isSafeVolumeName(name)).toBe(false));
});

describe('properties (seeded)', () => {
  const alphabet = [
    ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
    ...'-_. +@:~!#$%&()[]{}\'"',
    'é',
    'ü',
    'ß',
    '仮',
    '想',
    '🙂',
    '\u0301',
  ];
  const tricky = ['_tmeta', '_cdata', 'snapshot', 'pvmove', '--deadbeef', '-', '.'];

  function randomDomain(r: () => number): string {
    const len = 1 + Math.floor(r() ** 3 * 180); // mostly short, some very long
    let s = '';
    while (s.length < len) {
      s += r() < 0.05 ? tricky[Math.floor(r() * tricky.length)] : alphabet[Math.floor(r() * alphabet.length)];
    }
    return s;
  }
  function randomDate(r: () => number): Date {
    const from = Date.UTC(1990, 0, 1);
    const to = Date.UTC(2200, 0, 1);
    return new Date(Math.floor((from + r() * (to - from)) / 1000) * 1000);
  }
  function randomSetId(r: () => number): string {
    const hex = (n: number): string =>
      Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
    return `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
  }

  const r = rng(20261126);
  const disks = ['vda', 'vdb', 'sda', 'hdc', 'xvda', 'nvme0n1'];
  const cases = Array.from({ length: 1500 }, () => ({
    domain: randomDomain(r),
    disk: disks[Math.floor(r() * disks.length)],
    createdAt: randomDate(r),
    setId: randomSetId(r),
    format: (r() < 0.5 ? 'qcow2' : 'raw') as 'qcow2' | 'raw',
  }));
  // Same-second siblings and near-identical domains make collisions likely if the scheme were weak.
  for (let i = 0; i < 200; i++) {
    const c = cases[i];
    cases.push({ ...c, setId: randomSetId(r) });
    cases.push({ ...c, domain: c.domain.replace(/ /g, '_') });
    cases.push({ ...c, domain: `${c.domain} ` });
  }

  it('names are safe, parse back, and fit', () => {
    for (const c of cases) {
      const data = backupVolumeName(c);
      const meta = metadataVolumeName(c);
      for (const name of [data, meta]) {
        expect(isSafeVolumeName(name)).toBe(true);
        expect(name).not.toMatch(/\+/);
        expect(name.length).toBeLessThanOrEqual(127);
      }
      const seconds = new Date(Math.floor(c.createdAt.getTime() / 1000) * 1000);
      const part = domainVolumePart(c.domain);
      expect(isValidDomainPart(part)).toBe(true);
      expect(parseBackupVolumeName(data)).toEqual({
        domainPart: part,
        disk: c.disk,
        createdAt: seconds,
        setIdPrefix: c.setId.slice(0, 8),
        format: c.format,
      });
      expect(parseMetadataVolumeName(meta)).toEqual({
        domainPart: part,
        createdAt: seconds,
        setIdPrefix: c.setId.slice(0, 8),
      });
      expect(parseMetadataVolumeName(data)).toBeUndefined();
      expect(parseBackupVolumeName(meta)).toBeUndefined();
    }
  });

  it('distinct inputs give distinct names', () => {
    const key = (c: (typeof cases)[number]): string =>
      JSON.stringify([c.domain, c.disk, formatUtcStamp(c.createdAt), c.setId.slice(0, 8), c.format]);
    const byName = new Map<string, string>();
    const parts = new Map<string, string>();
    for (const c of cases) {
      const name = backupVolumeName(c);
      const k = key(c);
      expect(byName.get(name) ?? k).toBe(k);
      byName.set(name, k);
      const part = domainVolumePart(c.domain);
      expect(parts.get(part) ?? c.domain).toBe(c.domain);
      parts.set(part, c.domain);
    }
  });

  it('sorting names sorts by (domain, disk, time), metadata first within a domain', () => {
    const names = cases.flatMap((c) => [backupVolumeName(c), metadataVolumeName(c)]);
    const sorted = [...names].sort();
    // Expected order from the parsed fields. The domain key is `<part>.` because `-` sorts before the
    // `.` separator: grouping by domain is exact, the order between domains is that of `<part>.`.
    const key = (n: string): string[] => {
      const d = parseBackupVolumeName(n);
      if (d) return [`${d.domainPart}.`, `1${d.disk}.`, formatUtcStamp(d.createdAt), d.setIdPrefix, d.format];
      const m = parseMetadataVolumeName(n)!;
      return [`${m.domainPart}.`, '0', formatUtcStamp(m.createdAt), m.setIdPrefix, ''];
    };
    const cmp = (a: string[], b: string[]): number => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
      return 0;
    };
    const expected = [...names].sort((a, b) => cmp(key(a), key(b)) || (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted).toEqual(expected);
  });
});

describe('mergeStagingVolumeName', () => {
  it('derives the staging volume from the data volume alone; the catalog parses it as nothing', () => {
    const name = backupVolumeName({
      domain: 'd'.repeat(MAX_DOMAIN_PART_LENGTH),
      disk: 'x'.repeat(MAX_DISK_LENGTH),
      createdAt: new Date('2026-11-26T00:15:00Z'),
      setId: '1a2b3c4d-0000-4000-8000-000000000000',
      format: 'qcow2',
    });
    const staging = mergeStagingVolumeName(name);
    expect(staging).toBe(`${name.slice(0, -6)}.merge.qcow2`);
    expect(staging.length).toBeLessThanOrEqual(MAX_VOLUME_NAME_LENGTH);
    expect(isSafeVolumeName(staging)).toBe(true);
    expect(parseBackupVolumeName(staging)).toBeUndefined();
    expect(parseMetadataVolumeName(staging)).toBeUndefined();
  });

  it('refuses a volume that is not qcow2', () => {
    expect(() => mergeStagingVolumeName('vm1.vda.20261126T001500Z-1a2b3c4d.raw')).toThrow(/no qcow2/);
  });
});

describe('reservedNameReason', () => {
  it.each([
    ['vm1.20261126T001500Z-1a2b3c4d.volback.xml', /backup metadata/],
    ['anything.volback-intent.json', /removal intents/],
    ['volback-catalog.index.json', /catalog index/],
    ['volback-catalog.0123456789ab.gen', /generation markers/],
    ['volback-restoring-0123456789ab.json', /restores in progress/],
    ['vm1.vda.20261126T001500Z-1a2b3c4d.scratch', /scratch/],
    ['vm1.vda.20261126T001500Z-1a2b3c4d.qcow2', /data volume/],
    ['vm1.vda.20261126T001500Z-1a2b3c4d.qcow2.sums', /checksum documents/],
    ['anything.msums', /checksum documents/],
    ['vm1.20261126T001500Z-1a2b3c4d.volback-damage.json', /damage records/],
    ['vm1.vda.20261126T001500Z-1a2b3c4d.merge.qcow2', /merge staging/],
  ])('keeps %s for volback', (name, why) => {
    expect(reservedNameReason(name)).toMatch(why);
  });

  it.each([
    'vm1-vda-manual.qcow2',
    'restored.raw',
    'volback.qcow2',
    'vm1.vda.restored-20261126T001500Z.qcow2',
  ])('leaves %s to the user', (name) => {
    expect(reservedNameReason(name)).toBeUndefined();
  });
});
