// Taking and checking a backup's checksums (docs/architecture.md, "Checksums"): the digests of the
// extents a layer stores, read back through its driver; which layer of a chain provides each extent
// of the view a restore reads; sampling; and, for a mismatch, which layer the damage is in.
import { createHash, randomInt } from 'node:crypto';
import type { StorageVolume } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import type { DiskBackup } from '../../model';
import { extentRange, extentsOf, readChecksumDocument } from '../../pool/checksums';
import type { ChainKey, VolumeReader } from '../../pool/driver';
import { findVolume, type OpenPool, type PoolCache } from '../../pool/pool-layer';

/** Reads in flight at once per volume: enough to keep qemu-nbd and the hashing busy on 2 cores. */
const READS_IN_FLIGHT = 4;

/** Damage found in a backup: which set, disk, volume and guest bytes, and why. */
export interface DamageFinding {
  /** The set whose volume holds the damaged data. */
  setId: string;
  diskBackupId: string;
  target: string;
  pool: string;
  volume: string;
  /** Guest bytes [start, end); absent when the whole volume is concerned (its checksum document). */
  range?: { start: number; end: number };
  reason: string;
}

/** `bytes 1048576-2097151` (inclusive, as people read a range). Pure. */
export const describeRange = (r: { start: number; end: number }): string => `bytes ${r.start}-${r.end - 1}`;

/** One line naming a finding: set, disk, volume, range, reason. Pure. */
export const describeFinding = (f: DamageFinding): string =>
  `set ${f.setId} disk ${f.target} volume ${f.volume} (pool ${f.pool})` +
  `${f.range ? ` ${describeRange(f.range)}` : ''}: ${f.reason}`;

/** Runs `work` over `items` with at most `limit` at once; the first failure rejects (others finish). */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** sha256 of the guest bytes of one extent, as `reader` presents them. */
export async function digestExtent(
  reader: VolumeReader,
  index: number,
  extentSize: number,
  virtualSize: number,
): Promise<Buffer> {
  const { start, length } = extentRange(index, extentSize, virtualSize);
  const hash = createHash('sha256');
  await reader.read(start, length, (chunk) => hash.update(chunk));
  return hash.digest();
}

export interface DigestOptions {
  signal?: AbortSignal;
  /** Bytes read so far, of `total`. */
  onProgress?: (done: number, total: number) => void;
}

/** Digests of the given extents, read through `reader`. A cancel rejects with ERR_CANCELLED. */
export async function digestExtents(
  reader: VolumeReader,
  indices: readonly number[],
  extentSize: number,
  virtualSize: number,
  options: DigestOptions = {},
): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  const total = indices.reduce((n, i) => n + extentRange(i, extentSize, virtualSize).length, 0);
  let done = 0;
  await eachLimited(indices, READS_IN_FLIGHT, async (index) => {
    if (options.signal?.aborted)
      throw new VolbackError(ErrorCodes.CANCELLED, 'cancelled while reading checksums', { fault: 'user' });
    out.set(index, await digestExtent(reader, index, extentSize, virtualSize));
    done += extentRange(index, extentSize, virtualSize).length;
    options.onProgress?.(done, total);
  });
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

/**
 * The digests of every extent `volume`'s own layer stores, read back through its driver (what the
 * pool really holds, as QEMU reads it). `extentSize` is the chain's.
 */
export async function takeLayerDigests(
  pool: OpenPool,
  volume: StorageVolume,
  extentSize: number,
  virtualSize: number,
  options: DigestOptions = {},
  key?: ChainKey,
): Promise<Map<number, Buffer>> {
  const held = extentsOf(await pool.driver.layerExtents(pool, volume, key), extentSize, virtualSize);
  const reader = await pool.driver.openReader(pool, volume, key);
  try {
    return await digestExtents(reader, held, extentSize, virtualSize, options);
  } finally {
    await reader.close();
  }
}

/** One layer of a chain as the checks see it. */
export interface LayerState {
  disk: DiskBackup;
  setId: string;
  pool: OpenPool;
  volume: StorageVolume;
  /** Recorded digests; absent when the layer has none (older set) or its document is damaged. */
  digests?: Map<number, Buffer>;
  /** Extents the layer stores now, as its driver reports them. */
  held: number[];
}

/** One extent of the view a restore of the top layer reads, and the layer that provides it. */
export interface ViewExtent {
  index: number;
  /** Position in the chain (0: the full) of the newest layer that stores the extent. */
  provider: number;
  /** The digest it must have; absent when that layer has no (usable) checksums. */
  digest?: Buffer;
}

/**
 * The extents the top layer's view takes from some layer, each with its newest provider: a layer
 * provides what it recorded and what it stores now (an extent stored but not recorded has no
 * digest: it is reported by `unrecordedExtents`). Extents no layer stores read as zeros. Pure.
 */
