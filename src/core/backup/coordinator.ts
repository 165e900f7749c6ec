// The backup coordinator: one consistent full or incremental backup of a domain's disks into pool
// volumes, with the metadata committed last. See docs/architecture.md, "The backup coordinator".
import { randomUUID } from 'node:crypto';
import {
  isLibvirtError,
  virDomainCreateFlags,
  virDomainDestroyFlagsValues,
  type Connection,
  type Domain,
  type StorageVolume,
} from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type {
  BackupDefinition,
  BackupLocation,
  BackupSet,
  Compression,
  DiskBackup,
  SecretRef,
  VolumeFormat,
} from '../../model';
import { writeDocument } from '../../pool/documents';
import {
  checksumDocumentName,
  checksumDocumentVolume,
  extentSizeFor,
  writeChecksumDocument,
} from '../../pool/checksums';
import type { CopyTarget } from '../../pool/driver';
import {
  closePools,
  deleteVolumeIfPresent,
  findVolume,
  openPool,
  type OpenPool,
} from '../../pool/pool-layer';
import { metadataVolumeName, parseBackupVolumeName, setIdPrefix } from '../../pool/volume-names';
import { VOLBACK_VERSION } from '../../version';
import { formatBackupDefinition, formatBackupSet } from '../../xml';
import { checkpointXml, pushBackupXml, type JobTarget } from '../../xml/libvirt-backup';
import type { DomainSummary } from '../../xml/libvirt-domain';
import { planBackup, type BackupPlan } from './plan';
import {
  BitmapChainBroken,
  QmpEngineUnavailable,
  removeInterruptedCheckpoints,
  runQmpJob,
  sourceNodes,
  sweepQmpLeftovers,
} from './qmp-job';
import {
  decideEngine,
  engineSetting,
  qmpUnavailable,
  type BackupEngine,
  type EngineDecision,
  type FullBackupEngine,
} from './engine';
import { runPushJob, type JobProgress } from './libvirt-push-job';
import { Quiesce, checkQuiesceSettings, thawAfterCrashedRun, type QuiesceSettings } from './quiesce';
import { scanCatalog, type CatalogScan } from '../catalog/scan';
import { ancestry, chooseBase } from '../shared/base';
import {
  assessBase,
  changedSince,
  checkpointRecord,
  dropVolbackCheckpoints,
  newestLeafCheckpoint,
  removeCheckpoint,
} from '../shared/checkpoints';
import { lockDomain } from '../shared/domain-lock';
import { lookupDomain } from '../shared/domain-lookup';
import { readDomainState } from '../shared/domain-state';
import { capabilitiesOf, openRunPools, resolveLocation, type DefaultLocation } from '../shared/targets';
import { settleExternalSession } from '../external/session';
import { UndoStack } from '../shared/undo';
import { takeLayerDigests } from '../shared/checksums';
import { crashPoint } from '../../crash-point';
import { baseForEncryption, openRunKey, requestedSecret } from './encryption';
import { wipeKey, type OpenedKey } from '../shared/encryption';
import { kindOf } from '../../host/connection-kind';

const log = logger('backup');

export interface BackupDefaults {
  /** Pool for disks without a target, created as a dir pool at `path` on first use. */
  pool: string;
  path: string;
  /** The libvirt secret (UUID or volume usage id) encrypting fulls (config `backup_encryption_secret`). */
  encryptionSecret?: string;
  format: VolumeFormat;
  /** Compression of a backup whose definition does not say (config `backup_compression`). */
  compression?: Compression;
  /** Freezing the guest for a backup whose definition does not say (config `quiesce*`); absent: try. */
  quiesce?: QuiesceSettings;
  /** `per-domain`: each domain's sets go to its own pool under `pool` (docs/scale.md); absent: `pool`. */
  layout?: DefaultLocation['layout'];
}

