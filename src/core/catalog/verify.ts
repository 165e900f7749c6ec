// Backup verification: every disk volume of a set exists, its driver finds each layer sound and
// standing on the parent the metadata names, and the data a restore of the set would read matches
// the checksums recorded at backup time: a random sample of extents by default, every extent with
// `deep`. Damage found is recorded in the pools (damage.ts), so every host's listing shows it.
import { openSetKey, wipeKey } from '../shared/encryption';
import type { ChainKey } from '../../pool/driver';
import type { Connection, StorageVolume } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { DiskBackup } from '../../model';
import { findVolume, PoolCache, type OpenPool } from '../../pool/pool-layer';
import {
  checkView,
  closeChain,
  describeFinding,
  newSampleSeed,
  openChainState,
  sampleExtents,
  type DamageFinding,
} from '../shared/checksums';
import { scanCatalog } from './scan';
import { restorePath, setOfDisk, type Catalog } from './chains';
import { clearDamage, metadataCopies, recordDamage, uniqueFindings } from './damage';

const log = logger('verify');

/** Extents per disk a verify without `deep` reads (chosen at random): a 32 MiB read at 1 MiB extents. */
export const DEFAULT_SAMPLE = 32;

export interface VerifyOptions {
  /** Full backup set id. */
  setId: string;
  /** Check every extent against its checksum (as long as reading the whole backup), not a sample. */
  deep?: boolean;
  /** Extents per disk to check without `deep` (default DEFAULT_SAMPLE). */
  sample?: number;
  /** Seed of the random sample (the result names the one used, so a run can be repeated). */
  seed?: number;
  /**
   * Record damage found in the pools, and clear a set's record when a deep verify finds it whole
   * (default true). false: read-only.
   */
  record?: boolean;
  signal?: AbortSignal;
  /** Called before each disk is verified. */
  onProgress?: (progress: {
    disk: string;
    index: number;
    count: number;
    step: 'check' | 'read';
    bytesDone?: number;
    bytesTotal?: number;
  }) => void;
}

/** What the checksums of one disk's restore path allowed. */
export interface DiskChecksums {
  /** `complete`: every layer has checksums; `partial`: some were taken before volback recorded them; `none`. */
  state: 'complete' | 'partial' | 'none';
  /** Extents of the disk's view that some layer stores. */
  extents: number;
  /** Of those, the ones with a checksum. */
  checkable: number;
  /** The ones read and compared in this run. */
  checked: number;
  /** True when `checked` is a random sample of `checkable`. */
  sample: boolean;
  extentSize?: number;
}

export interface DiskVerification {
  target: string;
  /** Where the disk's data should be; absent for external backups (nothing stored to verify). */
  volume?: { pool: string; name: string };
  /** Volume names of the chain from this disk's volume down to its full, as the metadata says. */
  chain: string[];
  ok: boolean;
  problems: string[];
  /** Absent when the checks could not get that far (a missing volume), and for external backups. */
  checksums?: DiskChecksums;
  /** Damage found in this disk's restore path (each finding names the set whose volume holds it). */
  damage: DamageFinding[];
}

/** `ok`, `damaged` (data differs from its checksums, found now or recorded earlier), `problems` (anything else), `no-checksums`. */
export type VerifyVerdict = 'ok' | 'damaged' | 'problems' | 'no-checksums';

export interface VerifyResult {
  setId: string;
  domain: string;
  deep: boolean;
  /** True when the set and every disk verified, and no damage is found or recorded. */
  ok: boolean;
  verdict: VerifyVerdict;
  /** Problems of the set as a whole (catalog problems other than damage). */
  problems: string[];
  disks: DiskVerification[];
  /** Every finding of this run, once. */
  damage: DamageFinding[];
  /** Damage the pools recorded before this run (this set's or an ancestor's), as the catalog shows it. */
  recordedDamage: string[];
  /** The sample's seed (without `deep`). */
  seed?: number;
  /** What this run changed in the pools' damage records. */
  records: { written: string[]; cleared: boolean; failed: string[] };
}

const DAMAGE_KINDS = new Set(['damaged', 'damaged-ancestor']);

/** Where a layer of a chain is: its volume, open in its pool (the caller frees it). */
interface OpenLayer {
  pool: OpenPool;
  volume: StorageVolume;
}

