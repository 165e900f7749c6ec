// The backup coordinator: one consistent full or incremental backup of a domain's disks into pool
// volumes, with the metadata committed last. See docs/architecture.md, "The backup coordinator".
import { randomUUID } from 'node:crypto';
import {
  isLibvirtError,
  virDomainCreateFlags,
  virDomainDestroyFlagsValues,
  virDomainXMLFlags,
  type Connection,
  type Domain,
} from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupDefinition, BackupSet, DiskBackup, VolumeFormat } from '../../model';
import type { PushTarget } from '../../pool/driver';
import {
  assertRoom,
  closePools,
  deleteVolumeIfPresent,
  ensureLocationPool,
  openPool,
  type OpenPool,
} from '../../pool/pool-layer';
import { metadataVolumeName, parseBackupVolumeName, setIdPrefix } from '../../pool/volume-names';
import { imageInfo, storedDataBytes } from '../../tools/qemu-img';
import { VOLBACK_VERSION } from '../../version';
import { formatBackupSet } from '../../xml';
import { parseDomainXml, type DomainSummary } from '../../xml/libvirt-domain';
import { checkpointXml, planBackup, pushBackupXml, type BackupPlan } from './plan';
import {
  QmpEngineUnavailable,
  removeInterruptedCheckpoints,
  runQmpFullJob,
  sourceNodes,
  sweepQmpLeftovers,
} from './qmp-full-job';
import type { DiskFacts } from '../shared/disk-selection';
import { runPushJob, type JobProgress } from './libvirt-push-job';
import { scanCatalog, type CatalogScan } from '../catalog/scan';
import {
  assessBase,
  checkpointRecord,
  dropVolbackCheckpoints,
  newestLeafCheckpoint,
  removeCheckpoint,
} from '../shared/checkpoints';
import { lockDomain } from '../shared/domain-lock';
import { lookupDomain } from '../shared/domain-lookup';
import { settleExternalSession } from '../external/session';
import { UndoStack } from '../shared/undo';

const log = logger('backup');

export interface BackupDefaults {
  /** Pool for disks without a target, created as a dir pool at `path` on first use. */
  pool: string;
  path: string;
  format: VolumeFormat;
}

export type BackupPhase = 'preparing' | 'copying' | 'committing' | 'done';

export interface BackupProgress extends JobProgress {
  phase: BackupPhase;
  setId: string;
}

export interface CreateBackupOptions {
  /** Parsed `<volbackup>` definition; all disks, kind auto, default location when absent. */
  definition?: BackupDefinition;
  defaults: BackupDefaults;
  signal?: AbortSignal;
  onProgress?: (progress: BackupProgress) => void;
  /** Directory of the per-domain job locks (tests use their own). */
  lockDir?: string;
  /**
   * What copies a full backup: `qmp` (default) starts QEMU's blockdev-backup with copy offload in
   * one QMP transaction; `libvirt` uses libvirt's push job, as incrementals always do.
   * docs/architecture.md, "Two copy engines".
   */
  fullBackupEngine?: FullBackupEngine;
}

export type FullBackupEngine = 'qmp' | 'libvirt';

export interface BackupResult {
  set: BackupSet;
  plan: BackupPlan;
  /** Where the metadata (the commit point) was written. */
  metadata: Array<{ pool: string; volume: string }>;
}

const DEFAULT_DEFINITION: BackupDefinition = { mode: 'push', kind: 'auto', disks: [] };

/** What planning needs of a running domain: its live disks and labels, its definition, disk facts. */
export interface DomainState {
  summary: DomainSummary;
  /** The persistent definition, stored with every backup set. */
  inactiveXml: string;
  facts: Record<string, DiskFacts>;
}

export async function readDomainState(domain: Domain): Promise<DomainState> {
  const [liveXml, inactiveXml] = await Promise.all([
    domain.getXMLDesc(),
    domain.getXMLDesc(virDomainXMLFlags.VIR_DOMAIN_XML_INACTIVE),
  ]);
  const summary = await parseDomainXml(liveXml);
  return { summary, inactiveXml, facts: await diskFacts(domain, summary) };
}

