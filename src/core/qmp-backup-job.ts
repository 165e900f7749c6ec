// Full backups through QEMU's blockdev-backup, started for every disk in one QMP transaction with
// copy offload (copy_file_range), the dirty bitmaps of the new checkpoint added in the same
// transaction, and the checkpoint then registered in libvirt. Why this engine exists, and what it
// costs, is in docs/architecture.md ("Two copy engines").
import fs from 'node:fs';
import { QmpError, virDomainCheckpointCreateFlags, type Domain } from '../libvirt';
import { ErrorCodes, VolbackError } from '../errors';
import { logger } from '../log';
import type { PushTarget } from '../pool/driver';
import type { DomainDisk } from '../xml/libvirt-domain';
import type { DiskProgress, JobProgress } from './backup-job';
import { removeCheckpoint } from './checkpoints';

const log = logger('qmp-backup-job');

/** Prefix of every QEMU object (job, node, fd set) this engine creates: what a sweep may remove. */
export const QMP_NAME_PREFIX = 'volback-';

export interface QmpDisk {
  target: string;
  /** QEMU's node of the disk, the copy's source (`sourceNodes`). */
  sourceNode: string;
  destination: PushTarget;
  /** True when the new checkpoint records a bitmap on this disk. */
  bitmap: boolean;
}

export interface QmpJobOptions {
  /** Short unique tag naming this run's jobs, nodes and fd sets. */
  tag: string;
  /** The checkpoint to create: bitmaps of this name, then its `<domaincheckpoint>` redefined in libvirt. */
  checkpoint?: { name: string; xml: string };
  signal?: AbortSignal;
  onProgress?: (progress: JobProgress) => void;
  pollMs?: number;
}

interface QueryBlock {
  qdev?: string;
  inserted?: { 'node-name'?: string; file?: string };
}

interface NodeInfo {
  'node-name': string;
  'dirty-bitmaps'?: Array<{ name?: string }>;
}

