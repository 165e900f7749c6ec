// What push and pull backups plan alike: which disks a definition selects, whether each can carry a
// dirty bitmap, and what an incremental builds on. Pure.
import { ErrorCodes, VolbackError } from '../../errors';
import type { BackupDefinition, BackupKind, BackupSet, DiskSelection } from '../../model';
import type { DomainDisk } from '../../xml/libvirt-domain';

/** What the coordinator measured about one disk's image. */
export interface DiskFacts {
  virtualSize: number;
  /** Bytes allocated on the host: the most a full backup can copy. */
  allocation: number;
  /** qcow2 compat level, when the image is qcow2. */
  compat?: string;
}

/** The base an incremental builds on, and whether its checkpoint can be trusted. */
export type BaseState =
  { set: BackupSet; usable: true } | { set: BackupSet; usable: false; reason: string } | undefined;

export interface SelectedDisk {
  disk: DomainDisk & { sourcePath: string };
  /** The definition's entry for this disk, when it has one. */
  selection?: DiskSelection;
  facts: DiskFacts;
  sourceFormat: string;
  /** True when the disk can keep a persistent dirty bitmap (qcow2 compat 1.1). */
  bitmap: boolean;
}

export interface DiskChoice {
  selected: SelectedDisk[];
  skipped: Array<{ target: string; reason: string }>;
}

export const checkpointNameFor = (setId: string): string => `volback-${setId}`;

/** Why a disk cannot be backed up at all, or undefined when it can. */
export function unsupportedReason(disk: DomainDisk): string | undefined {
  if (disk.device !== 'disk') return `${disk.device} devices are not backed up`;
  if (disk.readonly) return 'read-only disks are not backed up';
  if (disk.type !== 'file' && disk.type !== 'block') return `'${disk.type}' disks are not supported yet`;
  if (!disk.sourcePath) return 'the disk has no source';
  return undefined;
}

/**
 * The disks a definition selects (all that can be backed up, unless `backup='no'`), or
 * ERR_INVALID_INPUT naming a disk the domain lacks, a named disk that cannot be backed up, or a
 * definition that leaves nothing to back up.
 */
export function selectDisks(
  domain: { name: string; disks: DomainDisk[] },
  definition: BackupDefinition,
  facts: Record<string, DiskFacts>,
): DiskChoice {
  const targets = new Set(domain.disks.map((d) => d.target));
  for (const sel of definition.disks) {
    if (!targets.has(sel.name)) {
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `the backup definition names disk '${sel.name}', but domain ${domain.name} has ${domain.disks.map((d) => d.target).join(', ') || 'no disks'}`,
        { fault: 'user' },
      );
    }
  }
  const choice: DiskChoice = { selected: [], skipped: [] };
  for (const disk of domain.disks) {
    const selection = definition.disks.find((s) => s.name === disk.target);
    if (selection && !selection.backup) {
      choice.skipped.push({ target: disk.target, reason: "backup='no' in the definition" });
      continue;
    }
    const unsupported = unsupportedReason(disk);
    if (unsupported) {
      if (selection) {
        throw new VolbackError(
          ErrorCodes.INVALID_INPUT,
          `disk '${disk.target}' of ${domain.name} cannot be backed up: ${unsupported}`,
          {
            fault: 'user',
          },
        );
      }
      choice.skipped.push({ target: disk.target, reason: unsupported });
      continue;
    }
    const fact = facts[disk.target];
    if (!fact) throw new VolbackError(ErrorCodes.INVALID_INPUT, `no image facts for disk '${disk.target}'`);
    const sourceFormat = disk.format ?? 'raw';
    choice.selected.push({
      disk: disk as SelectedDisk['disk'],
      selection,
      facts: fact,
      sourceFormat,
      bitmap: sourceFormat === 'qcow2' && fact.compat === '1.1',
    });
  }
  if (choice.selected.length === 0) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `nothing to back up in ${domain.name}: every disk is skipped`,
      {
        fault: 'user',
      },
    );
  }
  return choice;
}

/**
 * The parent an incremental builds on, or why a full is taken instead. An explicit incremental with
 * no base at all is refused (ERR_INVALID_INPUT); `auto` quietly takes a full.
 */
export function resolveBase(
  domainName: string,
  definition: BackupDefinition,
  base: BaseState,
): { parent?: BackupSet; fallbackReason?: string } {
  if (definition.kind !== 'full' && base)
    return base.usable ? { parent: base.set } : { fallbackReason: base.reason };
  if (definition.kind === 'incremental') {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `an incremental backup of ${domainName} was asked for, but it has no earlier backup with a checkpoint to build on`,
      { fault: 'user', hint: "take a full backup first, or use type 'auto'" },
    );
  }
  return {};
}

/**
 * The set-level result of the per-disk decisions: incremental when any disk continues the base's
 * chain (else a full, with why when a base was there), and a checkpoint when any disk keeps a bitmap.
 */
export function setOutcome(
  disks: ReadonlyArray<{ kind: BackupKind; bitmap: boolean }>,
  setId: string,
  parent: BackupSet | undefined,
  fallbackReason: string | undefined,
  noDiskContinues: string,
): { kind: BackupKind; parent?: BackupSet; fallbackReason?: string; checkpointName?: string } {
  const incremental = disks.some((d) => d.kind === 'incremental');
  return {
    kind: incremental ? 'incremental' : 'full',
    parent: incremental ? parent : undefined,
    fallbackReason: incremental ? undefined : (fallbackReason ?? (parent ? noDiskContinues : undefined)),
    checkpointName: disks.some((d) => d.bitmap) ? checkpointNameFor(setId) : undefined,
  };
}
