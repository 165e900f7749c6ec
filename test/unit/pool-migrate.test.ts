// The pure parts of `volback pool migrate`: chains of the root's sets, which sets cannot move, the
// retargeted copy, and the metadata-only rebase argv its dir driver runs.
import type { BackupSet } from '../../src/model';
import { chainsOf, migrationRefusal, retargetSet } from '../../src/core/migration/pool-migrate';
import { rebaseUnsafeArgv } from '../../src/tools/qemu-img';

const set = (id: string, minute: number, parentId?: string, over: Partial<BackupSet> = {}): BackupSet => ({
  id,
  volbackVersion: '0',
  mode: 'push',
  kind: parentId ? 'incremental' : 'full',
  state: 'complete',
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, minute)),
  parentId,
  domain: { name: 'vm1', uuid: '11111111-2222-3333-4444-555555555555' },
  disks: [
    {
      id: `${id}-vda`,
      target: 'vda',
      sourcePath: '/d/vda.qcow2',
      sourceFormat: 'qcow2',
      volume: { pool: 'volback', name: `vm1.vda.${id}.qcow2`, format: 'qcow2' },
      kind: parentId ? 'incremental' : 'full',
      virtualSize: 1024,
      bytesCopied: 0,
    },
  ],
  domainXml: '<domain/>',
  ...over,
});

describe('pool migrate: chains and refusals', () => {
  it('groups sets into chains, each oldest first, a set whose parent is elsewhere starting its own', () => {
    const chains = chainsOf([
      set('c', 3, 'b'),
      set('a', 1),
      set('b', 2, 'a'),
      set('x', 4),
      set('y', 5, 'gone'),
    ]);
    expect(chains.map((c) => c.map((s) => s.id))).toEqual([['a', 'b', 'c'], ['x'], ['y']]);
  });

  it('refuses sets that are not complete, encrypted, or not wholly in the root', () => {
    expect(migrationRefusal(set('a', 1), 'volback')).toBeUndefined();
    expect(migrationRefusal(set('a', 1, undefined, { state: 'merging' }), 'volback')).toMatch(
      /state merging/,
    );
    expect(
      migrationRefusal(
        set('a', 1, undefined, { encryption: { secretUuid: 'u' } as BackupSet['encryption'] }),
        'volback',
      ),
    ).toMatch(/encrypted/);
    expect(migrationRefusal(set('a', 1), 'other')).toMatch(/vda backup is in pool volback, not in other/);
    const external = set('a', 1);
    delete external.disks[0].volume;
    expect(migrationRefusal(external, 'volback')).toMatch(/external/);
  });

  it('retargets only the data volumes pool, nothing else', () => {
    const moved = retargetSet(set('a', 1), 'volback-x');
    expect(moved.disks[0].volume).toEqual({ pool: 'volback-x', name: 'vm1.vda.a.qcow2', format: 'qcow2' });
    expect({ ...moved, disks: [] }).toEqual({ ...set('a', 1), disks: [] });
  });

  it('re-points a copy with a metadata-only rebase (-u)', () => {
    expect(
      rebaseUnsafeArgv({ path: '/d/c.qcow2', format: 'qcow2' }, { path: '/d/p.qcow2', format: 'qcow2' }),
    ).toEqual(['qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', '/d/p.qcow2', '-F', 'qcow2', '/d/c.qcow2']);
  });
});
