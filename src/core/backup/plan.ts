// Plans one backup run: which disks, full or incremental, where each goes and under what name.
// Pure: the coordinator gathers the facts (domain disks, image facts, base set) and executes the plan.
import type { BackupDefinition, BackupKind, BackupSet, DiskBackup, VolumeFormat } from '../../model';
import { backupVolumeName } from '../../pool/volume-names';
import type { DomainDisk } from '../../xml/libvirt-domain';
import {
  resolveBase,
  setOutcome,
  selectDisks,
  type BaseState,
  type DiskFacts,
} from '../shared/disk-selection';
import { escapeXml } from '../../xml/escape';

export interface PlanInput {
  domain: { name: string; uuid: string; disks: DomainDisk[] };
  definition: BackupDefinition;
  facts: Record<string, DiskFacts>;
  base: BaseState;
  defaults: { pool: string; format: VolumeFormat };
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
  /** Incremental disks: the parent disk backup, whose volume this one overlays. */
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
  disks: PlannedDisk[];
  skipped: Array<{ target: string; reason: string }>;
  /** Human notes for the log (disks without bitmap support, per-disk fulls in an incremental). */
  notes: string[];
}

/** Plans the run, or throws ERR_INVALID_INPUT naming the definition's mistake. */
export function planBackup(input: PlanInput): BackupPlan {
  const { domain, definition, facts, base, defaults, setId, createdAt } = input;
  const { selected, skipped } = selectDisks(domain, definition, facts);
  const { parent, fallbackReason } = resolveBase(domain.name, definition, base);
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
    let kind: BackupKind = 'full';
    if (parent && bitmap && parentDisk) {
      if (requestedPool && requestedPool !== parentDisk.volume!.pool) {
        notes.push(
          `disk ${disk.target} goes to pool ${requestedPool}, not its chain's pool ${parentDisk.volume!.pool}: copied in full`,
        );
      } else if (selection?.target?.format === 'raw') {
        notes.push(
          `disk ${disk.target} asks for a raw target: copied in full (increments are qcow2 overlays)`,
        );
      } else {
        kind = 'incremental';
      }
    } else if (parent) {
      notes.push(`disk ${disk.target} has no usable parent in backup ${parent.id}: copied in full`);
    }
    const pool =
      kind === 'incremental'
        ? parentDisk!.volume!.pool
        : (requestedPool ?? definition.location?.pool ?? defaults.pool);
    const format: VolumeFormat =
      kind === 'incremental' ? 'qcow2' : (selection?.target?.format ?? defaults.format);
    disks.push({
      target: disk.target,
      sourcePath: disk.sourcePath,
      sourceFormat,
      virtualSize: fact.virtualSize,
      maxBytes:
        Math.min(fact.allocation, fact.virtualSize) +
        (format === 'qcow2' ? Math.ceil(fact.virtualSize / 8192) : 0),
      pool,
      volumeName:
        selection?.target?.volume ??
        backupVolumeName({ domain: domain.name, disk: disk.target, createdAt, setId, format }),
      format,
      kind,
      parent: kind === 'incremental' ? parentDisk : undefined,
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
    disks,
    skipped,
    notes,
  };
}

/**
 * libvirt `<domaincheckpoint>` for the plan: a bitmap on every planned disk that can carry one,
 * `checkpoint='no'` on every other disk of the domain.
 */
export function checkpointXml(
  plan: Pick<BackupPlan, 'setId' | 'checkpointName'> & {
    disks: ReadonlyArray<Pick<PlannedDisk, 'target' | 'bitmap'>>;
  },
  allTargets: readonly string[],
  /** For a REDEFINE of a checkpoint whose bitmaps volback created itself (QMP engine). */
  redefine?: { parent?: string; creationTime: Date },
): string | undefined {
  if (!plan.checkpointName) return undefined;
  const withBitmap = new Set(plan.disks.filter((d) => d.bitmap).map((d) => d.target));
  const disks = allTargets
    .map((t) =>
      withBitmap.has(t)
        ? `<disk name='${escapeXml(t)}' checkpoint='bitmap' bitmap='${plan.checkpointName}'/>`
        : `<disk name='${escapeXml(t)}' checkpoint='no'/>`,
    )
    .join('');
  const parent = redefine?.parent ? `<parent><name>${escapeXml(redefine.parent)}</name></parent>` : '';
  const created = redefine
    ? `<creationTime>${Math.floor(redefine.creationTime.getTime() / 1000)}</creationTime>`
    : '';
  return (
    `<domaincheckpoint><name>${plan.checkpointName}</name>` +
    `<description>volback backup set ${plan.setId}</description>${parent}${created}` +
    `<disks>${disks}</disks></domaincheckpoint>`
  );
}

/**
 * libvirt push-mode `<domainbackup>` for the plan; `targets` maps each planned disk to where QEMU
 * writes it. Disks of the domain outside the plan get backup='no'.
 */
export function pushBackupXml(
  plan: BackupPlan,
  allTargets: readonly string[],
  targets: Record<string, { type: 'file' | 'block'; path: string; format: VolumeFormat }>,
): string {
  const planned = new Map(plan.disks.map((d) => [d.target, d]));
  const base = plan.parent?.checkpoint?.name;
  const disks = allTargets
    .map((t) => {
      const disk = planned.get(t);
      if (!disk) return `<disk name='${escapeXml(t)}' backup='no'/>`;
      const target = targets[t];
      const mode = base
        ? ` backupmode='${disk.kind}'${disk.kind === 'incremental' ? ` incremental='${escapeXml(base)}'` : ''}`
        : '';
      const where =
        target.type === 'file' ? `file='${escapeXml(target.path)}'` : `dev='${escapeXml(target.path)}'`;
      return (
        `<disk name='${escapeXml(t)}' backup='yes' type='${target.type}'${mode}>` +
        `<target ${where}/><driver type='${target.format}'/></disk>`
      );
    })
    .join('');
  const incremental = base ? `<incremental>${escapeXml(base)}</incremental>` : '';
  return `<domainbackup mode='push'>${incremental}<disks>${disks}</disks></domainbackup>`;
}
