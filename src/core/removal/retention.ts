// The prune planner: which backup sets of one domain a retention policy keeps, and how to remove the rest safely.
//
// Pure: it returns a plan (keep / remove in execution order / untouched); the coordinator executes it.
// Semantics are documented with a worked example in docs/retention.md.
import { ErrorCodes, VolbackError } from '../../errors';
import type { BackupSet, RetentionPolicy } from '../../model';
import { buildCatalog, type Catalog, type CatalogSet } from '../catalog/chains';

/** A parsed `keepWithin` duration. Years and months are calendar units (UTC); the others are fixed. */
export interface Duration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
}

export type BucketKind = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

export interface PruneOptions {
  /**
   * When an unkept set is needed by a kept descendant: true (default) removes it by merging it into
   * its single surviving child when that is possible; false always keeps it ("needed by").
   */
  merge?: boolean;
  /** Allow a plan that removes every backup of the domain. Default false: such a plan is refused. */
  allowRemoveAll?: boolean;
}

export interface PruneKeep {
  set: BackupSet;
  /** Every rule that keeps the set (`daily 2026-02-04`, `within 2d`, `needed by <id>`, …). */
  reasons: string[];
}

export interface PruneRemoval {
  set: BackupSet;
  /**
   * `delete`: remove the set's volumes and metadata; nothing kept depends on it.
   * `merge-into-child`: fold the set's data into `into` (a kept descendant, reached through a line of
   * single children), then remove the set. For each entry of `diskMerges`, the executor rebases the
   * disk backup `into` onto the parent of `from` (onto nothing when `from` is a full, so `into`
   * becomes a full) and then deletes `from`. Disks of the set not listed are deleted.
   */
  action: 'delete' | 'merge-into-child';
  reason: string;
  into?: string;
  diskMerges?: { from: string; into: string }[];
}

export interface PruneUntouched {
  set: BackupSet;
  /** Why prune leaves the set alone (state, broken chain, conflict, …). */
  reason: string;
}

export interface PrunePlan {
  domain?: { uuid: string; name: string };
  /** Kept sets, newest first. */
  keep: PruneKeep[];
  /** Sets to remove, in a safe execution order: every set after all of its descendants. */
  remove: PruneRemoval[];
  /** Sets prune does not touch (not restorable or not complete), oldest first; they are not kept by any rule. */
  untouched: PruneUntouched[];
}

const POLICY_KEYS = [
  'keepLast',
  'keepHourly',
  'keepDaily',
  'keepWeekly',
  'keepMonthly',
  'keepYearly',
  'keepWithin',
] as const;
const BUCKET_RULES: [BucketKind, keyof RetentionPolicy][] = [
  ['hourly', 'keepHourly'],
  ['daily', 'keepDaily'],
  ['weekly', 'keepWeekly'],
  ['monthly', 'keepMonthly'],
  ['yearly', 'keepYearly'],
];
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function invalidPolicy(message: string, hint?: string): VolbackError {
  return new VolbackError(ErrorCodes.INVALID_INPUT, message, { fault: 'user', hint });
}

const DURATION_HINT = 'write a duration as numbers with units y, mo, w, d, h, e.g. 12h, 2d, 1w3d, 1y6mo';

/** Parses `12h`, `2d`, `1w3d`, `1y6mo`. Throws ERR_INVALID_INPUT naming what is wrong. */
export function parseDuration(text: string): Duration {
  const duration: Duration = { years: 0, months: 0, weeks: 0, days: 0, hours: 0 };
  const units: Record<string, keyof Duration> = {
    y: 'years',
    mo: 'months',
    w: 'weeks',
    d: 'days',
    h: 'hours',
  };
  const trimmed = text.trim();
  if (trimmed === '') throw invalidPolicy('empty duration', DURATION_HINT);
  const seen = new Set<string>();
  const re = /(\d+)([a-z]+)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(trimmed)) !== null) {
    const [, digits, unit] = m;
    if (unit === 'm') {
      throw invalidPolicy(`ambiguous unit "m" in duration "${text}"`, 'use "mo" for months or "h" for hours');
    }
    const field = units[unit];
    if (!field) throw invalidPolicy(`unknown unit "${unit}" in duration "${text}"`, DURATION_HINT);
    if (seen.has(unit))
      throw invalidPolicy(`unit "${unit}" appears twice in duration "${text}"`, DURATION_HINT);
    seen.add(unit);
    const n = Number(digits);
    if (!Number.isSafeInteger(n)) throw invalidPolicy(`number too large in duration "${text}"`);
    duration[field] = n;
    end = re.lastIndex;
  }
  if (end !== trimmed.length) {
    throw invalidPolicy(`cannot read duration "${text}" from "${trimmed.slice(end)}"`, DURATION_HINT);
  }
  if (Object.values(duration).every((v) => v === 0)) {
    throw invalidPolicy(`duration "${text}" is zero`, 'to keep nothing by time, leave keepWithin out');
  }
  return duration;
}

