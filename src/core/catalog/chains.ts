// Builds the catalog of backup chains from backup-set metadata: set tree, per-disk chains, problems, restorability.
//
// Pure: the caller reads the metadata volumes of every pool and passes the sets; nothing here touches a pool.
import groupBy from 'lodash/groupBy';
import isEqual from 'lodash/isEqual';
import { ErrorCodes, VolbackError } from '../../errors';
import type { BackupKind, BackupSet, DiskBackup } from '../../model';

/**
 * Stable names of what can be wrong with a set. Every set with a problem is not restorable.
 * - `orphan`: the set (or one of its disks) names a parent that is not in the catalog, or is an
 *   incremental that names no parent at all.
 * - `broken`: an ancestor (through the set tree or a disk's parent) has a problem, so this set cannot
 *   be restored either; `relatedId` is the nearest such ancestor.
 * - `cycle`: following parents leads back to the set.
 * - `disk-mismatch`: an incremental disk's parent disk backup is of another disk target or domain, or
 *   lies in a set that is not an ancestor of this one; or the parent set is of another domain.
 * - `duplicate-conflict`: two copies of the set's metadata (two pools) disagree, or two sets claim the
 *   same disk backup id, or name the same data volume (at most one of them can be right, and a
 *   removal of either would take the other's data). The first copy given is the one catalogued.
 * - `incomplete`: the set is in state `merging` or `deleting`.
 * - `missing-volume`: a data volume the set names is not in its pool (deleted outside volback); the
 *   pool was listed, so this is known, not guessed.
 * - `damaged`: a verify or a restore found the set's stored data different from its checksums (a
 *   damage record in the pool says where); the set is not restorable as it is.
 * - `damaged-ancestor`: an ancestor is `damaged` (and has no other problem), so this set's restore
 *   reads damaged data unless its own layers cover it; `relatedId` is the nearest such ancestor.
 *
 * A restore still reads a set whose only problems are damage kinds: it checks every extent against
 * the checksums and refuses only when what it reads is damaged (see `isOnlyDamage`).
 */
export type ChainProblemKind =
  | 'orphan'
  | 'broken'
  | 'cycle'
  | 'disk-mismatch'
  | 'duplicate-conflict'
  | 'incomplete'
  | 'missing-volume'
  | 'damaged'
  | 'damaged-ancestor';

/** What a damage record says of a set, for the catalog. */
export interface DamageNote {
  setId: string;
  message: string;
}

/** True when every problem is `damaged` or `damaged-ancestor` (a checked restore may still read the set). Pure. */
export const isOnlyDamage = (problems: readonly ChainProblem[]): boolean =>
  problems.every((p) => p.kind === 'damaged' || p.kind === 'damaged-ancestor');

/** What a catalog knows of the pools beyond the documents: whether a named volume is there, recorded damage. */
export interface CatalogFacts {
  /** True/false when the volume's pool was listed, undefined when it was not (nothing is known). */
  volumeExists?: (pool: string, name: string) => boolean | undefined;
  /** The pools' damage records (docs/architecture.md, "Checksums"): each marks its set `damaged`. */
  damage?: readonly DamageNote[];
}

export interface ChainProblem {
  kind: ChainProblemKind;
  setId: string;
  /** The disk backup concerned, for disk-level problems. */
  diskBackupId?: string;
  /** What the problem points at: the missing parent, the bad ancestor, the other set claiming a disk id. */
  relatedId?: string;
  message: string;
}

export interface CatalogSet {
  readonly set: BackupSet;
  /** Parent set, when the set is incremental and its parent is catalogued (even if the parent is bad). */
  readonly parentId?: string;
  /** Child sets (whose `parentId` names this set), oldest first. */
  readonly childIds: readonly string[];
  /** True when the set and all its ancestors are free of problems. */
  readonly restorable: boolean;
  readonly problems: readonly ChainProblem[];
  /** How many copies of the metadata were given (one per pool holding it). */
  readonly copies: number;
}

