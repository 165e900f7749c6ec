// Plans one backup run: which disks, full or incremental, where each goes and under what name.
// Pure: the coordinator gathers the facts (domain disks, image facts, base set) and executes the plan.
import { ErrorCodes, VolbackError } from '../../errors';
import type {
  BackupDefinition,
  BackupKind,
  BackupSet,
  Compression,
  DiskBackup,
  VolumeFormat,
} from '../../model';
import type { PoolDriverCapabilities } from '../../pool/driver';
import { maxImageBytes } from '../../tools/qemu-img';
import { backupVolumeName, reservedNameReason } from '../../pool/volume-names';
import type { DomainDisk } from '../../xml/libvirt-domain';
import {
  resolveBase,
  setOutcome,
  selectDisks,
  type BaseState,
  type DiskFacts,
} from '../shared/disk-selection';

export interface PlanInput {
  domain: { name: string; uuid: string; disks: DomainDisk[] };
  definition: BackupDefinition;
  facts: Record<string, DiskFacts>;
  base: BaseState;
  /**
   * `pool`: where disks without a target go (the resolved location); `format`: the preferred full
   * format; `compression`: the configured default when the definition does not say.
   */
  defaults: { pool: string; format: VolumeFormat; compression?: Compression };
  /**
   * What the driver of each pool a disk could go to declares: every target pool, and each pool of
   * the base's volumes that still exists (undefined for one that is gone).
   */
  capabilities: (pool: string) => PoolDriverCapabilities | undefined;
  setId: string;
  createdAt: Date;
}

export interface PlannedDisk {
  target: string;
  sourcePath: string;
  sourceFormat: string;
  virtualSize: number;
  /** Upper bound of the bytes this disk's backup writes (for the room check). */
  maxBytes: number;
  pool: string;
  volumeName: string;
  format: VolumeFormat;
  kind: BackupKind;
  /** Incremental disks: the parent disk backup, whose volume this one builds on. */
  parent?: DiskBackup;
  /** True when the new checkpoint records a bitmap for this disk (qcow2 compat 1.1). */
  bitmap: boolean;
}

export interface BackupPlan {
  setId: string;
  createdAt: Date;
  kind: BackupKind;
  parent?: BackupSet;
  /** Set when an incremental was asked for (or possible) but a full is taken, with why. */
  fallbackReason?: string;
  /** Name of the checkpoint the job creates; absent when no disk can carry a bitmap. */
  checkpointName?: string;
  /** Every volume of the run is qcow2 written with zstd-compressed clusters (docs/compression.md). */
  compression?: 'zstd';
  disks: PlannedDisk[];
  skipped: Array<{ target: string; reason: string }>;
  /** Human notes for the log (disks without bitmap support, per-disk fulls in an incremental). */
  notes: string[];
}

/**
 * The format an incremental on `parent` takes in its pool, or why that pool cannot store one: the
 * driver's declared storage decides (an overlay has the overlay's format, a clone its parent's).
 * Which engine can write the pool is the coordinator's choice (engine.ts), not the planner's. Pure.
 */
export function incrementalFormat(
  caps: PoolDriverCapabilities,
  parent: VolumeFormat,
): { format: VolumeFormat } | { refused: string } {
  const storage = caps.incremental;
  if (storage.kind === 'none') return { refused: 'its pool stores only full backups' };
  return { format: storage.kind === 'overlay' ? storage.format : parent };
}

/** A target pool's capabilities; the coordinator read every target pool before planning. */
function targetCapabilities(capabilities: PlanInput['capabilities'], pool: string): PoolDriverCapabilities {
  const caps = capabilities(pool);
  if (!caps)
    throw new VolbackError(ErrorCodes.NOT_FOUND, `storage pool '${pool}' does not exist`, { fault: 'user' });
  return caps;
}

/** The format of a full in a pool: the one asked for, else the preferred one if the pool takes it. */
function fullFormat(
  caps: PoolDriverCapabilities,
  pool: string,
  target: string,
  requested: VolumeFormat | undefined,
  preferred: VolumeFormat,
): VolumeFormat {
  if (requested && !caps.fullFormats.includes(requested)) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `disk ${target} asks for a ${requested} volume, but pool ${pool} stores full backups as ${caps.fullFormats.join(' or ')}`,
      { fault: 'user' },
    );
  }
  return requested ?? (caps.fullFormats.includes(preferred) ? preferred : caps.fullFormats[0]);
}

/**
 * Refuses a compressed backup of `target` into `pool` unless its driver can make compressed
 * volumes and the volume is qcow2: raw images have no clusters to compress.
 */