interface QueryJob {
  id: string;
  status: string;
  'current-progress': number;
  'total-progress': number;
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * QEMU's node for each disk, found by the device alias libvirt gave it (checked against the
 * disk's source file). Throws when a disk has none: libvirt's engine is then the way.
 */
export async function sourceNodes(
  domain: Domain,
  disks: readonly DomainDisk[],
): Promise<Map<string, string>> {
  const blocks = await domain.qmp<QueryBlock[]>('query-block');
  const nodes = new Map<string, string>();
  for (const disk of disks) {
    const peripheral = disk.alias ? `/machine/peripheral/${disk.alias}` : undefined;
    const block = blocks.find(
      (b) =>
        peripheral &&
        (b.qdev === disk.alias || b.qdev === peripheral || b.qdev?.startsWith(`${peripheral}/`)) &&
        (!disk.sourcePath || b.inserted?.file === disk.sourcePath),
    );
    const node = block?.inserted?.['node-name'];
    if (!node) {
      throw new VolbackError(
        ErrorCodes.JOB_FAILED,
        `QEMU shows no block node for disk ${disk.target} (alias ${disk.alias ?? 'none'}, source ${disk.sourcePath ?? 'none'})`,
      );
    }
    nodes.set(disk.target, node);
  }
  return nodes;
}

/** One disk's QEMU objects, as far as they were created (for the cleanup). */
interface Attached {
  disk: QmpDisk;
  fd: number;
  fdset?: number;
  node?: string;
  job: string;
}

async function attachTarget(domain: Domain, tag: string, disk: QmpDisk): Promise<Attached> {
  const name = `${QMP_NAME_PREFIX}${tag}-${disk.target}`;
  // QEMU gets the open file, not a path: it needs no access of its own to the pool.
  const attached: Attached = { disk, fd: fs.openSync(disk.destination.path, 'r+'), job: name };
  try {
    const added = await domain.qmp<{ 'fdset-id': number }>('add-fd', { opaque: name }, [attached.fd]);
    attached.fdset = added['fdset-id'];
    // no-flush: QEMU's qcow2 layer would otherwise sync the file on every metadata update; the
    // whole target is synced once, before the metadata commit.
    await domain.qmp('blockdev-add', {
      driver: disk.destination.format,
      'node-name': name,
      cache: { 'no-flush': true },
      file: {
        driver: disk.destination.type === 'block' ? 'host_device' : 'file',
        filename: `/dev/fdset/${attached.fdset}`,
        cache: { 'no-flush': true },
      },
    });
    attached.node = name;
    return attached;
  } catch (err) {
    await detachTarget(domain, attached, 'discard');
    throw err;
  }
}

/**
 * Removes what attachTarget created. `commit`: the copy is complete — closing the node writes
 * qcow2's cached metadata into the file, then the file is synced; any failure throws. `discard`:
 * best effort, failures are logged.
 */
async function detachTarget(domain: Domain, attached: Attached, mode: 'commit' | 'discard'): Promise<void> {
  const step = (what: string, p: Promise<unknown>): Promise<unknown> =>
    mode === 'commit' ? p : p.catch((err: Error) => log.warn(`could not remove ${what}: ${err.message}`));
  try {
    if (attached.node)
      await step(`node ${attached.node}`, domain.qmp('blockdev-del', { 'node-name': attached.node }));
    if (attached.fdset !== undefined)
      await step(`fd set ${attached.fdset}`, domain.qmp('remove-fd', { 'fdset-id': attached.fdset }));
    if (mode === 'commit') fs.fsyncSync(attached.fd);
  } finally {
    fs.closeSync(attached.fd);
  }
}

async function ourJobs(domain: Domain, ids: ReadonlySet<string>): Promise<QueryJob[]> {
  return (await domain.qmp<QueryJob[]>('query-jobs')).filter((j) => ids.has(j.id));
}

/**
 * Copies every disk in full into its destination, all from one point in time, and creates the
 * checkpoint at that same point. Resolves once every copy is on stable storage and the checkpoint is
 * known to libvirt. Rejects with ERR_CANCELLED (signal) or ERR_JOB_FAILED, after removing every QEMU
 * object it created, bitmaps included; the destination volumes are the caller's.
 */
export async function runQmpFullJob(
  domain: Domain,
  disks: readonly QmpDisk[],
  options: QmpJobOptions,
): Promise<void> {
  if (options.signal?.aborted)
    throw new VolbackError(ErrorCodes.CANCELLED, 'backup cancelled before it started');
  const attached: Attached[] = [];
  let bitmapsAdded = false;
  let succeeded = false;
  try {
    for (const disk of disks) attached.push(await attachTarget(domain, options.tag, disk));
    const checkpoint = options.checkpoint;
    const actions = (perf: boolean): Array<{ type: string; data: Record<string, unknown> }> => [
      ...disks
        .filter((d) => d.bitmap && checkpoint)
        .map((d) => ({
          type: 'block-dirty-bitmap-add',
          data: { node: d.sourceNode, name: checkpoint!.name, persistent: true },
        })),
      ...attached.map((a) => ({
        type: 'blockdev-backup',
        data: {
          'job-id': a.job,
          device: a.disk.sourceNode,
          target: a.node,
          sync: 'full',
          'auto-dismiss': false,
          // copy_file_range: the kernel copies, no bounce buffer per chunk in QEMU's main loop.
          ...(perf ? { 'x-perf': { 'use-copy-range': true } } : {}),
        },
      })),
    ];
    // One transaction: every copy and every bitmap start at the same instant.
    try {
      await domain.qmp('transaction', { actions: actions(true) });
    } catch (err) {
      // x-perf is experimental: a QEMU without it refuses the whole transaction, so nothing started.
      if (!(err instanceof QmpError && err.desc.includes('x-perf'))) throw err;
      log.warn(`QEMU has no x-perf copy offload (${err.desc}); copying through bounce buffers`);
      await domain.qmp('transaction', { actions: actions(false) });
    }
    bitmapsAdded = !!checkpoint && disks.some((d) => d.bitmap);
    await waitForJobs(domain, attached, options);
    while (attached.length) await detachTarget(domain, attached.pop()!, 'commit');
    if (checkpoint) {
      const flags =
        virDomainCheckpointCreateFlags.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE |
        virDomainCheckpointCreateFlags.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE;
      (await domain.createCheckpoint(checkpoint.xml, flags)).free();
    }
    succeeded = true;
  } finally {
    for (const a of attached.reverse()) await detachTarget(domain, a, 'discard');
    if (bitmapsAdded && !succeeded) await removeBitmaps(domain, disks, options.checkpoint!.name);
  }
}

async function removeBitmaps(domain: Domain, disks: readonly QmpDisk[], name: string): Promise<void> {
  for (const d of disks.filter((x) => x.bitmap)) {
    await domain
      .qmp('block-dirty-bitmap-remove', { node: d.sourceNode, name })
      .catch((err: Error) => log.warn(`could not remove bitmap ${name} of ${d.target}: ${err.message}`));
  }
}

/** Polls the jobs to their end, reporting progress and cancelling them on abort; dismisses them. */
async function waitForJobs(
  domain: Domain,
  attached: readonly Attached[],
  options: QmpJobOptions,
): Promise<void> {
  const ids = new Set(attached.map((a) => a.job));
  const targetOf = new Map(attached.map((a) => [a.job, a.disk.target]));
  let cancelled = false;
  const cancel = (): void => {
    cancelled = true;
  };
  options.signal?.addEventListener('abort', cancel, { once: true });
  if (options.signal?.aborted) cancel();
  let cancelSent = false;
  try {
    for (;;) {
      const jobs = await ourJobs(domain, ids);
      const failed = jobs.find((j) => j.error);
      if ((cancelled || failed) && !cancelSent) {
        cancelSent = true;
        if (cancelled) log.info(`cancelling the backup jobs ${[...ids].join(', ')}`);
        for (const j of jobs.filter((x) => x.status !== 'concluded'))
          await domain.qmp('job-cancel', { id: j.id }).catch(() => undefined);
      }
      const perDisk: DiskProgress[] = jobs.map((j) => ({
        target: targetOf.get(j.id)!,
        bytesDone: j['current-progress'],
        bytesTotal: j['total-progress'],
      }));
      const sum = (k: 'bytesDone' | 'bytesTotal'): number => perDisk.reduce((s, d) => s + d[k], 0);
      options.onProgress?.({ bytesDone: sum('bytesDone'), bytesTotal: sum('bytesTotal'), disks: perDisk });
      if (jobs.every((j) => j.status === 'concluded')) {
        for (const j of jobs) await domain.qmp('job-dismiss', { id: j.id }).catch(() => undefined);
        if (cancelled) throw new VolbackError(ErrorCodes.CANCELLED, 'backup cancelled', { fault: 'user' });
        const error = jobs.find((j) => j.error);
        if (error || jobs.length !== ids.size) {
          throw new VolbackError(
            ErrorCodes.JOB_FAILED,
            `backup job failed: ${error ? `${targetOf.get(error.id)}: ${error.error}` : 'a job vanished'}`,
          );
        }
        return;
      }
      await sleep(options.pollMs ?? 250);
    }
  } finally {
    options.signal?.removeEventListener('abort', cancel);
  }
}

/**
 * Removes what a volback process that died mid-job left in QEMU: its jobs, target nodes and fd sets
 * (all named with QMP_NAME_PREFIX). Called under the domain's backup lock, so nothing of that name
 * belongs to a live volback run. Returns the tags (set id prefixes) of the interrupted runs, whose
 * target volumes the caller removes.
 */
export async function sweepQmpLeftovers(domain: Domain): Promise<Set<string>> {
  const tags = new Set<string>();
  const tagOf = (name: string): void => {
    const tag = new RegExp(`^${QMP_NAME_PREFIX}([0-9a-f]{8})-`).exec(name)?.[1];
    if (tag) tags.add(tag);
  };
  const jobs = (await domain.qmp<QueryJob[]>('query-jobs')).filter((j) => j.id.startsWith(QMP_NAME_PREFIX));
  for (const j of jobs) {
    log.warn(`removing backup job ${j.id} left by an interrupted volback run`);
    tagOf(j.id);
    if (j.status !== 'concluded') await domain.qmp('job-cancel', { id: j.id }).catch(() => undefined);
    for (let i = 0; i < 300; i++) {
      const now = (await domain.qmp<QueryJob[]>('query-jobs')).find((x) => x.id === j.id);
      if (!now || now.status === 'concluded') break;
      await sleep(100);
    }
    await domain.qmp('job-dismiss', { id: j.id });
  }
  const nodes = await domain.qmp<NodeInfo[]>('query-named-block-nodes', { flat: true });
  for (const n of nodes.filter((x) => x['node-name'].startsWith(QMP_NAME_PREFIX))) {
    log.warn(`removing block node ${n['node-name']} left by an interrupted volback run`);
    tagOf(n['node-name']);
    await domain.qmp('blockdev-del', { 'node-name': n['node-name'] });
  }
  const fdsets =
    await domain.qmp<Array<{ 'fdset-id': number; fds: Array<{ opaque?: string }> }>>('query-fdsets');
  for (const set of fdsets) {
    const ours = set.fds.filter((f) => f.opaque?.startsWith(QMP_NAME_PREFIX));
    if (!ours.length) continue;
    for (const f of ours) tagOf(f.opaque!);
    await domain.qmp('remove-fd', { 'fdset-id': set['fdset-id'] });
  }
  if (tags.size) await removeInterruptedCheckpoints(domain, tags);
  return tags;
}

/**
 * The checkpoint of an interrupted run (named volback-<set id>, the set id starting with its tag)
 * is referenced by no committed backup: removed from libvirt if it got that far, else its bitmaps.
 */
async function removeInterruptedCheckpoints(domain: Domain, tags: ReadonlySet<string>): Promise<void> {
  // Running jobs also show anonymous bitmaps (their copy bitmaps): those have no name.
  const interrupted = (name?: string): boolean =>
    !!name && [...tags].some((tag) => name.startsWith(`${QMP_NAME_PREFIX}${tag}`));
  const leftBitmaps = async (): Promise<Array<{ node: string; name: string }>> =>
    (await domain.qmp<NodeInfo[]>('query-named-block-nodes', { flat: true })).flatMap((n) =>
      (n['dirty-bitmaps'] ?? [])
        .filter((b) => interrupted(b.name))
        .map((b) => ({ node: n['node-name'], name: b.name! })),
    );
  for (const name of new Set((await leftBitmaps()).map((b) => b.name))) {
    log.warn(`removing checkpoint ${name} of an interrupted volback run`);
    await removeCheckpoint(domain, name);
  }
  // Bitmaps libvirt never heard of (the run died before registering its checkpoint).
  for (const b of await leftBitmaps()) await domain.qmp('block-dirty-bitmap-remove', b);
}