export interface CatalogDisk {
  readonly disk: DiskBackup;
  readonly setId: string;
  readonly domainUuid: string;
  /** Parent disk backup, when the disk is incremental and the link is valid. */
  readonly parentId?: string;
  /** Disk backups whose parent is this one, oldest first. */
  readonly childIds: readonly string[];
  /** True when this disk can be restored: `restorePath` succeeds for it. */
  readonly restorable: boolean;
}

/** Every backup of one disk of one domain, as a tree (fulls and orphans are roots). */
export interface DiskChain {
  readonly domainUuid: string;
  readonly target: string;
  /** Disk backup ids without a valid parent (fulls, and orphans), oldest first. */
  readonly roots: readonly string[];
  /** All disk backup ids, each parent before its children: depth-first from the roots, oldest first. */
  readonly order: readonly string[];
}

export interface DomainCatalog {
  readonly uuid: string;
  /** Name in the newest set (a domain can be renamed). */
  readonly name: string;
  /** All set ids, oldest first. */
  readonly setIds: readonly string[];
  /** Sets without a catalogued parent (fulls and orphans), oldest first. */
  readonly rootSetIds: readonly string[];
  /** One chain tree per disk target. */
  readonly disks: ReadonlyMap<string, DiskChain>;
}

export interface Catalog {
  readonly sets: ReadonlyMap<string, CatalogSet>;
  readonly disks: ReadonlyMap<string, CatalogDisk>;
  readonly domains: ReadonlyMap<string, DomainCatalog>;
  /** Every problem, in a stable order (by set creation time, then set id). */
  readonly problems: readonly ChainProblem[];
}

interface MutableSet {
  set: BackupSet;
  parentId?: string;
  childIds: string[];
  restorable: boolean;
  problems: ChainProblem[];
  copies: number;
}

interface MutableDisk {
  disk: DiskBackup;
  setId: string;
  domainUuid: string;
  parentId?: string;
  childIds: string[];
  restorable: boolean;
  /** Why this disk itself (not an ancestor) cannot be restored. */
  ownProblem?: ChainProblem;
}

const byTimeThenId = (a: BackupSet, b: BackupSet): number =>
  a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Top-level fields on which two copies of a set differ, for the conflict message. */
function differingFields(a: BackupSet, b: BackupSet): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof BackupSet>;
  return [...keys].filter((k) => !isEqual(a[k], b[k])).sort();
}

/**
 * Builds the catalog. Sets may come from several pools and may repeat: copies with the same id are
 * merged when equal and reported as `duplicate-conflict` when not. A full set's `parentId` and a full
 * disk's `parentId` are ignored (a full needs nothing). Never throws for bad metadata: every defect
 * becomes a problem on the sets concerned. `damage` (the pools' damage records) marks sets `damaged`.
 */