async function verifyDisk(
  pools: PoolCache,
  catalog: Catalog,
  chain: DiskBackup[],
  options: VerifyOptions & { seed: number },
  position: { index: number; count: number },
  key?: ChainKey,
): Promise<DiskVerification> {
  const disk = chain[chain.length - 1];
  const result: DiskVerification = {
    target: disk.target,
    volume: disk.volume && { pool: disk.volume.pool, name: disk.volume.name },
    chain: chain.map((d) => d.volume?.name ?? '(none)').reverse(),
    ok: true,
    problems: [],
    damage: [],
  };
  const problem = (message: string): void => {
    result.ok = false;
    result.problems.push(message);
  };
  // Every layer, full first: it exists, and its driver finds it sound and standing on its parent.
  const layers: Array<OpenLayer | undefined> = [];
  try {
    for (const layer of chain) {
      if (!layer.volume) {
        problem(`disk backup ${layer.id} has no volume`);
        return result;
      }
      const { pool: poolName, name } = layer.volume;
      let pool: OpenPool;
      try {
        pool = await pools.get(poolName);
      } catch (err) {
        problem(`pool ${poolName} of volume ${name}: ${(err as Error).message}`);
        return result;
      }
      await pool.pool.refresh().catch(() => undefined);
      const volume = await findVolume(pool, name);
      if (!volume) problem(`volume ${name} is missing from pool ${poolName}`);
      layers.push(volume && { pool, volume });
    }
    if (!result.ok) return result;
    for (const [i, layer] of layers.entries()) {
      const parent = i > 0 ? layers[i - 1]!.volume : undefined;
      for (const p of await layer!.pool.driver.checkLayer(layer!.pool, layer!.volume, parent, key))
        problem(`${chain[i].volume!.name}: ${p}`);
    }
    if (!result.ok) return result;
    await checkDiskData(pools, catalog, chain, options, position, result, key);
    return result;
  } finally {
    for (const layer of layers) layer?.volume.free();
  }
}

/** Chunk of a full read-through. */
const READ_ALL_CHUNK = 16 * 1024 * 1024;

/**
 * Reads every byte of `volume`'s view through its driver's reader (the restore path), discarding
 * them: the first read error's message, or undefined when all was read.
 */
async function readAll(
  pool: OpenPool,
  volume: StorageVolume,
  size: number,
  signal?: AbortSignal,
  key?: ChainKey,
): Promise<string | undefined> {
  let reader;
  try {
    reader = await pool.driver.openReader(pool, volume, key);
    for (let offset = 0; offset < size; offset += READ_ALL_CHUNK) {
      if (signal?.aborted)
        throw new VolbackError(ErrorCodes.CANCELLED, 'cancelled while reading', { fault: 'user' });
      await reader.read(offset, Math.min(READ_ALL_CHUNK, size - offset), () => undefined);
    }
    return undefined;
  } catch (err) {
    if (err instanceof VolbackError && err.code === ErrorCodes.CANCELLED) throw err;
    return (err as Error).message.split('\n')[0];
  } finally {
    await reader?.close();
  }
}

/** The checksum part of a disk's verification: what its restore path reads, against the checksums. */
async function checkDiskData(
  pools: PoolCache,
  catalog: Catalog,
  chain: DiskBackup[],
  options: VerifyOptions & { seed: number },
  position: { index: number; count: number },
  result: DiskVerification,
  key?: ChainKey,
): Promise<void> {
  const disk = chain[chain.length - 1];
  const withSums = chain.filter((d) => d.checksums).length;
  const state = await openChainState(pools, chain, setOfDisk(catalog), key);
  try {
    const top = state.layers[state.layers.length - 1];
    options.onProgress?.({ disk: disk.target, ...position, step: 'read' });
    const reader = await top.pool.driver.openReader(top.pool, top.volume, key);
    let checked;
    try {
      checked = await checkView(reader, state, {
        signal: options.signal,
        choose: options.deep
          ? undefined
          : (checkable) => sampleExtents(checkable, options.sample ?? DEFAULT_SAMPLE, options.seed),
        onProgress: (bytesDone, bytesTotal) =>
          options.onProgress?.({ disk: disk.target, ...position, step: 'read', bytesDone, bytesTotal }),
      });
    } finally {
      await reader.close();
    }
    result.checksums = {
      state: withSums === 0 ? 'none' : withSums < chain.length ? 'partial' : 'complete',
      extents: checked.extents,
      checkable: checked.checkable,
      checked: checked.checked,
      sample: !options.deep,
      extentSize: state.extentSize,
    };
    result.damage = [...state.findings, ...checked.findings];
    for (const f of result.damage) {
      result.ok = false;
      result.problems.push(describeFinding(f));
    }
    // What no checksum covers is at least read in full: an unreadable cluster still shows.
    if (options.deep && (state.extentSize === undefined || checked.unchecked > 0)) {
      const failure = await readAll(top.pool, top.volume, disk.virtualSize, options.signal, key);
      if (failure) {
        result.ok = false;
        result.problems.push(`reading all of ${disk.volume!.name} failed: ${failure}`);
      }
    }
  } finally {
    closeChain(state.layers);
  }
}

/**
 * Verifies one backup set. Problems are returned, not thrown: only an unknown set (ERR_NOT_FOUND),
 * a cancel (ERR_CANCELLED) or an unreadable pool rejects. Reads only the backup's data; unless
 * `record: false`, damage found is recorded next to the damaged set's metadata, and a deep verify
 * that finds this set whole removes the set's record.
 */
