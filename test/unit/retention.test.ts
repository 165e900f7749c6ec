// Unit tests of the prune planner: restic-style bucket counts on a synthetic calendar, chain-aware merges, policy errors.
import { ErrorCodes, isVolbackError } from '../../src/errors';
import type { BackupSet, BackupState, RetentionPolicy } from '../../src/model';
import {
  bucketKey,
  isoWeek,
  parseDuration,
  planPrune,
  subtractDuration,
  validateRetentionPolicy,
  type PrunePlan,
} from '../../src/core/removal/retention';

const VM1 = { name: 'vm1', uuid: '11111111-1111-4111-8111-111111111111' };
const HOUR = 3_600_000;

interface Spec {
  id: string;
  parent?: string;
  at: Date;
  state?: BackupState;
  disks?: string[];
  diskParents?: Record<string, string>;
}

function set(spec: Spec): BackupSet {
  const kind = spec.parent === undefined ? 'full' : 'incremental';
  return {
    id: spec.id,
    volbackVersion: '0.1.0',
    mode: 'push',
    kind,
    state: spec.state ?? 'complete',
    createdAt: spec.at,
    ...(spec.parent ? { parentId: spec.parent } : {}),
    domain: VM1,
    disks: (spec.disks ?? ['vda']).map((target) => {
      const parentId = spec.diskParents?.[target] ?? (spec.parent && `${spec.parent}-${target}`);
      return {
        id: `${spec.id}-${target}`,
        target,
        sourcePath: `/images/${target}.qcow2`,
        sourceFormat: 'qcow2',
        ...(spec.state === 'external'
          ? {}
          : { volume: { pool: 'b', name: `${spec.id}.${target}`, format: 'qcow2' } }),
        kind,
        ...(parentId ? { parentId } : {}),
        virtualSize: 1,
        bytesCopied: 1,
      };
    }),
    domainXml: '<domain/>',
  };
}

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

/** Hourly backups from 2025-01-01T00:00Z (a Wednesday), a full at the start and every Monday 00:00 UTC. */
function calendar(days: number): BackupSet[] {
  const start = Date.UTC(2025, 0, 1);
  const sets: BackupSet[] = [];
  let previous: string | undefined;
  for (let i = 0; i < days * 24; i++) {
    const at = new Date(start + i * HOUR);
    const id = `s${String(i).padStart(5, '0')}`;
    const full = i === 0 || (at.getUTCDay() === 1 && at.getUTCHours() === 0);
    sets.push(set({ id, at, parent: full ? undefined : previous }));
    previous = id;
  }
  return sets;
}
const idAt = (iso: string): string =>
  `s${String((Date.parse(iso) - Date.UTC(2025, 0, 1)) / HOUR).padStart(5, '0')}`;

const YEAR = calendar(400); // last backup 2026-02-04T23:00Z (a Wednesday)
const NOW = new Date('2026-02-05T00:30:00Z');

const keptIds = (plan: PrunePlan): string[] => plan.keep.map((k) => k.set.id);
const keptByRule = (plan: PrunePlan, rule: string): string[] =>
  plan.keep.filter((k) => k.reasons.some((r) => r.startsWith(`${rule} `))).map((k) => k.set.id);

/** Every removal comes after the removals of all of its descendants. */
function expectSafeOrder(plan: PrunePlan, sets: BackupSet[]): void {
  const index = new Map(plan.remove.map((r, i) => [r.set.id, i]));
  for (const s of sets) {
    if (s.parentId && index.has(s.id) && index.has(s.parentId)) {
      expect(index.get(s.id)!).toBeLessThan(index.get(s.parentId)!);
    }
  }
}

