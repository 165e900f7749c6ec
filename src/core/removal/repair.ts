// `volback repair`: finds what crashed volback runs left behind and removes it — every leftover of
// volback's own, and nothing else. See docs/delete-and-prune.md, "Repair".
import type { Connection, Domain } from '../../libvirt';
import { ErrorCodes, isVolbackError } from '../../errors';
import { logger } from '../../log';
import { closePools, deleteVolumeIfPresent, openActivePools } from '../../pool/pool-layer';
import { domainVolumePart, parseBackupVolumeName, parseMetadataVolumeName } from '../../pool/volume-names';
import { abortOrphanedPushJob, pushJobLeftovers } from '../backup/libvirt-push-job';
import { findQmpLeftovers, removeInterruptedCheckpoints, sweepQmpLeftovers } from '../backup/qmp-job';
import { checksumDocumentVolume } from '../../pool/checksums';
import { hasFreezeRecord, thawAfterCrashedRun } from '../backup/quiesce';
import { parseDomainXml } from '../../xml/libvirt-domain';
import { damagedMetadataVolume } from '../catalog/damage';
import { scanCatalog, type CatalogScan } from '../catalog/scan';
import { readSession, settleExternalSession } from '../external/session';
import { undoCrashedRestores } from '../restore/marker';
import { finishLiveRestores, liveRestoreStatus } from '../restore/live';
import { repairReplacedDomains } from '../restore/replaced-domains';
import { removeCheckpoint, volbackCheckpoints } from '../shared/checkpoints';
import { DEFAULT_LOCK_DIR, lockDomain, type DomainLock } from '../shared/domain-lock';
import { findIntents } from './journal';
import { recoverInterrupted } from './delete';

const log = logger('repair');

export type RepairKind =
  | 'domain'
  | 'qemu-objects'
  | 'checkpoint'
  | 'stray-volume'
  | 'external-session'
  | 'interrupted-removal'
  | 'interrupted-restore'
  | 'live-restore'
  | 'replaced-domain'
  | 'frozen-guest';

/** One leftover: what it is, where, and why it is (or would be) removed — or why it is left. */
export interface RepairItem {
  kind: RepairKind;
  domain?: string;
  pool?: string;
  name: string;
  reason: string;
}

export interface RepairOptions {
  /** Only find and report; change nothing. */
  dryRun?: boolean;
  /** Only this domain (name) and the volumes named after it. */
  domain?: string;
  /** Pools to look in; every active pool of a supported type when absent. */
  pools?: readonly string[];
  lockDir?: string;
  /**
   * Whether QEMU's objects (jobs, block nodes) are looked at: asking QEMU goes through the monitor,
   * which libvirt marks as a taint, so only when the QMP engine may run (backup_engine not libvirt).
   */
  qemu?: boolean;
}

export interface RepairResult {
  dryRun: boolean;
  /** What was removed (a dry run: what would be). */
  removed: RepairItem[];
  /** Leftovers found but left alone, with why (volback cannot prove they are its own to remove). */
  left: RepairItem[];
}

/**
 * The data volumes no valid metadata names (the catalog's strays) that are volback's for `domain`:
 * named as a backup's data volume of that domain, and with no damaged metadata document of the same
 * set beside them (that data may be all a human can still restore from). Pure.
 */
export function strayVolumesOf(
  scan: CatalogScan,
  domainName: string,
): { mine: RepairItem[]; kept: RepairItem[] } {
  const part = domainVolumePart(domainName);
  const damaged = new Set(
    scan.invalid.flatMap((bad) => {
      const parsed = parseMetadataVolumeName(bad.volume);
      return parsed ? [`${bad.pool}\n${parsed.domainPart}\n${parsed.setIdPrefix}`] : [];
    }),
  );
  const out = { mine: [] as RepairItem[], kept: [] as RepairItem[] };
  for (const stray of scan.strayVolumes) {
    // A data volume, or its checksum document (written before the metadata, so a crash can leave it).
    const sums = checksumDocumentVolume(stray.volume);
    const parsed = parseBackupVolumeName(sums ?? stray.volume);
    const record = damagedMetadataVolume(stray.volume);
    if (record && parseMetadataVolumeName(record)?.domainPart === part) {
      out.mine.push({
        kind: 'stray-volume',
        domain: domainName,
        pool: stray.pool,
        name: stray.volume,
        reason: `the damage record of a backup set of ${domainName} that is gone`,
      });
      continue;
    }
    if (!parsed || parsed.domainPart !== part) continue;
    const item = { kind: 'stray-volume' as const, domain: domainName, pool: stray.pool, name: stray.volume };
    if (damaged.has(`${stray.pool}\n${parsed.domainPart}\n${parsed.setIdPrefix}`)) {
      out.kept.push({
        ...item,
        reason:
          'the metadata of its set is in the pool but damaged: the data may be all that is left of that backup',
      });
    } else {
      out.mine.push({
        ...item,
        reason: `${sums ? 'the checksum document of a data volume' : 'a data volume'} of an interrupted backup of ${domainName} (no metadata names it)`,
      });
    }
  }
  return out;
}