export function planView(layers: ReadonlyArray<Pick<LayerState, 'digests' | 'held'>>): ViewExtent[] {
  const provider = new Map<number, number>();
  layers.forEach((layer, position) => {
    for (const i of layer.digests?.keys() ?? []) provider.set(i, position);
    for (const i of layer.held) provider.set(i, position);
  });
  return [...provider.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([index, position]) => ({
      index,
      provider: position,
      digest: layers[position].digests?.get(index),
    }));
}

/** Extents a layer stores now that its recorded checksums do not list (nothing when it has none). Pure. */
export function unrecordedExtents(layer: Pick<LayerState, 'digests' | 'held'>): number[] {
  if (!layer.digests) return [];
  return layer.held.filter((i) => !layer.digests!.has(i));
}

/** Consecutive indices as [first, last] runs. Pure. */
export function runsOf(indices: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const i of indices) {
    const last = runs[runs.length - 1];
    if (last && last[1] + 1 === i) last[1] = i;
    else runs.push([i, i]);
  }
  return runs;
}

/** A small seeded generator (mulberry32): the same seed picks the same sample. Pure. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh seed for a sample (printed with the result, so a run can be repeated). */
export const newSampleSeed = (): number => randomInt(0, 2 ** 31);

/**
 * `count` of `candidates` chosen at random by `seed` (all of them when there are no more), in
 * ascending order. The same candidates and seed always give the same sample. Pure.
 */
export function sampleExtents<T>(candidates: readonly T[], count: number, seed: number): T[] {
  if (count >= candidates.length) return [...candidates];
  const next = generator(seed);
  const picked = new Set<number>();
  // Floyd's algorithm: `count` distinct positions with one draw each.
  for (let j = candidates.length - count; j < candidates.length; j++) {
    const t = Math.floor(next() * (j + 1));
    picked.add(picked.has(t) ? j : t);
  }
  return [...picked].sort((a, b) => a - b).map((p) => candidates[p]);
}

/** A disk's restore path, open for checking. */
export interface ChainState {
  layers: LayerState[];
  /** Damage found while opening: checksum documents that are not as recorded, unrecorded data. */
  findings: DamageFinding[];
  /** The chain's extent size (its newest layer with checksums); absent: no layer has checksums. */
  extentSize?: number;
  virtualSize: number;
  /** The chain's key when it is encrypted (docs/encryption.md): every layer opens with it. */
  key?: ChainKey;
}

/**
 * The layers of a disk's restore path (full first), each open in its pool, with its recorded digests
 * and what it stores now. A layer whose checksum document is missing, changed or unreadable is damage
 * (its data cannot be checked); an extent it stores that its checksums do not list is damage too. A
 * missing data volume is ERR_CHAIN_BROKEN. The caller frees the volumes (`closeChain`).
 */
export async function openChainState(
  pools: PoolCache,
  chain: readonly DiskBackup[],
  setIdOf: (diskBackupId: string) => string,
  key?: ChainKey,
): Promise<ChainState> {
  const top = chain[chain.length - 1];
  const extentSize = [...chain].reverse().find((d) => d.checksums)?.checksums!.extentSize;
  const state: ChainState = {
    layers: [],
    findings: [],
    extentSize,
    virtualSize: top.virtualSize,
    ...(key ? { key } : {}),
  };
  try {
    for (const disk of chain) {
      const where = disk.volume!;
      const pool = await pools.get(where.pool);
      const volume = await findVolume(pool, where.name);
      if (!volume) {
        throw new VolbackError(
          ErrorCodes.CHAIN_BROKEN,
          `data volume ${where.name} of disk backup ${disk.id} is missing from pool '${where.pool}'`,
          { fault: 'user' },
        );
      }
      const setId = setIdOf(disk.id);
      const layer: LayerState = { disk, setId, pool, volume, held: [] };
      state.layers.push(layer);
      if (extentSize === undefined) continue;
      const finding = (reason: string, range?: { start: number; end: number }): DamageFinding => ({
        setId,
        diskBackupId: disk.id,
        target: disk.target,
        pool: where.pool,
        volume: where.name,
        range,
        reason,
      });
      // A layer taken at another extent size (a parent from before checksums, then resized) stays unchecked.
      if (disk.checksums?.extentSize === extentSize) {
        try {
          const doc = await readChecksumDocument(pool, disk.checksums, {
            setId,
            diskBackupId: disk.id,
            volume: where.name,
            virtualSize: disk.virtualSize,
          });
          layer.digests = doc.digests;
        } catch (err) {
          state.findings.push(finding((err as Error).message));
        }
      }
      layer.held = extentsOf(await pool.driver.layerExtents(pool, volume, key), extentSize, disk.virtualSize);
      for (const [first, last] of runsOf(unrecordedExtents(layer))) {
        const end = extentRange(last, extentSize, disk.virtualSize);
        state.findings.push(
          finding('the volume stores data there that its checksums do not list', {
            start: first * extentSize,
            end: end.start + end.length,
          }),
        );
      }
    }
    return state;
  } catch (err) {
    closeChain(state.layers);
    throw err;
  }
}

