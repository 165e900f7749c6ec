// restoreBackup: one, some or all disks of a backup set into new volumes, or over the domain's own
// disks. See docs/restore.md.
import type { Connection } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { PoolCache } from '../../pool/pool-layer';
import { crashPoint } from '../../crash-point';
import { UndoStack } from '../shared/undo';
import { chooseRestore, throwIfAborted, type RestoreOptions, type RestoreResult } from './common';
import { restoreOverOriginal } from './in-place';
import { restoreToNewVolumes } from './new-volumes';

const log = logger('restore');

export type {
  RestoreChecks,
  RestoreDomainOptions,
  RestoreDomainResult,
  RestoredVolume,
  RestoreOptions,
  RestoreProgress,
  RestoreResult,
} from './common';

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
  const { set, items, damage } = await chooseRestore(conn, options);
  if (options.overwrite && options.targetConnection)
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      "overwrite writes over the domain disks on the backups' own host: it takes no other target host",
      { fault: 'user' },
    );
  if (options.overwrite && options.encryptTarget)
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      'overwrite writes into the domain disks as they are: it cannot encrypt them (encrypt the target of a restore into new volumes)',
      { fault: 'user' },
    );
  const pools = new PoolCache(conn);
  const targets = options.targetConnection ? new PoolCache(options.targetConnection) : pools;
  try {
    if (options.overwrite) {
      const volumes = await restoreOverOriginal(conn, pools, set, items, options, damage);
      return { setId: set.id, volumes, damage: damage.damage, notes: damage.notes };
    }
    const undo = new UndoStack();
    try {
      const restored = await restoreToNewVolumes(pools, targets, set, items, options, undo, damage);
      crashPoint('restore-copied');
      await undo.commit();
      crashPoint('restore-committed');
      return {
        setId: set.id,
        volumes: restored.map(({ source: _source, ...volume }) => volume),
        damage: damage.damage,
        notes: damage.notes,
      };
    } catch (err) {
      const failed = await undo.revert();
      if (failed.length) log.warn(`restore of ${set.id}: cleanup left behind: ${failed.join(', ')}`);
      throw err;
    }
  } finally {
    pools.close();
    targets.close();
  }
}