/**
 * `date` minus `duration`: years and months on the UTC calendar (the day clamped to the month's end,
 * so 31 March − 1mo = 28/29 February), then weeks, days and hours as fixed lengths.
 */
export function subtractDuration(date: Date, duration: Duration): Date {
  const totalMonths = date.getUTCFullYear() * 12 + date.getUTCMonth() - duration.years * 12 - duration.months;
  const year = Math.floor(totalMonths / 12);
  const month = totalMonths - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const shifted = new Date(date.getTime());
  shifted.setUTCFullYear(year, month, Math.min(date.getUTCDate(), lastDay));
  return new Date(
    shifted.getTime() - (duration.weeks * 7 + duration.days) * DAY_MS - duration.hours * HOUR_MS,
  );
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** ISO 8601 week-numbering year and week of a UTC date. */
export function isoWeek(date: Date): { year: number; week: number } {
  const thursday = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  thursday.setUTCDate(thursday.getUTCDate() + 4 - (thursday.getUTCDay() || 7));
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / DAY_MS / 7) + 1;
  return { year, week };
}

/** The UTC bucket a backup time falls in: `2026-02-04T23`, `2026-02-04`, `2026-W06`, `2026-02`, `2026`. */
export function bucketKey(kind: BucketKind, date: Date): string {
  const y = pad(date.getUTCFullYear(), 4);
  const mo = pad(date.getUTCMonth() + 1);
  const d = pad(date.getUTCDate());
  switch (kind) {
    case 'hourly':
      return `${y}-${mo}-${d}T${pad(date.getUTCHours())}`;
    case 'daily':
      return `${y}-${mo}-${d}`;
    case 'weekly': {
      const iso = isoWeek(date);
      return `${pad(iso.year, 4)}-W${pad(iso.week)}`;
    }
    case 'monthly':
      return `${y}-${mo}`;
    case 'yearly':
      return y;
  }
}

/**
 * Checks a policy: only known options, counts are non-negative integers, `keepWithin` parses, and
 * at least one option can keep something (an empty policy would remove every backup). Throws
 * ERR_INVALID_INPUT. Returns the parsed `keepWithin` duration, if any.
 */
export function validateRetentionPolicy(policy: RetentionPolicy): { within?: Duration } {
  if (policy === null || typeof policy !== 'object')
    throw invalidPolicy('a retention policy must be an object');
  for (const key of Object.keys(policy)) {
    if (!(POLICY_KEYS as readonly string[]).includes(key)) {
      throw invalidPolicy(`unknown retention option "${key}"`, `known options: ${POLICY_KEYS.join(', ')}`);
    }
  }
  let effective = false;
  for (const key of POLICY_KEYS) {
    const value = policy[key];
    if (value === undefined || key === 'keepWithin') continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw invalidPolicy(`${key} must be a whole number ≥ 0, got ${JSON.stringify(value)}`);
    }
    if (value > 0) effective = true;
  }
  let within: Duration | undefined;
  if (policy.keepWithin !== undefined) {
    if (typeof policy.keepWithin !== 'string') {
      throw invalidPolicy(`keepWithin must be a duration string, got ${JSON.stringify(policy.keepWithin)}`);
    }
    within = parseDuration(policy.keepWithin);
    effective = true;
  }
  if (!effective) {
    throw invalidPolicy(
      'the retention policy keeps nothing: at least one of keepLast, keepHourly, keepDaily, keepWeekly, ' +
        'keepMonthly, keepYearly (> 0) or keepWithin is required',
      'to delete every backup of a domain, delete them explicitly',
    );
  }
  return { within };
}

