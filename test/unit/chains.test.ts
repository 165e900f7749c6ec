// Unit tests of the chain catalog on hand-built backup sets.
import { ErrorCodes, isVolbackError } from '../../src/errors';
import type { BackupSet, BackupState, DiskBackup } from '../../src/model';
import {
  assertNoDependents,
  buildCatalog,
  dependents,
  filterSets,
  isOnlyDamage,
  latestRestorable,
  restorePath,
  type Catalog,
  type ChainProblemKind,
} from '../../src/core/catalog/chains';

const VM1 = { name: 'vm1', uuid: '11111111-1111-4111-8111-111111111111' };
const VM2 = { name: 'vm2', uuid: '22222222-2222-4222-8222-222222222222' };

interface Spec {
  id: string;
  parent?: string;
  hour: number;
  state?: BackupState;
  domain?: { name: string; uuid: string };
  /** Disk targets; default vda. Disk ids are `<set>-<target>`, parents `<parent>-<target>`. */
  disks?: string[];
  /** Override a disk's parent id. */
  diskParents?: Record<string, string | undefined>;
}

function set(spec: Spec): BackupSet {
  const kind = spec.parent === undefined ? 'full' : 'incremental';
  const disks: DiskBackup[] = (spec.disks ?? ['vda']).map((target) => {
    const override = spec.diskParents && target in spec.diskParents;
    const parentId = override ? spec.diskParents![target] : spec.parent && `${spec.parent}-${target}`;
    return {
      id: `${spec.id}-${target}`,
      target,
      sourcePath: `/var/lib/libvirt/images/${target}.qcow2`,
      sourceFormat: 'qcow2',
      volume: { pool: 'backups', name: `${spec.id}.${target}.qcow2`, format: 'qcow2' },
      kind,
      ...(parentId ? { parentId } : {}),
      virtualSize: 1 << 30,
      bytesCopied: 1 << 20,
    };
  });
  return {
    id: spec.id,
    volbackVersion: '0.1.0',
    mode: 'push',
    kind,
    state: spec.state ?? 'complete',
    createdAt: new Date(Date.UTC(2026, 0, 1, spec.hour)),
    ...(spec.parent ? { parentId: spec.parent } : {}),
    domain: spec.domain ?? VM1,
    disks,
    domainXml: '<domain/>',
  };
}

const kinds = (catalog: Catalog, id: string): ChainProblemKind[] =>
  catalog.sets.get(id)!.problems.map((p) => p.kind);