export function buildCatalog(sets: readonly BackupSet[], facts: CatalogFacts = {}): Catalog {
  const nodes = new Map<string, MutableSet>();
  const problems: ChainProblem[] = [];
  const report = (node: MutableSet, problem: ChainProblem): void => {
    node.problems.push(problem);
    problems.push(problem);
  };

  for (const set of sets) {
    const seen = nodes.get(set.id);
    if (!seen) {
      nodes.set(set.id, { set, childIds: [], restorable: true, problems: [], copies: 1 });
      continue;
    }
    seen.copies++;
    if (
      !isEqual(seen.set, set) &&
      !seen.problems.some((p) => p.kind === 'duplicate-conflict' && !p.relatedId)
    ) {
      report(seen, {
        kind: 'duplicate-conflict',
        setId: set.id,
        message: `copies of backup set ${set.id} disagree on ${differingFields(seen.set, set).join(', ')}`,
      });
    }
  }

  const ordered = [...nodes.values()].sort((a, b) => byTimeThenId(a.set, b.set));

  for (const node of ordered) {
    if (node.set.state === 'merging' || node.set.state === 'deleting') {
      report(node, {
        kind: 'incomplete',
        setId: node.set.id,
        message: `backup set ${node.set.id} is in state ${node.set.state}`,
      });
    }
  }

  // A data volume that two sets name is a conflict on both: one of the documents is wrong.
  const volumeOwners = new Map<string, string>();
  for (const node of ordered) {
    for (const disk of node.set.disks) {
      if (!disk.volume) continue;
      const key = `${disk.volume.pool}\n${disk.volume.name}`;
      const other = volumeOwners.get(key);
      if (other === undefined) {
        volumeOwners.set(key, node.set.id);
        continue;
      }
      if (other === node.set.id) continue;
      const message = `volume ${disk.volume.name} in pool ${disk.volume.pool} is named by sets ${other} and ${node.set.id}`;
      report(nodes.get(other)!, {
        kind: 'duplicate-conflict',
        setId: other,
        relatedId: node.set.id,
        message,
      });
      report(node, { kind: 'duplicate-conflict', setId: node.set.id, relatedId: other, message });
    }
  }

  const damageBySet = groupBy(facts.damage ?? [], (d) => d.setId);
  for (const node of ordered) {
    const notes = damageBySet[node.set.id] ?? [];
    if (notes.length) {
      report(node, {
        kind: 'damaged',
        setId: node.set.id,
        message: `backup set ${node.set.id} is damaged: ${[...new Set(notes.map((n) => n.message))].join('; ')}`,
      });
    }
  }

  // Disk index; a disk id claimed by two sets is a conflict on both.
  const disks = new Map<string, MutableDisk>();
  for (const node of ordered) {
    for (const disk of node.set.disks) {
      const other = disks.get(disk.id);
      if (other) {
        const otherNode = nodes.get(other.setId)!;
        const message = `disk backup ${disk.id} is claimed by sets ${other.setId} and ${node.set.id}`;
        if (other.setId !== node.set.id) {
          report(otherNode, {
            kind: 'duplicate-conflict',
            setId: other.setId,
            relatedId: node.set.id,
            message,
          });
        }
        report(node, { kind: 'duplicate-conflict', setId: node.set.id, relatedId: other.setId, message });
        continue;
      }
      disks.set(disk.id, {
        disk,
        setId: node.set.id,
        domainUuid: node.set.domain.uuid,
        childIds: [],
        restorable: true,
      });
    }
  }

  // Set tree.
  for (const node of ordered) {
    const { set } = node;
    if (set.kind === 'full') continue;
    if (set.parentId === undefined) {
      report(node, {
        kind: 'orphan',
        setId: set.id,
        message: `incremental backup set ${set.id} names no parent`,
      });
      continue;
    }
    const parent = nodes.get(set.parentId);
    if (!parent) {
      report(node, {
        kind: 'orphan',
        setId: set.id,
        relatedId: set.parentId,
        message: `parent backup set ${set.parentId} of ${set.id} is missing`,
      });
      continue;
    }
    node.parentId = parent.set.id;
    parent.childIds.push(set.id);
    if (parent.set.domain.uuid !== set.domain.uuid) {
      report(node, {
        kind: 'disk-mismatch',
        setId: set.id,
        relatedId: parent.set.id,
        message: `parent backup set ${parent.set.id} of ${set.id} belongs to domain ${parent.set.domain.uuid}, not ${set.domain.uuid}`,
      });
    }
  }

  // Cycles: each set has at most one parent, so walk up from each set until a known state.
  const inCycle = new Set<string>();
  const settled = new Set<string>();
  for (const node of ordered) {
    const path: string[] = [];
    const onPath = new Set<string>();
    let id: string | undefined = node.set.id;
    while (id !== undefined && !settled.has(id) && !onPath.has(id)) {
      path.push(id);
      onPath.add(id);
      id = nodes.get(id)!.parentId;
    }
    if (id !== undefined && onPath.has(id)) {
      const cycle = path.slice(path.indexOf(id));
      for (const member of cycle) {
        inCycle.add(member);
        report(nodes.get(member)!, {
          kind: 'cycle',
          setId: member,
          message: `backup sets ${cycle.join(' → ')} form a parent cycle`,
        });
      }
    }
    for (const p of path) settled.add(p);
  }

  const isStrictAncestor = (ancestorId: string, setId: string): boolean => {
    const seen = new Set<string>();
    let id = nodes.get(setId)!.parentId;
    while (id !== undefined && !seen.has(id)) {
      if (id === ancestorId) return true;
      seen.add(id);
      id = nodes.get(id)!.parentId;
    }
    return false;
  };

  // Disk links.
  for (const entry of [...disks.values()].sort((a, b) =>
    byTimeThenId(nodes.get(a.setId)!.set, nodes.get(b.setId)!.set),
  )) {
    const { disk } = entry;
    const node = nodes.get(entry.setId)!;
    const fail = (kind: ChainProblemKind, message: string, relatedId?: string): void => {
      entry.ownProblem = { kind, setId: entry.setId, diskBackupId: disk.id, relatedId, message };
      report(node, entry.ownProblem);
    };
    if (disk.kind === 'full' || inCycle.has(entry.setId)) continue;
    if (disk.parentId === undefined) {
      fail(
        'orphan',
        `incremental disk backup ${disk.id} (${disk.target}) of set ${entry.setId} names no parent`,
      );
      continue;
    }
    const parent = disks.get(disk.parentId);
    if (!parent) {
      fail(
        'orphan',
        `parent disk backup ${disk.parentId} of ${disk.id} (${disk.target}, set ${entry.setId}) is missing`,
        disk.parentId,
      );
      continue;
    }
    if (parent.disk.target !== disk.target || parent.domainUuid !== entry.domainUuid) {
      fail(
        'disk-mismatch',
        `disk backup ${disk.id} (${disk.target}, domain ${entry.domainUuid}) has parent ${parent.disk.id} ` +
          `of disk ${parent.disk.target}, domain ${parent.domainUuid}`,
        parent.disk.id,
      );
      continue;
    }
    if (!isStrictAncestor(parent.setId, entry.setId)) {
      fail(
        'disk-mismatch',
        `parent disk backup ${parent.disk.id} of ${disk.id} (${disk.target}) is in set ${parent.setId}, ` +
          `which is not an ancestor of set ${entry.setId}`,
        parent.disk.id,
      );
      continue;
    }
    entry.parentId = parent.disk.id;
    parent.childIds.push(disk.id);
  }

  // A data volume its pool does not hold: the set cannot be restored, nor anything built on it.
  for (const node of ordered) {
    for (const disk of node.set.disks) {
      if (!disk.volume || facts.volumeExists?.(disk.volume.pool, disk.volume.name) !== false) continue;
      const problem: ChainProblem = {
        kind: 'missing-volume',
        setId: node.set.id,
        diskBackupId: disk.id,
        message: `data volume ${disk.volume.name} of disk ${disk.target} is missing from pool ${disk.volume.pool}`,
      };
      report(node, problem);
      const entry = disks.get(disk.id);
      if (entry && entry.setId === node.set.id) entry.ownProblem ??= problem;
    }
  }

  // A set is bad on its own when it has any problem so far; everything below a bad set is broken.
  const selfBad = new Set(ordered.filter((n) => n.problems.length > 0).map((n) => n.set.id));
  const dependentSetIds = (id: string): string[] => {
    const node = nodes.get(id)!;
    const viaDisks = node.set.disks.flatMap((d) => {
      const entry = disks.get(d.id);
      return entry && entry.setId === id ? entry.childIds.map((c) => disks.get(c)!.setId) : [];
    });
    return [...new Set([...node.childIds, ...viaDisks])];
  };
  for (const node of ordered) {
    // Oldest first: a bad ancestor is always visited before its descendants.
    if (!selfBad.has(node.set.id)) continue;
    const onlyDamaged = node.problems.every((p) => p.kind === 'damaged');
    const kind: ChainProblemKind = onlyDamaged ? 'damaged-ancestor' : 'broken';
    const queue = dependentSetIds(node.set.id);
    const visited = new Set<string>([node.set.id]);
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (visited.has(id)) continue;
      visited.add(id);
      const child = nodes.get(id)!;
      if (!child.problems.some((p) => p.kind === kind)) {
        report(child, {
          kind,
          setId: id,
          relatedId: node.set.id,
          message: onlyDamaged
            ? `backup set ${id} depends on ${node.set.id}, whose data is damaged`
            : `backup set ${id} depends on ${node.set.id}, which is not restorable (${node.problems[0].message})`,
        });
      }
      queue.push(...dependentSetIds(id));
    }
  }
  for (const node of ordered) node.restorable = node.problems.length === 0;

  // Disk restorability: the set itself usable, the disk link valid, the parent disk restorable.
  const setUsable = (node: MutableSet): boolean =>
    (node.set.state === 'complete' || node.set.state === 'external') &&
    !inCycle.has(node.set.id) &&
    !node.problems.some((p) => p.kind === 'duplicate-conflict');
  const memo = new Map<string, boolean>();
  const diskOk = (entry: MutableDisk): boolean => {
    const known = memo.get(entry.disk.id);
    if (known !== undefined) return known;
    memo.set(entry.disk.id, false); // guards against any loop
    const ok =
      setUsable(nodes.get(entry.setId)!) &&
      !entry.ownProblem &&
      (entry.disk.kind === 'full' || (entry.parentId !== undefined && diskOk(disks.get(entry.parentId)!)));
    memo.set(entry.disk.id, ok);
    return ok;
  };
  for (const entry of disks.values()) entry.restorable = diskOk(entry);

  // Sort children; build per-domain views.
  const setTime = (id: string): BackupSet => nodes.get(id)!.set;
  for (const node of nodes.values()) node.childIds.sort((a, b) => byTimeThenId(setTime(a), setTime(b)));
  const diskTime = (id: string): BackupSet => nodes.get(disks.get(id)!.setId)!.set;
  const byDiskTime = (a: string, b: string): number =>
    byTimeThenId(diskTime(a), diskTime(b)) || (a < b ? -1 : a > b ? 1 : 0);
  for (const entry of disks.values()) entry.childIds.sort(byDiskTime);

  const domains = new Map<string, DomainCatalog>();
  // Grouped in one pass each (a filter per domain made 100 domains' 30,000 sets cost seconds).
  const disksByDomain = groupBy([...disks.values()], (d) => d.domainUuid);
  for (const [uuid, domainSets] of Object.entries(groupBy(ordered, (n) => n.set.domain.uuid))) {
    const domainDisks = disksByDomain[uuid] ?? [];
    const chains = new Map<string, DiskChain>();
    for (const target of [...new Set(domainDisks.map((d) => d.disk.target))].sort()) {
      const ids = domainDisks
        .filter((d) => d.disk.target === target)
        .map((d) => d.disk.id)
        .sort(byDiskTime);
      const roots = ids.filter((id) => disks.get(id)!.parentId === undefined);
      const order: string[] = [];
      const placed = new Set<string>();
      const visit = (id: string): void => {
        if (placed.has(id)) return;
        placed.add(id);
        order.push(id);
        for (const child of disks.get(id)!.childIds) visit(child);
      };
      roots.forEach(visit);
      ids.forEach(visit); // anything unreachable (defensive): after the trees, oldest first
      chains.set(target, { domainUuid: uuid, target, roots, order });
    }
    domains.set(uuid, {
      uuid,
      name: domainSets[domainSets.length - 1].set.domain.name,
      setIds: domainSets.map((n) => n.set.id),
      rootSetIds: domainSets.filter((n) => n.parentId === undefined).map((n) => n.set.id),
      disks: chains,
    });
  }

  const rank = new Map(ordered.map((n, i) => [n.set.id, i]));
  const kindRank: ChainProblemKind[] = [
    'duplicate-conflict',
    'incomplete',
    'orphan',
    'cycle',
    'disk-mismatch',
    'missing-volume',
    'damaged',
    'broken',
    'damaged-ancestor',
  ];
  problems.sort(
    (a, b) =>
      rank.get(a.setId)! - rank.get(b.setId)! ||
      kindRank.indexOf(a.kind) - kindRank.indexOf(b.kind) ||
      (a.diskBackupId ?? '').localeCompare(b.diskBackupId ?? ''),
  );
  const position = new Map(problems.map((p, i) => [p, i]));
  for (const node of nodes.values()) node.problems.sort((a, b) => position.get(a)! - position.get(b)!);

  return { sets: nodes, disks, domains, problems };
}

