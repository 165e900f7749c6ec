// Restore over the domain's own disks: only while it is shut off, its volback checkpoints and
// bitmaps removed first (the next backup is a full one). Not undoable: a failure leaves them partly written.
import {
  isLibvirtNotFound,
  virDomainState,
  virDomainXMLFlags,
  type Connection,
  type StorageVolume,
} from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupSet, VolumeFormat } from '../../model';
import type { PoolCache } from '../../pool/pool-layer';
import { convertImage, imageInfo, removeBitmaps, type ImageRef } from '../../tools/qemu-img';
import { parseDomainXml, type DomainDisk } from '../../xml/libvirt-domain';
import { kindOf } from '../../host/connection-kind';
import { dropVolbackCheckpoints } from '../shared/checkpoints';
import { lockDomain } from '../shared/domain-lock';
import {
  checkReadData,
  findDomain,
  openChain,
  openCheckedChain,
  openRestoreKey,
  progressReporter,
  throwIfAborted,
  type DamagePolicy,
  type RestoredVolume,
  type RestoreOptions,
} from './common';
import { wipeKey } from '../shared/encryption';
import type { ChainKey } from '../../pool/driver';
import { closeChain } from '../shared/checksums';
import { domainStateName, type DiskToRestore } from './plan';

const log = logger('restore');

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

/**
 * Checks what a restore of `item` will read, before anything is overwritten (an overwrite cannot be
 * undone): every extent of the backup's view against the checksum of the layer that provides it.
 */
async function checkSource(
  pools: PoolCache,
  item: DiskToRestore,
  options: RestoreOptions,
  damage: DamagePolicy,
  key?: ChainKey,
): Promise<void> {
  const chain = await openCheckedChain(pools, item, damage, key);
  try {
    const top = chain.layers[chain.layers.length - 1];
    if (chain.extentSize === undefined) return;
    const reader = await top.pool.driver.openReader(top.pool, top.volume, key);
    try {
      await checkReadData(reader, chain, item.disk.target, damage, { signal: options.signal });
    } finally {
      await reader.close();
    }
  } finally {
    closeChain(chain.layers);
  }
}

/**
 * Restores disks over the (shut-off) domain's own disks. Not undoable: a failure leaves them partly
 * written. The backup's data is checked against its checksums first; damage refuses the restore
 * before any disk is touched (ERR_DAMAGED) unless `damage.ignore`.
 */
export async function restoreOverOriginal(
  conn: Connection,
  pools: PoolCache,
  set: BackupSet,
  items: DiskToRestore[],
  options: RestoreOptions,
  damage: DamagePolicy,
): Promise<RestoredVolume[]> {
  // The copy writes the domain's own files with qemu-img, which needs them on this machine.
  if (!(await kindOf(conn)).local) {
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `cannot overwrite the disks of ${set.domain.name} on a remote host: volback writes them with qemu-img, which needs the files on its own machine`,
      {
        fault: 'user',
        hint: 'restore into new volumes and point the domain at them (`volback backup restore --define`), or run volback on the host itself',
      },
    );
  }
  const domain = await findDomain(() => conn.lookupDomainByUUID(set.domain.uuid));
  if (!domain) {
    throw new VolbackError(
      ErrorCodes.NOT_FOUND,
      `domain ${set.domain.name} (${set.domain.uuid}) does not exist, so its disks cannot be overwritten`,
      {
        fault: 'user',
        hint: 'restore into new volumes, or rebuild the domain with restoreDomain (`volback backup restore --define`)',
      },
    );
  }
  let key: ChainKey | undefined;
  try {
    // An encrypted set: its key, checked to unlock it, before any disk is touched (docs/encryption.md).
    key = await openRestoreKey(pools, set, items);
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
          source: await openChain(pools, item, key),
          disk: { ...disk, sourcePath: disk.sourcePath },
          format,
        });
      }
      for (const { item } of work) await checkSource(pools, item, options, damage, key);
      throwIfAborted(options.signal);
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
    wipeKey(key);
    domain.free();
  }
}
