// What volback may delete: only volumes it can prove are its own for the set being removed. A pool is
// shared ground, and a metadata document is input like any other: one that names a user's volume, or
// another set's, must never get it deleted. Pure.
import type { BackupSet, DiskBackup } from '../../model';
import { backupVolumeName, metadataVolumeName } from '../../pool/volume-names';

/** A volume by pool and name. */
export interface VolumeRef {
  pool: string;
  name: string;
}

/** A volume volback will not delete, and why it cannot prove the volume is its own. */
export interface KeptVolume extends VolumeRef {
  reason: string;
}

const key = (ref: VolumeRef): string => `${ref.pool}\n${ref.name}`;

/** Who names which volume: pool and name → ids of the sets whose metadata names it as a disk's data. */
export type Claims = Pick<ReadonlyMap<string, readonly string[]>, 'get'>;

/** The claims of every set given (each valid set the catalog knows). */
export function claimsOf(sets: Iterable<BackupSet>): Claims {
  const claims = new Map<string, string[]>();
  for (const set of sets) {
    for (const disk of set.disks) {
      if (!disk.volume) continue;
      const k = key(disk.volume);
      const ids = claims.get(k) ?? [];
      if (!ids.includes(set.id)) ids.push(set.id);
      claims.set(k, ids);
    }
  }
  return claims;
}

/** The sets that name the volume `ref` as one of their data volumes. */
export const claimants = (claims: Claims, ref: VolumeRef): readonly string[] => claims.get(key(ref)) ?? [];

/** `claims` with those of `set` added (a removed set is claimed even when no longer indexed). */
export function withClaimsOf(claims: Claims, set: BackupSet): Claims {
  const own = claimsOf([set]);
  return {
    get: (k: string) => {
      const ids = claims.get(k);
      if (!own.get(k) || ids?.includes(set.id)) return ids;
      return [...(ids ?? []), set.id];
    },
  };
}

/**
 * Whether the data volume of `disk` is provably `set`'s own: its name is the one volback gives that
 * disk's backup in that set (domain, disk, creation time, set id, format — `<target volume>` names
 * prove nothing and are kept), the set keeps a metadata copy in the volume's pool (volback writes one
 * into every pool that receives a disk: a document in one pool cannot claim another pool's volume),
 * and no other set names it.
 */
export function proveDataVolume(
  set: BackupSet,
  disk: DiskBackup,
  copies: readonly VolumeRef[],
  claims: Claims,
): { mine: true; ref: VolumeRef } | { mine: false; kept: KeptVolume } {
  const volume = disk.volume!;
  const ref = { pool: volume.pool, name: volume.name };
  const kept = (reason: string) => ({ mine: false as const, kept: { ...ref, reason } });
  const expected = backupVolumeName({
    domain: set.domain.name,
    disk: disk.target,
    createdAt: set.createdAt,
    setId: set.id,
    format: volume.format,
  });
  if (volume.name !== expected) {
    return kept(
      `its name is not the one volback gives the ${disk.target} backup of set ${set.id} (${expected})`,
    );
  }
  if (!copies.some((c) => c.pool === volume.pool)) {
    return kept(
      `set ${set.id} keeps no metadata in pool ${volume.pool}, so its metadata cannot claim the volume`,
    );
  }
  const others = (claims.get(key(ref)) ?? []).filter((id) => id !== set.id);
  if (others.length)
    return kept(
      `set${others.length > 1 ? 's' : ''} ${others.join(', ')} also name${others.length > 1 ? '' : 's'} it`,
    );
  return { mine: true, ref };
}

/**
 * The data volumes of the disks `diskIds` of `set` that a removal deletes, and those it keeps because
 * volback cannot prove they are the set's own (external disks have none).
 */
export function volumesToDelete(
  set: BackupSet,
  diskIds: readonly string[],
  copies: readonly VolumeRef[],
  claims: Claims,
): { delete: VolumeRef[]; kept: KeptVolume[] } {
  const out = { delete: [] as VolumeRef[], kept: [] as KeptVolume[] };
  for (const disk of set.disks.filter((d) => diskIds.includes(d.id) && d.volume)) {
    const verdict = proveDataVolume(set, disk, copies, claims);
    if (verdict.mine) out.delete.push(verdict.ref);
    else out.kept.push(verdict.kept);
  }
  return out;
}

/** A metadata copy is the set's own when it has the name volback gives that set's metadata. */
export function isOwnMetadataCopy(set: BackupSet, copy: VolumeRef): boolean {
  return (
    copy.name === metadataVolumeName({ domain: set.domain.name, createdAt: set.createdAt, setId: set.id })
  );
}