export async function verifyBackup(conn: Connection, options: VerifyOptions): Promise<VerifyResult> {
  const scan = await scanCatalog(conn);
  const entry = scan.catalog.sets.get(options.setId);
  if (!entry) {
    throw new VolbackError(ErrorCodes.NOT_FOUND, `backup set ${options.setId} is not in any active pool`, {
      fault: 'user',
    });
  }
  if (options.sample !== undefined && (!Number.isSafeInteger(options.sample) || options.sample < 0)) {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `sample size ${options.sample} is not a whole number`, {
      fault: 'user',
    });
  }
  const seed = options.seed ?? newSampleSeed();
  const result: VerifyResult = {
    setId: entry.set.id,
    domain: entry.set.domain.name,
    deep: options.deep ?? false,
    ok: true,
    verdict: 'ok',
    problems: entry.problems.filter((p) => !DAMAGE_KINDS.has(p.kind)).map((p) => p.message),
    disks: [],
    damage: [],
    recordedDamage: entry.problems.filter((p) => DAMAGE_KINDS.has(p.kind)).map((p) => p.message),
    seed: options.deep ? undefined : seed,
    records: { written: [], cleared: false, failed: [] },
  };
  const pools = new PoolCache(conn);
  // An encrypted set's layers open with its key, read from the secret its metadata names.
  let key: ChainKey | undefined;
  try {
    key = await openSetKey(conn, entry.set.encryption, `cannot verify encrypted backup ${entry.set.id}`);
    const disks = entry.set.disks;
    for (const [index, disk] of disks.entries()) {
      if (options.signal?.aborted)
        throw new VolbackError(ErrorCodes.CANCELLED, 'verify cancelled', { fault: 'user' });
      options.onProgress?.({ disk: disk.target, index, count: disks.length, step: 'check' });
      if (!disk.volume) {
        result.disks.push({ target: disk.target, chain: [], ok: true, problems: [], damage: [] });
        continue;
      }
      let chain: DiskBackup[];
      try {
        chain = restorePath(scan.catalog, disk.id);
      } catch (err) {
        result.disks.push({
          target: disk.target,
          volume: { pool: disk.volume.pool, name: disk.volume.name },
          chain: [disk.volume.name],
          ok: false,
          problems: [(err as Error).message],
          damage: [],
        });
        continue;
      }
      const verdict = await verifyDisk(
        pools,
        scan.catalog,
        chain,
        { ...options, seed },
        {
          index,
          count: disks.length,
        },
        key,
      );
      log.info(`verify ${entry.set.id} ${disk.target}: ${verdict.ok ? 'ok' : verdict.problems.join('; ')}`);
      result.disks.push(verdict);
    }
  } finally {
    wipeKey(key);
    pools.close();
  }
  result.damage = uniqueFindings(result.disks.flatMap((d) => d.damage));
  if (options.record ?? true) {
    const copies = metadataCopies(scan);
    if (result.damage.length) {
      // A deep run read every extent this set's own layers store: its own findings replace its record.
      const { failed } = await recordDamage(
        conn,
        copies,
        result.damage,
        result.deep ? 'verify --deep' : 'verify',
        result.deep ? new Set([entry.set.id]) : undefined,
      );
      result.records.written = [...new Set(result.damage.map((f) => f.setId))];
      result.records.failed = failed;
    }
    // Only a deep run that read every extent of this set's own layers clears its record.
    const ownSums = entry.set.disks.every((d) => !d.volume || d.checksums);
    const whole =
      result.deep &&
      ownSums &&
      result.disks.every((d) => d.ok) &&
      !result.damage.some((f) => f.setId === entry.set.id);
    if (whole && entry.problems.some((p) => p.kind === 'damaged')) {
      await clearDamage(conn, copies, entry.set.id);
      result.records.cleared = true;
      result.recordedDamage = result.recordedDamage.filter(
        (m) => !entry.problems.some((p) => p.kind === 'damaged' && p.message === m),
      );
    }
  }
  // A sample that missed recorded damage proves nothing; a deep run that found none read all this set's restore reads.
  const stillDamaged =
    result.damage.length > 0 || (!result.deep && entry.problems.some((p) => DAMAGE_KINDS.has(p.kind)));
  const allNone = result.disks.every((d) => !d.volume || d.checksums?.state === 'none');
  const anyStored = result.disks.some((d) => d.volume);
  result.verdict = stillDamaged
    ? 'damaged'
    : result.problems.length || result.disks.some((d) => !d.ok)
      ? 'problems'
      : anyStored && allNone
        ? 'no-checksums'
        : 'ok';
  result.ok = result.verdict === 'ok' || result.verdict === 'no-checksums';
  return result;
}