function chainBroken(message: string, hint?: string): VolbackError {
  return new VolbackError(ErrorCodes.CHAIN_BROKEN, message, { fault: 'user', hint });
}

/**
 * The disk backups to apply to restore `diskBackupId`: its full first, the asked-for backup last.
 * Throws ERR_NOT_FOUND for an unknown id and ERR_CHAIN_BROKEN, naming the missing parent or the
 * unusable set, when any link of the chain is missing or not restorable.
 */
export function restorePath(catalog: Catalog, diskBackupId: string): DiskBackup[] {
  const start = catalog.disks.get(diskBackupId);
  if (!start) {
    throw new VolbackError(ErrorCodes.NOT_FOUND, `disk backup ${diskBackupId} is not in the catalog`, {
      fault: 'user',
    });
  }
  const path: DiskBackup[] = [];
  const seen = new Set<string>();
  let entry: CatalogDisk | undefined = start;
  while (entry) {
    const { disk } = entry;
    if (seen.has(disk.id)) throw chainBroken(`disk backup ${disk.id} is part of a parent cycle`);
    seen.add(disk.id);
    const owner = catalog.sets.get(entry.setId)!;
    const blocking = owner.problems.find((p) =>
      p.kind === 'incomplete' || p.kind === 'cycle' || p.kind === 'duplicate-conflict'
        ? true
        : p.diskBackupId === disk.id,
    );
    if (blocking) {
      throw chainBroken(
        `cannot restore disk backup ${diskBackupId}: ${blocking.message}`,
        'see `volback backup list`',
      );
    }
    path.push(disk);
    if (disk.kind === 'full') break;
    entry = entry.parentId === undefined ? undefined : catalog.disks.get(entry.parentId);
    if (!entry) {
      throw chainBroken(
        `cannot restore disk backup ${diskBackupId}: parent ${disk.parentId ?? '(none)'} of ${disk.id} is missing`,
      );
    }
  }
  return path.reverse();
}

