// Runs one libvirt push backup job to its end: start, progress, cancel, and the final verdict.
import {
  isLibvirtError,
  virDomainBackupBeginFlags,
  virDomainGetJobStatsFlags,
  virDomainJobType,
  type Connection,
  type Domain,
  type TypedParams,
} from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { parseBackupVolumeName } from '../../pool/volume-names';
import type { NodeInfo } from './qmp-job';
import { noGate, type StartGate } from './start-gate';

const log = logger('backup-job');

export interface DiskProgress {
  target: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface JobProgress {
  bytesDone: number;
  bytesTotal: number;
  /** Per disk, from each disk's part of the job (virDomainGetBlockJobInfo), once QEMU reports it. */
  disks?: DiskProgress[];
}

export interface PushJobOptions {
  backupXml: string;
  checkpointXml?: string;
  /** Disk targets the job copies: per-disk progress, and whose targets must be closed before it resolves. */
  disks: readonly string[];
  signal?: AbortSignal;
  onProgress?: (progress: JobProgress) => void;
  /** How often job stats are polled for progress (the completion event usually ends the wait first). */
  pollMs?: number;
  /** Runs backupBegin: the guest frozen around it (docs/consistency.md). */
  startGate?: StartGate;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const progressOf = (stats: TypedParams): JobProgress => ({
  bytesDone: Number(stats.disk_processed ?? 0),
  bytesTotal: Number(stats.disk_total ?? 0),
});

/** Each disk's part of the running job; a disk whose part already ended keeps its last figures. */
async function diskProgress(
  domain: Domain,
  targets: readonly string[],
  last: Map<string, DiskProgress>,
): Promise<DiskProgress[]> {
  const infos = await Promise.all(targets.map((t) => domain.getBlockJobInfo(t).catch(() => null)));
  targets.forEach((target, i) => {
    const info = infos[i];
    if (info && info.end > 0) last.set(target, { target, bytesDone: info.cur, bytesTotal: info.end });
  });
  return targets.filter((t) => last.has(t)).map((t) => last.get(t)!);
}

/** How long libvirt may take to close the targets after reporting the job complete. */
const CLOSE_TIMEOUT_MS = 120_000;

/**
 * Waits until libvirt has closed every target of a completed push job. libvirt 9.0 reports the job
 * complete (event, job stats) *before* it removes each target's block node from QEMU, and only that
 * removal writes QEMU's cached qcow2 metadata of the copied clusters into the target and flushes it.
 * Read earlier, a target shows too little data; a crash then would leave a committed backup whose
 * volume is incomplete. virDomainGetBlockJobInfo takes a domain job, so it waits for the one in which
 * libvirt tears the target down, and answers "no job" once that is over.
 */
async function awaitTargetsClosed(domain: Domain, targets: readonly string[]): Promise<void> {
  const deadline = Date.now() + CLOSE_TIMEOUT_MS;
  for (const target of targets) {
    while ((await domain.getBlockJobInfo(target)) !== null) {
      if (Date.now() > deadline) {
        throw new VolbackError(
          ErrorCodes.JOB_FAILED,
          `libvirt reported the backup complete but has not closed the target of ${target} after ${CLOSE_TIMEOUT_MS / 1000} s`,
        );
      }
      await sleep(50);
    }
  }
}

/**
 * Starts the job and resolves with its final statistics once QEMU finished every disk and libvirt
 * closed every target (so each target holds the whole copy, flushed). Rejects with
 * ERR_CANCELLED after an abort (the signal), ERR_JOB_FAILED when the job failed. The caller owns
 * cleanup of targets and checkpoint in both cases.
 */
export async function runPushJob(
  conn: Connection,
  domain: Domain,
  options: PushJobOptions,
): Promise<TypedParams> {
  const uuid = await domain.getUUIDString();
  let completed: TypedParams | undefined;
  let wake: () => void = () => undefined;
  const unsubscribe = await conn.onDomainEvent(
    'jobCompleted',
    (event) => {
      if (event.domain.uuid !== uuid) return;
      completed = event.stats;
      wake();
    },
    { domain },
  );
  let aborted = false;
  const abort = (): void => {
    aborted = true;
    log.info(`cancelling the backup job of ${uuid}`);
    domain.abortJob().catch((err: Error) => log.warn(`abort failed: ${err.message}`));
    wake();
  };
  try {
    if (options.signal?.aborted)
      throw new VolbackError(ErrorCodes.CANCELLED, 'backup cancelled before it started');
    // The job copies from the instant it starts: the guest need only be frozen around its start.
    await (options.startGate ?? noGate)(() =>
      domain.backupBegin(
        options.backupXml,
        options.checkpointXml ?? null,
        virDomainBackupBeginFlags.VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL,
      ),
    );
    options.signal?.addEventListener('abort', abort, { once: true });
    // A cancel that arrived while the job was being started had no job to abort yet.
    if (options.signal?.aborted) abort();
    const perDisk = new Map<string, DiskProgress>();
    for (;;) {
      if (!completed) {
        const current = await domain.getJobStats();
        if (current.type !== virDomainJobType.VIR_DOMAIN_JOB_NONE) {
          const disks = await diskProgress(domain, options.disks, perDisk);
          options.onProgress?.({ ...progressOf(current.stats), disks });
          await Promise.race([
            sleep(options.pollMs ?? 250),
            new Promise<void>((resolve) => (wake = resolve)),
          ]);
          continue;
        }
      }
      // The job is over: its completed statistics say how it ended.
      const final = await domain.getJobStats(virDomainGetJobStatsFlags.VIR_DOMAIN_JOB_STATS_COMPLETED);
      const stats = { ...(completed ?? {}), ...final.stats };
      if (final.type === virDomainJobType.VIR_DOMAIN_JOB_COMPLETED && !aborted) {
        await awaitTargetsClosed(domain, options.disks);
        const disks = [...perDisk.values()].map((d) => ({ ...d, bytesDone: d.bytesTotal }));
        options.onProgress?.({ ...progressOf(stats), disks });
        return stats;
      }
      if (aborted || final.type === virDomainJobType.VIR_DOMAIN_JOB_CANCELLED) {
        throw new VolbackError(ErrorCodes.CANCELLED, 'backup cancelled', { fault: 'user' });
      }
      throw new VolbackError(
        ErrorCodes.JOB_FAILED,
        `backup job failed: ${String(stats.errmsg ?? 'libvirt gave no reason')}`,
      );
    }
  } finally {
    options.signal?.removeEventListener('abort', abort);
    await unsubscribe().catch(() => undefined);
  }
}

/**
 * The temporary bitmaps libvirt's push job keeps in QEMU while it copies an incremental
 * (`backup-<disk target>`), left behind when libvirtd stopped mid-job (measured: after a restart
 * during an incremental, one run in several kept `backup-vda`, and QEMU went on tracking every write
 * in it). They are stale only once libvirt runs no backup job on the domain. After a restart
 * libvirt may still report the interrupted job for a few seconds while QEMU runs none (measured:
 * `virDomainBackupGetXMLDesc` still answered during a repair right after the restart): such a job
 * is waited for, up to JOB_END_WAIT_MS; while QEMU runs a backup job nothing is reported. With
 * `remove`, they are removed. Returns their names.
 */
export async function pushJobLeftovers(
  domain: Domain,
  targets: readonly string[],
  remove: boolean,
): Promise<string[]> {
  const wanted = new Set(targets.map((t) => `backup-${t}`));
  const nodes = await domain.qmp<NodeInfo[]>('query-named-block-nodes', { flat: true });
  const found = nodes.flatMap((n) =>
    (n['dirty-bitmaps'] ?? []).flatMap((b) =>
      b.name && wanted.has(b.name) ? [{ node: n['node-name'], name: b.name }] : [],
    ),
  );
  if (!found.length || !(await backupJobEnded(domain))) return [];
  if (remove)
    for (const { node, name } of found) {
      log.warn(`removing bitmap ${name} left in QEMU by an interrupted libvirt backup job`);
      await domain.qmp('block-dirty-bitmap-remove', { node, name });
    }
  return [...new Set(found.map((f) => f.name))];
}

/** How long a libvirt backup job whose QEMU side is gone is given to end (see pushJobLeftovers). */
const JOB_END_WAIT_MS = 30_000;

/** The XML of the backup job libvirt runs on the domain, or undefined when it runs none. */
async function backupJobXml(domain: Domain): Promise<string | undefined> {
  try {
    return await domain.backupGetXMLDesc();
  } catch (err) {
    if (isLibvirtError(err, 'VIR_ERR_NO_DOMAIN_BACKUP')) return undefined;
    throw err;
  }
}

/**
 * True when libvirt runs no backup job on the domain, or ends the one it reports within
 * JOB_END_WAIT_MS while QEMU runs no backup job for it; false while QEMU copies (the job is real).
 */
async function backupJobEnded(domain: Domain): Promise<boolean> {
  for (const started = Date.now(); ; await sleep(500)) {
    if ((await backupJobXml(domain)) === undefined) return true;
    const jobs = await domain.qmp<Array<{ type: string }>>('query-jobs');
    if (jobs.some((j) => j.type === 'backup')) return false;
    if (Date.now() - started > JOB_END_WAIT_MS) {
      log.warn('libvirt still reports a backup job that QEMU no longer runs: its bitmaps are left');
      return false;
    }
  }
}

/**
 * Aborts a libvirt push backup job that outlived its volback run: libvirtd restarted under the run,
 * which failed, and the restarted libvirtd let QEMU go on copying (measured: the job still ran
 * during the repair, into target volumes the repair removes). Called under the domain's lock, so no
 * live volback run owns a job; one is taken for volback's only when every target is named as
 * volback names backup volumes. Waits for it to end. Returns its targets, or [] when there is none.
 */
export async function abortOrphanedPushJob(domain: Domain, abort: boolean): Promise<string[]> {
  const xml = await backupJobXml(domain);
  if (xml === undefined) return [];
  if (!/^<domainbackup mode='push'/.test(xml.trim())) return [];
  const targets = [...xml.matchAll(/<target (?:file|dev)='([^']+)'/g)].map((m) => m[1]);
  if (!targets.length || !targets.every((t) => parseBackupVolumeName(t.slice(t.lastIndexOf('/') + 1))))
    return [];
  if (!abort) return targets;
  log.warn(`aborting the libvirt backup job its interrupted volback run left, writing ${targets.join(', ')}`);
  await domain.abortJob();
  for (const started = Date.now(); Date.now() - started < JOB_END_WAIT_MS; await sleep(500))
    if ((await backupJobXml(domain)) === undefined) return targets;
  throw new VolbackError(
    ErrorCodes.CONFLICT,
    `the libvirt backup job left by an interrupted volback run did not end within ${JOB_END_WAIT_MS / 1000} s of its abort`,
    { fault: 'user', hint: 'try again in a minute' },
  );
}
