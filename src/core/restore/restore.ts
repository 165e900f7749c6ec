// Restore: copies a backup set's disks (any point of a chain, flattened) into new volumes or over the
// domain's own disks, and rebuilds a domain from the XML stored with the backup. See docs/restore.md.
import {
  isLibvirtNotFound,
  virDomainState,
  virDomainUndefineFlagsValues,
  virDomainXMLFlags,
  virStorageVolType,
  type Connection,
  type Domain,
  type StorageVolume,
} from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupSet, VolumeFormat } from '../../model';
import { assertRoom, findVolume, PoolCache, type OpenPool } from '../../pool/pool-layer';
import { isSafeVolumeName, restoredVolumeName } from '../../pool/volume-names';
import { convertImage, imageInfo, removeBitmaps, type ImageRef } from '../../tools/qemu-img';
import { parseDomainXml, rewriteDomainXml, type DomainDisk } from '../../xml/libvirt-domain';
import { scanCatalog } from '../catalog/scan';
import { dropVolbackCheckpoints } from '../shared/checkpoints';
import { lockDomain } from '../shared/domain-lock';
import {
  disksToDrop,
  domainStateName,
  findRestorableSet,
  restoreSizeEstimate,
  selectDisks,
  type DiskToRestore,
} from './plan';
import { markRestore, undoCrashedRestores } from './marker';
import { UndoStack } from '../shared/undo';

const log = logger('restore');

/** Progress of one disk's copy; `bytesTotal` is the disk's virtual size. */
export interface RestoreProgress {
  target: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface RestoreOptions {
  /** Backup set id, or a unique prefix of it. Any set of a chain (full or incremental). */
  setId: string;
  /** Disk targets to restore (`vda`, ...); every disk of the set when absent. */
  disks?: string[];
  /** Pool for the new volumes (active, of a supported type); default: the pool each disk's backup is in. */
  pool?: string;
  /** Format of the new volumes; default qcow2. Ignored with `overwrite` (the disk keeps its format). */
  format?: VolumeFormat;
  /** Names of the new volumes per disk target; default `<domain>.<disk>.restored-<UTC time>.<format>`. */
  volumeNames?: Record<string, string>;
  /**
   * Write over the domain's current disk volumes instead of creating new ones. The domain must exist
   * and be shut off; its volback checkpoints (and their bitmaps) are deleted first, so its next
   * backup is a full one.
   */
  overwrite?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: RestoreProgress) => void;
  /** Directory of the per-domain job locks (taken with `overwrite`; tests use their own). */
  lockDir?: string;
  /** Pools to look for the set in (all the pools of its chain); every active pool when absent. */
  scanPools?: readonly string[];
}

/** One restored disk. With `overwrite`, `pool` and `volume` are '' when the disk is a file outside any pool. */
export interface RestoredVolume {
  target: string;
  pool: string;
  volume: string;
  path: string;
  format: VolumeFormat;
}

export interface RestoreResult {
  /** The backup set restored (the full id, also when a prefix was given). */
  setId: string;
  volumes: RestoredVolume[];
}

export interface RestoreDomainOptions extends Omit<RestoreOptions, 'overwrite'> {
  /** Name of the restored domain; default the name stored with the backup. */
  name?: string;
  /** Give the domain a new UUID (and new interface MACs): a clone beside the original. */
  newUuid?: boolean;
  /**
   * Replace an existing domain with the same name (or, without `newUuid`, the same UUID): it is
   * undefined first (its disks are kept). Only a shut-off domain is replaced.
   */
  replace?: boolean;
  /** Start the domain once it is defined. */
  start?: boolean;
}

export interface RestoreDomainResult {
  name: string;
  uuid: string;
  setId: string;
  volumes: RestoredVolume[];
}

/** Opens pools by name once per operation and closes them all at the end. */
async function findDomain(lookup: () => Promise<Domain>): Promise<Domain | undefined> {
  try {
    return await lookup();
  } catch (err) {
    if (isLibvirtNotFound(err)) return undefined;
    throw err;
  }
}