function expectError(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isVolbackError(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    if (message) expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('linear chain', () => {
  const sets = [
    set({ id: 'i2', parent: 'i1', hour: 2, disks: ['vda', 'vdb'] }),
    set({ id: 'f', hour: 0, disks: ['vda', 'vdb'] }),
    set({ id: 'i1', parent: 'f', hour: 1, disks: ['vda', 'vdb'] }),
  ];
  const catalog = buildCatalog(sets);

  it('orders sets and disks root to leaf', () => {
    const domain = catalog.domains.get(VM1.uuid)!;
    expect(domain.setIds).toEqual(['f', 'i1', 'i2']);
    expect(domain.rootSetIds).toEqual(['f']);
    expect([...domain.disks.keys()]).toEqual(['vda', 'vdb']);
    expect(domain.disks.get('vda')).toEqual({
      domainUuid: VM1.uuid,
      target: 'vda',
      roots: ['f-vda'],
      order: ['f-vda', 'i1-vda', 'i2-vda'],
    });
    expect(catalog.sets.get('f')!.childIds).toEqual(['i1']);
    expect(catalog.problems).toEqual([]);
    expect([...catalog.sets.values()].every((s) => s.restorable)).toBe(true);
  });

  it('restorePath goes from the full to the asked-for backup', () => {
    expect(restorePath(catalog, 'i2-vdb').map((d) => d.id)).toEqual(['f-vdb', 'i1-vdb', 'i2-vdb']);
    expect(restorePath(catalog, 'f-vda').map((d) => d.id)).toEqual(['f-vda']);
    expectError(() => restorePath(catalog, 'nope'), ErrorCodes.NOT_FOUND);
  });

  it('latestRestorable and dependents', () => {
    expect(latestRestorable(catalog, VM1.uuid)?.id).toBe('i2');
    expect(latestRestorable(catalog, VM2.uuid)).toBeUndefined();
    expect(dependents(catalog, 'f').map((s) => s.id)).toEqual(['i1', 'i2']);
    expect(dependents(catalog, 'i2')).toEqual([]);
    expectError(() => dependents(catalog, 'nope'), ErrorCodes.NOT_FOUND);
    expectError(
      () => assertNoDependents(catalog, 'f'),
      ErrorCodes.CONFLICT,
      /backup set f has dependents i1, i2/,
    );
    expect(() => assertNoDependents(catalog, 'i2')).not.toThrow();
  });
});

describe('branching', () => {
  const catalog = buildCatalog([
    set({ id: 'f', hour: 0 }),
    set({ id: 'b', parent: 'f', hour: 2 }),
    set({ id: 'a', parent: 'f', hour: 1 }),
    set({ id: 'a2', parent: 'a', hour: 3 }),
  ]);
  it('keeps both branches, children oldest first, depth-first order', () => {
    expect(catalog.sets.get('f')!.childIds).toEqual(['a', 'b']);
    expect(catalog.domains.get(VM1.uuid)!.disks.get('vda')!.order).toEqual([
      'f-vda',
      'a-vda',
      'a2-vda',
      'b-vda',
    ]);
    expect(restorePath(catalog, 'b-vda').map((d) => d.id)).toEqual(['f-vda', 'b-vda']);
    expect(dependents(catalog, 'f').map((s) => s.id)).toEqual(['a', 'b', 'a2']);
    expect(dependents(catalog, 'a').map((s) => s.id)).toEqual(['a2']);
    expect(latestRestorable(catalog, VM1.uuid)?.id).toBe('a2');
  });
});

describe('orphans and broken subtrees', () => {
  const catalog = buildCatalog([
    set({ id: 'f', hour: 0 }),
    set({ id: 'i1', parent: 'gone', hour: 1 }),
    set({ id: 'i2', parent: 'i1', hour: 2 }),
    set({ id: 'i3', parent: 'i2', hour: 3 }),
    set({ id: 'j1', parent: 'f', hour: 4, state: 'merging' }),
    set({ id: 'j2', parent: 'j1', hour: 5 }),
  ]);

  it('reports the orphan and flags its whole subtree broken', () => {
    expect(kinds(catalog, 'i1')).toEqual(['orphan', 'orphan']); // the set's parent and the disk's parent
    expect(catalog.sets.get('i1')!.problems[0]).toMatchObject({ relatedId: 'gone' });
    expect(kinds(catalog, 'i2')).toEqual(['broken']);
    expect(catalog.sets.get('i3')!.problems[0]).toMatchObject({ kind: 'broken', relatedId: 'i1' });
    expect(catalog.domains.get(VM1.uuid)!.rootSetIds).toEqual(['f', 'i1']);
    for (const id of ['i1', 'i2', 'i3']) expect(catalog.sets.get(id)!.restorable).toBe(false);
    expect(catalog.disks.get('i3-vda')!.restorable).toBe(false);
  });

  it('treats merging/deleting sets as incomplete and their subtree as broken', () => {
    expect(kinds(catalog, 'j1')).toEqual(['incomplete']);
    expect(kinds(catalog, 'j2')).toEqual(['broken']);
    expect(catalog.sets.get('f')!.restorable).toBe(true);
    expect(latestRestorable(catalog, VM1.uuid)?.id).toBe('f');
  });

  it('restorePath names the missing parent or the unusable set', () => {
    expectError(() => restorePath(catalog, 'i3-vda'), ErrorCodes.CHAIN_BROKEN, /gone-vda/);
    expectError(() => restorePath(catalog, 'j2-vda'), ErrorCodes.CHAIN_BROKEN, /j1 is in state merging/);
  });

  it('reports problems in a stable order', () => {
    expect(catalog.problems.map((p) => `${p.setId}:${p.kind}`)).toEqual([
      'i1:orphan',
      'i1:orphan',
      'i2:broken',
      'i3:broken',
      'j1:incomplete',
      'j2:broken',
    ]);
  });
});

describe('cycles', () => {
  it('flags every member and what hangs below', () => {
    const catalog = buildCatalog([
      set({ id: 'a', parent: 'c', hour: 1 }),
      set({ id: 'b', parent: 'a', hour: 2 }),
      set({ id: 'c', parent: 'b', hour: 3 }),
      set({ id: 'd', parent: 'c', hour: 4 }),
    ]);
    for (const id of ['a', 'b', 'c']) expect(kinds(catalog, id)).toContain('cycle');
    expect(kinds(catalog, 'd')).toEqual(['broken']);
    expect(catalog.domains.get(VM1.uuid)!.rootSetIds).toEqual([]);
    expect(dependents(catalog, 'a').map((s) => s.id)).toEqual(['b', 'c', 'd']);
    expectError(() => restorePath(catalog, 'd-vda'), ErrorCodes.CHAIN_BROKEN, /cycle/);
  });
  it('a set naming itself', () => {
    const catalog = buildCatalog([set({ id: 'a', parent: 'a', hour: 1 })]);
    expect(kinds(catalog, 'a')).toContain('cycle');
  });
});

describe('disk mismatches', () => {
  it('parent disk of another target, another domain, or outside the ancestry', () => {
    const catalog = buildCatalog([
      set({ id: 'f', hour: 0, disks: ['vda', 'vdb'] }),
      set({ id: 'x', hour: 1, disks: ['vda'] }),
      set({ id: 'i1', parent: 'f', hour: 2, disks: ['vda', 'vdb'], diskParents: { vdb: 'f-vda' } }),
      set({ id: 'i2', parent: 'f', hour: 3, disks: ['vda'], diskParents: { vda: 'x-vda' } }),
      set({ id: 'o', hour: 4, domain: VM2 }),
      set({ id: 'i3', parent: 'o', hour: 5 }),
    ]);
    expect(catalog.sets.get('i1')!.problems).toEqual([
      expect.objectContaining({ kind: 'disk-mismatch', diskBackupId: 'i1-vdb', relatedId: 'f-vda' }),
    ]);
    expect(kinds(catalog, 'i2')).toEqual(['disk-mismatch']);
    expect(kinds(catalog, 'i3')).toContain('disk-mismatch');
    expect(catalog.sets.get('i1')!.restorable).toBe(false);
    // The other disk of i1 is fine on its own: a single-disk restore still works.
    expect(restorePath(catalog, 'i1-vda').map((d) => d.id)).toEqual(['f-vda', 'i1-vda']);
    expectError(() => restorePath(catalog, 'i1-vdb'), ErrorCodes.CHAIN_BROKEN, /disk vda/);
  });

  it('a disk may chain to an older ancestor (a set that skipped the disk)', () => {
    const catalog = buildCatalog([
      set({ id: 'f', hour: 0, disks: ['vda', 'vdb'] }),
      set({ id: 'i1', parent: 'f', hour: 1, disks: ['vda'] }),
      set({ id: 'i2', parent: 'i1', hour: 2, disks: ['vda', 'vdb'], diskParents: { vdb: 'f-vdb' } }),
    ]);
    expect(catalog.problems).toEqual([]);
    expect(restorePath(catalog, 'i2-vdb').map((d) => d.id)).toEqual(['f-vdb', 'i2-vdb']);
  });

  it('an incremental disk without a parent is an orphan', () => {
    const catalog = buildCatalog([
      set({ id: 'f', hour: 0 }),
      set({ id: 'i1', parent: 'f', hour: 1, diskParents: { vda: undefined } }),
    ]);
    expect(catalog.sets.get('i1')!.problems).toEqual([
      expect.objectContaining({ kind: 'orphan', diskBackupId: 'i1-vda' }),
    ]);
  });
});

describe('duplicates across pools', () => {
  it('merges equal copies', () => {
    const f = set({ id: 'f', hour: 0 });
    const catalog = buildCatalog([f, structuredClone(f), set({ id: 'i1', parent: 'f', hour: 1 })]);
    expect(catalog.problems).toEqual([]);
    expect(catalog.sets.get('f')!.copies).toBe(2);
    expect(catalog.sets.size).toBe(2);
  });
  it('reports copies that disagree, and what depends on them', () => {
    const f = set({ id: 'f', hour: 0 });
    const catalog = buildCatalog([f, { ...f, state: 'deleting' }, set({ id: 'i1', parent: 'f', hour: 1 })]);
    expect(catalog.sets.get('f')!.problems).toEqual([
      expect.objectContaining({
        kind: 'duplicate-conflict',
        message: expect.stringMatching(/disagree on state/),
      }),
    ]);
    expect(kinds(catalog, 'i1')).toEqual(['broken']);
    expect(catalog.sets.get('f')!.set.state).toBe('complete'); // first copy wins
  });
  it('reports one disk backup id claimed by two sets', () => {
    const a = set({ id: 'a', hour: 0 });
    const b = set({ id: 'b', hour: 1 });
    b.disks[0].id = 'a-vda';
    const catalog = buildCatalog([a, b]);
    expect(kinds(catalog, 'a')).toEqual(['duplicate-conflict']);
    expect(kinds(catalog, 'b')).toEqual(['duplicate-conflict']);
  });
});

describe('filterSets', () => {
  const sets = [
    set({ id: 'f', hour: 0, disks: ['vda', 'vdb'] }),
    set({ id: 'i1', parent: 'f', hour: 5, disks: ['vda'] }),
    set({ id: 'g', hour: 10, domain: VM2 }),
  ];
  const ids = (f: Parameters<typeof filterSets>[1]): string[] => filterSets(sets, f).map((s) => s.id);
  it('filters on every criterion, bounds inclusive', () => {
    expect(ids({})).toEqual(['f', 'i1', 'g']);
    expect(ids({ domainName: 'vm2' })).toEqual(['g']);
    expect(ids({ domainUuid: VM1.uuid.toUpperCase() })).toEqual(['f', 'i1']);
    expect(ids({ disk: 'vdb' })).toEqual(['f']);
    expect(ids({ kind: 'incremental' })).toEqual(['i1']);
    expect(ids({ from: new Date(Date.UTC(2026, 0, 1, 5)) })).toEqual(['i1', 'g']);
    expect(ids({ to: new Date(Date.UTC(2026, 0, 1, 5)) })).toEqual(['f', 'i1']);
    expect(ids({ domainName: 'vm1', kind: 'full', disk: 'vda' })).toEqual(['f']);
  });
});

describe('damage records', () => {
  const sets = [
    set({ id: 'f', hour: 0 }),
    set({ id: 'i1', parent: 'f', hour: 1 }),
    set({ id: 'i2', parent: 'i1', hour: 2 }),
    set({ id: 'g', hour: 3 }),
    set({ id: 'k1', parent: 'gone', hour: 4 }),
    set({ id: 'k2', parent: 'k1', hour: 5 }),
  ];
  const catalog = buildCatalog(sets, {
    damage: [
      { setId: 'f', message: 'verify found damaged data: disk vda bytes 0-1048575' },
      { setId: 'f', message: 'verify found damaged data: disk vda bytes 0-1048575' },
      { setId: 'k1', message: 'restore found damaged data' },
    ],
  });

  it('marks the set damaged once per message, and every descendant as depending on damaged data', () => {
    expect(kinds(catalog, 'f')).toEqual(['damaged']);
    expect(catalog.sets.get('f')!.problems[0].message).toBe(
      'backup set f is damaged: verify found damaged data: disk vda bytes 0-1048575',
    );
    expect(catalog.sets.get('i1')!.problems).toEqual([
      expect.objectContaining({
        kind: 'damaged-ancestor',
        relatedId: 'f',
        message: expect.stringContaining('whose data is damaged'),
      }),
    ]);
    expect(catalog.sets.get('i2')!.problems[0]).toMatchObject({ kind: 'damaged-ancestor', relatedId: 'f' });
    for (const id of ['f', 'i1', 'i2']) expect(catalog.sets.get(id)!.restorable).toBe(false);
    expect(catalog.sets.get('g')!.restorable).toBe(true);
    expect(latestRestorable(catalog, VM1.uuid)?.id).toBe('g');
    expect(isOnlyDamage(catalog.sets.get('i2')!.problems)).toBe(true);
  });

  it('a damaged set that is also an orphan breaks its subtree: broken is the stronger word', () => {
    expect(kinds(catalog, 'k1')).toEqual(['orphan', 'orphan', 'damaged']);
    expect(kinds(catalog, 'k2')).toEqual(['broken']);
    expect(isOnlyDamage(catalog.sets.get('k2')!.problems)).toBe(false);
  });

  it('restorePath still gives the chain of a damaged set: the restore checks what it reads', () => {
    expect(restorePath(catalog, 'i2-vda').map((d) => d.id)).toEqual(['f-vda', 'i1-vda', 'i2-vda']);
  });
});
