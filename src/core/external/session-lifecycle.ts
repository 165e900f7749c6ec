// External (pull-mode) backups: libvirt exports the disks over NBD at one point in time and a third
// party reads them; volback plans, starts and ends the session and records it. See docs/external-backups.md.
import { randomUUID } from 'node:crypto';
import { virDomainBackupBeginFlags, type Connection, type Domain, type StorageVolume } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupDefinition, BackupKind, BackupSet, DiskBackup, ResolvedServer } from '../../model';
import { closePools, openPool, type OpenPool } from '../../pool/pool-layer';
import { kindOf } from '../../host/connection-kind';
import { assertTlsConfigured } from '../../host/qemu-conf';
import { freePort, prepareSocketDir, removeSocketDir } from '../../host/nbd-endpoints';
import { who } from '../../host/identity';
import { checkpointXml, parseLivePullJob, pullBackupXml, type JobTarget } from '../../xml/libvirt-backup';
import { metadataVolumeName } from '../../pool/volume-names';
import { VOLBACK_VERSION } from '../../version';
import { formatBackupDefinition, formatBackupSet } from '../../xml';
import type { BackupDefaults } from '../backup/coordinator';
import { ancestry, chooseBase } from '../shared/base';
import { readDomainState } from '../shared/domain-state';
import { openRunPools, resolveLocation } from '../shared/targets';
import { scanCatalog } from '../catalog/scan';
import {
  assessBase,
  checkpointRecord,
  dropVolbackCheckpoints,
  removeCheckpoint,
} from '../shared/checkpoints';
import { DEFAULT_LOCK_DIR, lockDomain } from '../shared/domain-lock';
import { lookupDomain } from '../shared/domain-lookup';
import {
  assertRemoteServer,
  assertSafeServer,
  dirtyBitmapContext,
  nbdUri,
  planExternalBackup,
  type ExternalPlan,
} from './plan';
import {
  readSession,
  removeSessionFile,
  sessionJobRunning,
  settleExternalSession,
  stopPullJob,
  teardownSession,
  writeSession,
  type SessionRecord,
} from './session';
import { UndoStack } from '../shared/undo';
import { writeDocument } from '../../pool/documents';

const log = logger('external');

export interface BeginExternalOptions {
  /** Parsed `<volbackup mode='pull'>`; all disks, kind auto, TCP on 127.0.0.1 with a free port when absent. */
  definition?: BackupDefinition;
  defaults: BackupDefaults;
  /** Directory of the per-domain locks and session files (tests use their own). */
  lockDir?: string;
  /**
   * Process that reads the export: once it is gone, the session counts as crashed and the next call
   * (begin, end, push backup) aborts it. Absent: the session lives until ended or until libvirt's job ends.
   */
  ownerPid?: number;
  /** The session counts as crashed after this instant (a safety net for readers that never call end). */
  expiresAt?: Date;
}

/** One exported disk: everything an NBD client needs. */
export interface ExternalDiskExport {
  target: string;
  kind: BackupKind;
  /** NBD export name (libvirt's `exportname`, the disk target by default). */
  exportName: string;
  /** e.g. `nbd://127.0.0.1:10809/vda` or `nbd+unix:///vda?socket=/run/volback/nbd/<uuid>/nbd.sock`. */
  uri: string;
  /** Incremental disks: NBD meta context of the changed blocks, `qemu:dirty-bitmap:<exportbitmap>`. */
  dirtyBitmapContext?: string;
  virtualSize: number;
  scratch: { pool: string; volume: string };
}

/** A running external backup session, as `beginExternalBackup` returns it. */
export interface ExternalSession {
  setId: string;
  domain: { name: string; uuid: string };
  kind: BackupKind;
  /** Set (push or external) the incremental starts from. */
  parentSetId?: string;
  /** Its checkpoint: the dirty bitmaps cover every change since it. */
  baseCheckpoint?: string;
  /** Why a full was taken when an incremental was asked for. */
  fallbackReason?: string;
  /** Checkpoint created at the job's start; after a successful end, the next incremental starts from it. */
  checkpoint?: string;
  server: ResolvedServer;
  disks: ExternalDiskExport[];
  skipped: Array<{ target: string; reason: string }>;
  createdAt: Date;
}

