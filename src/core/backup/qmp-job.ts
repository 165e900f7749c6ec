// The QMP engine: full and incremental backups through QEMU's blockdev-backup, started for every disk
// in one QMP transaction with copy offload (copy_file_range), the dirty bitmaps of the new checkpoint
// added in the same transaction, and the checkpoint then registered in libvirt. An incremental copies
// what a temporary bitmap, merged from the parent checkpoint's bitmaps as libvirt's own job merges
// them, marks changed. Why this engine exists, and what it costs, is in docs/architecture.md ("Two
// copy engines").
import { QmpError, virDomainCheckpointCreateFlags, type Domain } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { CopyTarget, OpenedTarget } from '../../pool/driver';
import type { DomainDisk } from '../../xml/libvirt-domain';
import type { DiskProgress, JobProgress } from './libvirt-push-job';
import { noGate, type StartGate } from './start-gate';
import { removeCheckpoint } from '../shared/checkpoints';
import { blockOfDisk, queryBlocks } from '../shared/qemu-blocks';

const log = logger('qmp-backup-job');

/** Prefix of every QEMU object (job, node, fd set) this engine creates: what a sweep may remove. */
export const QMP_NAME_PREFIX = 'volback-';

export interface QmpDisk {
  target: string;
  /** QEMU's format node of the disk, the copy's source (`sourceNodes`). */
  sourceNode: string;
  /** Where the copy goes, as the target pool's driver describes it. */
  destination: CopyTarget;
  /** True when the new checkpoint records a bitmap on this disk. */
  bitmap: boolean;
  /** Incremental: the checkpoint (its bitmap's name) whose changes are copied. Absent: a full copy. */
  since?: string;
  /**
   * Write compressed clusters (`compress` of blockdev-backup) into a qcow2 destination its driver
   * created with compression_type=zstd. QEMU then copies cluster by cluster through its own buffers:
   * no copy offload, which cannot compress (docs/compression.md).
   */
  compress?: boolean;
}

export interface QmpJobOptions {
  /** Short unique tag naming this run's jobs, nodes and fd sets. */
  tag: string;
  /** The checkpoint to create: bitmaps of this name, then its `<domaincheckpoint>` redefined in libvirt. */
  checkpoint?: { name: string; xml: string };
  signal?: AbortSignal;
  onProgress?: (progress: JobProgress) => void;
  pollMs?: number;
  /** Runs the transaction that starts every copy: the guest frozen around it (docs/consistency.md). */
  startGate?: StartGate;
}

/** This engine cannot copy the domain (nothing was changed in QEMU): libvirt's job is the way. */
export class QmpEngineUnavailable extends Error {
  override name = 'QmpEngineUnavailable';
}

/**
 * An incremental's parent checkpoint has no trustworthy bitmap on a disk (libvirt's job says
 * VIR_ERR_CHECKPOINT_INCONSISTENT for the same): nothing was created, the caller takes a full.
 */
export class BitmapChainBroken extends VolbackError {
  constructor(message: string) {
    super(ErrorCodes.JOB_FAILED, message);
  }
}

interface BitmapInfo {
  name?: string;
  recording?: boolean;
  persistent?: boolean;
  inconsistent?: boolean;
  granularity?: number;
}

/** One entry of `query-named-block-nodes` (flat), as far as this engine reads it. */
export interface NodeInfo {
  'node-name': string;
  drv?: string;
  file?: string;
  backing_file?: string;
  image?: { 'full-backing-filename'?: string };
  'dirty-bitmaps'?: BitmapInfo[];
}

