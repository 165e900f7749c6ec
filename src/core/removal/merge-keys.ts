// The keys of the encrypted chains a removal merges (docs/encryption.md): every layer of a merge opens
// with its chain's key, read from the libvirt secret the metadata names. A secret this host cannot
// give, or whose passphrase does not unlock the chain, refuses the removal before anything changes.
import type { Connection } from '../../libvirt';
import type { BackupEncryption } from '../../model';
import type { ChainKey } from '../../pool/driver';
import { getVolume, type PoolCache } from '../../pool/pool-layer';
import { keyOfChain, openSetKey, wipeKey } from '../shared/encryption';

/** One merge into an encrypted chain: its secret, a volume of the chain to try the key on, and its name in errors. */
export interface EncryptedMerge {
  encryption: BackupEncryption;
  volume: { pool: string; name: string };
  /** `disk backup X into Y`, as errors name the merge. */
  label: string;
}

/**
 * Refuses (ERR_INVALID_INPUT, naming the secret by UUID and usage) when a secret of `merges` is not
 * on this host, has no readable value, or does not unlock its chain (the volume's data map is read
 * with it). Read-only: a dry run asks it too. One try per secret.
 */
export async function refuseKeylessMerges(
  conn: Connection,
  pools: PoolCache,
  merges: readonly EncryptedMerge[],
): Promise<void> {
  const tried = new Set<string>();
  for (const merge of merges) {
    if (tried.has(merge.encryption.secretUuid)) continue;
    tried.add(merge.encryption.secretUuid);
    const pool = await pools.get(merge.volume.pool);
    const volume = await getVolume(pool, merge.volume.name);
    try {
      const what = `cannot merge ${merge.label} (nothing was changed)`;
      wipeKey(await openSetKey(conn, merge.encryption, what, { pool, volume }));
    } finally {
      volume.free();
    }
  }
}

/**
 * The key of each encrypted chain `encryptions` name (undefined for a plain one), read once per
 * secret. The caller wipes them (`wipeMergeKeys`) when the merges are done.
 */
export async function openMergeKeys(
  conn: Connection,
  encryptions: ReadonlyArray<BackupEncryption | undefined>,
  what: string,
): Promise<Array<ChainKey | undefined>> {
  const bySecret = new Map<string, ChainKey>();
  try {
    for (const e of encryptions)
      if (e && !bySecret.has(e.secretUuid)) bySecret.set(e.secretUuid, await keyOfChain(conn, e, what));
  } catch (err) {
    for (const key of bySecret.values()) wipeKey(key);
    throw err;
  }
  return encryptions.map((e) => (e ? bySecret.get(e.secretUuid) : undefined));
}

/** Overwrites the keys openMergeKeys returned (each once). */
export function wipeMergeKeys(keys: ReadonlyArray<ChainKey | undefined>): void {
  for (const key of new Set(keys)) wipeKey(key);
}
