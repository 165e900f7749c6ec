// The start of a live restore, before its domain is defined: every target can take a live layer,
// nothing is removing the backups it will read, and its record guards them in every pool it reads
// before the first layer exists. See docs/live-restore.md.
import { hostname } from 'node:os';
import { ErrorCodes, VolbackError } from '../../errors';
import type { Connection } from '../../libvirt';
import type { BackupSet } from '../../model';
import type { PoolCache } from '../../pool/pool-layer';
import { lockDomain } from '../shared/domain-lock';
import { findIntents } from '../removal/journal';
import {
  newLiveRestoreId,
  poolsRead,
  removeLiveRecord,
  writeLiveRecord,
  type LiveRestore,
} from '../shared/live-records';
import type { UndoStack } from '../shared/undo';
import { chooseRestore, type DamagePolicy, type RestoreDomainOptions, type RestoredVolume } from './common';
import { liveFormat } from './new-volumes';
import type { DiskToRestore } from './plan';
import type { LiveRestoreState } from './live';

/** A live restore begun: its record written (layers not yet named), the source domain's lock held. */
export interface LiveStart {
  id: string;
  /** Writes the record again, naming each disk's layer (before the domain is defined). */
  layersMade(volumes: readonly RestoredVolume[]): Promise<void>;
  /** The state to report when the copy could not be started (the next run starts it). */
  notStarted(reason: string): LiveRestoreState;
  release(): void;
}

/** Refuses what a live restore cannot do, before anything is looked up. Pure. */
export function checkLiveOptions(options: RestoreDomainOptions): void {
  if (!options.live) return;
  if (options.targetConnection || options.start === false) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      options.start === false
        ? 'a live restore starts the domain: it cannot leave it shut off'
        : 'a live restore runs the domain on the host of its backups: it takes no other target host',
      { fault: 'user' },
    );
  }
}

/**
 * Begins a live restore of `items` of `set` as domain `domain`: refuses a target pool that cannot
 * take a live layer (or not in the asked format); takes the backed-up domain's job lock, which
 * deletes and prunes of its backups take too, and under it makes sure the set is still as chosen
 * and no interrupted removal of that domain is pending; then writes the record into every backup
 * pool read. The record's removal is registered on `undo`; the caller releases the lock.
 */
export async function beginLiveRestore(
  conn: Connection,
  pools: PoolCache,
  chosen: { set: BackupSet; items: DiskToRestore[]; damage: DamagePolicy },
  domain: string,
  options: RestoreDomainOptions,
  undo: UndoStack,
): Promise<LiveStart> {
  const { set, items, damage } = chosen;
  for (const item of items) {
    const source = await pools.get(item.disk.volume!.pool);
    liveFormat(source, await pools.get(options.pool ?? item.disk.volume!.pool), options.format);
  }
  const lock = lockDomain(set.domain.uuid, `live restore of backup ${set.id}`, options.lockDir);
  try {
    await refuseChangedChain(conn, chosen, options);
    const restore: LiveRestore = {
      id: newLiveRestoreId(),
      domain,
      host: hostname(),
      pid: process.pid,
      bandwidth: options.liveBandwidth ?? 0,
      setId: set.id,
      startedAt: new Date().toISOString(),
      disks: items.map((item) => ({
        target: item.disk.target,
        pool: options.pool ?? item.disk.volume!.pool,
        volume: '',
        reads: item.chain.map((layer) => ({
          diskId: layer.id,
          setId: damage.setOf(layer.id),
          pool: layer.volume!.pool,
          volume: layer.volume!.name,
        })),
      })),
    };
    const write = async (record: LiveRestore): Promise<void> => {
      for (const name of poolsRead(record)) await writeLiveRecord(await pools.get(name), record);
    };
    undo.push(`live restore record ${restore.id}`, async () => {
      for (const name of poolsRead(restore)) await removeLiveRecord(await pools.get(name), restore);
    });
    await write(restore);
    return {
      id: restore.id,
      async layersMade(volumes) {
        const disks = restore.disks.map((d) => {
          const made = volumes.find((v) => v.target === d.target)!;
          return { ...d, pool: made.pool, volume: made.volume };
        });
        restore.disks = disks;
        await write(restore);
      },
      notStarted: (reason) => ({
        id: restore.id,
        domain,
        host: restore.host,
        setId: set.id,
        startedAt: restore.startedAt,
        ownHere: true,
        recordedIn: poolsRead(restore),
        disks: restore.disks.map((d) => ({
          target: d.target,
          pool: d.pool,
          volume: d.volume,
          state: 'waiting',
        })),
        error: reason,
      }),
      release: () => lock.release(),
    };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/**
 * Under the lock: the set chosen before it is still there with the same chain, and no removal of
 * the domain's backups was left half done (its journal would finish it under the restore).
 */
async function refuseChangedChain(
  conn: Connection,
  chosen: { set: BackupSet; items: DiskToRestore[] },
  options: RestoreDomainOptions,
): Promise<void> {
  const pending = (await findIntents(conn, options.scanPools)).found.filter(
    (f) => f.intent.domainUuid === chosen.set.domain.uuid,
  );
  if (pending.length)
    throw new VolbackError(
      ErrorCodes.CONFLICT,
      `an interrupted removal of backups of ${chosen.set.domain.name} is pending (set ${pending[0].intent.step.setId}): a live restore would read what it removes`,
      { fault: 'user', hint: 'run `volback repair` first' },
    );
  const now = await chooseRestore(conn, { ...options, setId: chosen.set.id });
  const chain = (items: readonly DiskToRestore[]): string =>
    items.map((i) => `${i.disk.target}:${i.chain.map((l) => l.id).join(',')}`).join(' ');
  if (chain(now.items) !== chain(chosen.items))
    throw new VolbackError(
      ErrorCodes.CONFLICT,
      `the backups of set ${chosen.set.id} changed while the live restore began`,
      { fault: 'user', hint: 'run the restore again' },
    );
}