/** A QMP transaction action. */
export interface QmpAction {
  type: string;
  data: Record<string, unknown>;
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
 * QEMU's format node for each disk, found by the device alias libvirt gave it and checked against
 * the disk's source file and format. Throws QmpEngineUnavailable when a disk's top node is not
 * that (a filter such as copy-on-read, a `json:` file name): its bitmap would not be the one libvirt
 * checks, so libvirt's job copies that domain.
 */
export async function sourceNodes(
  domain: Domain,
  disks: readonly DomainDisk[],
): Promise<Map<string, string>> {
  const blocks = await queryBlocks(domain);
  const nodes = new Map<string, string>();
  for (const disk of disks) {
    const inserted = blockOfDisk(blocks, disk)?.inserted;
    const problem = !inserted?.['node-name']
      ? 'QEMU shows no block node for it'
      : disk.sourcePath && inserted.file !== disk.sourcePath
        ? `its top node reads ${inserted.file}, not ${disk.sourcePath}`
        : disk.format && inserted.drv !== disk.format
          ? `its top node is a ${inserted.drv} node, not ${disk.format}`
          : undefined;
    if (problem)
      throw new QmpEngineUnavailable(`disk ${disk.target} (alias ${disk.alias ?? 'none'}): ${problem}`);
    nodes.set(disk.target, inserted!['node-name']!);
  }
  return nodes;
}

/**
 * The temporary bitmap of an incremental's changed blocks on one disk. Named with the prefix and the
 * run's tag, so the sweep of an interrupted run finds it; never persistent (QEMU drops it on exit).
 */
export const changedBitmapName = (tag: string, target: string): string =>
  `${QMP_NAME_PREFIX}${tag}-${target}.changed`;

/** The run tag of a temporary changed-blocks bitmap (changedBitmapName), else undefined. */
export const changedBitmapTag = (name: string): string | undefined =>
  new RegExp(`^${QMP_NAME_PREFIX}([0-9a-f]{8})-.+\\.changed$`).exec(name)?.[1];

/** Protocol drivers: a node of these shares its file name with the format node above it. */
const PROTOCOLS = new Set(['file', 'host_device', 'host_cdrom']);

/** The format nodes of `top`'s backing chain, top first, as far as QEMU's flat node list links them. */
export function backingChain(nodes: readonly NodeInfo[], top: string): NodeInfo[] {
  const chain: NodeInfo[] = [];
  let node = nodes.find((n) => n['node-name'] === top);
  while (node && !chain.includes(node)) {
    chain.push(node);
    const backing = node.image?.['full-backing-filename'] ?? node.backing_file;
    node = backing
      ? nodes.find((n) => n.file === backing && !PROTOCOLS.has(n.drv ?? '') && !chain.includes(n))
      : undefined;
  }
  return chain;
}

/**
 * The transaction actions that collect one disk's changes since checkpoint `since` into `temp`, as
 * libvirt 9.0's push job does (qemu_backup.c, qemuBlockGetBitmapMergeActions): a transient, disabled
 * bitmap on the disk's top node, merged from the checkpoint's bitmap in every layer of the backing
 * chain that has one. The checkpoint's own bitmaps are only read: the copy consumes `temp`. Throws
 * BitmapChainBroken where libvirt would refuse the chain (qemuBlockBitmapChainIsValid): the bitmap
 * must start at the top, sit in consecutive layers, and be persistent, recording and consistent. Pure.
 */
export function changedBlocksActions(
  nodes: readonly NodeInfo[],
  disk: { target: string; sourceNode: string; since: string },
  temp: string,
): QmpAction[] {
  const broken = (why: string): never => {
    throw new BitmapChainBroken(`missing or broken bitmap '${disk.since}' for disk '${disk.target}': ${why}`);
  };
  const layers: Array<{ node: string; bitmap: BitmapInfo }> = [];
  let ended = false;
  for (const node of backingChain(nodes, disk.sourceNode)) {
    const bitmap = node['dirty-bitmaps']?.find((b) => b.name === disk.since);
    if (!bitmap) {
      if (!layers.length) broken(`node ${node['node-name']} (the top) has none`);
      ended = true;
      continue;
    }
    if (ended) broken(`a layer between the top and node ${node['node-name']} has none`);
    if (bitmap.inconsistent || bitmap.persistent === false || bitmap.recording === false)
      broken(
        `on node ${node['node-name']} it is ${bitmap.inconsistent ? 'inconsistent' : bitmap.persistent === false ? 'not persistent' : 'not recording'}`,
      );
    layers.push({ node: node['node-name'], bitmap });
  }
  if (!layers.length) broken(`QEMU shows no node ${disk.sourceNode}`);
  const granularity = layers[0].bitmap.granularity;
  return [
    {
      type: 'block-dirty-bitmap-add',
      data: {
        node: disk.sourceNode,
        name: temp,
        persistent: false,
        disabled: true,
        ...(granularity ? { granularity } : {}),
      },
    },
    {
      type: 'block-dirty-bitmap-merge',
      data: {
        node: disk.sourceNode,
        target: temp,
        bitmaps: layers.map((l) => ({ node: l.node, name: disk.since })),
      },
    },
  ];
}

/** One disk's QEMU objects; each field is cleared once its object is gone. */
interface Attached {
  disk: QmpDisk;
  opened?: OpenedTarget;
  fdset?: number;
  node?: string;
  job: string;
  /** Incremental: the temporary changed-blocks bitmap, once the transaction may have added it. */
  changed?: string;
}

/**
 * The target node's options: the format layer over the protocol layer the driver described, either
 * a descriptor QEMU received (`/dev/fdset/N`) or the driver's own network node. With a descriptor,
 * no-flush: QEMU's qcow2 layer would otherwise sync the file on every metadata update, and volback
 * syncs the descriptor once before the commit; a network node keeps QEMU's flush on close. A qcow2
 * target never opens a backing file (`backing: null`): an incremental overlay's header names its
 * parent volume, which QEMU need not reach, and the copy writes whole clusters, so nothing below is
 * ever read. A raw target (a clone that already shows its parent's data) has no backing to open.
 */
function targetNode(name: string, destination: CopyTarget, fdset?: number): Record<string, unknown> {
  const { qemu } = destination;
  const noBacking = destination.format === 'qcow2' ? { backing: null } : {};
  // An encrypted qcow2 target opens with its chain's key, a secret object addSecrets added.
  const key = destination.key ? { encrypt: { format: 'luks', 'key-secret': destination.key.id } } : {};
  if (qemu.via === 'fd') {
    return {
      driver: destination.format,
      'node-name': name,
      cache: { 'no-flush': true },
      ...noBacking,
      ...key,
      file: { driver: qemu.protocol, filename: `/dev/fdset/${fdset}`, cache: { 'no-flush': true } },
    };
  }
  return { driver: destination.format, 'node-name': name, ...noBacking, ...key, file: qemu.node };
}

async function attachTarget(domain: Domain, tag: string, disk: QmpDisk): Promise<Attached> {
  const name = `${QMP_NAME_PREFIX}${tag}-${disk.target}`;
  const attached: Attached = { disk, job: name };
  try {
    if (disk.destination.qemu.via === 'fd') {
      // QEMU gets the open file, not a path: it needs no access of its own to the pool.
      attached.opened = await disk.destination.qemu.open();
      const added = await domain.qmp<{ 'fdset-id': number }>('add-fd', { opaque: name }, [
        attached.opened.fd,
      ]);
      attached.fdset = added['fdset-id'];
    }
    await domain.qmp('blockdev-add', targetNode(name, disk.destination, attached.fdset));
    attached.node = name;
    return attached;
  } catch (err) {
    await detachTarget(domain, attached, 'discard');
    throw err;
  }
}

/**
 * Removes what attachTarget created, as far as it is still there. `commit`: the copy is complete —
 * closing the node writes qcow2's cached metadata into the target, then the driver makes the
 * target durable; a failure throws. `discard`: best effort, failures are logged.
 */
async function detachTarget(domain: Domain, attached: Attached, mode: 'commit' | 'discard'): Promise<void> {
  const step = async (what: string, run: () => Promise<unknown>): Promise<boolean> => {
    try {
      await run();
      return true;
    } catch (err) {
      if (mode === 'commit') throw err;
      log.warn(`could not remove ${what}: ${(err as Error).message}`);
      return false;
    }
  };
  let committed = false;
  try {
    const node = attached.node;
    if (node && (await step(`node ${node}`, () => domain.qmp('blockdev-del', { 'node-name': node }))))
      attached.node = undefined;
    const fdset = attached.fdset;
    // A paused QEMU (7.2) keeps the set listed, file open, until a later remove-fd while it runs.
    if (
      fdset !== undefined &&
      (await step(`fd set ${fdset}`, () => domain.qmp('remove-fd', { 'fdset-id': fdset })))
    )
      attached.fdset = undefined;
    committed = mode === 'commit';
  } finally {
    const opened = attached.opened;
    attached.opened = undefined;
    await opened?.close(committed);
  }
}

const ourJobs = async (domain: Domain, ids: ReadonlySet<string>): Promise<QueryJob[]> =>
  (await domain.qmp<QueryJob[]>('query-jobs')).filter((j) => ids.has(j.id));

/**
 * Brings jobs to an end and dismisses them: cancels the running ones, waits until each concluded.
 * Returns false when QEMU still lists one after `timeoutMs` (it is then still writing).
 */
async function settleJobs(domain: Domain, ids: ReadonlySet<string>, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (const j of (await ourJobs(domain, ids)).filter((x) => x.status !== 'concluded'))
    await domain.qmp('job-cancel', { id: j.id }).catch(() => undefined);
  for (;;) {
    const jobs = await ourJobs(domain, ids);
    for (const j of jobs.filter((x) => x.status === 'concluded'))
      await domain.qmp('job-dismiss', { id: j.id }).catch(() => undefined);
    if (jobs.every((j) => j.status === 'concluded')) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

/**
 * Copies every disk into its destination — in full, or (`since`) what changed since that checkpoint —
 * all from one point in time, and creates the new checkpoint at that same point: one transaction
 * adds the new checkpoint's bitmaps, builds each incremental's temporary changed-blocks bitmap and
 * starts every copy. Resolves once every copy is on stable storage and the checkpoint is known to
 * libvirt. Rejects with BitmapChainBroken before anything is created when a parent checkpoint's
 * bitmap cannot be trusted, with ERR_CANCELLED (signal) or ERR_JOB_FAILED after stopping its jobs
 * and removing every QEMU object it created, bitmaps included; the destination volumes are the
 * caller's. The parent checkpoints' bitmaps are never changed.
 */
export async function runQmpJob(
  domain: Domain,
  disks: readonly QmpDisk[],
  options: QmpJobOptions,
): Promise<void> {
  if (options.signal?.aborted)
    throw new VolbackError(ErrorCodes.CANCELLED, 'backup cancelled before it started');
  const checkpoint = options.checkpoint;
  const incremental = disks.filter((d) => d.since);
  const nodes = incremental.length
    ? await domain.qmp<NodeInfo[]>('query-named-block-nodes', { flat: true })
    : [];
  // Checked before anything is attached: a broken chain means a full, with nothing to undo in QEMU.
  const changed = new Map(
    incremental.map((d) => {
      const temp = changedBitmapName(options.tag, d.target);
      return [d.target, { temp, actions: changedBlocksActions(nodes, { ...d, since: d.since! }, temp) }];
    }),
  );
  const attached: Attached[] = [];
  let transactionSent = false;
  let succeeded = false;
  const secrets = await addSecrets(domain, disks);
  try {
    for (const disk of disks) attached.push(await attachTarget(domain, options.tag, disk));
    const actions = (perf: boolean): QmpAction[] => [
      ...disks
        .filter((d) => d.bitmap && checkpoint)
        .map((d) => ({
          type: 'block-dirty-bitmap-add',
          data: { node: d.sourceNode, name: checkpoint!.name, persistent: true },
        })),
      ...[...changed.values()].flatMap((c) => c.actions),
      ...attached.map((a) => ({
        type: 'blockdev-backup',
        data: {
          'job-id': a.job,
          device: a.disk.sourceNode,
          target: a.node,
          // incremental: only what the temporary bitmap marks (libvirt's push job uses the same mode).
          ...(a.changed ? { sync: 'incremental', bitmap: a.changed } : { sync: 'full' }),
          'auto-dismiss': false,
          ...(a.disk.compress ? { compress: true } : {}),
          // copy_file_range: the kernel copies, no bounce buffer per chunk in QEMU's main loop.
          ...(perf && !a.disk.compress ? { 'x-perf': { 'use-copy-range': true } } : {}),
        },
      })),
    ];
    for (const a of attached) a.changed = changed.get(a.disk.target)?.temp;
    // One transaction: every copy and every bitmap start at the same instant (the guest frozen, if asked).
    transactionSent = true;
    await (options.startGate ?? noGate)(async () => {
      try {
        await domain.qmp('transaction', { actions: actions(true) });
      } catch (err) {
        // x-perf is experimental: a QEMU without it refuses the whole transaction, so nothing started.
        if (!(err instanceof QmpError && err.desc.includes('x-perf'))) throw err;
        log.warn(`QEMU has no x-perf copy offload (${err.desc}); copying through bounce buffers`);
        await domain.qmp('transaction', { actions: actions(false) });
      }
    });
    await waitForJobs(domain, attached, options);
    await removeChangedBitmaps(domain, attached);
    for (const a of attached) await detachTarget(domain, a, 'commit');
    if (checkpoint) {
      const flags =
        virDomainCheckpointCreateFlags.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE |
        virDomainCheckpointCreateFlags.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE;
      (await domain.createCheckpoint(checkpoint.xml, flags)).free();
    }
    succeeded = true;
  } finally {
    if (!succeeded) await abandon(domain, attached, transactionSent ? disks : [], checkpoint?.name);
    await removeSecrets(domain, secrets);
  }
}

/**
 * Adds the secret objects the targets' nodes name (a network pool's key, an encrypted volume's), once each. An object of
 * the same id left by a run that died is replaced: its nodes were swept before this run began.
 */
async function addSecrets(domain: Domain, disks: readonly QmpDisk[]): Promise<string[]> {
  const secrets = new Map(
    disks
      .flatMap((d) => [
        ...(d.destination.qemu.via === 'node' ? (d.destination.qemu.secrets ?? []) : []),
        ...(d.destination.key ? [d.destination.key] : []),
      ])
      .map((s) => [s.id, s.value]),
  );
  const added: string[] = [];
  try {
    for (const [id, value] of secrets) {
      await domain.qmp('object-del', { id }).catch(() => undefined);
      await domain.addSecretObject(id, value);
      added.push(id);
    }
  } catch (err) {
    await removeSecrets(domain, added);
    throw err;
  }
  return added;
}

async function removeSecrets(domain: Domain, ids: readonly string[]): Promise<void> {
  for (const id of ids)
    await domain
      .qmp('object-del', { id })
      .catch((err: Error) => log.warn(`could not remove secret object ${id}: ${err.message}`));
}

/** Removes the temporary changed-blocks bitmaps of finished jobs; one QEMU still holds is logged. */
async function removeChangedBitmaps(domain: Domain, attached: readonly Attached[]): Promise<void> {
  for (const a of attached) {
    const name = a.changed;
    if (!name) continue;
    try {
      await domain.qmp('block-dirty-bitmap-remove', { node: a.disk.sourceNode, name });
      a.changed = undefined;
    } catch (err) {
      // Already gone (the transaction never ran) is fine; anything else is the next sweep's.
      if (!(err instanceof QmpError && /not found/i.test(err.desc)))
        log.warn(`could not remove bitmap ${name} of ${a.disk.target}: ${(err as Error).message}`);
      else a.changed = undefined;
    }
  }
}

/**
 * Undoes a run that did not succeed: its jobs stopped and dismissed (a failed poll or a lost reply
 * may have left them running), the temporary bitmaps, target nodes and fd sets removed, the new
 * checkpoint's bitmaps removed. Never throws; what it cannot remove is logged and left to the next
 * backup's sweep.
 */
async function abandon(
  domain: Domain,
  attached: readonly Attached[],
  started: readonly QmpDisk[],
  bitmap: string | undefined,
): Promise<void> {
  if (started.length) {
    const settled = await settleJobs(domain, new Set(attached.map((a) => a.job))).catch(() => false);
    if (!settled)
      log.warn(
        `backup jobs ${attached.map((a) => a.job).join(', ')} may still be running; the next backup removes them`,
      );
    await removeChangedBitmaps(domain, attached).catch(() => undefined);
  }
  for (const a of [...attached].reverse()) await detachTarget(domain, a, 'discard');
  if (!bitmap) return;
  for (const d of started.filter((x) => x.bitmap)) {
    await domain
      .qmp('block-dirty-bitmap-remove', { node: d.sourceNode, name: bitmap })
      .catch((err: Error) => log.warn(`could not remove bitmap ${bitmap} of ${d.target}: ${err.message}`));
  }
}

/**
 * Polls the jobs to their end, reporting progress, and dismisses them. On abort, or when one job
 * fails (the first failure is the cause; the others then end as cancelled), the rest are stopped.
 */
async function waitForJobs(
  domain: Domain,
  attached: readonly Attached[],
  options: QmpJobOptions,
): Promise<void> {
  const ids = new Set(attached.map((a) => a.job));
  const targetOf = new Map(attached.map((a) => [a.job, a.disk.target]));
  let cancelled = options.signal?.aborted ?? false;
  const cancel = (): void => void (cancelled = true);
  options.signal?.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const jobs = await ourJobs(domain, ids);
      const perDisk: DiskProgress[] = jobs.map((j) => ({
        target: targetOf.get(j.id)!,
        bytesDone: j['current-progress'],
        bytesTotal: j['total-progress'],
      }));
      const sum = (k: 'bytesDone' | 'bytesTotal'): number => perDisk.reduce((s, d) => s + d[k], 0);
      options.onProgress?.({ bytesDone: sum('bytesDone'), bytesTotal: sum('bytesTotal'), disks: perDisk });
      const failure = jobs.find((j) => j.error);
      if (cancelled || failure || jobs.length !== ids.size) {
        if (cancelled) log.info(`cancelling the backup jobs ${[...ids].join(', ')}`);
        await settleJobs(domain, ids);
        if (cancelled) throw new VolbackError(ErrorCodes.CANCELLED, 'backup cancelled', { fault: 'user' });
        const why = failure ? `${targetOf.get(failure.id)}: ${failure.error}` : 'a job vanished';
        throw new VolbackError(ErrorCodes.JOB_FAILED, `backup job failed: ${why}`);
      }
      if (jobs.every((j) => j.status === 'concluded')) {
        for (const j of jobs) await domain.qmp('job-dismiss', { id: j.id });
        return;
      }
      await sleep(options.pollMs ?? 250);
    }
  } finally {
    options.signal?.removeEventListener('abort', cancel);
  }
}

/**
 * What volback runs left in QEMU, read only: jobs and block nodes (named QMP_NAME_PREFIX + tag) and
 * the bitmaps of those runs' checkpoints that no committed backup uses.
 */
export async function findQmpLeftovers(
  domain: Domain,
  committed: (checkpoint: string) => boolean,
): Promise<string[]> {
  const tags = new Set<string>();
  const tagged = (name: string): boolean => {
    const tag = new RegExp(`^${QMP_NAME_PREFIX}([0-9a-f]{8})-`).exec(name)?.[1];
    if (tag) tags.add(tag);
    return tag !== undefined;
  };
  const jobs = (await domain.qmp<QueryJob[]>('query-jobs')).map((j) => j.id).filter(tagged);
  const nodes = await domain.qmp<NodeInfo[]>('query-named-block-nodes', { flat: true });
  const ours = nodes.map((n) => n['node-name']).filter(tagged);
  // A run that died after its nodes were gone may still have left its temporary bitmaps.
  for (const b of nodes.flatMap((n) => n['dirty-bitmaps'] ?? [])) {
    const tag = b.name && changedBitmapTag(b.name);
    if (tag) tags.add(tag);
  }
  const bitmaps = nodes.flatMap((n) =>
    (n['dirty-bitmaps'] ?? []).flatMap((b) =>
      b.name && !committed(b.name) && [...tags].some((t) => b.name!.startsWith(`${QMP_NAME_PREFIX}${t}`))
        ? [b.name]
        : [],
    ),
  );
  return [
    ...new Set([
      ...jobs.map((j) => `job ${j}`),
      ...ours.map((n) => `node ${n}`),
      ...bitmaps.map((b) => `bitmap ${b}`),
    ]),
  ];
}

/**
 * Removes what a volback process that died mid-copy left in QEMU: its jobs, target nodes and
 * temporary bitmaps (named QMP_NAME_PREFIX + tag), and fd sets of that prefix. Called under the domain's backup lock, so none
 * of them belongs to a live volback run. Returns the tags (set id prefixes) of the interrupted runs:
 * their checkpoints and target volumes are the caller's to remove, once it knows no committed backup
 * uses them. Fd sets alone name no run: QEMU 7.2 keeps removed fd sets of a paused domain listed.
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
  }
  if (jobs.length && !(await settleJobs(domain, new Set(jobs.map((j) => j.id)), 30_000))) {
    throw new VolbackError(
      ErrorCodes.CONFLICT,
      `backup jobs left by an interrupted volback run (${jobs.map((j) => j.id).join(', ')}) are still winding down`,
      { fault: 'user', hint: 'try again in a minute' },
    );
  }
  const nodes = await domain.qmp<NodeInfo[]>('query-named-block-nodes', { flat: true });
  for (const n of nodes) {
    for (const name of (n['dirty-bitmaps'] ?? []).flatMap((b) => (b.name ? [b.name] : []))) {
      const tag = changedBitmapTag(name);
      if (!tag) continue;
      log.warn(`removing bitmap ${name} left by an interrupted volback run`);
      tags.add(tag);
      await domain.qmp('block-dirty-bitmap-remove', { node: n['node-name'], name });
    }
  }
  for (const n of nodes.filter((x) => x['node-name'].startsWith(QMP_NAME_PREFIX))) {
    log.warn(`removing block node ${n['node-name']} left by an interrupted volback run`);
    tagOf(n['node-name']);
    await domain.qmp('blockdev-del', { 'node-name': n['node-name'] });
  }
  const fdsets =
    await domain.qmp<Array<{ 'fdset-id': number; fds: Array<{ opaque?: string }> }>>('query-fdsets');
  for (const set of fdsets.filter((s) => s.fds.some((f) => f.opaque?.startsWith(QMP_NAME_PREFIX)))) {
    await domain.qmp('remove-fd', { 'fdset-id': set['fdset-id'] }).catch(() => undefined);
  }
  // An encrypted run's key object (keyObjectId): its nodes are gone, so it holds only the passphrase.
  const objects = await domain
    .qmp<Array<{ name: string }>>('qom-list', { path: '/objects' })
    .catch((err: Error) => {
      log.warn(`could not list QEMU's objects for a left secret: ${err.message}`);
      return [];
    });
  for (const o of objects.filter((x) => x.name.startsWith(`${QMP_NAME_PREFIX}key-`))) {
    log.warn(`removing secret object ${o.name} left by an interrupted volback run`);
    await domain.qmp('object-del', { id: o.name }).catch(() => undefined);
  }
  return tags;
}

/**
 * Removes the checkpoints (from libvirt if the run got that far, else its bitmaps) of interrupted
 * runs, named volback-<set id> with the set id starting with a tag — except those `committed` says
 * a backup in the catalog uses.
 */
export async function removeInterruptedCheckpoints(
  domain: Domain,
  tags: ReadonlySet<string>,
  committed: (checkpoint: string) => boolean,
): Promise<void> {
  if (!tags.size) return;
  // Running jobs also show anonymous bitmaps (their copy bitmaps): those have no name.
  const interrupted = (name?: string): name is string =>
    !!name && !committed(name) && [...tags].some((tag) => name.startsWith(`${QMP_NAME_PREFIX}${tag}`));
  const leftBitmaps = async (): Promise<Array<{ node: string; name: string }>> =>
    (await domain.qmp<NodeInfo[]>('query-named-block-nodes', { flat: true })).flatMap((n) =>
      (n['dirty-bitmaps'] ?? []).flatMap((b) =>
        interrupted(b.name) ? [{ node: n['node-name'], name: b.name }] : [],
      ),
    );
  for (const name of new Set((await leftBitmaps()).map((b) => b.name))) {
    log.warn(`removing checkpoint ${name} of an interrupted volback run`);
    await removeCheckpoint(domain, name);
  }
  // Bitmaps libvirt never heard of (the run died before registering its checkpoint).
  for (const b of await leftBitmaps()) await domain.qmp('block-dirty-bitmap-remove', b);
}