/** The image of the asked-for backup (qemu-img follows its backing chain); checks every layer exists. */
async function openChain(pools: PoolCache, item: DiskToRestore): Promise<ImageRef> {
  let top: ImageRef | undefined;
  for (const layer of item.chain) {
    const where = layer.volume!;
    const pool = await pools.get(where.pool).catch((err: unknown) => {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `cannot restore ${item.disk.target}: pool '${where.pool}' of disk backup ${layer.id} is not usable`,
        {
          fault: 'user',
          cause: err,
        },
      );
    });
    const volume = await findVolume(pool, where.name);
    if (!volume) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `cannot restore ${item.disk.target}: data volume ${where.name} of disk backup ${layer.id} is missing from pool '${where.pool}'`,
        { fault: 'user' },
      );
    }
    try {
      if (layer === item.disk) top = await pool.driver.image(pool, volume);
    } finally {
      volume.free();
    }
  }
  return top!;
}

function progressReporter(
  options: RestoreOptions,
  target: string,
  total: number,
): (fraction: number) => void {
  return (fraction) =>
    options.onProgress?.({ target, bytesDone: Math.round(fraction * total), bytesTotal: total });
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new VolbackError(ErrorCodes.CANCELLED, 'restore cancelled', { fault: 'user' });
}

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

/**
 * Restores disks into new volumes. Every volume it created is deleted again on failure or cancel
 * (registered on `undo`, which the caller reverts or commits).
 */