describe('buckets', () => {
  it('uses UTC and ISO weeks', () => {
    const at = new Date('2026-02-04T23:59:59Z');
    expect(bucketKey('hourly', at)).toBe('2026-02-04T23');
    expect(bucketKey('daily', at)).toBe('2026-02-04');
    expect(bucketKey('weekly', at)).toBe('2026-W06');
    expect(bucketKey('monthly', at)).toBe('2026-02');
    expect(bucketKey('yearly', at)).toBe('2026');
    expect(bucketKey('daily', new Date('2026-02-04T23:30:00-02:00'))).toBe('2026-02-05');
  });
  it.each([
    ['2024-12-30', 2025, 1],
    ['2021-01-03', 2020, 53],
    ['2026-01-01', 2026, 1],
    ['2027-01-01', 2026, 53],
    ['2026-02-01', 2026, 5],
    ['2026-02-02', 2026, 6],
  ])('ISO week of %s is %i-W%i', (day, year, week) => {
    expect(isoWeek(new Date(`${day}T12:00:00Z`))).toEqual({ year, week });
  });
});

describe('durations and policy validation', () => {
  it('parses durations', () => {
    expect(parseDuration('2d')).toEqual({ years: 0, months: 0, weeks: 0, days: 2, hours: 0 });
    expect(parseDuration('1w3d')).toEqual({ years: 0, months: 0, weeks: 1, days: 3, hours: 0 });
    expect(parseDuration('12h')).toEqual({ years: 0, months: 0, weeks: 0, days: 0, hours: 12 });
    expect(parseDuration('1y6mo')).toEqual({ years: 1, months: 6, weeks: 0, days: 0, hours: 0 });
  });
  it.each([
    ['', /empty/],
    ['abc', /cannot read/],
    ['5m', /ambiguous unit "m"/],
    ['2x', /unknown unit "x"/],
    ['2d2d', /appears twice/],
    ['0d', /zero/],
    ['2d 3h', /cannot read duration "2d 3h" from " 3h"/],
    ['-2d', /cannot read/],
    ['d', /cannot read/],
  ])('rejects duration %j', (text, message) =>
    expectError(() => parseDuration(text), ErrorCodes.INVALID_INPUT, message),
  );
  it('subtracts calendar months and fixed days', () => {
    expect(subtractDuration(new Date('2026-03-31T10:00:00Z'), parseDuration('1mo')).toISOString()).toBe(
      '2026-02-28T10:00:00.000Z',
    );
    expect(subtractDuration(new Date('2024-02-29T00:00:00Z'), parseDuration('1y')).toISOString()).toBe(
      '2023-02-28T00:00:00.000Z',
    );
    expect(subtractDuration(new Date('2026-01-10T00:00:00Z'), parseDuration('1w3d12h')).toISOString()).toBe(
      '2025-12-30T12:00:00.000Z',
    );
  });
  it.each<[unknown, RegExp]>([
    [{}, /at least one of keepLast/],
    [{ keepLast: 0, keepDaily: 0 }, /at least one/],
    [{ keepDaily: -1 }, /keepDaily must be a whole number/],
    [{ keepDaily: 1.5 }, /keepDaily must be a whole number/],
    [{ keepDaily: '7' }, /keepDaily must be a whole number/],
    [{ keepDaly: 7 }, /unknown retention option "keepDaly"/],
    [{ keepWithin: 2 }, /keepWithin must be a duration string/],
    [{ keepWithin: '2 days' }, /cannot read duration/],
  ])('rejects policy %j', (policy, message) =>
    expectError(() => validateRetentionPolicy(policy as RetentionPolicy), ErrorCodes.INVALID_INPUT, message),
  );
  it('planPrune refuses a bad policy before looking at sets', () => {
    expectError(() => planPrune(YEAR, {}, NOW), ErrorCodes.INVALID_INPUT, /at least one/);
  });
});