/** Size, allocation and qcow2 compat of each disk of the domain that has a source. */
async function diskFacts(domain: Domain, summary: DomainSummary): Promise<Record<string, DiskFacts>> {
  const facts: Record<string, DiskFacts> = {};
  for (const disk of summary.disks) {
    if (disk.device !== 'disk' || !disk.sourcePath) continue;
    const block = await domain.getBlockInfo(disk.target);
    const compat =
      disk.format === 'qcow2'
        ? (await imageInfo({ path: disk.sourcePath, format: 'qcow2' })).compat
        : undefined;
    facts[disk.target] = {
      virtualSize: block.capacity,
      allocation: block.allocation || block.capacity,
      compat,
    };
  }
  return facts;
}

/**
 * Removes what interrupted runs (by set id prefix) left outside QEMU: their checkpoints, unless a
 * stored backup uses one, and their target volumes, which never got metadata.
 */
async function removeInterrupted(
  conn: Connection,
  domain: Domain,
  scan: CatalogScan,
  tags: ReadonlySet<string>,
): Promise<void> {
  if (!tags.size) return;
  const used = new Set(scan.stored.map((s) => s.set.checkpoint?.name));
  await removeInterruptedCheckpoints(domain, tags, (name) => used.has(name));
  const strays = scan.strayVolumes.filter((v) =>
    tags.has(parseBackupVolumeName(v.volume)?.setIdPrefix ?? ''),
  );
  for (const stray of strays) {
    log.warn(`removing volume ${stray.volume} of an interrupted backup from pool ${stray.pool}`);
    const pool = await openPool(conn, stray.pool);
    try {
      await deleteVolumeIfPresent(pool, stray.volume);
    } finally {
      closePools([pool]);
    }
  }
}

/** The chain of `set` from its full to itself, from a scan. */
export function ancestry(scan: CatalogScan, set: BackupSet): BackupSet[] {
  const chain: BackupSet[] = [];
  for (let current: BackupSet | undefined = set; current;) {
    chain.unshift(current);
    current = current.parentId ? scan.catalog.sets.get(current.parentId)?.set : undefined;
  }
  return chain;
}

/** The set an incremental builds on: the named one, or the domain's latest restorable push backup. */
function chooseBase(scan: CatalogScan, uuid: string, definition: BackupDefinition): BackupSet | undefined {
  if (definition.kind === 'full') return undefined;
  const from = definition.incrementalFrom;
  if (from && from !== 'latest') {
    const entry = scan.catalog.sets.get(from);
    if (!entry || entry.set.domain.uuid !== uuid) {
      throw new VolbackError(
        ErrorCodes.NOT_FOUND,
        `backup set ${from} of this domain was not found in any active pool`,
        {
          fault: 'user',
        },
      );
    }
    if (entry.set.state === 'external') {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `backup set ${from} is an external (pull-mode) backup: its data is not in a pool, so a push incremental cannot build on it`,
        {
          fault: 'user',
          hint: "name a push backup set, or use 'latest'",
        },
      );
    }
    if (!entry.restorable) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `backup set ${from} is not restorable: ${entry.problems.map((p) => p.message).join('; ')}`,
        {
          fault: 'user',
        },
      );
    }
    return entry.set;
  }
  return [...scan.catalog.sets.values()]
    .filter(
      (e) => e.restorable && e.set.domain.uuid === uuid && e.set.state === 'complete' && e.set.checkpoint,
    )
    .map((e) => e.set)
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
}