/** `checksums`: reading back what was stored to record its checksums (bytes of the data read). */
export type BackupPhase = 'preparing' | 'copying' | 'checksums' | 'committing' | 'done';

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
   * Which engine copies: `auto` (default: fulls through QEMU's blockdev-backup with copy offload,
   * incrementals through libvirt's push job, everything through QEMU where a target pool is one
   * libvirt's job cannot write), `qmp` (every backup through QEMU) or `libvirt` (every backup through
   * libvirt's job). docs/architecture.md, "Two copy engines".
   */
  backupEngine?: BackupEngine;
  /** Before `backupEngine`: `libvirt` is `backupEngine: 'libvirt'`, `qmp` is `auto`. */
  fullBackupEngine?: FullBackupEngine;
  /**
   * Record checksums of what was stored (default true): each volume's own extents are read back
   * through its pool's driver after the copy, and their sha256 stored in a document the metadata
   * names (docs/architecture.md, "Checksums"). `false` skips it; such a set verifies as having no
   * checksums. Meant for measurements (bench/full-backup.ts).
   */
  checksums?: boolean;
}

export type { BackupEngine, FullBackupEngine } from './engine';

export interface BackupResult {
  set: BackupSet;
  plan: BackupPlan;
  /** Where the metadata (the commit point) was written. */
  metadata: Array<{ pool: string; volume: string }>;
}

const DEFAULT_DEFINITION: BackupDefinition = { mode: 'push', kind: 'auto', disks: [] };

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
  // Data volumes and their checksum documents (written before the metadata, so a run can leave them).
  const strays = scan.strayVolumes.filter((v) =>
    tags.has(parseBackupVolumeName(checksumDocumentVolume(v.volume) ?? v.volume)?.setIdPrefix ?? ''),
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

/**
 * The domain's newest push backup when it is newer than `base` and cannot be built on (a volume of
 * its chain deleted outside volback, say), with the catalog's reason.
 */
function newestUnusable(
  scan: CatalogScan,
  uuid: string,
  base: BackupSet | undefined,
): { set: BackupSet; reason: string } | undefined {
  const newest = [...scan.catalog.sets.values()]
    .filter((e) => e.set.domain.uuid === uuid && e.set.mode === 'push' && e.set.state === 'complete')
    .sort((a, b) => b.set.createdAt.getTime() - a.set.createdAt.getTime())[0];
  if (!newest || newest.restorable || (base && base.createdAt >= newest.set.createdAt)) return undefined;
  const why = newest.problems.map((p) => p.message).join('; ');
  return { set: newest.set, reason: `the newest backup ${newest.set.id} cannot be built on: ${why}` };
}

interface RunContext {
  conn: Connection;
  domain: Domain;
  domainName: string;
  uuid: string;
  summary: DomainSummary;
  inactiveXml: string;
  definition: BackupDefinition;
  location: BackupLocation;
  options: CreateBackupOptions;
  /** The secret a full of this run is encrypted with (docs/encryption.md); absent: plain. */
  encryption?: SecretRef;
  report: (phase: BackupPhase, progress?: JobProgress) => void;
  /** Freezes the guest around the engine's start (docs/consistency.md). */
  quiesce: Quiesce;
}

/** The QMP engine may run (so its leftovers may be swept): every setting but `libvirt`. */
const qmpEngineEnabled = (options: CreateBackupOptions): boolean => engineSetting(options) !== 'libvirt';

/** How the plan is copied: QEMU's blockdev-backup (with each disk's source node) or libvirt's push job. */
type Engine = { kind: 'qmp'; nodes: Map<string, string> } | { kind: 'libvirt'; why: string };

/**
 * Chooses the copy engine before anything is created (decideEngine): from the setting, the plan, the
 * target pools' declared capabilities and whether QEMU is confined; then, for the QMP engine, each
 * disk's node in a plain graph. A plan no engine can copy is refused here, with nothing changed.
 */
async function chooseEngine(
  ctx: RunContext,
  plan: BackupPlan,
  pools: ReadonlyMap<string, OpenPool>,
  encrypted = false,
): Promise<Engine> {
  const targetPools = [...new Set(plan.disks.map((d) => d.pool))];
  const facts = {
    setting: engineSetting(ctx.options),
    incremental: plan.disks.some((d) => d.kind !== 'full'),
    unwritable: targetPools.filter((name) => !pools.get(name)!.driver.capabilities.libvirtPushTarget),
    domain: ctx.domainName,
    confinedBy: ctx.summary.confinedBy,
    fdPassing: (await kindOf(ctx.conn)).local,
    fdTargets: targetPools.filter((name) => pools.get(name)!.driver.capabilities.qmpTarget === 'fd'),
    encrypted,
    compressed: plan.compression !== undefined,
  };
  const decided = decideEngine(facts);
  let decision: Exclude<EngineDecision, { engine: 'qmp' }>;
  if ('engine' in decided && decided.engine === 'qmp') {
    const planned = new Set(plan.disks.map((d) => d.target));
    try {
      const disks = ctx.summary.disks.filter((d) => planned.has(d.target));
      return { kind: 'qmp', nodes: await sourceNodes(ctx.domain, disks) };
    } catch (err) {
      if (!(err instanceof QmpEngineUnavailable)) throw err;
      decision = qmpUnavailable(decided, facts, err.message);
    }
  } else decision = decided;
  if ('refused' in decision) {
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `cannot back up ${ctx.domainName}: ${decision.refused}`,
      {
        fault: 'user',
        hint: facts.compressed
          ? 'back up without compression (--compress none), or let the QMP engine run (backup_engine auto)'
          : 'choose a pool libvirt can write (dir, logical) for these disks, or let the QMP engine run (backup_engine auto)',
      },
    );
  }
  return { kind: 'libvirt', why: decision.why };
}