const DEFAULT_DEFINITION: BackupDefinition = { mode: 'pull', kind: 'auto', disks: [] };

/**
 * Starts an external backup: one libvirt pull-mode job exporting every selected disk over NBD at
 * the same instant, with a new checkpoint created by the same call (the next incremental starts
 * from it once the session ends successfully). Full, or incremental since the definition's
 * `<incremental>` set (push or external; `latest` by default with kind auto); disks without a bitmap
 * in the base are exported in full. Guest writes during the session go through copy-before-write
 * into scratch volumes made in the `<scratch pool>` (else the location pool), so readers see the
 * disks as they were at the start.
 *
 * The NBD server listens on 127.0.0.1 with a free port unless the definition says otherwise; a TCP
 * name that is not loopback is refused without `tls='yes'`. The session is recorded in a session
 * file (see docs/external-backups.md) that holds the domain against other jobs until
 * `endExternalBackup`; a crashed session is cleaned up by the next begin, end or push backup.
 *
 * On failure everything this call made (scratch volumes, job, checkpoint, socket directory, session
 * file) is removed and nothing is recorded.
 */
export async function beginExternalBackup(
  conn: Connection,
  domainName: string,
  options: BeginExternalOptions,
): Promise<ExternalSession> {
  const definition = options.definition ?? DEFAULT_DEFINITION;
  if (definition.mode !== 'pull') {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      "this definition is for a push backup; use createBackup (or mode='pull')",
      { fault: 'user' },
    );
  }
  await formatBackupDefinition(definition); // every value checked before anything runs
  const lockDir = options.lockDir ?? DEFAULT_LOCK_DIR;
  const requested = definition.server ?? { transport: 'tcp' as const, name: '127.0.0.1' };
  assertSafeServer(requested);
  if (!(await kindOf(conn)).local) assertRemoteServer(requested);
  else if (requested.transport === 'tcp' && requested.tls) assertTlsConfigured(conn.uri);

  const domain = await lookupDomain(conn, domainName);
  const uuid = await domain.getUUIDString();
  const lock = lockDomain(uuid, `external backup begin of ${domainName}`, lockDir);
  const undo = new UndoStack();
  const setId = randomUUID();
  const pools = new Map<string, OpenPool>();
  try {
    await settleExternalSession(conn, domain, uuid, lockDir);
    if (!(await domain.isActive())) {
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `domain ${domainName} is not running: an external backup exports a running domain's disks`,
        {
          fault: 'user',
          hint: 'start it (paused is enough: virsh start --paused) or take a push backup',
        },
      );
    }
    const { summary, inactiveXml, facts } = await readDomainState(domain);
    const scan = await scanCatalog(conn);
    const baseSet = chooseBase([...scan.catalog.sets.values()], uuid, definition, 'checkpoint');
    const base = baseSet ? await assessBase(domain, ancestry(scan.catalog.sets, baseSet)) : undefined;
    if (base && !base.usable)
      log.warn(`${domainName}: exporting in full instead of incrementally: ${base.reason}`);
    const createdAt = new Date();
    const location = resolveLocation(definition, options.defaults, uuid);
    const plan: ExternalPlan = planExternalBackup({
      domain: { name: domainName, uuid, disks: summary.disks },
      definition,
      facts,
      base,
      defaultPool: location.pool,
      setId,
      createdAt,
    });
    for (const note of plan.notes) log.warn(`${domainName}: ${note}`);

    // The metadata pool must exist before anything is exported: end writes into it. The scratch
    // receives the old data of every cluster the guest overwrites while the export is open; full,
    // QEMU fails the guest's writes (or pauses it). Worst case: all the disk's data.
    const scratchPools = [...new Set(plan.disks.map((d) => d.scratchPool))];
    const opened = await openRunPools(
      conn,
      [
        ...(scratchPools.includes(plan.metadataPool)
          ? []
          : [{ pool: plan.metadataPool, bytes: 0, what: 'the metadata' }]),
        ...scratchPools.map((pool) => {
          const disks = plan.disks.filter((d) => d.scratchPool === pool);
          return {
            pool,
            bytes: disks.reduce((sum, d) => sum + Math.min(facts[d.target].allocation, d.virtualSize), 0),
            what: `the scratch space of ${disks.map((d) => d.target).join(', ')}`,
          };
        }),
      ],
      location,
    );
    for (const [name, pool] of opened) pools.set(name, pool);
    if (base && !base.usable) await dropVolbackCheckpoints(domain);
    const scratch: Record<string, JobTarget> = {};
    for (const disk of plan.disks) {
      const pool = pools.get(disk.scratchPool)!;
      if (!pool.driver.createScratchVolume) {
        throw new VolbackError(
          ErrorCodes.POOL_UNSUPPORTED,
          `pool '${pool.name}' (${pool.type}) cannot hold pull mode's scratch volumes`,
          { fault: 'user', hint: `name another pool in the definition's <disk scratchPool=...>` },
        );
      }
      const volume: StorageVolume = await pool.driver.createScratchVolume(pool, {
        name: disk.scratchVolume,
        capacity: disk.virtualSize,
      });
      undo.push(`scratch volume ${disk.scratchVolume}`, () =>
        pool.driver.deleteVolume(pool, volume).finally(() => volume.free()),
      );
      const target = await pool.driver.copyTarget(pool, volume);
      if (!target.libvirt) {
        throw new VolbackError(
          ErrorCodes.POOL_UNSUPPORTED,
          `libvirt's pull job cannot write scratch volumes of pool '${pool.name}'`,
          {
            fault: 'user',
          },
        );
      }
      scratch[disk.target] = { ...target.libvirt, format: target.format };
    }

    let server: ResolvedServer;
    let socketDir: string | undefined;
    if (requested.transport === 'unix') {
      server = { transport: 'unix', socket: requested.socket };
      socketDir = prepareSocketDir(requested.socket, summary.qemuUser);
      if (socketDir) {
        const dir = socketDir;
        undo.push(`socket directory ${dir}`, async () => removeSocketDir(dir));
      }
    } else {
      server = {
        transport: 'tcp',
        name: requested.name,
        port: requested.port ?? (await freePort(requested.name)),
        tls: requested.tls ?? false,
      };
    }

    const record: SessionRecord = {
      version: 1,
      state: 'starting',
      setId,
      domain: { name: domainName, uuid },
      createdAt: createdAt.toISOString(),
      kind: plan.kind,
      parentSetId: plan.parent?.id,
      baseCheckpoint: plan.parent?.checkpoint?.name,
      fallbackReason: plan.fallbackReason,
      checkpoint: plan.checkpointName,
      metadataPool: plan.metadataPool,
      description: definition.description,
      startedBy: who(),
      ownerPid: options.ownerPid,
      expiresAt: options.expiresAt?.toISOString(),
      server,
      socketDir,
      disks: plan.disks.map((d) => ({
        target: d.target,
        kind: d.kind,
        sourcePath: d.sourcePath,
        sourceFormat: d.sourceFormat,
        virtualSize: d.virtualSize,
        bitmap: d.bitmap,
        parentId: d.parent?.id,
        scratch: { pool: d.scratchPool, volume: d.scratchVolume, path: scratch[d.target].path },
      })),
      domainXml: inactiveXml,
    };
    // Recorded before the job starts, so a crash from here on leaves something the next call can undo.
    writeSession(record, lockDir);
    undo.push('session file', async () => removeSessionFile(uuid, lockDir));

    const allTargets = summary.disks.map((d) => d.target);
    if (plan.checkpointName) {
      const name = plan.checkpointName;
      undo.push(`checkpoint ${name}`, () => removeCheckpoint(domain, name));
    }
    const backupXml = pullBackupXml(plan, allTargets, server, scratch);
    log.debug(`${domainName}: virDomainBackupBegin ${backupXml}`);
    await domain.backupBegin(
      backupXml,
      checkpointXml(plan, allTargets) ?? null,
      virDomainBackupBeginFlags.VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL,
    );
    undo.push('pull backup job', () => stopPullJob(domain));

    // libvirt fills in export and bitmap names: read them back rather than assume them.
    const live = await parseLivePullJob(await domain.backupGetXMLDesc());
    const disks: ExternalDiskExport[] = plan.disks.map((d) => {
      const exp = live.exports.find((e) => e.target === d.target);
      if (!exp)
        throw new VolbackError(ErrorCodes.JOB_FAILED, `libvirt's pull job does not export disk ${d.target}`);
      return {
        target: d.target,
        kind: d.kind,
        exportName: exp.exportName,
        uri: nbdUri(server, exp.exportName),
        dirtyBitmapContext:
          d.kind === 'incremental' && exp.exportBitmap ? dirtyBitmapContext(exp.exportBitmap) : undefined,
        virtualSize: d.virtualSize,
        scratch: { pool: d.scratchPool, volume: d.scratchVolume },
      };
    });
    record.state = 'running';
    for (const disk of record.disks) {
      const exp = disks.find((e) => e.target === disk.target)!;
      disk.exportName = exp.exportName;
      disk.exportBitmap = exp.dirtyBitmapContext;
      disk.uri = exp.uri;
    }
    writeSession(record, lockDir, true);
    await undo.commit();
    log.info(
      `${domainName}: external ${plan.kind} backup ${setId} exported (${disks.map((d) => d.uri).join(', ')})`,
    );
    return {
      setId,
      domain: { name: domainName, uuid },
      kind: plan.kind,
      parentSetId: plan.parent?.id,
      baseCheckpoint: plan.parent?.checkpoint?.name,
      fallbackReason: plan.fallbackReason,
      checkpoint: plan.checkpointName,
      server,
      disks,
      skipped: plan.skipped,
      createdAt,
    };
  } catch (err) {
    const failed = await undo.revert();
    if (failed.length) log.warn(`${domainName}: cleanup left behind: ${failed.join(', ')}`);
    throw err;
  } finally {
    closePools([...pools.values()]);
    domain.free();
    lock.release();
  }
}