/** The set a catalogued disk backup belongs to, as a lookup function. Pure. */
export const setOfDisk =
  (catalog: Catalog) =>
  (diskBackupId: string): string =>
    catalog.disks.get(diskBackupId)!.setId;

/** The newest restorable set of a domain (by creation time), or undefined when there is none. */
export function latestRestorable(catalog: Catalog, domainUuid: string): BackupSet | undefined {
  const domain = catalog.domains.get(domainUuid);
  if (!domain) return undefined;
  for (let i = domain.setIds.length - 1; i >= 0; i--) {
    const node = catalog.sets.get(domain.setIds[i])!;
    if (node.restorable) return node.set;
  }
  return undefined;
}

/**
 * Every set that depends on `setId`, directly or not, through the set tree or a disk's parent,
 * oldest first. Deleting `setId` would leave all of them unrestorable. Throws ERR_NOT_FOUND.
 */
export function dependents(catalog: Pick<Catalog, 'sets' | 'disks'>, setId: string): BackupSet[] {
  if (!catalog.sets.has(setId)) {
    throw new VolbackError(ErrorCodes.NOT_FOUND, `backup set ${setId} is not in the catalog`, {
      fault: 'user',
    });
  }
  const found = new Set<string>();
  const queue = [setId];
  while (queue.length > 0) {
    const node = catalog.sets.get(queue.shift()!)!;
    const next = [
      ...node.childIds,
      ...node.set.disks.flatMap((d) => {
        const entry = catalog.disks.get(d.id);
        return entry && entry.setId === node.set.id
          ? entry.childIds.map((c) => catalog.disks.get(c)!.setId)
          : [];
      }),
    ];
    for (const id of next) {
      if (id === setId || found.has(id)) continue;
      found.add(id);
      queue.push(id);
    }
  }
  return [...found].map((id) => catalog.sets.get(id)!.set).sort(byTimeThenId);
}

