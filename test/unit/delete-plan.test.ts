// The pure parts of delete and its journal: which removals a delete plans under each dependents mode,
// how a child's metadata is rewritten, intent names and parsing, and when a removal counts as started.
import { planRemoval, resolveSetId } from '../../src/core/removal/delete';
import { buildCatalog } from '../../src/core/catalog/chains';
import {
  intentVolumeName,
  parseIntent,
  removalConflict,
  removalStarted,
  rewrittenChild,
  type RemovalIntent,
} from '../../src/core/removal/journal';
import type { BackupSet, DiskBackup } from '../../src/model';
import { isVolbackError } from '../../src/errors';

const DOMAIN = { name: 'vm1', uuid: '4dea22b3-1d52-d8f3-2516-782e98ab3fa0' };
let n = 0;
const uuid = (prefix: string): string =>
  `${prefix.padEnd(8, '0')}-0000-4000-8000-${String(++n).padStart(12, '0')}`;

function set(id: string, parent: BackupSet | undefined, targets: string[], minute: number): BackupSet {
  const disks: DiskBackup[] = targets.map((target) => {
    const p = parent?.disks.find((d) => d.target === target);
    return {
      id: uuid(`d${id}`),
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
    id: uuid(id),
    volbackVersion: '0.1.0',
    mode: 'push',
    kind: parent ? 'incremental' : 'full',
    state: 'complete',
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, minute)),
    ...(parent ? { parentId: parent.id } : {}),
    domain: DOMAIN,
    checkpoint: {
      name: `volback-${id}`,
      ...(parent ? { parent: `volback-${parent.checkpoint!.name.slice(8)}` } : {}),
      xml: `<domaincheckpoint>\n  <name>volback-${id}</name>\n${parent ? `  <parent>\n    <name>${parent.checkpoint!.name}</name>\n  </parent>\n` : ''}</domaincheckpoint>\n`,
    },
    disks,
    domainXml: '<domain/>',
  };
}

describe('planRemoval', () => {
  const f = set('f', undefined, ['vda', 'vdb'], 0);
  const a = set('a', f, ['vda', 'vdb'], 1);
  const b = set('b', a, ['vda', 'vdb'], 2);
  const catalog = buildCatalog([f, a, b]);

  it('removes a leaf with nothing to merge', () => {
    expect(planRemoval(catalog, b.id, { dependents: 'refuse' })).toEqual([
      { setId: b.id, removeDisks: b.disks.map((d) => d.id), wholeSet: true, merges: [], reparent: [] },
    ]);
  });

  it('refuses naming every dependent', () => {
    try {
      planRemoval(catalog, f.id, { dependents: 'refuse' });
      throw new Error('not refused');
    } catch (err) {
      expect(isVolbackError(err, 'ERR_CONFLICT')).toBe(true);
      expect((err as Error).message).toContain(a.id);
      expect((err as Error).message).toContain(b.id);
    }
  });

  it('merges a full into its child (the child becomes a full) and a middle set onto its parent', () => {
    const [full] = planRemoval(catalog, f.id, { dependents: 'merge' });
    expect(full.merges).toEqual(f.disks.map((d, i) => ({ from: d.id, into: a.disks[i].id, intoSet: a.id })));
    const [middle] = planRemoval(catalog, a.id, { dependents: 'merge' });
    expect(middle.merges).toEqual(
      a.disks.map((d, i) => ({ from: d.id, into: b.disks[i].id, intoSet: b.id, newParent: f.disks[i].id })),
    );
  });

  it('cascades leaves first, and a disk-level delete of a parent takes the child disks with it', () => {
    expect(planRemoval(catalog, f.id, { dependents: 'cascade' }).map((s) => s.setId)).toEqual([
      b.id,
      a.id,
      f.id,
    ]);
    const disk = planRemoval(catalog, a.id, { disks: ['vdb'], dependents: 'cascade' });
    expect(disk.map((s) => [s.setId, s.removeDisks, s.wholeSet])).toEqual([
      [b.id, [b.disks[1].id], false],
      [a.id, [a.disks[1].id], false],
    ]);
  });

  it('refuses a merge when a disk backup has two children', () => {
    const c = set('c', a, ['vda'], 3);
    const branched = buildCatalog([f, a, b, c]);
    expect(() => planRemoval(branched, a.id, { dependents: 'merge' })).toThrow(
      /2 child backups.*exactly one child chain per disk/,
    );
  });

  it('names unknown disks and resolves unique prefixes', () => {
    expect(() => planRemoval(catalog, a.id, { disks: ['vdz'], dependents: 'refuse' })).toThrow(
      /no backup of disk vdz/,
    );
    expect(resolveSetId(catalog, b.id.slice(0, 4))).toBe(b.id);
    expect(() => resolveSetId(catalog, '0000')).toThrow(/no backup set with id 0000 in any active pool/);
  });
});