function checkCompressible(
  caps: PoolDriverCapabilities,
  pool: string,
  target: string,
  format: VolumeFormat,
): void {
  const refuse = (why: string): never => {
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `cannot compress the backup of disk ${target}: ${why}`,
      {
        fault: 'user',
        hint: 'back it up into a dir pool, or without compression (--compress none, <compression>none</compression>)',
      },
    );
  };
  if (!caps.compressedClusters) refuse(`pool ${pool} cannot hold compressed qcow2 clusters`);
  if (format !== 'qcow2')
    refuse(`its volume in pool ${pool} would be ${format}, and only qcow2 holds compressed clusters`);
}

/** Plans the run, or throws ERR_INVALID_INPUT naming the definition's mistake. */
export function planBackup(input: PlanInput): BackupPlan {
  const { domain, definition, facts, base, defaults, capabilities, setId, createdAt } = input;
  const { selected, skipped } = selectDisks(domain, definition, facts);
  for (const { disk, selection } of selected) {
    const chosen = selection?.target?.volume;
    const reserved = chosen === undefined ? undefined : reservedNameReason(chosen);
    if (reserved) {
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `the definition names volume '${chosen}' for disk ${disk.target}, a name volback reserves: ${reserved}`,
        {
          fault: 'user',
          hint: 'choose another name, or leave <target volume> out for volback to name it (docs/naming.md)',
        },
      );
    }
  }
  const { parent, fallbackReason } = resolveBase(domain.name, definition, base);
  const compression = (definition.compression ?? defaults.compression) === 'zstd' ? 'zstd' : undefined;
  const notes: string[] = [];
  const disks: PlannedDisk[] = [];
  for (const { disk, selection, facts: fact, sourceFormat, bitmap } of selected) {
    if (!bitmap) {
      notes.push(
        sourceFormat === 'qcow2'
          ? `disk ${disk.target} (${disk.sourcePath}) is qcow2 compat ${fact.compat ?? '?'}: persistent dirty bitmaps need compat 1.1, so it is copied in full every time (fix while the domain is shut off: qemu-img amend -o compat=1.1 ${disk.sourcePath})`
          : `disk ${disk.target} is ${sourceFormat}: only qcow2 disks keep dirty bitmaps, so it is copied in full every time`,
      );
    }
    const parentDisk = parent?.disks.find((d) => d.target === disk.target && d.volume);
    const requestedPool = selection?.target?.pool;
    const requestedFormat = selection?.target?.format;
    let increment: { pool: string; format: VolumeFormat } | undefined;
    if (parent && bitmap && parentDisk) {
      const chainPool = parentDisk.volume!.pool;
      const chainCaps = capabilities(chainPool);
      const stored = chainCaps
        ? incrementalFormat(chainCaps, parentDisk.volume!.format)
        : { refused: 'that pool is not there any more' };
      if (requestedPool && requestedPool !== chainPool) {
        notes.push(
          `disk ${disk.target} goes to pool ${requestedPool}, not its chain's pool ${chainPool}: copied in full`,
        );
      } else if ('refused' in stored) {
        notes.push(
          `disk ${disk.target} is copied in full: pool ${chainPool} cannot hold an increment (${stored.refused})`,
        );
      } else if (requestedFormat && requestedFormat !== stored.format) {
        notes.push(
          `disk ${disk.target} asks for a ${requestedFormat} target: copied in full (increments in pool ${chainPool} are ${stored.format})`,
        );
      } else {
        increment = { pool: chainPool, format: stored.format };
      }
    } else if (parent) {
      notes.push(`disk ${disk.target} has no usable parent in backup ${parent.id}: copied in full`);
    }
    const pool = increment?.pool ?? requestedPool ?? defaults.pool;
    // A compressed full prefers qcow2 whatever the configured format: raw holds no compressed clusters.
    const preferred = compression ? 'qcow2' : defaults.format;
    const format =
      increment?.format ??
      fullFormat(targetCapabilities(capabilities, pool), pool, disk.target, requestedFormat, preferred);
    if (compression) checkCompressible(targetCapabilities(capabilities, pool), pool, disk.target, format);
    const kind: BackupKind = increment ? 'incremental' : 'full';
    disks.push({
      target: disk.target,
      sourcePath: disk.sourcePath,
      sourceFormat,
      virtualSize: fact.virtualSize,
      maxBytes: maxImageBytes(format, Math.min(fact.allocation, fact.virtualSize), fact.virtualSize),
      pool,
      volumeName:
        selection?.target?.volume ??
        backupVolumeName({ domain: domain.name, disk: disk.target, createdAt, setId, format }),
      format,
      kind,
      parent: increment ? parentDisk : undefined,
      bitmap,
    });
  }
  return {
    setId,
    createdAt,
    ...setOutcome(
      disks,
      setId,
      parent,
      fallbackReason,
      `no disk of ${domain.name} can continue the chain of backup ${parent?.id}`,
    ),
    ...(compression ? { compression } : {}),
    disks,
    skipped,
    notes,
  };
}