/** Throws ERR_CONFLICT ("backup set X has dependents Y, Z") unless no set depends on `setId`. */
export function assertNoDependents(catalog: Catalog, setId: string): void {
  const deps = dependents(catalog, setId);
  if (deps.length > 0) {
    throw new VolbackError(
      ErrorCodes.CONFLICT,
      `backup set ${setId} has dependents ${deps.map((s) => s.id).join(', ')}`,
      { fault: 'user', hint: 'delete the dependents first, or let prune merge it into its child' },
    );
  }
}

export interface SetFilter {
  domainName?: string;
  domainUuid?: string;
  /** Sets that include a backup of this disk target. */
  disk?: string;
  /** Created at or after. */
  from?: Date;
  /** Created at or before. */
  to?: Date;
  kind?: BackupKind;
}

/** The sets matching every given criterion, in input order. An empty filter matches everything. */
export function filterSets(sets: readonly BackupSet[], filter: SetFilter): BackupSet[] {
  return sets.filter(
    (s) =>
      (filter.domainName === undefined || s.domain.name === filter.domainName) &&
      (filter.domainUuid === undefined || s.domain.uuid.toLowerCase() === filter.domainUuid.toLowerCase()) &&
      (filter.disk === undefined || s.disks.some((d) => d.target === filter.disk)) &&
      (filter.from === undefined || s.createdAt.getTime() >= filter.from.getTime()) &&
      (filter.to === undefined || s.createdAt.getTime() <= filter.to.getTime()) &&
      (filter.kind === undefined || s.kind === filter.kind),
  );
}

