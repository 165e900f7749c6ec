// What a removal may delete: only a volume volback can prove is the set's own — by its name, by a
// metadata copy of the set in the volume's pool, and by no other set naming it.
import type { BackupSet } from '../../src/model';
import {
  claimsOf,
  isOwnMetadataCopy,
  proveDataVolume,
  volumesToDelete,
} from '../../src/core/removal/ownership';
import { backupVolumeName, metadataVolumeName } from '../../src/pool/volume-names';

const createdAt = new Date(Date.UTC(2026, 11, 1, 12, 0, 0, 0));
const SET = '1a2b3c4d-0000-4000-8000-000000000001';
const OTHER = '9f9f9f9f-0000-4000-8000-000000000002';

function set(id: string, volume: { pool: string; name?: string }): BackupSet {
  return {
    id,
    volbackVersion: '0.1.0',
    mode: 'push',
    kind: 'full',
    state: 'complete',
    createdAt,
    domain: { name: 'vm1', uuid: 'u-1' },
    disks: [
      {
        id: `${id}-vda`,
        target: 'vda',
        sourcePath: '/img/vda.qcow2',
        sourceFormat: 'qcow2',
        volume: {
          pool: volume.pool,
          name:
            volume.name ??
            backupVolumeName({ domain: 'vm1', disk: 'vda', createdAt, setId: id, format: 'qcow2' }),
          format: 'qcow2',
        },
        kind: 'full',
        virtualSize: 1,
        bytesCopied: 1,
      },
    ],
    domainXml: '<domain/>',
  };
}
const copyIn = (s: BackupSet, pool: string) => ({
  pool,
  name: metadataVolumeName({ domain: s.domain.name, createdAt: s.createdAt, setId: s.id }),
});

describe('proveDataVolume', () => {
  it("deletes a volume named as the set's, in a pool holding the set's metadata, named by no other set", () => {
    const s = set(SET, { pool: 'backups' });
    const verdict = proveDataVolume(s, s.disks[0], [copyIn(s, 'backups')], claimsOf([s]));
    expect(verdict).toEqual({ mine: true, ref: { pool: 'backups', name: s.disks[0].volume!.name } });
  });

  it.each([
    [
      "a volume in a pool without the set's metadata (a document in one pool naming another pool's volume)",
      set(SET, { pool: 'vm-disks' }),
      ['backups'],
      /keeps no metadata in pool vm-disks/,
    ],
    [
      "a volume whose name is not volback's for that disk of that set",
      set(SET, { pool: 'backups', name: 'victim.qcow2' }),
      ['backups'],
      /its name is not the one volback gives/,
    ],
    [
      "another set's volume",
      set(SET, {
        pool: 'backups',
        name: backupVolumeName({ domain: 'vm1', disk: 'vda', createdAt, setId: OTHER, format: 'qcow2' }),
      }),
      ['backups'],
      /its name is not the one/,
    ],
  ])('keeps %s', (_what, s, pools, reason) => {
    const verdict = proveDataVolume(
      s,
      s.disks[0],
      pools.map((p) => copyIn(s, p)),
      claimsOf([s]),
    );
    expect(verdict.mine).toBe(false);
    expect(!verdict.mine && verdict.kept.reason).toMatch(reason);
  });

  it('keeps a volume two sets claim, whichever is removed', () => {
    const a = set(SET, { pool: 'backups' });
    const b = { ...set(OTHER, { pool: 'backups' }), disks: a.disks.map((d) => ({ ...d, id: 'b-vda' })) };
    const claims = claimsOf([a, b]);
    const verdict = proveDataVolume(a, a.disks[0], [copyIn(a, 'backups')], claims);
    expect(!verdict.mine && verdict.kept.reason).toBe(`set ${OTHER} also names it`);
    expect(volumesToDelete(b, ['b-vda'], [copyIn(b, 'backups')], claims).delete).toEqual([]);
  });
});

describe('isOwnMetadataCopy', () => {
  it("accepts only the name volback gives the set's metadata", () => {
    const s = set(SET, { pool: 'backups' });
    expect(isOwnMetadataCopy(s, copyIn(s, 'backups'))).toBe(true);
    expect(isOwnMetadataCopy(s, { pool: 'backups', name: 'users-notes.volback.xml' })).toBe(false);
    expect(isOwnMetadataCopy(s, copyIn(set(OTHER, { pool: 'backups' }), 'backups'))).toBe(false);
  });
});