async function openTargetPools(
  conn: Connection,
  plan: BackupPlan,
  definition: BackupDefinition,
  defaults: BackupDefaults,
): Promise<Map<string, OpenPool>> {
  const location = {
    pool: definition.location?.pool ?? defaults.pool,
    path: definition.location?.path ?? defaults.path,
  };
  const pools = new Map<string, OpenPool>();
  try {
    for (const name of new Set(plan.disks.map((d) => d.pool))) {
      pools.set(
        name,
        name === location.pool ? await ensureLocationPool(conn, location) : await openPool(conn, name),
      );
    }
    for (const [name, pool] of pools) {
      const disks = plan.disks.filter((d) => d.pool === name);
      await assertRoom(
        pool,
        disks.reduce((sum, d) => sum + d.maxBytes, 0),
        `the backup of ${disks.map((d) => d.target).join(', ')}`,
      );
      if (pool.driver.capabilities.pushTarget === 'network') {
        throw new VolbackError(
          ErrorCodes.POOL_UNSUPPORTED,
          `pool '${name}' (${pool.type}) cannot receive push backups yet`,
          {
            fault: 'user',
          },
        );
      }
    }
    return pools;
  } catch (err) {
    closePools([...pools.values()]);
    throw err;
  }
}

interface RunContext {
  conn: Connection;
  domain: Domain;
  domainName: string;
  uuid: string;
  summary: DomainSummary;
  inactiveXml: string;
  definition: BackupDefinition;
  options: CreateBackupOptions;
  report: (phase: BackupPhase, progress?: JobProgress) => void;
}

const qmpEngineEnabled = (options: CreateBackupOptions): boolean =>
  (options.fullBackupEngine ?? 'qmp') === 'qmp';

/**
 * Full backups go through QEMU's blockdev-backup unless the caller asked for libvirt's job, or QEMU
 * is confined by AppArmor/SELinux: its profile would refuse the target fds that libvirt's own job
 * gets relabelled for it.
 */
function usesQmpEngine(ctx: RunContext, plan: BackupPlan): boolean {
  if (!qmpEngineEnabled(ctx.options) || plan.disks.some((d) => d.kind !== 'full')) return false;
  if (ctx.summary.confinedBy.length) {
    log.info(
      `${ctx.domainName} is confined by ${ctx.summary.confinedBy.join(', ')}: full backup through libvirt's job`,
    );
    return false;
  }
  return true;
}

/** Copies the plan through the QMP engine; false when that engine cannot copy this domain. */
async function copyThroughQmp(
  ctx: RunContext,
  plan: BackupPlan,
  targets: Record<string, PushTarget>,
): Promise<boolean> {
  const { domain, summary } = ctx;
  const planned = new Set(plan.disks.map((d) => d.target));
  let nodes: Map<string, string>;
  try {
    nodes = await sourceNodes(
      domain,
      summary.disks.filter((d) => planned.has(d.target)),
    );
  } catch (err) {
    if (!(err instanceof QmpEngineUnavailable)) throw err;
    log.warn(`${ctx.domainName}: full backup through libvirt's job: ${err.message}`);
    return false;
  }
  const checkpoint = plan.checkpointName
    ? {
        name: plan.checkpointName,
        xml: checkpointXml(
          plan,
          summary.disks.map((d) => d.target),
          { parent: await newestLeafCheckpoint(domain), creationTime: new Date() },
        )!,
      }
    : undefined;
  log.info(`${ctx.domainName}: full backup through QEMU blockdev-backup (copy offload)`);
  await runQmpFullJob(
    domain,
    plan.disks.map((d) => ({
      target: d.target,
      sourceNode: nodes.get(d.target)!,
      destination: targets[d.target],
      bitmap: d.bitmap,
    })),
    {
      tag: setIdPrefix(plan.setId),
      checkpoint,
      signal: ctx.options.signal,
      onProgress: (p) => ctx.report('copying', p),
    },
  );
  return true;
}

/**
 * Carries out one plan: target volumes, the job, the metadata. On failure every step it finished
 * is undone, newest first, and the error is rethrown.
 */
