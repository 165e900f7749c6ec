// The live restore record is untrusted input (any host, any tool can write into a pool): every field
// is checked before a removal or a finishing run reads it, and its name is one users cannot take.
import {
  isLiveRestoreRecord,
  liveRecordDocument,
  liveRecordName,
  newLiveRestoreId,
  parseLiveRecord,
  poolsRead,
  type LiveRestore,
} from '../../src/core/shared/live-records';
import { reservedNameReason } from '../../src/pool/volume-names';
import { signedByThisHost } from '../../src/host/host-key';

const restore = (): LiveRestore => ({
  id: newLiveRestoreId(),
  domain: 'vm1',
  host: 'host-a',
  pid: 4242,
  bandwidth: 0,
  setId: '3f2a7c1e-0000-4000-8000-000000000001',
  startedAt: '2026-12-03T10:00:00.000Z',
  disks: [
    {
      target: 'vda',
      pool: 'restored',
      volume: 'vm1.vda.restored-20261203T100000Z.qcow2',
      reads: [
        { diskId: 'd-full', setId: 's-full', pool: 'backups', volume: 'full.qcow2' },
        { diskId: 'd-inc', setId: 's-inc', pool: 'backups-2', volume: 'inc.qcow2' },
      ],
    },
  ],
});

describe('live restore records', () => {
  it('round-trips through their document, signed', () => {
    const r = restore();
    const { restore: back, mac } = parseLiveRecord(liveRecordDocument(r), 'here');
    expect(back).toEqual(r);
    expect(mac).toMatch(/^[0-9a-f]{64}$/);
    expect(poolsRead(r)).toEqual(['backups', 'backups-2']);
  });

  it('names their volumes in a form users cannot choose and the catalog tells apart', () => {
    const name = liveRecordName(newLiveRestoreId());
    expect(isLiveRestoreRecord(name)).toBe(true);
    expect(isLiveRestoreRecord('volback-live-zz.json')).toBe(false);
    expect(reservedNameReason(name)).toMatch(/live restores/);
  });

  it('refuses a document with any field missing or of the wrong type, naming it', () => {
    const doc = (change: (r: Record<string, unknown>) => void): string => {
      const r = JSON.parse(JSON.stringify(restore())) as Record<string, unknown>;
      change(r);
      return JSON.stringify({ restore: r, mac: 'x' });
    };
    const cases: Array<[string, RegExp]> = [
      ['not json', /not JSON/],
      [JSON.stringify({ mac: 'x' }), /no restore object/],
      [doc((r) => delete r.domain), /field domain/],
      [doc((r) => (r.host = 7)), /field host/],
      [doc((r) => (r.disks = [])), /field disks/],
      [doc((r) => (r.pid = '12')), /field pid/],
      [doc((r) => (r.bandwidth = -1)), /field bandwidth/],
      [doc((r) => ((r.disks as Array<Record<string, unknown>>)[0].target = '')), /disks\[0\]\.target/],
      [doc((r) => ((r.disks as Array<Record<string, unknown>>)[0].volume = 3)), /disks\[0\]\.volume/],
      [doc((r) => ((r.disks as Array<Record<string, unknown>>)[0].reads = 'x')), /disks\[0\]\.reads/],
      [
        doc(
          (r) =>
            ((
              (r.disks as Array<Record<string, unknown>>)[0].reads as Array<Record<string, unknown>>
            )[1].diskId = null),
        ),
        /disks\[0\]\.reads\[1\]\.diskId/,
      ],
    ];
    for (const [text, message] of cases)
      expect(() => parseLiveRecord(text, 'volume v in pool p')).toThrow(message);
  });

  it('signs the fields as a reader rebuilds them, whatever order they were built in', () => {
    const r = restore();
    const shuffled = Object.fromEntries(Object.entries(r).reverse()) as unknown as LiveRestore;
    const { restore: back, mac } = parseLiveRecord(liveRecordDocument(shuffled), 'here');
    expect(signedByThisHost(JSON.stringify(back), mac)).toBe(true);
  });

  it('takes a disk whose layer is not made yet (empty volume)', () => {
    const r = restore();
    r.disks[0].volume = '';
    expect(parseLiveRecord(liveRecordDocument(r), 'here').restore.disks[0].volume).toBe('');
  });
});