async function restoreToNewVolumes(
  pools: PoolCache,
  set: BackupSet,
  items: DiskToRestore[],
  options: RestoreOptions,
  undo: UndoStack,
): Promise<RestoredVolume[]> {
  const format = options.format ?? 'qcow2';
  if (format !== 'qcow2' && format !== 'raw') {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `unknown volume format "${String(format)}"`, {
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
  }
  const plan = [];
  for (const item of items) {
    const source = await openChain(pools, item);
    const target = await pools.get(options.pool ?? item.disk.volume!.pool);
    plan.push({ item, source, target });
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
  const restored: RestoredVolume[] = [];
  for (const { item, source, target } of plan) {
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
    // The marker goes first and comes off last: a crash in between leaves it to name the partial volume.
    const unmark = await markRestore(target, name, set.id);
    undo.push(`restore marker of ${name} in pool ${target.name}`, unmark);
    const volume = await target.driver.createRestoreVolume(target, {
      name,
      format,
      capacity: disk.virtualSize,
    });
    undo.push(`restored volume ${name} in pool ${target.name}`, () =>
      target.driver.deleteVolume(target, volume).finally(() => volume.free()),
    );
    const image = await target.driver.image(target, volume);
    log.info(
      `restoring ${disk.target} of backup ${set.id} (${set.kind}, ${item.chain.length} layer(s)) into ${name} in pool ${target.name}`,
    );
    const report = progressReporter(options, disk.target, disk.virtualSize);
    report(0);
    await convertImage(
      source,
      { path: image.path, format },
      { targetExists: true, signal: options.signal, onProgress: report },
    );
    report(1);
    await unmark();
    restored.push({ target: disk.target, pool: target.name, volume: name, path: image.path, format });
  }
  return restored;
}

/** Where a domain disk's file or device is, as a pool volume when libvirt knows it. */
async function describeOriginal(conn: Connection, path: string): Promise<{ pool: string; volume: string }> {
  let volume: StorageVolume;
  try {
    volume = await conn.lookupVolumeByPath(path);
  } catch (err) {
    if (isLibvirtNotFound(err)) return { pool: '', volume: '' };
    throw err;
  }
  try {
    const pool = await volume.getPool();
    try {
      return { pool: await pool.getName(), volume: await volume.getName() };
    } finally {
      pool.free();
    }
  } finally {
    volume.free();
  }
}

/** Restores disks over the (shut-off) domain's own disks. Not undoable: a failure leaves them partly written. */
async function restoreOverOriginal(
  conn: Connection,
  pools: PoolCache,
  set: BackupSet,
  items: DiskToRestore[],
  options: RestoreOptions,
): Promise<RestoredVolume[]> {
  const domain = await findDomain(() => conn.lookupDomainByUUID(set.domain.uuid));
  if (!domain) {
    throw new VolbackError(
      ErrorCodes.NOT_FOUND,
      `domain ${set.domain.name} (${set.domain.uuid}) does not exist, so its disks cannot be overwritten`,
      {
        fault: 'user',
        hint: 'restore into new volumes, or rebuild the domain with restoreDomain (`volback backup restore --domain`)',
      },
    );
  }
  try {
    const name = await domain.getName();
    const lock = lockDomain(set.domain.uuid, `restore of ${name} over its disks`, options.lockDir);
    try {
      const { state } = await domain.getState();
      if (state !== virDomainState.VIR_DOMAIN_SHUTOFF || (await domain.isActive())) {
        throw new VolbackError(
          ErrorCodes.CONFLICT,
          `domain ${name} is ${domainStateName(state)}: its disks can only be overwritten while it is shut off`,
          { fault: 'user', hint: `shut it down first (virsh shutdown ${name}), or restore into new volumes` },
        );
      }
      const current = await parseDomainXml(
        await domain.getXMLDesc(virDomainXMLFlags.VIR_DOMAIN_XML_INACTIVE),
      );
      const work: Array<{
        item: DiskToRestore;
        source: ImageRef;
        disk: DomainDisk & { sourcePath: string };
        format: VolumeFormat;
      }> = [];
      for (const item of items) {
        const disk = current.disks.find((d) => d.target === item.disk.target);
        if (!disk || !disk.sourcePath || (disk.type !== 'file' && disk.type !== 'block')) {
          throw new VolbackError(
            ErrorCodes.CONFLICT,
            `domain ${name} has no local file or block disk ${item.disk.target} to overwrite`,
            { fault: 'user', hint: 'restore into a new volume instead' },
          );
        }
        const format = disk.format ?? 'raw';
        if (format !== 'qcow2' && format !== 'raw') {
          throw new VolbackError(
            ErrorCodes.POOL_UNSUPPORTED,
            `disk ${disk.target} of ${name} is ${format}; volback overwrites only qcow2 and raw disks`,
            { fault: 'user' },
          );
        }
        const info = await imageInfo({ path: disk.sourcePath, format });
        if (info.virtualSize !== item.disk.virtualSize) {
          throw new VolbackError(
            ErrorCodes.CONFLICT,
            `disk ${disk.target} of ${name} is ${info.virtualSize} bytes now but was ${item.disk.virtualSize} bytes in backup ${set.id}`,
            { fault: 'user', hint: 'restore into a new volume, or resize the disk back first' },
          );
        }
        work.push({
          item,
          source: await openChain(pools, item),
          disk: { ...disk, sourcePath: disk.sourcePath },
          format,
        });
      }
      // The disks are about to change: no bitmap describes them any more, the next backup must be full.
      // Checkpoints go first, so even a failed or cancelled restore cannot leave a stale bitmap behind.
      await dropVolbackCheckpoints(domain);
      for (const { disk, format } of work) {
        if (format !== 'qcow2') continue;
        const image = { path: disk.sourcePath, format };
        const stale = (await imageInfo(image)).bitmaps
          .map((b) => b.name)
          .filter((n) => n.startsWith('volback-'));
        if (stale.length) {
          log.info(`${name}: removing bitmaps ${stale.join(', ')} from ${disk.sourcePath}`);
          await removeBitmaps(image, stale);
        }
      }
      const restored: RestoredVolume[] = [];
      for (const { item, source, disk, format } of work) {
        throwIfAborted(options.signal);
        log.info(
          `restoring ${disk.target} of backup ${set.id} over ${disk.sourcePath} (domain ${name} is shut off)`,
        );
        const report = progressReporter(options, disk.target, item.disk.virtualSize);
        report(0);
        try {
          await convertImage(
            source,
            { path: disk.sourcePath, format },
            { targetExists: true, signal: options.signal, onProgress: report },
          );
        } catch (err) {
          log.warn(
            `${name}: disk ${disk.target} (${disk.sourcePath}) is partly overwritten; restore it again before starting the domain`,
          );
          throw err;
        }
        report(1);
        restored.push({
          target: disk.target,
          ...(await describeOriginal(conn, disk.sourcePath)),
          path: disk.sourcePath,
          format,
        });
      }
      return restored;
    } finally {
      lock.release();
    }
  } finally {
    domain.free();
  }
}

/**
 * Restores one, some or all disks of a backup set — any point of a chain, flattened — into new
 * volumes (format qcow2 or raw, holes kept) in any active pool of a supported type, or with
 * `overwrite` over the shut-off domain's own disks (whose volback checkpoints are then deleted).
 *
 * Errors: ERR_NOT_FOUND (unknown set id, disk or domain), ERR_INVALID_INPUT (ambiguous id prefix,
 * bad name or selection), ERR_CHAIN_BROKEN (set or chain not restorable, a data volume missing),
 * ERR_CONFLICT (volume name taken; with `overwrite`: domain not shut off, disk resized),
 * ERR_POOL_UNAVAILABLE (pool missing, inactive or too small), ERR_CANCELLED.
 *
 * Atomic for new volumes: on failure or cancel every volume this call created is deleted, so a
 * volume that exists after the call returned was written completely. An overwrite cannot be undone:
 * when it fails, the disk is partly written (and the error says so in the log).
 */
export async function restoreBackup(conn: Connection, options: RestoreOptions): Promise<RestoreResult> {
  throwIfAborted(options.signal);
  const scan = await scanCatalog(conn, { pools: options.scanPools });
  const { set } = findRestorableSet(scan.catalog, options.setId);
  const items = selectDisks(scan.catalog, set, options.disks);
  const pools = new PoolCache(conn);
  try {
    if (options.overwrite) {
      return { setId: set.id, volumes: await restoreOverOriginal(conn, pools, set, items, options) };
    }
    const undo = new UndoStack();
    try {
      const volumes = await restoreToNewVolumes(pools, set, items, options, undo);
      undo.commit();
      return { setId: set.id, volumes };
    } catch (err) {
      const failed = await undo.revert();
      if (failed.length) log.warn(`restore of ${set.id}: cleanup left behind: ${failed.join(', ')}`);
      throw err;
    }
  } finally {
    pools.close();
  }
}

/** `type='file'` or `type='block'` for a disk on `volume`; other volume kinds cannot back a disk yet. */
async function diskSourceType(conn: Connection, restored: RestoredVolume): Promise<'file' | 'block'> {
  const volume = await conn.lookupVolumeByPath(restored.path);
  try {
    const { type } = await volume.getInfo();
    if (type === virStorageVolType.VIR_STORAGE_VOL_FILE) return 'file';
    if (type === virStorageVolType.VIR_STORAGE_VOL_BLOCK) return 'block';
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `restored volume ${restored.volume} in pool ${restored.pool} is neither a file nor a block device; volback cannot attach it yet`,
      {
        fault: 'user',
      },
    );
  } finally {
    volume.free();
  }
}

/**
 * Rebuilds a domain from a backup set: restores its disks into new volumes (as `restoreBackup`),
 * then defines the domain from the XML stored with the backup, its disks pointing at the restored
 * volumes; hard disks that were not restored are dropped from it (with a warning), every other device
 * stays. With `newUuid` the domain gets a new UUID and its interfaces new MAC addresses (a clone).
 * An existing domain with the same name, or the same UUID when it is kept, is ERR_CONFLICT unless
 * `replace` (then it must be shut off; it is undefined, its disks kept). `start` starts it after.
 *
 * On failure every volume created is deleted and a replaced domain is defined again (without its
 * checkpoint metadata). If only the start fails, the domain stays defined and the error says so.
 */
export async function restoreDomain(
  conn: Connection,
  options: RestoreDomainOptions,
): Promise<RestoreDomainResult> {
  throwIfAborted(options.signal);
  const scan = await scanCatalog(conn, { pools: options.scanPools });
  const { set } = findRestorableSet(scan.catalog, options.setId);
  const items = selectDisks(scan.catalog, set, options.disks);
  const stored = await parseDomainXml(set.domainXml);
  const name = options.name ?? set.domain.name;
  if (name.trim() === '' || name.includes('/')) {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `"${name}" is not a usable domain name`, {
      fault: 'user',
    });
  }

  // Domains in the way: same name, and (keeping the UUID) same UUID.
  const clashes: Domain[] = [];
  const pools = new PoolCache(conn);
  const undo = new UndoStack();
  let defined: Domain | undefined;
  try {
    const byName = await findDomain(() => conn.lookupDomainByName(name));
    if (byName) clashes.push(byName);
    const byUuid = options.newUuid
      ? undefined
      : await findDomain(() => conn.lookupDomainByUUID(set.domain.uuid));
    if (byUuid) {
      if (byName && (await byName.getUUIDString()) === (await byUuid.getUUIDString())) byUuid.free();
      else clashes.push(byUuid);
    }
    for (const other of clashes) {
      const otherName = await other.getName();
      const otherUuid = await other.getUUIDString();
      const { state } = await other.getState();
      if (!options.replace) {
        throw new VolbackError(
          ErrorCodes.CONFLICT,
          `domain ${otherName} (${otherUuid}, ${domainStateName(state)}) is in the way of restoring ${name}${options.newUuid ? '' : ` with UUID ${set.domain.uuid}`}`,
          {
            fault: 'user',
            hint: 'restore as a clone (a new name and newUuid), or replace it (replace: true, only when shut off)',
          },
        );
      }
      if (await other.isActive()) {
        throw new VolbackError(
          ErrorCodes.CONFLICT,
          `domain ${otherName} is ${domainStateName(state)}: only a shut-off domain can be replaced`,
          {
            fault: 'user',
            hint: `shut it down first (virsh shutdown ${otherName})`,
          },
        );
      }
    }

    const volumes = await restoreToNewVolumes(pools, set, items, options, undo);
    const restoredTargets = volumes.map((v) => v.target);
    const dropDisks = disksToDrop(stored.disks, restoredTargets);
    if (dropDisks.length)
      log.warn(`${name}: disks ${dropDisks.join(', ')} were not restored and are left out of the domain`);
    const disks: Record<string, { path: string; format: string; type: 'file' | 'block' }> = {};
    for (const v of volumes)
      disks[v.target] = { path: v.path, format: v.format, type: await diskSourceType(conn, v) };
    const xml = await rewriteDomainXml(set.domainXml, {
      name,
      newUuid: options.newUuid,
      disks,
      dropDisks,
      dropMacs: options.newUuid,
    });

    for (const other of clashes) {
      const otherName = await other.getName();
      const oldXml = await other.getXMLDesc(
        virDomainXMLFlags.VIR_DOMAIN_XML_INACTIVE | virDomainXMLFlags.VIR_DOMAIN_XML_SECURE,
      );
      log.info(`replacing domain ${otherName}: undefining it (its disks are kept)`);
      await other.undefine(
        virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
          virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
          virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM |
          virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
      );
      undo.push(`undefinition of ${otherName}`, async () => (await conn.defineDomain(oldXml)).free());
    }
    throwIfAborted(options.signal);
    defined = await conn.defineDomain(xml);
    const uuid = await defined.getUUIDString();
    undo.commit();
    log.info(`restored domain ${name} (${uuid}) from backup ${set.id}`);
    if (options.start) {
      try {
        await defined.create();
      } catch (err) {
        throw new VolbackError(
          ErrorCodes.JOB_FAILED,
          `domain ${name} was restored and defined, but it could not be started`,
          { cause: err },
        );
      }
    }
    return { name, uuid, setId: set.id, volumes };
  } catch (err) {
    const failed = await undo.revert();
    if (failed.length) log.warn(`restore of domain ${name}: cleanup left behind: ${failed.join(', ')}`);
    throw err;
  } finally {
    defined?.free();
    for (const d of clashes) d.free();
    pools.close();
  }
}