async function executePlan(ctx: RunContext, plan: BackupPlan): Promise<BackupResult> {
  const { conn, domain, domainName, uuid, summary, definition, options } = ctx;
  const undo = new UndoStack();
  const pools = await openTargetPools(conn, plan, definition, options.defaults);
  try {
    const targets: Record<string, PushTarget> = {};
    for (const disk of plan.disks) {
      const pool = pools.get(disk.pool)!;
      const volume = await pool.driver.createBackupVolume(pool, {
        name: disk.volumeName,
        format: disk.format,
        capacity: disk.virtualSize,
        parent: disk.parent?.volume
          ? { name: disk.parent.volume.name, format: disk.parent.volume.format }
          : undefined,
      });
      undo.push(`volume ${disk.volumeName} in pool ${disk.pool}`, () =>
        pool.driver.deleteVolume(pool, volume).finally(() => volume.free()),
      );
      targets[disk.target] = await pool.driver.pushTarget(pool, volume);
    }

    const allTargets = summary.disks.map((d) => d.target);
    if (plan.checkpointName) {
      const name = plan.checkpointName;
      undo.push(`checkpoint ${name}`, () => removeCheckpoint(domain, name));
    }
    ctx.report('copying');
    if (!(usesQmpEngine(ctx, plan) && (await copyThroughQmp(ctx, plan, targets)))) {
      await runPushJob(conn, domain, {
        backupXml: pushBackupXml(plan, allTargets, targets),
        checkpointXml: checkpointXml(plan, allTargets),
        disks: plan.disks.map((d) => d.target),
        signal: options.signal,
        onProgress: (p) => ctx.report('copying', p),
      });
    }

    ctx.report('committing');
    const disks: DiskBackup[] = [];
    for (const disk of plan.disks) {
      disks.push({
        id: randomUUID(),
        target: disk.target,
        sourcePath: disk.sourcePath,
        sourceFormat: disk.sourceFormat,
        volume: { pool: disk.pool, name: disk.volumeName, format: disk.format },
        kind: disk.kind,
        parentId: disk.parent?.id,
        bitmap: disk.bitmap ? plan.checkpointName : undefined,
        virtualSize: disk.virtualSize,
        bytesCopied: await storedDataBytes({ path: targets[disk.target].path, format: disk.format }),
      });
    }
    const set: BackupSet = {
      id: plan.setId,
      volbackVersion: VOLBACK_VERSION,
      mode: 'push',
      kind: plan.kind,
      state: 'complete',
      createdAt: plan.createdAt,
      completedAt: new Date(),
      parentId: plan.parent?.id,
      domain: { name: domainName, uuid },
      checkpoint: plan.checkpointName ? await checkpointRecord(domain, plan.checkpointName) : undefined,
      fallbackReason: plan.fallbackReason,
      description: definition.description,
      disks,
      domainXml: ctx.inactiveXml,
    };
    const xml = await formatBackupSet(set);
    const metadata: BackupResult['metadata'] = [];
    const metadataName = metadataVolumeName({
      domain: domainName,
      createdAt: plan.createdAt,
      setId: plan.setId,
    });
    for (const pool of pools.values()) {
      await pool.driver.writeMetadata(pool, metadataName, xml);
      undo.push(`metadata ${metadataName} in pool ${pool.name}`, async () => {
        const volume = await pool.pool.lookupVolumeByName(metadataName);
        await pool.driver.deleteVolume(pool, volume).finally(() => volume.free());
      });
      metadata.push({ pool: pool.name, volume: metadataName });
    }
    undo.commit();
    return { set, plan, metadata };
  } catch (err) {
    const failed = await undo.revert();
    if (failed.length) log.warn(`${domainName}: cleanup left behind: ${failed.join(', ')}`);
    throw err;
  } finally {
    closePools([...pools.values()]);
  }
}

/**
 * Backs up a domain. Running domains are backed up live; a shut-off domain is started paused for the
 * job and stopped again. On any failure or cancel, every volume and the checkpoint this run created
 * are removed, and nothing is listed; the domain's own disks are only ever read.
 */
