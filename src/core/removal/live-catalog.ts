// The set and disk links a run of many removals plans against (prune, a cascade): the scan's catalog,
// edited in place after each removal instead of rebuilt from every set, which made prune quadratic.
import type { BackupSet } from '../../model';
import type { Catalog, CatalogDisk, ChainProblem } from '../catalog/chains';

/** What removal planning reads of a catalog (`planRemoval`, `dependents`). */
export type CatalogLinks = Pick<Catalog, 'sets' | 'disks'>;

interface LiveSet {
  set: BackupSet;
  parentId?: string;
  childIds: string[];
  restorable: boolean;
  problems: ChainProblem[];
  copies: number;
}

interface LiveDisk {
  disk: CatalogDisk['disk'];
  setId: string;
  domainUuid: string;
  parentId?: string;
  childIds: string[];
  restorable: boolean;
}

const byTimeThenId =
  (time: (id: string) => BackupSet | undefined) =>
  (a: string, b: string): number =>
    (time(a)?.createdAt.getTime() ?? 0) - (time(b)?.createdAt.getTime() ?? 0) || (a < b ? -1 : a > b ? 1 : 0);

function drop(list: string[], id: string): void {
  const at = list.indexOf(id);
  if (at >= 0) list.splice(at, 1);
}

/**
 * A catalog's links kept current through removals. `replace` (a set rewritten: a child re-parented
 * or merged, a set that lost disks) and `remove` (a set gone) relink exactly what the set touches,
 * oldest child first as buildCatalog orders them. Problems and restorability found by the scan are
 * kept: a removal through the journal leaves every remaining point in time with its content, so it
 * makes nothing restorable unrestorable — except a set left standing on a removed one, which is
 * marked `orphan` here, as a rebuild would. The per-domain chain views are not kept (planning does
 * not read them); a fresh scan has them.
 */
export class LiveCatalog implements CatalogLinks {
  readonly sets = new Map<string, LiveSet>();
  readonly disks = new Map<string, LiveDisk>();

  constructor(catalog: Catalog) {
    for (const [id, s] of catalog.sets) {
      this.sets.set(id, { ...s, childIds: [...s.childIds], problems: [...s.problems] } as LiveSet);
    }
    for (const [id, d] of catalog.disks) this.disks.set(id, { ...d, childIds: [...d.childIds] } as LiveDisk);
  }

  private readonly setTime = (id: string): BackupSet | undefined => this.sets.get(id)?.set;
  private readonly diskTime = (id: string): BackupSet | undefined => {
    const disk = this.disks.get(id);
    return disk && this.sets.get(disk.setId)?.set;
  };

  /** The catalogued set of `set.id` now reads `set` (same id); its links follow its new parents. */
  replace(set: BackupSet): void {
    const node = this.sets.get(set.id);
    if (!node) return;
    this.unlink(node);
    const before = node.set;
    node.set = set;
    node.parentId =
      set.kind !== 'full' && set.parentId && this.sets.has(set.parentId) ? set.parentId : undefined;
    if (node.parentId) this.insertChild(this.sets.get(node.parentId)!.childIds, set.id, this.setTime);
    const kept = new Set(set.disks.map((d) => d.id));
    for (const d of before.disks)
      if (!kept.has(d.id) && this.disks.get(d.id)?.setId === set.id) this.removeDisk(d.id);
    for (const d of set.disks) {
      const entry = this.disks.get(d.id);
      if (!entry || entry.setId !== set.id) continue;
      entry.disk = d;
      entry.parentId = d.kind !== 'full' && d.parentId && this.disks.has(d.parentId) ? d.parentId : undefined;
      if (entry.parentId) this.insertChild(this.disks.get(entry.parentId)!.childIds, d.id, this.diskTime);
    }
  }

  /** Set `setId` is gone; whatever still stands on it is an orphan (not restorable). */
  remove(setId: string): void {
    const node = this.sets.get(setId);
    if (!node) return;
    this.unlink(node);
    for (const child of node.childIds) this.orphan(child, setId);
    for (const d of node.set.disks) if (this.disks.get(d.id)?.setId === setId) this.removeDisk(d.id);
    this.sets.delete(setId);
  }

  /** Takes the set (and its disks) out of its parents' child lists. */
  private unlink(node: LiveSet): void {
    if (node.parentId) {
      const parent = this.sets.get(node.parentId);
      if (parent) drop(parent.childIds, node.set.id);
    }
    for (const d of node.set.disks) {
      const entry = this.disks.get(d.id);
      if (entry?.setId !== node.set.id || !entry.parentId) continue;
      const parent = this.disks.get(entry.parentId);
      if (parent) drop(parent.childIds, d.id);
    }
  }

  private removeDisk(id: string): void {
    const entry = this.disks.get(id);
    if (!entry) return;
    if (entry.parentId) {
      const parent = this.disks.get(entry.parentId);
      if (parent) drop(parent.childIds, id);
    }
    for (const child of entry.childIds) {
      const c = this.disks.get(child);
      if (!c) continue;
      c.parentId = undefined;
      c.restorable = false;
      this.orphan(c.setId, entry.setId);
    }
    this.disks.delete(id);
  }

  private orphan(setId: string, removed: string): void {
    const node = this.sets.get(setId);
    if (!node || node.set.id === removed) return;
    if (node.parentId === removed) node.parentId = undefined;
    node.restorable = false;
    node.problems.push({
      kind: 'orphan',
      setId,
      relatedId: removed,
      message: `backup set ${setId} stood on ${removed}, which was removed`,
    });
  }

  private insertChild(list: string[], id: string, time: (id: string) => BackupSet | undefined): void {
    if (!list.includes(id)) list.push(id);
    list.sort(byTimeThenId(time));
  }
}
