// libvirt's backup documents as volback writes and reads them: `<domaincheckpoint>`, push- and
// pull-mode `<domainbackup>`, and the running pull job's description.
import { ErrorCodes, VolbackError } from '../errors';
import type { BackupKind, ResolvedServer } from '../model';
import { escapeXml } from './escape';
import { parseTree, type XmlElement } from './tree';

/** What a checkpoint document needs of a plan: its set, checkpoint name and which disks carry a bitmap. */
export interface CheckpointPlan {
  setId: string;
  checkpointName?: string;
  disks: ReadonlyArray<{ target: string; bitmap: boolean }>;
}

/** What a backup-job document needs of a plan: each planned disk's kind, and the base checkpoint. */
export interface JobPlan {
  parent?: { checkpoint?: { name: string } };
  disks: ReadonlyArray<{ target: string; kind: BackupKind }>;
}

/** Where libvirt's job writes one disk (a push target or a pull scratch): a file or a block device. */
export interface JobTarget {
  type: 'file' | 'block';
  path: string;
  format: string;
}

/**
 * libvirt `<domaincheckpoint>` for the plan: a bitmap on every planned disk that can carry one,
 * `checkpoint='no'` on every other disk of the domain.
 */
export function checkpointXml(
  plan: CheckpointPlan,
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
 * A `<domainbackup>` of either mode: per planned disk its `backupmode`/`incremental` when the plan has
 * a base, and where libvirt writes (push: the `<target>`; pull: the copy-before-write `<scratch>`,
 * exported under the disk's target name); disks of the domain outside the plan get backup='no'.
 */
function backupJobXml(
  mode: 'push' | 'pull',
  plan: JobPlan,
  allTargets: readonly string[],
  where: Record<string, JobTarget>,
  server?: ResolvedServer,
): string {
  const planned = new Map(plan.disks.map((d) => [d.target, d]));
  const base = plan.parent?.checkpoint?.name;
  const disks = allTargets
    .map((t) => {
      const disk = planned.get(t);
      if (!disk) return `<disk name='${escapeXml(t)}' backup='no'/>`;
      const at = where[t];
      const kind = base
        ? ` backupmode='${disk.kind}'${disk.kind === 'incremental' ? ` incremental='${escapeXml(base)}'` : ''}`
        : '';
      const exported = mode === 'pull' ? ` exportname='${escapeXml(t)}'` : '';
      const path = at.type === 'file' ? `file='${escapeXml(at.path)}'` : `dev='${escapeXml(at.path)}'`;
      return (
        `<disk name='${escapeXml(t)}' backup='yes' type='${at.type}'${kind}${exported}>` +
        `<${mode === 'push' ? 'target' : 'scratch'} ${path}/><driver type='${at.format}'/></disk>`
      );
    })
    .join('');
  const serverXml = !server
    ? ''
    : server.transport === 'tcp'
      ? `<server transport='tcp' name='${escapeXml(server.name)}' port='${server.port}'${server.tls ? " tls='yes'" : ''}/>`
      : `<server transport='unix' socket='${escapeXml(server.socket)}'/>`;
  const incremental = base ? `<incremental>${escapeXml(base)}</incremental>` : '';
  return `<domainbackup mode='${mode}'>${incremental}${serverXml}<disks>${disks}</disks></domainbackup>`;
}

/** libvirt push-mode `<domainbackup>`: `targets` maps each planned disk to where QEMU writes it. */
export function pushBackupXml(
  plan: JobPlan,
  allTargets: readonly string[],
  targets: Record<string, JobTarget>,
): string {
  return backupJobXml('push', plan, allTargets, targets);
}

/**
 * libvirt pull-mode `<domainbackup>`: one NBD export per planned disk, its scratch volume, the server.
 * Use with VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL (scratch volumes are made beforehand by the drivers).
 */
export function pullBackupXml(
  plan: JobPlan,
  allTargets: readonly string[],
  server: ResolvedServer,
  scratch: Record<string, JobTarget>,
): string {
  return backupJobXml('pull', plan, allTargets, scratch, server);
}

/** One disk export as libvirt reports it for the running job. */
export interface LiveExport {
  target: string;
  exportName: string;
  /** Name of the bitmap exported with it (incremental disks only). */
  exportBitmap?: string;
  /** Where libvirt keeps its scratch: `<scratch file>`, or `<scratch dev>` for a block device. */
  scratchFile?: string;
  scratchDev?: string;
}

export interface LivePullJob {
  server?: { transport: string; name?: string; port?: number; socket?: string; tls: boolean };
  exports: LiveExport[];
}

const child = (el: XmlElement, name: string): XmlElement | undefined =>
  el.children.find((c) => c.name === name);

/** Reads the running job's `virDomainBackupGetXMLDesc` document: server and actual export names. */
export async function parseLivePullJob(xml: string): Promise<LivePullJob> {
  const root = await parseTree(xml, 'the running backup job');
  if (root.name !== 'domainbackup' || root.attrs.mode !== 'pull') {
    throw new VolbackError(ErrorCodes.JOB_FAILED, `the domain's backup job is not a pull-mode job`);
  }
  const serverEl = child(root, 'server');
  const server = serverEl
    ? {
        transport: serverEl.attrs.transport ?? 'tcp',
        name: serverEl.attrs.name,
        port: serverEl.attrs.port ? Number(serverEl.attrs.port) : undefined,
        socket: serverEl.attrs.socket,
        tls: serverEl.attrs.tls === 'yes',
      }
    : undefined;
  const exports: LiveExport[] = [];
  for (const disk of child(root, 'disks')?.children ?? []) {
    if (disk.name !== 'disk' || disk.attrs.backup === 'no') continue;
    exports.push({
      target: disk.attrs.name,
      exportName: disk.attrs.exportname ?? disk.attrs.name,
      exportBitmap: disk.attrs.exportbitmap,
      scratchFile: child(disk, 'scratch')?.attrs.file,
      scratchDev: child(disk, 'scratch')?.attrs.dev,
    });
  }
  return { server, exports };
}

/** A checkpoint document with its `<parent>` changed from `from` to `to` (none: removed). Pure. */
export const replaceCheckpointParent = (xml: string, from: string, to: string | undefined): string =>
  xml.replace(
    new RegExp(`(\\s*)<parent>\\s*<name>${from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}</name>\\s*</parent>`),
    (_m, space: string) =>
      to === undefined ? '' : `${space}<parent>${space}  <name>${to}</name>${space}</parent>`,
  );
