// Which removal steps a live restore stands against: a step that deletes or merges a disk backup a
// record lists, whichever host wrote the record; and any step while a record cannot be read.
import { liveReadConflict } from '../../src/core/removal/live-guard';
import type { RemovalStep } from '../../src/core/removal/journal';
import type { FoundLiveRestore } from '../../src/core/shared/live-records';

const step = (over: Partial<RemovalStep>): RemovalStep => ({
  setId: 'set-old',
  removeDisks: [],
  wholeSet: true,
  merges: [],
  reparent: [],
  ...over,
});

const record = (reads: string[], ownHere = false): FoundLiveRestore => ({
  pool: 'backups',
  volume: 'volback-live-0123456789ab.json',
  ownHere,
  restore: {
    id: '0123456789ab',
    domain: 'vm1-live',
    host: 'other-host',
    pid: 1,
    bandwidth: 0,
    setId: 'set-new',
    startedAt: '2026-12-03T10:00:00.000Z',
    disks: [
      {
        target: 'vdb',
        pool: 'backups',
        volume: 'vm1.vdb.restored.qcow2',
        reads: reads.map((diskId) => ({ diskId, setId: 's', pool: 'backups', volume: `${diskId}.qcow2` })),
      },
    ],
  },
});

describe('live restore guard of removals', () => {
  it('refuses deleting a disk backup a record reads, naming domain, disk, host and record', () => {
    const conflict = liveReadConflict([step({ removeDisks: ['d-full'] })], [record(['d-full', 'd-inc'])], []);
    expect(conflict?.message).toMatch(
      /set-old is read by the live restore of domain vm1-live \(disk vdb, .* on other-host\)/,
    );
    expect(conflict?.hint).toContain('volback-live-0123456789ab.json');
  });

  it('refuses merging into or out of a disk backup a record reads', () => {
    const merge = { from: 'd-full', into: 'd-inc', intoSet: 'set-new' };
    expect(liveReadConflict([step({ merges: [merge] })], [record(['d-inc'])], [])).toBeDefined();
    expect(liveReadConflict([step({ merges: [merge] })], [record(['d-full'])], [])).toBeDefined();
  });

  it('lets through steps that touch nothing a record reads', () => {
    const steps = [
      step({ removeDisks: ['d-other'], merges: [{ from: 'd-other', into: 'd-x', intoSet: 'x' }] }),
    ];
    expect(liveReadConflict(steps, [record(['d-full', 'd-inc'])], [])).toBeUndefined();
    expect(liveReadConflict(steps, [], [])).toBeUndefined();
  });

  it('refuses every removal while a record cannot be read, and names it', () => {
    const conflict = liveReadConflict(
      [step({ removeDisks: ['d-other'] })],
      [],
      [{ pool: 'backups', volume: 'volback-live-ffffffffffff.json', error: 'not JSON' }],
    );
    expect(conflict?.message).toMatch(
      /volback-live-ffffffffffff\.json in pool 'backups' cannot be read \(not JSON\)/,
    );
    expect(conflict?.hint).toMatch(/virsh vol-delete volback-live-ffffffffffff\.json --pool backups/);
  });
});