/** Copies the plan through QEMU's blockdev-backup, creating the checkpoint in the same transaction. */
async function copyThroughQmp(
  ctx: RunContext,
  plan: BackupPlan,
  nodes: ReadonlyMap<string, string>,
  targets: Record<string, CopyTarget>,
): Promise<void> {
  const { domain, summary } = ctx;
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
  // The parent set's checkpoint: its bitmap, named like it, records every change since.
  const since = plan.parent?.checkpoint?.name;
  log.info(`${ctx.domainName}: ${plan.kind} backup through QEMU blockdev-backup (copy offload)`);
  await runQmpJob(
    domain,
    plan.disks.map((d) => ({
      target: d.target,
      sourceNode: nodes.get(d.target)!,
      destination: targets[d.target],
      bitmap: d.bitmap,
      compress: plan.compression !== undefined,
      since: d.kind === 'incremental' ? since : undefined,
    })),
    {
      tag: setIdPrefix(plan.setId),
      checkpoint,
      signal: ctx.options.signal,
      onProgress: (p) => ctx.report('copying', p),
      startGate: ctx.quiesce.gate,
    },
  );
}

/** libvirt's `<target>` of every disk (chooseEngine made sure each pool's driver gives one). */
function jobTargets(targets: Record<string, CopyTarget>): Record<string, JobTarget> {
  const out: Record<string, JobTarget> = {};
  for (const [disk, target] of Object.entries(targets))
    out[disk] = { ...target.libvirt!, format: target.format };
  return out;
}

/** The parent volume an incremental builds on (the planner put it in the same pool); the caller frees it. */
async function parentVolume(
  pool: OpenPool,
  disk: BackupPlan['disks'][number],
): Promise<StorageVolume | undefined> {
  const name = disk.parent?.volume?.name;
  if (!name) return undefined;
  const volume = await findVolume(pool, name);
  if (!volume) {
    throw new VolbackError(
      ErrorCodes.CHAIN_BROKEN,
      `the parent of disk ${disk.target}'s incremental, volume ${name}, is missing from pool ${pool.name}`,
      { fault: 'user' },
    );
  }
  return volume;
}

/**
 * Reads back every volume's own extents through its driver and stores their checksums, one document
 * per volume in its pool (removed again by `undo` if the run fails later). The extent size is the
 * chain's: the parent's when it has checksums, else the one for the disk's size.
 */
async function recordChecksums(
  ctx: RunContext,
  plan: BackupPlan,
  disks: DiskBackup[],
  volumes: ReadonlyMap<string, { pool: OpenPool; volume: StorageVolume }>,
  undo: UndoStack,
  key?: OpenedKey['key'],
): Promise<void> {
  const bytesTotal = disks.reduce((n, d) => n + d.bytesCopied, 0);
  let before = 0;
  ctx.report('checksums', { bytesDone: 0, bytesTotal });
  for (const [i, disk] of disks.entries()) {
    const { pool, volume } = volumes.get(disk.target)!;
    const extentSize = plan.disks[i].parent?.checksums?.extentSize ?? extentSizeFor(disk.virtualSize);
    const started = Date.now();
    let read = 0;
    const digests = await takeLayerDigests(
      pool,
      volume,
      extentSize,
      disk.virtualSize,
      {
        signal: ctx.options.signal,
        onProgress: (done) => {
          read = done;
          ctx.report('checksums', {
            bytesDone: before + done,
            bytesTotal: Math.max(bytesTotal, before + done),
          });
        },
      },
      key,
    );
    before += read;
    const name = checksumDocumentName(disk.volume!.name);
    disk.checksums = await writeChecksumDocument(pool, name, {
      setId: plan.setId,
      diskBackupId: disk.id,
      volume: disk.volume!.name,
      virtualSize: disk.virtualSize,
      extentSize,
      digests,
    });
    undo.push(`checksums ${name} in pool ${pool.name}`, () => deleteVolumeIfPresent(pool, name));
    log.info(
      `${ctx.domainName} ${disk.target}: checksums of ${digests.size} extents (${read} bytes read back) in ${Date.now() - started} ms`,
    );
  }
}