export interface EndExternalOptions {
  /** True when the reader copied everything: the set is recorded and its checkpoint kept. */
  success: boolean;
  lockDir?: string;
}

export interface EndExternalResult {
  /** The recorded set (success only). */
  set?: BackupSet;
  metadata?: { pool: string; volume: string };
  /** Checkpoint removed (failure): its changes stay covered by the next incremental. */
  removedCheckpoint?: string;
}

/**
 * Ends the domain's external backup session: stops the NBD export (aborts the pull job) and removes
 * the scratch volumes. With `success`, records the set (mode pull, state external, disks without
 * volumes) in the metadata pool and keeps its checkpoint for the next incremental; without, removes
 * the checkpoint (its bitmap merges into its parent's, so the next incremental covers the changes of
 * this window) and records nothing. If libvirt's job ended before this call (domain stopped, job
 * aborted) a success cannot be vouched for: the session is discarded as a failure and ERR_JOB_FAILED
 * is thrown. Throws ERR_NOT_FOUND when no session is recorded for the domain.
 */
export async function endExternalBackup(
  conn: Connection,
  domainName: string,
  options: EndExternalOptions,
): Promise<EndExternalResult> {
  const lockDir = options.lockDir ?? DEFAULT_LOCK_DIR;
  const domain = await lookupDomain(conn, domainName);
  const uuid = await domain.getUUIDString();
  const lock = lockDomain(uuid, `external backup end of ${domainName}`, lockDir);
  try {
    const session = readSession(uuid, lockDir);
    if (!session) {
      throw new VolbackError(
        ErrorCodes.NOT_FOUND,
        `no external backup session of ${domainName} is recorded`,
        {
          fault: 'user',
          hint: 'it was ended already, or cleaned up after a crash',
        },
      );
    }
    const jobRunning = session.state === 'running' && (await sessionJobRunning(domain, session));
    if (!options.success || !jobRunning) {
      const failed = await teardownSession(conn, domain, session, {
        keepCheckpoint: false,
        jobRunning,
        lockDir,
      });
      if (failed.length)
        throw new VolbackError(
          ErrorCodes.JOB_FAILED,
          `ending external backup ${session.setId} left behind: ${failed.join(', ')}`,
        );
      if (options.success) {
        throw new VolbackError(
          ErrorCodes.JOB_FAILED,
          `external backup ${session.setId} cannot be recorded: libvirt's export ended before end-external (domain stopped or job aborted); its checkpoint was removed, so the next incremental covers its changes`,
        );
      }
      log.info(`${domainName}: external backup ${session.setId} discarded`);
      return { removedCheckpoint: session.checkpoint };
    }

    await stopPullJob(domain);
    let set: BackupSet;
    let name: string;
    try {
      ({ set, name } = await recordSet(conn, domain, session));
    } catch (err) {
      // The export is over: without metadata the checkpoint must go, or the next incremental would skip this window.
      await teardownSession(conn, domain, session, { keepCheckpoint: false, jobRunning: false, lockDir });
      throw err;
    }
    const failed = await teardownSession(conn, domain, session, {
      keepCheckpoint: true,
      jobRunning: false,
      lockDir,
    });
    if (failed.length)
      log.warn(
        `${domainName}: external backup ${session.setId} recorded, but cleanup left behind: ${failed.join(', ')}`,
      );
    log.info(`${domainName}: external ${set.kind} backup ${set.id} recorded in pool ${session.metadataPool}`);
    return { set, metadata: { pool: session.metadataPool, volume: name } };
  } finally {
    domain.free();
    lock.release();
  }
}