/**
 * Repairs one domain under its lock: a guest a crashed backup left frozen, a crashed pull session,
 * QEMU leftovers, strays, unused checkpoints.
 */
async function repairDomain(
  conn: Connection,
  domain: Domain,
  scan: CatalogScan,
  options: RepairOptions,
  result: RepairResult,
): Promise<void> {
  const name = await domain.getName();
  const uuid = await domain.getUUIDString();
  const lockDir = options.lockDir ?? DEFAULT_LOCK_DIR;
  let lock;
  try {
    lock = lockDomain(uuid, `repair of ${name}`, lockDir);
  } catch (err) {
    if (!isVolbackError(err, ErrorCodes.CONFLICT)) throw err;
    result.left.push({
      kind: 'domain',
      domain: name,
      name,
      reason: `skipped, a job holds it: ${(err as Error).message}`,
    });
    // A backup holds the lock for its whole freeze, which its watchdog bounds: never thawed under it.
    if (hasFreezeRecord(uuid, lockDir))
      result.left.push({
        kind: 'frozen-guest',
        domain: name,
        name,
        reason: `a freeze record is there and a job holds the domain's lock (${(err as Error).message}): a running backup's freeze is bounded by its watchdog, a crashed one's is thawed by the next backup or repair that gets the lock`,
      });
    return;
  }
  try {
    await thawFrozenGuest(domain, name, lock, options, result);
    const live = readSession(uuid, lockDir);
    if (!options.dryRun) {
      const settled = await settleExternalSession(conn, domain, uuid, lockDir);
      if (settled.cleaned) {
        result.removed.push({
          kind: 'external-session',
          domain: name,
          name: settled.cleaned.setId,
          reason: settled.cleaned.reason,
        });
      }
    }
    const used = new Set(scan.stored.map((s) => s.set.checkpoint?.name));
    if (options.qemu && (await domain.isActive())) {
      const objects = await findQmpLeftovers(domain, (name) => used.has(name));
      if (objects.length && !options.dryRun) {
        const tags = await sweepQmpLeftovers(domain);
        await removeInterruptedCheckpoints(domain, tags, (name) => used.has(name));
      }
      for (const object of objects)
        result.removed.push({
          kind: 'qemu-objects',
          domain: name,
          name: object,
          reason: 'left in QEMU by an interrupted backup',
        });
      for (const target of await abortOrphanedPushJob(domain, !options.dryRun))
        result.removed.push({
          kind: 'qemu-objects',
          domain: name,
          name: `libvirt backup job writing ${target}`,
          reason: 'its volback run ended when libvirtd restarted, and the job went on copying',
        });
      const targets = (await parseDomainXml(await domain.getXMLDesc())).disks.map((d) => d.target);
      for (const bitmap of await pushJobLeftovers(domain, targets, !options.dryRun))
        result.removed.push({
          kind: 'qemu-objects',
          domain: name,
          name: `bitmap ${bitmap}`,
          reason: "left in QEMU by libvirt's backup job when libvirtd stopped during it",
        });
    }
    const strays = strayVolumesOf(scan, name);
    result.left.push(...strays.kept);
    for (const stray of strays.mine) {
      if (!options.dryRun) {
        const pools = await openActivePools(conn, [stray.pool!]);
        try {
          await deleteVolumeIfPresent(pools[0], stray.name);
        } finally {
          closePools(pools);
        }
      }
      result.removed.push(stray);
    }
    // A checkpoint no stored set records (nor a running pull session) marks nothing a backup needs.
    const session = readSession(uuid, lockDir) ?? live;
    // Only a listing of every pool can tell that no backup anywhere records a checkpoint.
    const everyPool = options.pools === undefined && scan.unreadable.length === 0;
    for (const checkpoint of await volbackCheckpoints(domain)) {
      if (used.has(checkpoint) || checkpoint === session?.checkpoint) continue;
      if (!everyPool) {
        result.left.push({
          kind: 'checkpoint',
          domain: name,
          name: checkpoint,
          reason: 'no backup in the pools read records it, but not every pool was read',
        });
        continue;
      }
      if (!options.dryRun) await removeCheckpoint(domain, checkpoint);
      result.removed.push({
        kind: 'checkpoint',
        domain: name,
        name: checkpoint,
        reason: 'no stored backup set records it',
      });
    }
  } finally {
    lock.release();
  }
}

/**
 * Finds and removes what crashed runs left: per domain of this host (under its job lock, so nothing
 * of a running job is touched) a crashed pull session, QEMU jobs and nodes, stray data volumes and
 * unused volback checkpoints; per pool, interrupted removals (finished or rolled back from their
 * intents), interrupted restores (their half-written volumes, from this host's signed markers) and
 * live restores (a stopped pull restarted, a shut-off domain's disks copied, a finished one's record
 * removed).
 * Only volback's own leftovers go (each `reason` says why it is); what it cannot prove its own is in
 * `left`. `dryRun` reports the same without changing anything.
 */
