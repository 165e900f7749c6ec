// Domain: a libvirt domain handle — lifecycle, XML, checkpoints, backup jobs, job stats, QEMU monitor.
import { Checkpoint } from './checkpoint';
import { virDomainQemuMonitorCommandFlags } from './constants.generated';
import { invoke, LibvirtObject } from './handle';
import type { NativeHandle } from './native';

export interface DomainState {
  /** virDomainState */
  state: number;
  /** one of the virDomain*Reason enums matching `state` */
  reason: number;
}

export interface DomainInfo {
  state: number;
  maxMemKiB: number;
  memoryKiB: number;
  nrVirtCpu: number;
  cpuTimeNs: number;
}

export interface BlockInfo {
  capacity: number;
  allocation: number;
  physical: number;
}

export interface BlockJobInfo {
  /** virDomainBlockJobType */
  type: number;
  bandwidth: number;
  cur: number;
  end: number;
}

/** Typed parameters as a plain object; numbers above 2^53 lose precision. */
export type TypedParams = Record<string, number | string | boolean>;

export interface JobStats {
  /** virDomainJobType (NONE, BOUNDED, UNBOUNDED, COMPLETED, FAILED, CANCELLED) */
  type: number;
  /** e.g. { operation, time_elapsed, disk_total, disk_processed, ... } (VIR_DOMAIN_JOB_* names) */
  stats: TypedParams;
}

export class Domain extends LibvirtObject {
  /** @internal */
  constructor(handle: NativeHandle, label = '') {
    super(handle, label);
  }

  private args(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { domain: this.label, ...extra };
  }

  getName(): Promise<string> {
    return invoke('virDomainGetName', this.args(), (n) => n.domainGetName(this.handle));
  }

  getUUIDString(): Promise<string> {
    return invoke('virDomainGetUUIDString', this.args(), (n) => n.domainGetUUIDString(this.handle));
  }

  /** The running domain's id; rejects for an inactive domain. */
  getID(): Promise<number> {
    return invoke('virDomainGetID', this.args(), (n) => n.domainGetID(this.handle));
  }

  getState(): Promise<DomainState> {
    return invoke('virDomainGetState', this.args(), (n) => n.domainGetState(this.handle));
  }

  getInfo(): Promise<DomainInfo> {
    return invoke('virDomainGetInfo', this.args(), (n) => n.domainGetInfo(this.handle));
  }

  /** flags: virDomainXMLFlags (SECURE, INACTIVE, UPDATE_CPU, MIGRATABLE). */
  getXMLDesc(flags = 0): Promise<string> {
    return invoke('virDomainGetXMLDesc', this.args({ flags }), (n) => n.domainGetXMLDesc(this.handle, flags));
  }

  isActive(): Promise<boolean> {
    return invoke('virDomainIsActive', this.args(), (n) => n.domainIsActive(this.handle));
  }

  isPersistent(): Promise<boolean> {
    return invoke('virDomainIsPersistent', this.args(), (n) => n.domainIsPersistent(this.handle));
  }

  /** Starts a defined domain. flags: virDomainCreateFlags (e.g. VIR_DOMAIN_START_PAUSED). */
  create(flags = 0): Promise<void> {
    return invoke('virDomainCreateWithFlags', this.args({ flags }), (n) =>
      n.domainCreateWithFlags(this.handle, flags),
    );
  }

  /** Hard stop. flags: virDomainDestroyFlagsValues (GRACEFUL). */
  destroy(flags = 0): Promise<void> {
    return invoke('virDomainDestroyFlags', this.args({ flags }), (n) =>
      n.domainDestroyFlags(this.handle, flags),
    );
  }

  /** Lets a paused domain's vCPUs run. */
  resume(): Promise<void> {
    return invoke('virDomainResume', this.args(), (n) => n.domainResume(this.handle));
  }

  /** Pauses every vCPU; the disks stay attached and QEMU keeps running. */
  suspend(): Promise<void> {
    return invoke('virDomainSuspend', this.args(), (n) => n.domainSuspend(this.handle));
  }

  /** flags: virDomainUndefineFlagsValues (e.g. CHECKPOINTS_METADATA, NVRAM). */
  undefine(flags = 0): Promise<void> {
    return invoke('virDomainUndefineFlags', this.args({ flags }), (n) =>
      n.domainUndefineFlags(this.handle, flags),
    );
  }

  /** disk: target ("vda") or source path. */
  getBlockInfo(disk: string): Promise<BlockInfo> {
    return invoke('virDomainGetBlockInfo', this.args({ disk }), (n) =>
      n.domainGetBlockInfo(this.handle, disk, 0),
    );
  }