/** Builds the set of an ended session and writes its metadata (the commit point). */
async function recordSet(
  conn: Connection,
  domain: Domain,
  session: SessionRecord,
): Promise<{ set: BackupSet; name: string }> {
  const completedAt = new Date();
  const disks: DiskBackup[] = session.disks.map((d) => ({
    id: randomUUID(),
    target: d.target,
    sourcePath: d.sourcePath,
    sourceFormat: d.sourceFormat,
    kind: d.kind,
    parentId: d.parentId,
    bitmap: d.bitmap ? session.checkpoint : undefined,
    virtualSize: d.virtualSize,
    // The reader copied the data; volback does not know how much.
    bytesCopied: 0,
  }));
  const ended = who();
  const by = `external backup begun by ${session.startedBy.user}@${session.startedBy.host}, ended by ${ended.user}@${ended.host}`;
  const set: BackupSet = {
    id: session.setId,
    volbackVersion: VOLBACK_VERSION,
    mode: 'pull',
    kind: session.kind,
    state: 'external',
    createdAt: new Date(session.createdAt),
    completedAt,
    parentId: session.kind === 'incremental' ? session.parentSetId : undefined,
    domain: session.domain,
    checkpoint: session.checkpoint ? await checkpointRecord(domain, session.checkpoint) : undefined,
    fallbackReason: session.fallbackReason,
    description: session.description ? `${session.description} (${by})` : by,
    disks,
    domainXml: session.domainXml,
  };
  const xml = await formatBackupSet(set);
  const name = metadataVolumeName({ domain: session.domain.name, createdAt: set.createdAt, setId: set.id });
  const pool = await openPool(conn, session.metadataPool);
  try {
    await writeDocument(pool, name, xml);
  } finally {
    pool.pool.free();
  }
  return { set, name };
}

/**
 * The domain's recorded external session, if any, and whether libvirt still runs its job. Read-only:
 * it takes no lock and cleans nothing (for `status` displays).
 */
export async function inspectExternalBackup(
  conn: Connection,
  domainName: string,
  options: { lockDir?: string } = {},
): Promise<{ session: SessionRecord; jobRunning: boolean } | undefined> {
  const domain = await lookupDomain(conn, domainName);
  try {
    const session = readSession(await domain.getUUIDString(), options.lockDir);
    return session ? { session, jobRunning: await sessionJobRunning(domain, session) } : undefined;
  } finally {
    domain.free();
  }
}