export async function repair(conn: Connection, options: RepairOptions = {}): Promise<RepairResult> {
  const result: RepairResult = { dryRun: options.dryRun ?? false, removed: [], left: [] };
  const scan = await scanCatalog(conn, { pools: options.pools });
  const domains = options.domain
    ? [await conn.lookupDomainByName(options.domain)]
    : await conn.listAllDomains();
  const names: string[] = [];
  try {
    for (const domain of domains) {
      const name = await domain.getName();
      names.push(name);
      await repairDomain(conn, domain, scan, options, result);
    }
  } finally {
    for (const d of domains) d.free();
  }
  // Strays of domains this host does not have: a backup of them may be running elsewhere.
  const known = new Set(names.map(domainVolumePart));
  for (const stray of scan.strayVolumes) {
    const parsed = parseBackupVolumeName(stray.volume);
    if (
      !parsed ||
      known.has(parsed.domainPart) ||
      (options.domain && parsed.domainPart !== domainVolumePart(options.domain))
    )
      continue;
    result.left.push({
      kind: 'stray-volume',
      pool: stray.pool,
      name: stray.volume,
      reason:
        'its domain is not on this host, so volback cannot tell whether a backup of it is still running',
    });
  }
  if (!options.domain) {
    if (options.dryRun) {
      const { found } = await findIntents(conn, options.pools);
      for (const f of found)
        result.removed.push({
          kind: 'interrupted-removal',
          name: f.intent.step.setId,
          reason: 'an intent of an unfinished removal',
        });
    } else {
      const report = await recoverInterrupted(conn, { pools: options.pools, lockDir: options.lockDir });
      for (const id of [...report.finished, ...report.rolledBack])
        result.removed.push({
          kind: 'interrupted-removal',
          name: id,
          reason: 'an unfinished removal, finished or rolled back',
        });
      for (const u of report.unresolved)
        result.left.push({ kind: 'interrupted-removal', name: u.setId, reason: u.reason });
      for (const u of report.unreadable)
        result.left.push({ kind: 'interrupted-removal', pool: u.pool, name: u.name, reason: u.reason });
    }
    const replaced = await repairReplacedDomains(conn, options.dryRun);
    for (const name of replaced.redefined)
      result.removed.push({
        kind: 'replaced-domain',
        domain: name,
        name,
        reason: 'a restore replacing this domain was stopped after undefining it: defined again',
      });
    const pools = await openActivePools(conn, options.pools);
    try {
      for (const pool of pools) {
        for (const volume of await undoCrashedRestores(pool, { dryRun: options.dryRun }))
          result.removed.push({
            kind: 'interrupted-restore',
            pool: pool.name,
            name: volume,
            reason: 'a half-written volume of a restore that did not finish',
          });
      }
    } finally {
      closePools(pools);
    }
    await moveLiveRestoresOn(conn, options, result);
  }
  for (const item of result.removed)
    log.info(
      `${result.dryRun ? 'would remove' : 'removed'} ${item.kind} ${item.name}${item.pool ? ` in pool ${item.pool}` : ''}: ${item.reason}`,
    );
  return result;
}

/**
 * A guest a crashed backup left frozen (its freeze record remains): thawed first, under the domain's
 * lock `held` (docs/consistency.md).
 */
async function thawFrozenGuest(
  domain: Domain,
  name: string,
  held: DomainLock,
  options: RepairOptions,
  result: RepairResult,
): Promise<void> {
  let outcome;
  try {
    outcome = await thawAfterCrashedRun(domain, await domain.getUUIDString(), held, {
      lockDir: options.lockDir,
      dryRun: options.dryRun,
    });
  } catch (err) {
    outcome = {
      done: 'left' as const,
      reason: `a crashed run's freeze could not be thawed: ${(err as Error).message}`,
    };
  }
  if (!outcome) return;
  const item: RepairItem = { kind: 'frozen-guest', domain: name, name, reason: outcome.reason };
  (outcome.done === 'left' ? result.left : result.removed).push(item);
}

/** This host's live restores, moved on (or, dry, looked at): the finished ones' records go. */
async function moveLiveRestoresOn(
  conn: Connection,
  options: RepairOptions,
  result: RepairResult,
): Promise<void> {
  const states = options.dryRun
    ? (await liveRestoreStatus(conn, { pools: options.pools })).filter((s) => s.ownHere)
    : await finishLiveRestores(conn, { pools: options.pools });
  for (const state of states) {
    const open = state.disks.filter((d) => d.state === 'copying' || d.state === 'waiting');
    const item = { kind: 'live-restore' as const, domain: state.domain, name: state.id };
    if (!open.length) {
      result.removed.push({ ...item, reason: 'a live restore whose disks all stand alone: its record goes' });
    } else {
      result.left.push({
        ...item,
        reason: `a live restore still reading backup ${state.setId}: ${open
          .map((d) => `${d.target} ${d.state}${d.reason ? ` (${d.reason})` : ''}`)
          .join(', ')}`,
      });
    }
  }
}