  /**
   * The block job running on one disk, or null. A backup job shows here per disk (type BACKUP, `cur`
   * and `end` in bytes), which the domain-wide job stats only give summed over all disks.
   */
  getBlockJobInfo(disk: string, flags = 0): Promise<BlockJobInfo | null> {
    return invoke('virDomainGetBlockJobInfo', this.args({ disk, flags }), (n) =>
      n.domainGetBlockJobInfo(this.handle, disk, flags),
    );
  }

  /**
   * Starts copying into the disk's top image everything its backing chain provides (QEMU's
   * block-stream); when the job completes, libvirt drops the chain. bandwidth: MiB/s, or bytes/s with
   * VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES; 0 is unlimited. flags: virDomainBlockPullFlags.
   */
  blockPull(disk: string, bandwidth = 0, flags = 0): Promise<void> {
    return invoke('virDomainBlockPull', this.args({ disk, bandwidth, flags }), (n) =>
      n.domainBlockPull(this.handle, disk, bandwidth, flags),
    );
  }

  /** Changes the running block job's bandwidth. flags: virDomainBlockJobSetSpeedFlags. */
  blockJobSetSpeed(disk: string, bandwidth: number, flags = 0): Promise<void> {
    return invoke('virDomainBlockJobSetSpeed', this.args({ disk, bandwidth, flags }), (n) =>
      n.domainBlockJobSetSpeed(this.handle, disk, bandwidth, flags),
    );
  }

  /** Stops the disk's block job (a pull keeps what it copied). flags: virDomainBlockJobAbortFlags. */
  blockJobAbort(disk: string, flags = 0): Promise<void> {
    return invoke('virDomainBlockJobAbort', this.args({ disk, flags }), (n) =>
      n.domainBlockJobAbort(this.handle, disk, flags),
    );
  }

  /** flags: virDomainGetJobStatsFlags (e.g. VIR_DOMAIN_JOB_STATS_COMPLETED, KEEP_COMPLETED). */
  getJobStats(flags = 0): Promise<JobStats> {
    return invoke('virDomainGetJobStats', this.args({ flags }), (n) =>
      n.domainGetJobStats(this.handle, flags),
    );
  }

  /**
   * Aborts the domain's current job (e.g. a backup). With flags, uses virDomainAbortJobFlags
   * (libvirt ≥ 8.5; flags: virDomainAbortJobFlagsValues such as POSTCOPY).
   */
  abortJob(flags?: number): Promise<void> {
    if (flags === undefined)
      return invoke('virDomainAbortJob', this.args(), (n) => n.domainAbortJob(this.handle));
    return invoke('virDomainAbortJobFlags', this.args({ flags }), (n) =>
      n.domainAbortJobFlags(this.handle, flags),
    );
  }

  /**
   * Starts a backup job (push or pull, per backupXml) and optionally a checkpoint atomically.
   * Resolves once the job is started; completion arrives as a 'jobCompleted' domain event or via
   * getJobStats. flags: virDomainBackupBeginFlags (REUSE_EXTERNAL).
   */
  backupBegin(backupXml: string, checkpointXml: string | null = null, flags = 0): Promise<void> {
    return invoke('virDomainBackupBegin', this.args({ withCheckpoint: checkpointXml !== null, flags }), (n) =>
      n.domainBackupBegin(this.handle, backupXml, checkpointXml, flags),
    );
  }

  /** The running backup job's XML (with defaults and ports filled in). */
  backupGetXMLDesc(): Promise<string> {
    return invoke('virDomainBackupGetXMLDesc', this.args(), (n) => n.domainBackupGetXMLDesc(this.handle, 0));
  }

  /** flags: virDomainCheckpointCreateFlags (REDEFINE, QUIESCE, REDEFINE_VALIDATE). */
  async createCheckpoint(xml: string, flags = 0): Promise<Checkpoint> {
    const h = await invoke('virDomainCheckpointCreateXML', this.args({ flags }), (n) =>
      n.domainCheckpointCreateXML(this.handle, xml, flags),
    );
    return new Checkpoint(h);
  }

  /** flags: virDomainCheckpointListFlags. */
  async listAllCheckpoints(flags = 0): Promise<Checkpoint[]> {
    const hs = await invoke('virDomainListAllCheckpoints', this.args({ flags }), (n) =>
      n.domainListAllCheckpoints(this.handle, flags),
    );
    return hs.map((h) => new Checkpoint(h));
  }

  async lookupCheckpointByName(name: string): Promise<Checkpoint> {
    const h = await invoke('virDomainCheckpointLookupByName', this.args({ name }), (n) =>
      n.domainCheckpointLookupByName(this.handle, name, 0),
    );
    return new Checkpoint(h, name);
  }