describe('restic-style counts on 400 days of hourly backups', () => {
  it('keepDaily 7 keeps the newest backup of each of the last 7 days', () => {
    const plan = planPrune(YEAR, { keepDaily: 7 }, NOW);
    expect(keptIds(plan)).toEqual(
      ['2026-02-04', '2026-02-03', '2026-02-02', '2026-02-01', '2026-01-31', '2026-01-30', '2026-01-29'].map(
        (d) => idAt(`${d}T23:00:00Z`),
      ),
    );
    expect(plan.keep[0].reasons).toEqual(['daily 2026-02-04']);
  });

  it('all bucket kinds together: each rule counts on its own, reasons accumulate', () => {
    const policy = {
      keepLast: 5,
      keepHourly: 24,
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 12,
      keepYearly: 3,
    };
    const plan = planPrune(YEAR, policy, NOW);
    expect(keptByRule(plan, 'last')).toHaveLength(5);
    expect(keptByRule(plan, 'hourly')).toHaveLength(24);
    expect(keptByRule(plan, 'daily')).toHaveLength(7);
    expect(keptByRule(plan, 'weekly')).toEqual(
      ['2026-02-04', '2026-02-01', '2026-01-25', '2026-01-18'].map((d) => idAt(`${d}T23:00:00Z`)),
    );
    expect(keptByRule(plan, 'monthly')).toEqual(
      [
        '2026-02-04',
        '2026-01-31',
        '2025-12-31',
        '2025-11-30',
        '2025-10-31',
        '2025-09-30',
        '2025-08-31',
        '2025-07-31',
        '2025-06-30',
        '2025-05-31',
        '2025-04-30',
        '2025-03-31',
      ].map((d) => idAt(`${d}T23:00:00Z`)),
    );
    // Only two calendar years have backups: classic restic does not fill the third slot.
    expect(keptByRule(plan, 'yearly')).toEqual([idAt('2026-02-04T23:00:00Z'), idAt('2025-12-31T23:00:00Z')]);
    // 24 hourly (covering last 5) + 6 more daily + 2 more weekly + 10 more monthly; yearly adds none.
    expect(plan.keep).toHaveLength(42);
    expect(plan.keep[0].reasons).toEqual([
      'last #1',
      'hourly 2026-02-04T23',
      'daily 2026-02-04',
      'weekly 2026-W06',
      'monthly 2026-02',
      'yearly 2026',
    ]);
    // Weekly chains are linear, so every needed ancestor is merged, none kept as "needed by".
    expect(plan.keep.every((k) => !k.reasons.some((r) => r.startsWith('needed by')))).toBe(true);
    expect(plan.keep.length + plan.remove.length).toBe(YEAR.length);
    expectSafeOrder(plan, YEAR);
  });

  it('keepDaily 7 merges each needed chain into the kept backups, bottom-up, and deletes the rest', () => {
    const plan = planPrune(YEAR, { keepDaily: 7 }, NOW);
    const merges = plan.remove.filter((r) => r.action === 'merge-into-child');
    // Week of Feb 2: 3 × 23 hours before each kept 23:00. Week of Jan 26: Mon–Thu 22:00 (95) + 3 × 23.
    expect(merges).toHaveLength(69 + 95 + 69);
    expect(plan.remove.filter((r) => r.action === 'delete')).toHaveLength(YEAR.length - 7 - 233);
    const full = plan.remove.find((r) => r.set.id === idAt('2026-02-02T00:00:00Z'))!;
    expect(full).toMatchObject({
      action: 'merge-into-child',
      into: idAt('2026-02-02T23:00:00Z'),
      reason: expect.stringMatching(/becomes a full/),
      diskMerges: [
        { from: `${idAt('2026-02-02T00:00:00Z')}-vda`, into: `${idAt('2026-02-02T23:00:00Z')}-vda` },
      ],
    });
    expect(plan.remove.find((r) => r.set.id === idAt('2026-02-03T05:00:00Z'))).toMatchObject({
      action: 'merge-into-child',
      into: idAt('2026-02-03T23:00:00Z'),
    });
    expect(plan.remove.find((r) => r.set.id === idAt('2026-01-20T05:00:00Z'))?.action).toBe('delete');
    expectSafeOrder(plan, YEAR);
  });

  it('keepWithin keeps everything since now minus the duration', () => {
    const plan = planPrune(YEAR, { keepWithin: '2d' }, NOW);
    // Cutoff 2026-02-03T00:30Z: 01:00 on Feb 3 through 23:00 on Feb 4.
    expect(plan.keep).toHaveLength(47);
    expect(plan.keep[46].set.id).toBe(idAt('2026-02-03T01:00:00Z'));
    expect(plan.keep[46].reasons).toEqual(['within 2d']);
    const into = new Set(plan.remove.filter((r) => r.action === 'merge-into-child').map((r) => r.into));
    expect([...into]).toEqual([idAt('2026-02-03T01:00:00Z')]);
  });

  it('is deterministic whatever the input order', () => {
    const sets = YEAR.slice(0, 24 * 60);
    const policy = { keepDaily: 10, keepWeekly: 3, keepLast: 2 };
    const now = new Date('2025-03-05T00:00:00Z');
    const summary = (plan: PrunePlan): unknown => ({
      keep: plan.keep.map((k) => [k.set.id, k.reasons]),
      remove: plan.remove.map((r) => [r.set.id, r.action, r.into, r.diskMerges, r.reason]),
    });
    const expected = summary(planPrune(sets, policy, now));
    let seed = 7;
    const shuffled = [...sets];
    for (let i = shuffled.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const j = seed % (i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    expect(summary(planPrune(shuffled, policy, now))).toEqual(expected);
    expect(summary(planPrune([...sets].reverse(), policy, now))).toEqual(expected);
  });
});

describe('chain-aware planning', () => {
  const t = (hour: number): Date => new Date(Date.UTC(2026, 0, 1, hour));
  const now = t(100);

  it('merges unkept ancestors into their kept child, child first; an unkept full makes the child a full', () => {
    const sets = [
      set({ id: 'F', at: t(0) }),
      set({ id: 'I1', parent: 'F', at: t(24) }),
      set({ id: 'I2', parent: 'I1', at: t(25) }),
      set({ id: 'I3', parent: 'I2', at: t(48) }),
    ];
    const plan = planPrune(sets, { keepDaily: 2 }, now);
    expect(keptIds(plan)).toEqual(['I3', 'I2']);
    expect(plan.remove).toEqual([
      expect.objectContaining({
        set: sets[1],
        action: 'merge-into-child',
        into: 'I2',
        diskMerges: [{ from: 'I1-vda', into: 'I2-vda' }],
      }),
      expect.objectContaining({
        set: sets[0],
        action: 'merge-into-child',
        into: 'I2',
        diskMerges: [{ from: 'F-vda', into: 'I2-vda' }],
      }),
    ]);
  });

  it('keeps a parent with two kept branches as "needed by"', () => {
    const sets = [
      set({ id: 'F', at: t(0) }),
      set({ id: 'A', parent: 'F', at: t(24) }),
      set({ id: 'B', parent: 'F', at: t(48) }),
    ];
    const plan = planPrune(sets, { keepDaily: 2 }, now);
    expect(plan.keep).toEqual([
      { set: sets[2], reasons: ['daily 2026-01-03'] },
      { set: sets[1], reasons: ['daily 2026-01-02'] },
      { set: sets[0], reasons: ['needed by A, B'] },
    ]);
    expect(plan.remove).toEqual([]);
  });

  it('deletes an unneeded branch before merging the parent into the other', () => {
    const sets = [
      set({ id: 'F', at: t(0) }),
      set({ id: 'B', parent: 'F', at: t(1) }),
      set({ id: 'B2', parent: 'B', at: t(2) }),
      set({ id: 'A', parent: 'F', at: t(3) }),
    ];
    const plan = planPrune(sets, { keepLast: 1 }, now);
    expect(keptIds(plan)).toEqual(['A']);
    expect(plan.remove.map((r) => [r.set.id, r.action])).toEqual([
      ['B2', 'delete'],
      ['B', 'delete'],
      ['F', 'merge-into-child'],
    ]);
  });

  it('keeps needed ancestors instead of merging when merge is off', () => {
    const sets = [set({ id: 'F', at: t(0) }), set({ id: 'I1', parent: 'F', at: t(1) })];
    const plan = planPrune(sets, { keepLast: 1 }, now, { merge: false });
    expect(plan.keep.map((k) => [k.set.id, k.reasons])).toEqual([
      ['I1', ['last #1']],
      ['F', ['needed by I1']],
    ]);
    expect(plan.remove).toEqual([]);
  });

  it('never merges into or out of an external (pull) set', () => {
    const a = [set({ id: 'F', at: t(0), state: 'external' }), set({ id: 'I1', parent: 'F', at: t(1) })];
    expect(planPrune(a, { keepLast: 1 }, now).keep.map((k) => k.set.id)).toEqual(['I1', 'F']);
    const b = [set({ id: 'F', at: t(0) }), set({ id: 'I1', parent: 'F', at: t(1), state: 'external' })];
    expect(planPrune(b, { keepLast: 1 }, now).keep.map((k) => k.set.id)).toEqual(['I1', 'F']);
  });

  it('follows disks that skip a set', () => {
    const sets = [
      set({ id: 'F', at: t(0), disks: ['vda', 'vdb'] }),
      set({ id: 'I1', parent: 'F', at: t(1), disks: ['vda'] }),
      set({ id: 'I2', parent: 'I1', at: t(2), disks: ['vda', 'vdb'], diskParents: { vdb: 'F-vdb' } }),
    ];
    const plan = planPrune(sets, { keepLast: 1 }, now);
    expect(plan.remove.map((r) => [r.set.id, r.into, r.diskMerges])).toEqual([
      ['I1', 'I2', [{ from: 'I1-vda', into: 'I2-vda' }]],
      [
        'F',
        'I2',
        [
          { from: 'F-vda', into: 'I2-vda' },
          { from: 'F-vdb', into: 'I2-vdb' },
        ],
      ],
    ]);
  });

  it('keeps a set whose disk is needed outside the merge line', () => {
    const sets = [
      set({ id: 'F', at: t(0), disks: ['vda', 'vdb'] }),
      set({ id: 'I1', parent: 'F', at: t(1), disks: ['vda', 'vdb'] }),
      set({ id: 'I2', parent: 'I1', at: t(2), disks: ['vda', 'vdb'], diskParents: { vdb: 'F-vdb' } }),
    ];
    const plan = planPrune(sets, { keepLast: 2 }, now);
    expect(plan.keep.map((k) => [k.set.id, k.reasons])).toEqual([
      ['I2', ['last #1']],
      ['I1', ['last #2']],
      ['F', ['needed by I1']],
    ]);
  });

  it('never touches incomplete or broken sets, nor what they stand on', () => {
    const sets = [
      set({ id: 'F1', at: t(0) }),
      set({ id: 'X', parent: 'F1', at: t(1), state: 'merging' }),
      set({ id: 'X2', parent: 'X', at: t(2) }),
      set({ id: 'O', parent: 'gone', at: t(3) }),
      set({ id: 'F2', at: t(4) }),
      set({ id: 'F3', at: t(5) }),
    ];
    const plan = planPrune(sets, { keepLast: 1 }, now);
    expect(plan.keep.map((k) => [k.set.id, k.reasons])).toEqual([
      ['F3', ['last #1']],
      ['F1', ['ancestor of X, which prune leaves alone', 'ancestor of X2, which prune leaves alone']],
    ]);
    expect(plan.untouched.map((u) => u.set.id)).toEqual(['X', 'X2', 'O']);
    expect(plan.untouched[0].reason).toMatch(/state merging/);
    expect(plan.untouched[2].reason).toMatch(/gone/);
    expect(plan.remove.map((r) => [r.set.id, r.action])).toEqual([['F2', 'delete']]);
  });
});

describe('guards', () => {
  it('refuses sets of several domains', () => {
    const other = { ...set({ id: 'B', at: new Date(0) }), domain: { name: 'vm2', uuid: 'x' } };
    expectError(
      () => planPrune([set({ id: 'A', at: new Date(0) }), other], { keepLast: 1 }, NOW),
      ErrorCodes.INVALID_INPUT,
      /one domain at a time/,
    );
  });
  it('refuses to remove every backup unless allowed', () => {
    const sets = YEAR.slice(0, 48);
    expectError(
      () => planPrune(sets, { keepWithin: '1d' }, NOW),
      ErrorCodes.CONFLICT,
      /remove all 48 backups/,
    );
    const plan = planPrune(sets, { keepWithin: '1d' }, NOW, { allowRemoveAll: true });
    expect(plan.keep).toEqual([]);
    expect(plan.remove).toHaveLength(48);
    expect(plan.remove.every((r) => r.action === 'delete')).toBe(true);
    expectSafeOrder(plan, sets);
  });
  it('plans nothing for no sets', () => {
    expect(planPrune([], { keepLast: 1 }, NOW)).toEqual({ keep: [], remove: [], untouched: [] });
  });
});