/** Sets `id` depends on (set parents and the sets of its disks' parents), nearest first. */
function ancestors(catalog: Catalog, id: string): string[] {
  const found: string[] = [];
  const seen = new Set<string>([id]);
  const queue = [id];
  while (queue.length > 0) {
    const node = catalog.sets.get(queue.shift()!)!;
    const parents = [
      node.parentId,
      ...node.set.disks.map((d) => {
        const parent = catalog.disks.get(d.id)?.parentId;
        return parent === undefined ? undefined : catalog.disks.get(parent)?.setId;
      }),
    ];
    for (const p of parents) {
      if (p === undefined || seen.has(p)) continue;
      seen.add(p);
      found.push(p);
      queue.push(p);
    }
  }
  return found;
}

/**
 * Plans a prune of the sets of ONE domain (ERR_INVALID_INPUT for several). Rules are applied
 * independently, restic-style, to the restorable sets; a set kept by any rule is kept with every
 * reason. Chain-aware: an unkept set that a kept set depends on is merged into its single surviving
 * child when possible, else kept as "needed by". Sets that are not restorable (incomplete, broken,
 * conflicting) are never touched, and neither are their ancestors. Deterministic for the same input
 * in any order. Throws ERR_CONFLICT if the plan would remove every backup, unless `allowRemoveAll`.
 */
export function planPrune(
  sets: readonly BackupSet[],
  policy: RetentionPolicy,
  now: Date,
  options: PruneOptions = {},
): PrunePlan {
  const { within } = validateRetentionPolicy(policy);
  const merge = options.merge ?? true;
  const catalog = buildCatalog(sets);
  if (catalog.domains.size > 1) {
    throw invalidPolicy(
      `prune plans one domain at a time; got sets of ${catalog.domains.size} domains (${[...catalog.domains.keys()].join(', ')})`,
    );
  }
  const [domainCatalog] = [...catalog.domains.values()];
  const plan: PrunePlan = {
    ...(domainCatalog ? { domain: { uuid: domainCatalog.uuid, name: domainCatalog.name } } : {}),
    keep: [],
    remove: [],
    untouched: [],
  };
  if (!domainCatalog) return plan;

  const node = (id: string): CatalogSet => catalog.sets.get(id)!;
  const all = domainCatalog.setIds.map(node); // oldest first
  const eligible = new Set(all.filter((n) => n.restorable).map((n) => n.set.id));
  const newestFirst = all.filter((n) => eligible.has(n.set.id)).reverse();

  const reasons = new Map<string, string[]>();
  const keepFor = (id: string, reason: string): void => {
    const list = reasons.get(id) ?? [];
    list.push(reason);
    reasons.set(id, list);
  };

  // 1. The rules, each on its own over the restorable sets, newest first.
  const keepLast = policy.keepLast ?? 0;
  newestFirst.slice(0, keepLast).forEach((n, i) => keepFor(n.set.id, `last #${i + 1}`));
  for (const [kind, option] of BUCKET_RULES) {
    let left = (policy[option] as number | undefined) ?? 0;
    let last: string | undefined;
    for (const n of newestFirst) {
      if (left === 0) break;
      const key = bucketKey(kind, n.set.createdAt);
      if (key === last) continue;
      keepFor(n.set.id, `${kind} ${key}`);
      last = key;
      left--;
    }
  }
  if (within) {
    const cutoff = subtractDuration(now, within).getTime();
    for (const n of newestFirst) {
      if (n.set.createdAt.getTime() >= cutoff) keepFor(n.set.id, `within ${policy.keepWithin}`);
    }
  }

  // 2. What prune leaves alone, and everything those sets stand on.
  for (const n of all) {
    if (eligible.has(n.set.id)) continue;
    const why = n.problems.map((p) => p.message).join('; ');
    plan.untouched.push({ set: n.set, reason: why });
    for (const a of ancestors(catalog, n.set.id)) {
      if (eligible.has(a)) keepFor(a, `ancestor of ${n.set.id}, which prune leaves alone`);
    }
  }

  // 3. Chain awareness, bottom-up: each set is decided after all of its descendants. A set is needed
  // when a kept set lies below it (disk parents always lie in set ancestors, so the set tree suffices).
  const kept = new Set(reasons.keys());
  const postOrder: string[] = [];
  const nearestKept = new Map<string, string[]>();
  const visit = (id: string): void => {
    const below: string[] = [];
    for (const child of node(id).childIds) {
      if (!eligible.has(child)) continue;
      visit(child);
      if (kept.has(child)) below.push(child);
      else below.push(...nearestKept.get(child)!);
    }
    nearestKept.set(id, below);
    postOrder.push(id);
  };
  for (const root of domainCatalog.rootSetIds) if (eligible.has(root)) visit(root);
  const surviving = (id: string): boolean => kept.has(id) || (nearestKept.get(id) ?? []).length > 0;

  /** For a set merged away: the sets its data flows through, its child first, the final target last. */
  const mergePath = new Map<string, string[]>();
  const removals = new Map<string, PruneRemoval>();
  for (const id of postOrder) {
    if (kept.has(id)) continue;
    const n = node(id);
    const needers = nearestKept.get(id)!;
    if (needers.length === 0) {
      removals.set(id, {
        set: n.set,
        action: 'delete',
        reason: 'not kept by any rule; nothing kept depends on it',
      });
      continue;
    }
    const merged = merge ? tryMerge(catalog, n, surviving, kept, mergePath) : undefined;
    if (merged) {
      removals.set(id, merged);
    } else {
      kept.add(id);
      const more = needers.length > 3 ? ` and ${needers.length - 3} more` : '';
      keepFor(id, `needed by ${needers.slice(0, 3).join(', ')}${more}`);
    }
  }

  plan.remove = postOrder.filter((id) => removals.has(id)).map((id) => removals.get(id)!);
  plan.keep = newestFirst
    .filter((n) => kept.has(n.set.id))
    .map((n) => ({ set: n.set, reasons: reasons.get(n.set.id)! }));
  if (plan.keep.length === 0 && plan.remove.length > 0 && !options.allowRemoveAll) {
    throw new VolbackError(
      ErrorCodes.CONFLICT,
      `the retention policy would remove all ${plan.remove.length} backups of domain ${domainCatalog.name}`,
      { fault: 'user', hint: 'add keepLast: 1, or allow removing everything explicitly' },
    );
  }
  return plan;
}

