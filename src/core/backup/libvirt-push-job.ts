// Runs one libvirt push backup job to its end: start, progress, cancel, and the final verdict.
import {
  virDomainBackupBeginFlags,
  virDomainGetJobStatsFlags,
  virDomainJobType,
  type Connection,
  type Domain,
  type TypedParams,
} from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';

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
    await domain.backupBegin(
      options.backupXml,
      options.checkpointXml ?? null,
      virDomainBackupBeginFlags.VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL,
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
