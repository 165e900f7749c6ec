// Restore into new volumes: any point of a chain, flattened, into any active pool of a supported
// type — or, for a live restore, as copy-on-write layers over it; every volume made is undone on
// failure, and a crashed restore's leftovers are found by marker.
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupSet, DiskSource, VolumeFormat } from '../../model';
import { assertRoom, findVolume, type OpenPool, type PoolCache } from '../../pool/pool-layer';
import { isSafeVolumeName, reservedNameReason, restoredVolumeName } from '../../pool/volume-names';
import { copyIntoNewVolume, copyWayFor, restoredFormat, type FillWay } from './copy';
import type { UndoStack } from '../shared/undo';
import {
  checkReadData,
  openChain,
  openCheckedChain,
  openRestoreKey,
  progressReporter,
  throwIfAborted,
  type DamagePolicy,
  type RestoredVolume,
  type RestoreOptions,
} from './common';
import { closeChain, type ChainState } from '../shared/checksums';
import { wipeKey } from '../shared/encryption';
import type { ChainKey } from '../../pool/driver';
import { crashPoint } from '../../crash-point';
import { markRestore, undoCrashedRestores } from './marker';
import { restoreSizeEstimate, type DiskToRestore } from './plan';
import { checkEncryptedTarget, openTargetKey, type TargetKey } from './encrypted-target';

const log = logger('restore');

/** A free default name for a restored volume in `pool`. */
async function freeRestoredName(
  pool: OpenPool,
  set: BackupSet,
  target: string,
  format: VolumeFormat,
  at: Date,
): Promise<string> {
  for (let sequence = 1; sequence < 100; sequence++) {
    const name = restoredVolumeName({
      domain: set.domain.name,
      disk: target,
      restoredAt: at,
      format,
      sequence: sequence > 1 ? sequence : undefined,
    });
    const taken = await findVolume(pool, name);
    if (!taken) return name;
    taken.free();
  }
  throw new VolbackError(
    ErrorCodes.CONFLICT,
    `no free name for the restore of ${target} in pool '${pool.name}'`,
  );
}

/** How the log says a volume was filled. */
const COPIED_BY: Record<FillWay, string> = {
  live: ', as a layer over the backup (live restore)',
  convert: '',
  host: ', copied by libvirt on the host',
  stream: ', streamed from the backup host',
};

/** How a restore fills its new volumes: copied and checked, or (live) layered over the backup. */
export interface NewVolumesMode {
  /**
   * Make each volume a copy-on-write layer over the backup's point in time (the driver's
   * createLiveRestoreVolume), copying nothing: a domain runs on it while block pulls fill it.
   */
  live?: boolean;
}

/**
 * Restores disks into new volumes, each with the `<disk>` source a domain on it would have. Every
 * volume it created is deleted again on failure or cancel (registered on `undo`, which the caller
 * reverts or commits). Each restored volume is read back and every extent compared with the checksum
 * of the backup layer that provides it; damage is refused (ERR_DAMAGED, the volume deleted) unless
 * `damage.ignore`, and a copy that differs from a sound backup is ERR_JOB_FAILED.
 */
export async function restoreToNewVolumes(
  pools: PoolCache,
  targets: PoolCache,
  set: BackupSet,
  items: DiskToRestore[],
  options: RestoreOptions & NewVolumesMode,
  undo: UndoStack,
  damage: DamagePolicy,
): Promise<Array<RestoredVolume & { source: DiskSource }>> {
  const chains: ChainState[] = [];
  // An encrypted set decrypts into plain volumes, or into volumes encrypted with the target secret;
  // both keys are read and checked before anything is created.
  const key = await openRestoreKey(pools, set, items);
  let targetKey: TargetKey | undefined;
  try {
    if (options.encryptTarget && items.length)
      targetKey = await openTargetKey(
        await targets.get(options.pool ?? items[0].disk.volume!.pool),
        options.encryptTarget,
        set.id,
      );
    return await copyAndCheck(pools, targets, set, items, options, undo, damage, chains, key, targetKey);
  } finally {
    wipeKey(key);
    wipeKey(targetKey?.key);
    for (const chain of chains) closeChain(chain.layers);
  }
}