/**
 * The merge of unkept set `n` into its single surviving child line, or undefined when it cannot be
 * merged (several surviving children, an external set on the way, or disks that skip the line).
 */
function tryMerge(
  catalog: Catalog,
  n: CatalogSet,
  surviving: (id: string) => boolean,
  kept: ReadonlySet<string>,
  mergePath: Map<string, string[]>,
): PruneRemoval | undefined {
  const children = n.childIds.filter(surviving);
  if (children.length !== 1 || n.set.state === 'external') return undefined;
  const [child] = children;
  const path = kept.has(child) ? [child] : [child, ...(mergePath.get(child) ?? [])];
  const target = path[path.length - 1];
  if (!kept.has(target) || catalog.sets.get(target)!.set.state === 'external') return undefined;
  const onPath = new Set(path);

  // Every disk child that survives must lie on the path, or deleting `n` would orphan it.
  const diskMerges: { from: string; into: string }[] = [];
  for (const d of n.set.disks) {
    const entry = catalog.disks.get(d.id);
    if (!entry || entry.setId !== n.set.id) return undefined;
    for (const c of entry.childIds) {
      const childSet = catalog.disks.get(c)!.setId;
      if (surviving(childSet) && !onPath.has(childSet)) return undefined;
    }
    // The disk of the target that descends from this one, if any, receives its data.
    const into = catalog.sets
      .get(target)!
      .set.disks.find((t) => t.target === d.target && diskDescendsFrom(catalog, t.id, d.id));
    if (into) diskMerges.push({ from: d.id, into: into.id });
  }
  mergePath.set(n.set.id, path);
  const reason =
    n.set.kind === 'full'
      ? `full not kept by any rule; merged into ${target}, which becomes a full`
      : `not kept by any rule; merged into ${target}, which needs it`;
  return { set: n.set, action: 'merge-into-child', reason, into: target, diskMerges };
}

function diskDescendsFrom(catalog: Catalog, diskId: string, ancestorId: string): boolean {
  const seen = new Set<string>();
  let id = catalog.disks.get(diskId)?.parentId;
  while (id !== undefined && !seen.has(id)) {
    if (id === ancestorId) return true;
    seen.add(id);
    id = catalog.disks.get(id)?.parentId;
  }
  return false;
}
