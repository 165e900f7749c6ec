// The catalog index's encoding: lossless for every set field, and refused when cut, altered or stale.
import { decodeIndex, encodeIndex } from '../../src/pool/catalog-index';
import { forgeIndex } from '../support/forged-index';
import type { BackupSet } from '../../src/model';

const set = (id: string, domainXml: string): BackupSet => ({
  id,
  volbackVersion: '0.1.0',
  mode: 'push',
  kind: 'incremental',
  state: 'complete',
  createdAt: new Date(Date.UTC(2026, 10, 26, 0, 15, 0, 123)),
  completedAt: new Date(Date.UTC(2026, 10, 26, 0, 16, 0, 456)),
  parentId: 'p-1',
  domain: { name: 'vm1', uuid: 'u-1' },
  checkpoint: { name: 'volback-x', parent: 'volback-p', xml: '<domaincheckpoint/>' },
  fallbackReason: undefined,
  disks: [
    {
      id: 'd',
      target: 'vda',
      sourcePath: '/a',
      sourceFormat: 'qcow2',
      volume: { pool: 'p', name: 'n', format: 'qcow2' },
      kind: 'incremental',
      parentId: 'pd',
      bitmap: 'volback-x',
      virtualSize: 2 ** 40,
      bytesCopied: 65536,
    },
  ],
  domainXml,
});

describe('catalog index encoding', () => {
  const generation = ['volback-catalog.0123456789ab.gen'];
  const sets = new Map([
    ['a.volback.xml', set('a', "<domain type='kvm'>é &amp; <name>vm1</name></domain>")],
    ['b.volback.xml', set('b', "<domain type='kvm'>é &amp; <name>vm1</name></domain>")],
    ['c.volback.xml', { ...set('c', '<domain/>'), completedAt: undefined, description: 'd' }],
  ]);

  it('round-trips every set and stores a shared domain XML once', () => {
    const text = encodeIndex(generation, sets);
    expect(text.split('<name>vm1</name>').length - 1).toBe(1);
    const decoded = decodeIndex(text, generation)!;
    expect([...decoded.keys()]).toEqual([...sets.keys()]);
    for (const [name, original] of sets) {
      const copy = decoded.get(name)!;
      expect(copy).toEqual(
        JSON.parse(JSON.stringify(original), (k, v) => (k.endsWith('At') ? new Date(v) : v)),
      );
      expect(copy.createdAt).toBeInstanceOf(Date);
    }
  });

  it('refuses an index that is cut short, altered, or built under another generation', () => {
    const text = encodeIndex(generation, sets);
    expect(decodeIndex(text.slice(0, -5), generation)).toBeUndefined();
    expect(decodeIndex(text.replace('"vda"', '"vdb"'), generation)).toBeUndefined();
    expect(decodeIndex(text, ['volback-catalog.ba9876543210.gen'])).toBeUndefined();
    expect(decodeIndex(text, [])).toBeUndefined();
    expect(decodeIndex('not an index', generation)).toBeUndefined();
  });

  it("refuses an index signed with another key than this host's", () => {
    expect(decodeIndex(encodeIndex(generation, sets), generation)).toBeDefined();
    expect(decodeIndex(forgeIndex(generation, sets), generation)).toBeUndefined();
  });
});
