// The live catalog prune plans on: after every removal of a random prune, its set and disk links
// (parents, children in order, restorability) equal a catalog rebuilt from the sets as they now are.
import { buildCatalog, type Catalog } from '../../src/core/catalog/chains';
import { planRemoval } from '../../src/core/removal/delete';
import { remainingSet, rewrittenChild } from '../../src/core/removal/journal';
import { LiveCatalog, type CatalogLinks } from '../../src/core/removal/live-catalog';
import { SetIndex } from '../../src/core/removal/known-sets';
import type { BackupSet, DiskBackup } from '../../src/model';

const DOMAIN = { name: 'vm1', uuid: '4dea22b3-1d52-d8f3-2516-782e98ab3fa0' };
let n = 0;
const uuid = (): string => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;

function makeSet(parent: BackupSet | undefined, minute: number): BackupSet {
  const id = uuid();
  const disks: DiskBackup[] = ['vda', 'vdb'].map((target) => {
    const p = parent?.disks.find((d) => d.target === target);
    return {
      id: uuid(),
      target,
      sourcePath: `/img/${target}.qcow2`,
      sourceFormat: 'qcow2',
      volume: { pool: 'volback', name: `vm1.${target}.${id}.qcow2`, format: 'qcow2' },
      kind: p ? 'incremental' : 'full',
      ...(p ? { parentId: p.id } : {}),
      virtualSize: 1 << 20,
      bytesCopied: 0,
    };
  });
  return {
    id,
    volbackVersion: '0.1.0',
    mode: 'push',
    kind: parent ? 'incremental' : 'full',
    state: 'complete',
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, minute)),
    ...(parent ? { parentId: parent.id } : {}),
    domain: DOMAIN,
    disks,
    domainXml: '<domain/>',
  };
}

/** A deterministic pseudo-random sequence (so a failure repeats). */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

const links = (c: CatalogLinks) => ({
  sets: [...c.sets.entries()]
    .map(([id, s]) => ({ id, parentId: s.parentId, childIds: [...s.childIds], restorable: s.restorable }))
    .sort((a, b) => (a.id < b.id ? -1 : 1)),
  disks: [...c.disks.entries()]
    .map(([id, d]) => ({ id, setId: d.setId, parentId: d.parentId, childIds: [...d.childIds] }))
    .sort((a, b) => (a.id < b.id ? -1 : 1)),
});

describe('LiveCatalog', () => {
  it.each([1, 2, 3, 4, 5, 6])('follows a rebuild through a random prune (seed %i)', (seed) => {
    const random = rng(seed);
    // Chains with a full now and then, some branches.
    const sets: BackupSet[] = [];
    for (let i = 0; i < 60; i++) {
      const parent =
        sets.length === 0 || random() < 0.1 ? undefined : sets[Math.floor(sets.length - 1 - random() * 2)];
      sets.push(makeSet(parent && sets.includes(parent) ? parent : undefined, i));
    }
    const index = new SetIndex(sets.map((s) => [s.id, { set: s, copies: [] }]));
    const live = new LiveCatalog(buildCatalog(sets));
    let removals = 0;
    for (let round = 0; round < 40; round++) {
      const current = (): Catalog => buildCatalog([...index.values()].map((e) => e.set));
      const ids = [...index.keys()];
      const id = ids[Math.floor(random() * ids.length)];
      const mode = random() < 0.5 ? 'merge' : 'refuse';
      let steps;
      try {
        steps = planRemoval(live, id, { dependents: mode });
      } catch {
        // The same refusal on the rebuilt catalog.
        expect(() => planRemoval(current(), id, { dependents: mode })).toThrow();
        continue;
      }
      expect(steps).toEqual(planRemoval(current(), id, { dependents: mode }));
      for (const step of steps) {
        const original = index.get(step.setId)!.set;
        for (const child of new Set([...step.merges.map((m) => m.intoSet), ...step.reparent])) {
          const set = rewrittenChild(index.get(child)!.set, original, step);
          index.set(child, { set, copies: [] });
          live.replace(set);
        }
        if (step.wholeSet) {
          index.delete(step.setId);
          live.remove(step.setId);
        } else {
          index.set(step.setId, { set: remainingSet(original, step), copies: [] });
          live.replace(index.get(step.setId)!.set);
        }
        removals++;
      }
      expect(links(live)).toEqual(links(current()));
    }
    expect(removals).toBeGreaterThan(5);
  });

  it('marks a set left standing on a removed one as an orphan, as a rebuild does', () => {
    const f = makeSet(undefined, 0);
    const a = makeSet(f, 1);
    const live = new LiveCatalog(buildCatalog([f, a]));
    live.remove(f.id);
    const rebuilt = buildCatalog([a]);
    expect(live.sets.get(a.id)!.restorable).toBe(false);
    expect(live.sets.get(a.id)!.problems.map((p) => p.kind)).toContain('orphan');
    expect(rebuilt.sets.get(a.id)!.restorable).toBe(false);
    expect(live.disks.get(a.disks[0].id)!.parentId).toBeUndefined();
  });
});

describe('SetIndex', () => {
  it('keeps claims, disks and checkpoints current through set and delete', () => {
    const f = makeSet(undefined, 0);
    const a = { ...makeSet(f, 1), checkpoint: { name: 'volback-a', xml: '<domaincheckpoint/>' } };
    const index = new SetIndex([
      [f.id, { set: f, copies: [] }],
      [a.id, { set: a, copies: [] }],
    ]);
    const key = `volback\n${a.disks[0].volume!.name}`;
    expect(index.claims.get(key)).toEqual([a.id]);
    expect(index.disk(a.disks[1].id)).toBe(a.disks[1]);
    expect(index.recordingCheckpoint(DOMAIN.uuid, 'volback-a')).toEqual([a]);
    const fewer = { ...a, disks: [a.disks[1]] };
    index.set(a.id, { set: fewer, copies: [] });
    expect(index.claims.get(key)).toBeUndefined();
    expect(index.disk(a.disks[0].id)).toBeUndefined();
    index.delete(a.id);
    expect(index.recordingCheckpoint(DOMAIN.uuid, 'volback-a')).toEqual([]);
    expect(index.disk(a.disks[1].id)).toBeUndefined();
    expect([...index.keys()]).toEqual([f.id]);
  });
});