/** restoreToNewVolumes' work; every chain it opens goes into `chains`, which the caller closes. */
async function copyAndCheck(
  pools: PoolCache,
  targets: PoolCache,
  set: BackupSet,
  items: DiskToRestore[],
  options: RestoreOptions & NewVolumesMode,
  undo: UndoStack,
  damage: DamagePolicy,
  chains: ChainState[],
  key?: ChainKey,
  targetKey?: TargetKey,
): Promise<Array<RestoredVolume & { source: DiskSource }>> {
  if (options.format !== undefined && options.format !== 'qcow2' && options.format !== 'raw') {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `unknown volume format "${String(options.format)}"`, {
      fault: 'user',
    });
  }
  for (const target of Object.keys(options.volumeNames ?? {})) {
    const name = options.volumeNames![target];
    if (!items.some((i) => i.disk.target === target)) {
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `a volume name is given for disk ${target}, which is not being restored`,
        { fault: 'user' },
      );
    }
    if (!isSafeVolumeName(name)) {
      throw new VolbackError(ErrorCodes.INVALID_INPUT, `"${name}" is not a safe volume name`, {
        fault: 'user',
        hint: '1–127 characters of [A-Za-z0-9+_.-], not starting with - or . (see docs/naming.md)',
      });
    }
    const reserved = reservedNameReason(name);
    if (reserved) {
      throw new VolbackError(ErrorCodes.INVALID_INPUT, `"${name}" is a name volback reserves: ${reserved}`, {
        fault: 'user',
        hint: 'choose another name, or leave it out for volback to name the volume (docs/naming.md)',
      });
    }
  }
  const plan = [];
  for (const item of items) {
    const source = await openChain(pools, item, key);
    const target = await targets.get(options.pool ?? item.disk.volume!.pool);
    // Damage the layers show before any data is read (a checksum document not as recorded) refuses here.
    const chain = await openCheckedChain(pools, item, damage, key);
    chains.push(chain);
    const top = chain.layers[chain.layers.length - 1];
    const way: FillWay = options.live ? 'live' : await copyWayFor(top.pool, target, key !== undefined);
    if (key && way === 'live')
      throw new VolbackError(
        ErrorCodes.POOL_UNSUPPORTED,
        `cannot restore encrypted backup ${set.id} live: a live restore's domain would read the chain, and volback gives only its own reads the key`,
        { fault: 'user', hint: 'restore without --live (docs/encryption.md)' },
      );
    const format =
      way === 'live'
        ? liveFormat(top.pool, target, options.format)
        : restoredFormat(way, target, options.format);
    if (options.encryptTarget) checkEncryptedTarget(options.encryptTarget, target, way, format);
    plan.push({
      item,
      source: { pool: top.pool, volume: top.volume, image: source, ...(key ? { key } : {}) },
      target,
      format,
      chain,
      way,
    });
  }
  // Room per target pool, before anything is created; a crashed earlier restore's leftovers go first.
  for (const pool of new Set(plan.map((p) => p.target))) {
    await undoCrashedRestores(pool);
    const mine = plan.filter((p) => p.target === pool);
    await assertRoom(
      pool,
      mine.reduce((sum, p) => sum + restoreSizeEstimate(p.item.chain), 0),
      `the restore of ${mine.map((p) => p.item.disk.target).join(', ')}`,
    );
  }
  const at = new Date();
  const restored: Array<RestoredVolume & { source: DiskSource }> = [];
  for (const { item, source, target, format, chain, way } of plan) {
    throwIfAborted(options.signal);
    const disk = item.disk;
    const custom = options.volumeNames?.[disk.target];
    let name: string;
    if (custom) {
      const taken = await findVolume(target, custom);
      if (taken) {
        taken.free();
        throw new VolbackError(
          ErrorCodes.CONFLICT,
          `volume ${custom} already exists in pool '${target.name}'`,
          {
            fault: 'user',
            hint: 'choose another name; a restore never writes over an existing volume unless asked to (overwrite)',
          },
        );
      }
      name = custom;
    } else {
      name = await freeRestoredName(target, set, disk.target, format, at);
    }
    // The marker goes first and comes off when the whole restore committed: a crash in between leaves
    // it to name the volume, which recovery then removes unless a defined domain uses it.
    const unmark = await markRestore(target, name, set.id);
    undo.push(`restore marker of ${name} in pool ${target.name}`, unmark);
    undo.afterCommit(`restore marker of ${name} in pool ${target.name}`, unmark);
    log.info(
      `restoring ${disk.target} of backup ${set.id} (${set.kind}, ${item.chain.length} layer(s)) into ${name} in pool ${target.name}${COPIED_BY[way]}`,
    );
    const report = progressReporter(options, disk.target, disk.virtualSize);
    report(0);
    const volume = await copyIntoNewVolume(
      way,
      target,
      {
        name,
        format,
        capacity: disk.virtualSize,
        ...(targetKey ? { encryption: { format: 'luks', secretUuid: targetKey.encryption.secretUuid } } : {}),
      },
      source,
      targetKey?.key,
      { undo, signal: options.signal, onProgress: report },
    );
    if (way !== 'live') report(1);
    const image = await target.driver.image(target, volume);
    // A live layer holds nothing yet: the data is read only as the domain and the copy read it.
    if (way === 'live')
      damage.notes.push(
        `disk ${disk.target}: live restore: the backup's data was not read before the domain started, nor checked against its checksums (volback backup verify --deep checks it)`,
      );
    else if (chain.extentSize !== undefined) {
      // What the new volume now holds, extent by extent, against the layer of the backup that provided it.
      const reader = await target.driver.openReader(target, volume, targetKey?.key);
      try {
        await checkReadData(reader, chain, disk.target, damage, {
          signal: options.signal,
          copyOf: `restored volume ${name}`,
        });
      } finally {
        await reader.close();
      }
    }
    crashPoint('restore-volume-copied');
    restored.push({
      target: disk.target,
      pool: target.name,
      volume: name,
      path: image.path,
      format,
      ...(targetKey ? { encryption: targetKey.encryption } : {}),
      source: await target.driver.diskSource(target, volume),
    });
  }
  return restored;
}

/**
 * The format of a live restore's layer in `target`: what it stores copy-on-write layers as (an
 * overlay's format, else its first full format). Refused where the target's driver cannot layer
 * over a backup, or when another format is asked.
 */
export function liveFormat(source: OpenPool, target: OpenPool, asked?: VolumeFormat): VolumeFormat {
  if (!target.driver.createLiveRestoreVolume) {
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `pool '${target.name}' (${target.type}) cannot run a domain on a backup while it is copied back: its driver has no live restore`,
      {
        fault: 'user',
        hint: 'restore without --live, or live into a pool whose driver has it (docs/live-restore.md)',
      },
    );
  }
  const incremental = target.driver.capabilities.incremental;
  const format =
    incremental.kind === 'overlay' ? incremental.format : target.driver.capabilities.fullFormats[0];
  if (asked && asked !== format)
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `a live restore into pool '${target.name}' (${target.type}) makes ${format} layers over pool '${source.name}', not ${asked}`,
      { fault: 'user', hint: 'leave the format out' },
    );
  return format;
}
