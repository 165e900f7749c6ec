// Every catalogued set with its metadata copies, held with the lookups a removal makes (who names a
// volume, a disk backup by id, who records a checkpoint) and kept current while removals run: a
// removal then costs what it touches, not a pass over every set (prune of thousands stays linear).
import type { BackupSet, DiskBackup } from '../../model';
import type { Claims, VolumeRef } from './ownership';

/** What a removal asks about the other sets it knows (see `removalTouches` in journal.ts). */
export interface KnownSets {
  /** Who names which data volume (ownership.ts). */
  readonly claims: Claims;
  /** The disk backup of that id in any known set. */
  disk(id: string): DiskBackup | undefined;
  /** The known sets of a domain whose metadata records checkpoint `name`. */
  recordingCheckpoint(domainUuid: string, name: string): readonly BackupSet[];
}

/** A set and where its metadata copies are. */
export interface IndexEntry {
  set: BackupSet;
  copies: VolumeRef[];
}

const volumeKey = (pool: string, name: string): string => `${pool}\n${name}`;
const checkpointKey = (domainUuid: string, name: string): string => `${domainUuid}\n${name}`;

function removeFrom<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (!list) return;
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
  if (list.length === 0) map.delete(key);
}

/**
 * Set id → set and metadata copies, with the KnownSets lookups maintained on every `set`/`delete`
 * (each costs the set's disks, never the index's size).
 */
export class SetIndex implements ReadonlyMap<string, IndexEntry>, KnownSets {
  private readonly byId = new Map<string, IndexEntry>();
  private readonly claimsByVolume = new Map<string, string[]>();
  private readonly disksById = new Map<string, DiskBackup[]>();
  private readonly byCheckpoint = new Map<string, BackupSet[]>();

  constructor(entries: Iterable<[string, IndexEntry]> = []) {
    for (const [id, entry] of entries) this.set(id, entry);
  }

  get claims(): Claims {
    return this.claimsByVolume;
  }

  disk(id: string): DiskBackup | undefined {
    return this.disksById.get(id)?.[0];
  }

  recordingCheckpoint(domainUuid: string, name: string): readonly BackupSet[] {
    return this.byCheckpoint.get(checkpointKey(domainUuid, name)) ?? [];
  }

  set(id: string, entry: IndexEntry): this {
    this.unindex(id);
    this.byId.set(id, entry);
    const { set } = entry;
    for (const disk of set.disks) {
      const list = this.disksById.get(disk.id) ?? [];
      list.push(disk);
      this.disksById.set(disk.id, list);
      if (!disk.volume) continue;
      const key = volumeKey(disk.volume.pool, disk.volume.name);
      const ids = this.claimsByVolume.get(key) ?? [];
      if (!ids.includes(set.id)) ids.push(set.id);
      this.claimsByVolume.set(key, ids);
    }
    if (set.checkpoint) {
      const key = checkpointKey(set.domain.uuid, set.checkpoint.name);
      this.byCheckpoint.set(key, [...(this.byCheckpoint.get(key) ?? []), set]);
    }
    return this;
  }

  delete(id: string): boolean {
    const had = this.unindex(id);
    this.byId.delete(id);
    return had;
  }

  private unindex(id: string): boolean {
    const old = this.byId.get(id);
    if (!old) return false;
    const { set } = old;
    for (const disk of set.disks) {
      removeFrom(this.disksById, disk.id, disk);
      if (disk.volume) removeFrom(this.claimsByVolume, volumeKey(disk.volume.pool, disk.volume.name), set.id);
    }
    if (set.checkpoint)
      removeFrom(this.byCheckpoint, checkpointKey(set.domain.uuid, set.checkpoint.name), set);
    return true;
  }

  get size(): number {
    return this.byId.size;
  }
  get(id: string): IndexEntry | undefined {
    return this.byId.get(id);
  }
  has(id: string): boolean {
    return this.byId.has(id);
  }
  keys(): IterableIterator<string> {
    return this.byId.keys();
  }
  values(): IterableIterator<IndexEntry> {
    return this.byId.values();
  }
  entries(): IterableIterator<[string, IndexEntry]> {
    return this.byId.entries();
  }
  forEach(fn: (value: IndexEntry, key: string, map: ReadonlyMap<string, IndexEntry>) => void): void {
    this.byId.forEach((v, k) => fn(v, k, this));
  }
  [Symbol.iterator](): IterableIterator<[string, IndexEntry]> {
    return this.byId.entries();
  }
}

/** The KnownSets of catalogued sets (one per id; recovery reads a fresh catalog per removal). */
export function knownSets(sets: Iterable<BackupSet>): KnownSets {
  return new SetIndex([...sets].map((set) => [set.id, { set, copies: [] }]));
}