/** Longest candidate list an ambiguous prefix error prints. */
const MAX_CANDIDATES = 10;

/**
 * The catalogued set whose id is `idOrPrefix` or starts with it (case-insensitive), as users name
 * sets (`volback backup list` shows 8 characters). Throws ERR_INVALID_INPUT for something that is not
 * an id or prefix, or an ambiguous prefix (listing the candidates), ERR_NOT_FOUND when nothing matches.
 */
export function findSet(catalog: Catalog, idOrPrefix: string): CatalogSet {
  const wanted = idOrPrefix.trim().toLowerCase();
  if (!/^[0-9a-f-]+$/.test(wanted)) {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `"${idOrPrefix}" is not a backup set id or id prefix`, {
      fault: 'user',
      hint: 'set ids are UUIDs; list them with `volback backup list`',
    });
  }
  const exact = catalog.sets.get(wanted);
  const matches = exact ? [exact] : [...catalog.sets.values()].filter((e) => e.set.id.startsWith(wanted));
  if (matches.length === 0) {
    throw new VolbackError(ErrorCodes.NOT_FOUND, `no backup set with id ${idOrPrefix} in any active pool`, {
      fault: 'user',
      hint: 'list the backups with `volback backup list`; start the pool that holds the backup if it is inactive',
    });
  }
  if (matches.length > 1) {
    const shown = matches
      .slice(0, MAX_CANDIDATES)
      .map((e) => `${e.set.id} (${e.set.domain.name}, ${e.set.kind}, ${e.set.createdAt.toISOString()})`);
    const more = matches.length > MAX_CANDIDATES ? ` and ${matches.length - MAX_CANDIDATES} more` : '';
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `backup set id prefix ${idOrPrefix} is ambiguous: ${shown.join(', ')}${more}`,
      { fault: 'user', hint: 'give more digits of the set id' },
    );
  }
  return matches[0];
}