  /**
   * Freezes the guest's filesystems through the QEMU guest agent: every mounted one, or only
   * `mountpoints`. Resolves how many were frozen. Fails when the domain has no agent channel or
   * the agent does not answer within the agent response timeout (setAgentResponseTimeout).
   */
  fsFreeze(mountpoints: readonly string[] = []): Promise<number> {
    return invoke('virDomainFSFreeze', this.args({ mountpoints: mountpoints.join(',') }), (n) =>
      n.domainFSFreeze(this.handle, [...mountpoints], 0),
    );
  }

  /**
   * Thaws what fsFreeze froze; thawing a guest that is not frozen does nothing. libvirt 9.0's QEMU
   * driver refuses `mountpoints` (VIR_ERR_ARGUMENT_UNSUPPORTED): the agent thaws everything.
   */
  fsThaw(mountpoints: readonly string[] = []): Promise<number> {
    return invoke('virDomainFSThaw', this.args({ mountpoints: mountpoints.join(',') }), (n) =>
      n.domainFSThaw(this.handle, [...mountpoints], 0),
    );
  }

  /**
   * One QEMU guest agent command (libvirt-qemu): sends {execute, arguments} and resolves the parsed
   * `return` member, waiting at most `timeoutSeconds` (-2: libvirt's default). Marks the domain
   * tainted (custom-ga-command) in libvirt.
   */
  async agentCommand<T = unknown>(
    execute: string,
    args?: Record<string, unknown>,
    timeoutSeconds = -2,
  ): Promise<T> {
    const cmd = JSON.stringify(args ? { execute, arguments: args } : { execute });
    const text = await invoke('virDomainQemuAgentCommand', this.args({ execute, timeoutSeconds }), (n) =>
      n.domainQemuAgentCommand(this.handle, cmd, timeoutSeconds, 0),
    );
    return (JSON.parse(text) as { return?: T }).return as T;
  }

  /**
   * How long libvirt waits for each guest agent answer on this domain, in seconds
   * (virDomainAgentResponseTimeoutValues: -2 libvirt's default, -1 forever, 0 not at all).
   */
  setAgentResponseTimeout(seconds: number): Promise<void> {
    return invoke('virDomainAgentSetResponseTimeout', this.args({ seconds }), (n) =>
      n.domainAgentSetResponseTimeout(this.handle, seconds, 0),
    );
  }

  /**
   * Raw QEMU monitor pass-through (libvirt-qemu). Marks the domain tainted (custom-monitor).
   * Default is QMP JSON text; `{ hmp: true }` sends a human monitor command.
   */
  qemuMonitorCommand(cmd: string, opts: { hmp?: boolean } = {}): Promise<string> {
    const flags = opts.hmp ? virDomainQemuMonitorCommandFlags.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP : 0;
    return invoke('virDomainQemuMonitorCommand', this.args({ cmd: cmd.slice(0, 200), flags }), (n) =>
      n.domainQemuMonitorCommand(this.handle, cmd, flags),
    );
  }

  /**
   * Adds a QEMU `secret` object holding `value` (base64 text, e.g. a cephx key) through the monitor,
   * never argv; the debug log names only its id. A QMP error rejects with QmpError.
   */
  async addSecretObject(id: string, value: Buffer): Promise<void> {
    const args = { 'qom-type': 'secret', id, format: 'base64', data: value.toString('latin1') };
    const cmd = JSON.stringify({ execute: 'object-add', arguments: args });
    const text = await invoke(
      'virDomainQemuMonitorCommand',
      this.args({ cmd: `object-add secret ${id} (value not logged)` }),
      (n) => n.domainQemuMonitorCommand(this.handle, cmd, 0),
    );
    const reply = JSON.parse(text) as { error?: { class: string; desc: string } };
    if (reply.error) throw new QmpError('object-add', reply.error.class, reply.error.desc);
  }

  /**
   * QMP: sends {execute, arguments} and returns the parsed `return` member; a QMP error reply
   * rejects with QmpError. `fds` are passed along to QEMU (virDomainQemuMonitorCommandWithFiles),
   * e.g. for `add-fd`; the caller keeps and closes its own copies.
   */
  async qmp<T = unknown>(execute: string, args?: Record<string, unknown>, fds: number[] = []): Promise<T> {
    const cmd = JSON.stringify(args ? { execute, arguments: args } : { execute });
    const text = fds.length
      ? await invoke('virDomainQemuMonitorCommandWithFiles', this.args({ cmd: cmd.slice(0, 200) }), (n) =>
          n.domainQemuMonitorCommandWithFiles(this.handle, cmd, fds, 0),
        )
      : await this.qemuMonitorCommand(cmd);
    const reply = JSON.parse(text) as { return?: T; error?: { class: string; desc: string } };
    if (reply.error) throw new QmpError(execute, reply.error.class, reply.error.desc);
    return reply.return as T;
  }
}

/** QEMU answered a QMP command with an error. */
export class QmpError extends Error {
  constructor(
    readonly execute: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QEMU refused ${execute}: ${desc}`);
    this.name = 'QmpError';
  }
}
