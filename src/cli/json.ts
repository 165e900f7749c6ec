// The documented JSON shapes of `--json` output (docs/cli.md). Field names here are a public contract:
// add fields freely, never rename or remove one.
import type { BackupSet, Consistency } from '../model';
import type { ChainProblem } from '../core/catalog/chains';
import type { BackupListing, DamageFinding, ListedSet, PoolSummary } from '../index';

export interface DamageJson {
  setId: string;
  diskBackupId: string;
  target: string;
  pool: string;
  volume: string;
  /** Guest bytes [start, end) (end exclusive); null when the whole volume is concerned. */
  range: { start: number; end: number } | null;
  reason: string;
}

export const damageJson = (f: DamageFinding): DamageJson => ({
  setId: f.setId,
  diskBackupId: f.diskBackupId,
  target: f.target,
  pool: f.pool,
  volume: f.volume,
  range: f.range ?? null,
  reason: f.reason,
});

export interface ProblemJson {
  kind: string;
  setId: string;
  diskBackupId: string | null;
  relatedId: string | null;
  message: string;
}

export const problemJson = (p: ChainProblem): ProblemJson => ({
  kind: p.kind,
  setId: p.setId,
  diskBackupId: p.diskBackupId ?? null,
  relatedId: p.relatedId ?? null,
  message: p.message,
});

export interface DiskJson {
  id: string;
  target: string;
  kind: string;
  parentId: string | null;
  pool: string | null;
  volume: string | null;
  format: string | null;
  sourcePath: string;
  virtualSize: number;
  bytesCopied: number;
  /** The checksum document and extent size; null for sets from before checksums, and external ones. */
  checksums: { document: string; sha256: string; extentSize: number } | null;
}

export interface SetJson {
  id: string;
  domain: { name: string; uuid: string };
  kind: string;
  mode: string;
  state: string;
  createdAt: string;
  completedAt: string | null;
  parentId: string | null;
  childIds: string[];
  checkpoint: string | null;
  fallbackReason: string | null;
  /** Application- or crash-consistent, with the reason and the freeze window; null for older sets. */
  consistency: Consistency | null;
  description: string | null;
  /** `zstd` when the set's volumes hold compressed clusters, else null. */
  compression: string | null;
  /** Which libvirt secret encrypts the set's volumes (UUID, usage), never its value; null: plain. */
  encryption: { format: 'luks'; secretUuid: string; secretUsage?: string } | null;
  restorable: boolean;
  problems: ProblemJson[];
  metadata: Array<{ pool: string; volume: string }>;
  /** Live restores reading this set: its removal is refused until they finish. */
  liveRestores: Array<{ id: string; domain: string; host: string; disks: string[] }>;
  virtualSize: number;
  bytesCopied: number;
  disks: DiskJson[];
}

export function setJson(listed: Omit<ListedSet, 'set'> & { set: BackupSet }): SetJson {
  const { set } = listed;
  return {
    id: set.id,
    domain: { name: set.domain.name, uuid: set.domain.uuid },
    kind: set.kind,
    mode: set.mode,
    state: set.state,
    createdAt: set.createdAt.toISOString(),
    completedAt: set.completedAt?.toISOString() ?? null,
    parentId: set.parentId ?? null,
    childIds: listed.childIds,
    checkpoint: set.checkpoint?.name ?? null,
    fallbackReason: set.fallbackReason ?? null,
    consistency: set.consistency ?? null,
    description: set.description ?? null,
    compression: set.compression ?? null,
    encryption: set.encryption ?? null,
    restorable: listed.restorable,
    problems: listed.problems.map(problemJson),
    metadata: listed.metadata,
    liveRestores: listed.liveRestores ?? [],
    virtualSize: set.disks.reduce((n, d) => n + d.virtualSize, 0),
    bytesCopied: set.disks.reduce((n, d) => n + d.bytesCopied, 0),
    disks: set.disks.map((d) => ({
      id: d.id,
      target: d.target,
      kind: d.kind,
      parentId: d.parentId ?? null,
      pool: d.volume?.pool ?? null,
      volume: d.volume?.name ?? null,
      format: d.volume?.format ?? null,
      sourcePath: d.sourcePath,
      virtualSize: d.virtualSize,
      bytesCopied: d.bytesCopied,
      checksums: d.checksums
        ? { document: d.checksums.document, sha256: d.checksums.sha256, extentSize: d.checksums.extentSize }
        : null,
    })),
  };
}

export const listingJson = (listing: BackupListing) => ({
  pools: listing.pools,
  sets: listing.sets.map(setJson),
  problems: listing.problems.map(problemJson),
  invalidMetadata: listing.invalidMetadata,
  strayVolumes: listing.strayVolumes,
  unreadablePools: listing.unreadablePools,
  undefinedDomainPools: listing.undefinedDomainPools ?? [],
});

export const poolJson = (p: PoolSummary) => ({
  name: p.name,
  uuid: p.uuid,
  type: p.type,
  active: p.active,
  autostart: p.autostart,
  path: p.path ?? null,
  capacity: p.capacity,
  allocation: p.allocation,
  available: p.available,
  supported: p.supported,
});