export async function createBackup(
  conn: Connection,
  domainName: string,
  options: CreateBackupOptions,
): Promise<BackupResult> {
  const definition = options.definition ?? DEFAULT_DEFINITION;
  if (definition.mode !== 'push') {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      'this definition is for a pull-mode (external) backup; use beginExternalBackup',
      {
        fault: 'user',
      },
    );
  }
  const domain = await lookupDomain(conn, domainName);
  const uuid = await domain.getUUIDString();
  const lock = lockDomain(uuid, `backup of ${domainName}`, options.lockDir);
  const setId = randomUUID();
  const report = (phase: BackupPhase, progress: JobProgress = { bytesDone: 0, bytesTotal: 0 }): void =>
    options.onProgress?.({ phase, setId, ...progress });
  let startedPaused = false;
  try {
    // An external (pull-mode) session holds the domain across processes; a crashed one is cleaned up here.
    await settleExternalSession(conn, domain, uuid, options.lockDir);
    report('preparing');
    if (!(await domain.isActive())) {
      // libvirt's backup job needs a running QEMU: paused, no guest code runs and the disks stay as they are.
      log.info(`${domainName} is shut off: starting it paused for the backup`);
      await domain.create(virDomainCreateFlags.VIR_DOMAIN_START_PAUSED);
      startedPaused = true;
    }
    const { summary, inactiveXml, facts } = await readDomainState(domain);
    // A volback run that died mid-copy leaves its QEMU job and target nodes; they would block this run.
    const interrupted =
      !startedPaused && qmpEngineEnabled(options) ? await sweepQmpLeftovers(domain) : new Set<string>();
    const scan = await scanCatalog(conn);
    await removeInterrupted(conn, domain, scan, interrupted);
    const baseSet = chooseBase(scan, uuid, definition);
    let base = baseSet ? await assessBase(domain, ancestry(scan, baseSet)) : undefined;
    const ctx: RunContext = {
      conn,
      domain,
      domainName,
      uuid,
      summary,
      inactiveXml,
      definition,
      options,
      report,
    };
    for (let attempt = 1; ; attempt++) {
      if (base && !base.usable) {
        log.warn(`${domainName}: taking a full backup instead of an incremental: ${base.reason}`);
        await dropVolbackCheckpoints(domain);
      }
      const plan = planBackup({
        domain: { name: domainName, uuid, disks: summary.disks },
        definition,
        facts,
        base,
        defaults: { pool: options.defaults.pool, format: options.defaults.format },
        setId,
        createdAt: new Date(),
      });
      for (const note of plan.notes) log.warn(`${domainName}: ${note}`);
      for (const skip of plan.skipped) log.info(`${domainName}: skipping ${skip.target}: ${skip.reason}`);
      try {
        const result = await executePlan(ctx, plan);
        log.info(
          `${domainName}: ${result.set.kind} backup ${setId} complete (${result.set.disks.map((d) => `${d.target}: ${d.bytesCopied} bytes`).join(', ')})`,
        );
        report('done');
        return result;
      } catch (err) {
        // libvirt checks the bitmaps when the job starts: one it cannot trust means a full, never a wrong incremental.
        if (
          attempt === 1 &&
          base?.usable &&
          plan.kind === 'incremental' &&
          isLibvirtError(err, 'VIR_ERR_CHECKPOINT_INCONSISTENT')
        ) {
          base = { set: base.set, usable: false, reason: (err as Error).message };
          continue;
        }
        throw err;
      }
    }
  } finally {
    if (startedPaused) {
      // A graceful stop lets QEMU store the persistent bitmaps in the qcow2 files.
      await domain
        .destroy(virDomainDestroyFlagsValues.VIR_DOMAIN_DESTROY_GRACEFUL)
        .catch(() => domain.destroy())
        .catch((err: Error) => log.warn(`could not stop ${domainName} after the backup: ${err.message}`));
    }
    domain.free();
    lock.release();
  }
}