/**
 * Carries out one plan: target volumes, the job, the metadata. On failure every step it finished
 * is undone, newest first, and the error is rethrown.
 */
async function executePlan(ctx: RunContext, plan: BackupPlan): Promise<BackupResult> {
  const { conn, domain, domainName, uuid, summary, definition, options } = ctx;
  const undo = new UndoStack();
  const pools = await openRunPools(
    conn,
    [...new Set(plan.disks.map((d) => d.pool))].map((pool) => {
      const disks = plan.disks.filter((d) => d.pool === pool);
      return {
        pool,
        bytes: disks.reduce((sum, d) => sum + d.maxBytes, 0),
        what: `the backup of ${disks.map((d) => d.target).join(', ')}`,
      };
    }),
    ctx.location,
  );
  let opened: OpenedKey | undefined;
  try {
    // The key is read before anything is created: a secret this host lacks refuses the run here.
    opened = await openRunKey(
      conn,
      domainName,
      plan,
      ctx.encryption,
      (p) => pools.get(p)!.driver.capabilities,
    );
    const key = opened?.key;
    const engine = await chooseEngine(ctx, plan, pools, opened !== undefined);
    const volumes = new Map<string, { pool: OpenPool; volume: StorageVolume }>();
    const targets: Record<string, CopyTarget> = {};
    const base = plan.parent?.checkpoint?.name;
    const changed =
      base && plan.disks.some((d) => d.kind === 'incremental') ? await changedSince(domain, base) : undefined;
    for (const disk of plan.disks) {
      const pool = pools.get(disk.pool)!;
      const parent = await parentVolume(pool, disk);
      let volume: StorageVolume;
      try {
        volume = await pool.driver.createBackupVolume(pool, {
          name: disk.volumeName,
          format: disk.format,
          capacity: disk.virtualSize,
          parent,
          changedBytes: parent ? changed?.get(disk.target) : undefined,
          ...(opened ? { encryption: { format: 'luks', secretUuid: opened.encryption.secretUuid } } : {}),
          ...(plan.compression ? { compression: plan.compression } : {}),
        });
      } finally {
        parent?.free();
      }
      undo.push(`volume ${disk.volumeName} in pool ${disk.pool}`, () =>
        pool.driver.deleteVolume(pool, volume).finally(() => volume.free()),
      );
      volumes.set(disk.target, { pool, volume });
      targets[disk.target] = await pool.driver.copyTarget(pool, volume, key);
    }

    crashPoint('backup-volumes');
    const allTargets = summary.disks.map((d) => d.target);
    if (plan.checkpointName) {
      const name = plan.checkpointName;
      undo.push(`checkpoint ${name}`, () => removeCheckpoint(domain, name));
    }
    ctx.report('copying');
    if (engine.kind === 'qmp') await copyThroughQmp(ctx, plan, engine.nodes, targets);
    else {
      if (engine.why !== 'incremental')
        log.info(`${domainName}: ${plan.kind} backup through libvirt's job: ${engine.why}`);
      await runPushJob(conn, domain, {
        backupXml: pushBackupXml(plan, allTargets, jobTargets(targets)),
        checkpointXml: checkpointXml(plan, allTargets),
        disks: plan.disks.map((d) => d.target),
        signal: options.signal,
        onProgress: (p) => ctx.report('copying', p),
        startGate: ctx.quiesce.gate,
      });
    }

    crashPoint('backup-copied');
    const disks: DiskBackup[] = plan.disks.map((disk) => ({
      id: randomUUID(),
      target: disk.target,
      sourcePath: disk.sourcePath,
      sourceFormat: disk.sourceFormat,
      volume: { pool: disk.pool, name: disk.volumeName, format: disk.format },
      kind: disk.kind,
      parentId: disk.parent?.id,
      bitmap: disk.bitmap ? plan.checkpointName : undefined,
      virtualSize: disk.virtualSize,
      bytesCopied: 0,
    }));
    for (const disk of disks) {
      const { pool, volume } = volumes.get(disk.target)!;
      disk.bytesCopied = await pool.driver.storedBytes(pool, volume, key);
    }
    // Checksums are read back from what the pool now holds, and written before the metadata (the commit).
    if (options.checksums ?? true) await recordChecksums(ctx, plan, disks, volumes, undo, key);
    crashPoint('backup-checksums');

    ctx.report('committing');
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
      consistency: ctx.quiesce.consistency(),
      ...(plan.compression ? { compression: plan.compression } : {}),
      description: definition.description,
      ...(opened ? { encryption: opened.encryption } : {}),
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
      await writeDocument(pool, metadataName, xml);
      undo.push(`metadata ${metadataName} in pool ${pool.name}`, () =>
        deleteVolumeIfPresent(pool, metadataName),
      );
      metadata.push({ pool: pool.name, volume: metadataName });
    }
    await undo.commit();
    crashPoint('backup-committed');
    for (const { volume } of volumes.values()) volume.free();
    return { set, plan, metadata };
  } catch (err) {
    const failed = await undo.revert();
    if (failed.length) log.warn(`${domainName}: cleanup left behind: ${failed.join(', ')}`);
    throw err;
  } finally {
    wipeKey(opened?.key);
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
  // The whole definition is checked as a document before anything runs: a value it cannot hold (a
  // control character in the description, say) must not be found only at the commit, after the copy.
  await formatBackupDefinition(definition);
  checkQuiesceSettings(options.defaults.quiesce);
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
    // A run that died with the guest frozen (its watchdog died too): thaw before anything else.
    await thawAfterCrashedRun(domain, uuid, lock, { lockDir: options.lockDir }).catch((err: Error) =>
      log.warn(`${domainName}: could not thaw after a crashed run: ${err.message}`),
    );
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
    const scan = await scanCatalog(conn, { root: options.defaults.pool, domainUuid: uuid });
    await removeInterrupted(conn, domain, scan, interrupted);
    const baseSet = chooseBase([...scan.catalog.sets.values()], uuid, definition, 'volumes');
    let base = baseSet ? await assessBase(domain, ancestry(scan.catalog.sets, baseSet)) : undefined;
    const unusable = newestUnusable(scan, uuid, baseSet);
    if (unusable && definition.kind !== 'full') {
      if (base) log.warn(`${domainName}: building on backup ${base.set.id}: ${unusable.reason}`);
      // No base left: the full says why the newest backup could not be continued.
      else base = { set: unusable.set, usable: false, reason: unusable.reason };
    }
    const requested = requestedSecret(definition, options.defaults.encryptionSecret);
    base = baseForEncryption(domainName, base, requested);
    const location = resolveLocation(definition, options.defaults, uuid);
    const capabilities = await capabilitiesOf(
      conn,
      {
        required: [
          location.pool,
          ...definition.disks.flatMap((d) => (d.target?.pool ? [d.target.pool] : [])),
        ],
        optional: (baseSet?.disks ?? []).flatMap((d) => (d.volume ? [d.volume.pool] : [])),
      },
      location,
    );
    // Before anything is created: `require` with no agent to ask fails here.
    const quiesce = await Quiesce.prepare(
      {
        uri: conn.uri,
        domain,
        domainName,
        uuid,
        running: !startedPaused,
        lockDir: options.lockDir,
        signal: options.signal,
      },
      definition.quiesce,
      options.defaults.quiesce,
    );
    const ctx: RunContext = {
      conn,
      domain,
      domainName,
      uuid,
      summary,
      inactiveXml,
      definition,
      location,
      options,
      encryption: requested,
      report,
      quiesce,
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
        defaults: {
          pool: location.pool,
          format: options.defaults.format,
          compression: options.defaults.compression,
        },
        capabilities,
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
        // Both engines check the bitmaps when the job starts: one they cannot trust means a full, never a wrong incremental.
        if (
          attempt === 1 &&
          base?.usable &&
          plan.kind === 'incremental' &&
          (isLibvirtError(err, 'VIR_ERR_CHECKPOINT_INCONSISTENT') || err instanceof BitmapChainBroken)
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