/** Frees the volumes of `openChainState`. */
export function closeChain(layers: readonly LayerState[]): void {
  for (const layer of layers) layer.volume.free();
}

/** How a view was checked: what could be checked, what was, and what differed. */
export interface ViewCheck {
  /** Extents of the view that some layer provides. */
  extents: number;
  /** Of those, the ones with a digest to check against. */
  checkable: number;
  /** The ones read and compared. */
  checked: number;
  /** Extents whose provider has no checksums (older layers): read as they are. */
  unchecked: number;
  findings: DamageFinding[];
}

export interface CheckViewOptions extends DigestOptions {
  /**
   * Which of the checkable extents to read (a sample); all of them when absent. Called with the
   * checkable extents of the view.
   */
  choose?: (checkable: readonly ViewExtent[]) => readonly ViewExtent[];
  /**
   * `reader` is a copy of the view (a restored volume) named so: a mismatch whose provider still
   * reads correctly from the backup is a bad copy, not damage, and is thrown (ERR_JOB_FAILED).
   */
  copyOf?: string;
}

/**
 * Reads extents of `reader` (the top layer's view, or a restored copy of it) and compares each with
 * the digest of the layer that provides it. A mismatch is followed down the chain: the damage is in
 * the lowest layer whose own view of the extent no longer matches its checksum (a layer above it
 * that also stores the extent differs because of it).
 */
export async function checkView(
  reader: VolumeReader,
  chain: ChainState,
  options: CheckViewOptions = {},
): Promise<ViewCheck> {
  const { layers, virtualSize } = chain;
  const extentSize = chain.extentSize ?? 0;
  const view = extentSize ? planView(layers) : [];
  const checkable = view.filter((v) => v.digest);
  const chosen = options.choose ? options.choose(checkable) : checkable;
  const digests = await digestExtents(
    reader,
    chosen.map((v) => v.index),
    extentSize,
    virtualSize,
    options,
  );
  const bad = chosen.filter((v) => !digests.get(v.index)!.equals(v.digest!));
  const findings: DamageFinding[] = [];
  if (bad.length) {
    const readers = new Map<number, VolumeReader>();
    const readerAt = async (position: number): Promise<VolumeReader> => {
      let r = readers.get(position);
      if (!r) {
        const layer = layers[position];
        r = await layer.pool.driver.openReader(layer.pool, layer.volume, chain.key);
        readers.set(position, r);
      }
      return r;
    };
    const matches = async (position: number, index: number): Promise<boolean> => {
      const own = layers[position].digests!.get(index)!;
      return (await digestExtent(await readerAt(position), index, extentSize, virtualSize)).equals(own);
    };
    try {
      for (const v of bad) {
        if (options.copyOf !== undefined && (await matches(v.provider, v.index))) {
          const r = extentRange(v.index, extentSize, virtualSize);
          throw new VolbackError(
            ErrorCodes.JOB_FAILED,
            `${options.copyOf} differs from backup ${layers[v.provider].setId} in ${describeRange({ start: r.start, end: r.start + r.length })}, which reads correctly from the backup: the copy went wrong`,
          );
        }
        let origin = v.provider;
        for (let p = v.provider - 1; p >= 0; p--) {
          const holds = layers[p].digests?.has(v.index);
          if (!holds) continue;
          if (await matches(p, v.index)) break;
          origin = p;
        }
        const layer = layers[origin];
        const r = extentRange(v.index, extentSize, virtualSize);
        findings.push({
          setId: layer.setId,
          diskBackupId: layer.disk.id,
          target: layer.disk.target,
          pool: layer.pool.name,
          volume: layer.disk.volume!.name,
          range: { start: r.start, end: r.start + r.length },
          reason: 'its data does not match the checksum recorded at backup time',
        });
      }
    } finally {
      for (const r of readers.values()) await r.close();
    }
  }
  return {
    extents: view.length,
    checkable: checkable.length,
    checked: chosen.length,
    unchecked: view.length - checkable.length,
    findings: mergeFindings(findings),
  };
}

/** Findings of one volume and reason in adjacent ranges, as one. Pure. */
export function mergeFindings(findings: readonly DamageFinding[]): DamageFinding[] {
  const out: DamageFinding[] = [];
  for (const f of findings) {
    const last = out[out.length - 1];
    if (
      last?.range &&
      f.range &&
      last.volume === f.volume &&
      last.pool === f.pool &&
      last.range.end === f.range.start &&
      last.reason === f.reason
    ) {
      last.range = { start: last.range.start, end: f.range.end };
    } else out.push({ ...f, range: f.range && { ...f.range } });
  }
  return out;
}