describe('journal', () => {
  const f = set('f', undefined, ['vda'], 0);
  const a = set('a', f, ['vda'], 1);
  const b = set('b', a, ['vda'], 2);

  it('rewrites a child of a removed full into a full whose checkpoint has no parent, idempotently', () => {
    const [step] = planRemoval(buildCatalog([f, a, b]), f.id, { dependents: 'merge' });
    const once = rewrittenChild(a, f, step);
    expect(once).toMatchObject({ kind: 'full', checkpoint: { name: a.checkpoint!.name } });
    expect(once.parentId).toBeUndefined();
    expect(once.checkpoint!.parent).toBeUndefined();
    expect(once.checkpoint!.xml).not.toContain('<parent>');
    expect(once.disks[0]).toMatchObject({ kind: 'full' });
    expect(once.disks[0].parentId).toBeUndefined();
    expect(rewrittenChild(once, f, step)).toEqual(once);
  });

  it('rewrites a child of a removed middle set onto the grandparent', () => {
    const [step] = planRemoval(buildCatalog([f, a, b]), a.id, { dependents: 'merge' });
    const out = rewrittenChild(b, a, step);
    expect(out).toMatchObject({
      kind: 'incremental',
      parentId: f.id,
      checkpoint: { parent: f.checkpoint!.name },
    });
    expect(out.disks[0].parentId).toBe(f.disks[0].id);
    expect(out.checkpoint!.xml).toContain(`<name>${f.checkpoint!.name}</name>`);
  });

  it('names intent volumes beside metadata volumes, outside the catalog patterns', () => {
    expect(intentVolumeName('vm1.20261126T001500Z-1a2b3c4d.volback.xml')).toBe(
      'vm1.20261126T001500Z-1a2b3c4d.volback-intent.json',
    );
    expect(() => intentVolumeName('vm1.vda.x.qcow2')).toThrow();
  });

  it('refuses intents cut short or malformed', () => {
    expect(() => parseIntent('{"format":"volback-removal-int', 'x')).toThrow(/not a removal intent/);
    expect(() => parseIntent('{"format":"volback-removal-intent","version":1}', 'x')).toThrow(
      /missing or mistyped/,
    );
    const ok: RemovalIntent = {
      format: 'volback-removal-intent',
      version: 1,
      startedAt: '2026-01-01T00:00:00.000Z',
      domainUuid: DOMAIN.uuid,
      step: { setId: f.id, removeDisks: [], wholeSet: true, merges: [], reparent: [] },
      set: { xml: '<x/>', copies: [{ pool: 'p', name: 'n' }] },
      rewrites: [],
      rebases: [],
    };
    expect(parseIntent(JSON.stringify(ok), 'x')).toEqual(ok);
  });

  it('counts a removal as started once any metadata copy is marked, missing or unreadable', () => {
    expect(removalStarted([a, a])).toBe(false);
    expect(removalStarted([a, { ...a, state: 'merging' }])).toBe(true);
    expect(removalStarted([a, undefined])).toBe(true);
  });

  it('finds a conflict when a new backup stands on what an intent removes', () => {
    const [step] = planRemoval(buildCatalog([f, a]), a.id, { dependents: 'refuse' });
    const intent = { step } as RemovalIntent;
    expect(removalConflict(buildCatalog([f, a]), intent)).toBeUndefined();
    expect(removalConflict(buildCatalog([f, a, b]), intent)).toMatch(/stands on/);
  });
});
