// Plans an external (pull-mode) backup and builds its libvirt XML: disks, full or incremental per
// disk, scratch volumes, NBD server, export names. Pure: src/core/external.ts gathers facts and acts.
import { isIP } from 'node:net';
import { ErrorCodes, VolbackError } from '../../errors';
import type { BackupDefinition, BackupKind, BackupSet, DiskBackup, NbdServer } from '../../model';
import { domainVolumePart, formatUtcStamp, setIdPrefix } from '../../pool/volume-names';
import { parseTree, type XmlElement } from '../../xml/tree';
import {
  setOutcome,
  resolveBase,
  selectDisks,
  type BaseState,
  type DiskFacts,
} from '../shared/disk-selection';
import type { DomainDisk } from '../../xml/libvirt-domain';
import { escapeXml } from '../../xml/escape';

/** QEMU's default dirty-bitmap granularity: extents reported by a bitmap are rounded to it. */
export const BITMAP_GRANULE = 64 * 1024;

export interface ExternalPlanInput {
  domain: { name: string; uuid: string; disks: DomainDisk[] };
  definition: BackupDefinition;
  facts: Record<string, DiskFacts>;
  base: BaseState;
  /** Pool of the metadata and of scratch volumes when the definition names none. */
  defaultPool: string;
  setId: string;
  createdAt: Date;
}

export interface ExternalPlannedDisk {
  target: string;
  sourcePath: string;
  sourceFormat: string;
  virtualSize: number;
  kind: BackupKind;
  /** Incremental disks: the base set's backup of this disk (any set with a checkpoint, push or external). */
  parent?: DiskBackup;
  /** True when the new checkpoint records a bitmap for this disk (qcow2 compat 1.1). */
  bitmap: boolean;
  scratchPool: string;
  scratchVolume: string;
}

export interface ExternalPlan {
  setId: string;
  createdAt: Date;
  kind: BackupKind;
  /** The set whose checkpoint the incremental starts from. */
  parent?: BackupSet;
  fallbackReason?: string;
  checkpointName?: string;
  /** Pool that receives the metadata of the set when the session ends successfully. */
  metadataPool: string;
  disks: ExternalPlannedDisk[];
  skipped: Array<{ target: string; reason: string }>;
  notes: string[];
}

/**
 * Name of a disk's copy-before-write scratch volume: `<domain>.<disk>.<time>-<set8>.scratch`.
 * Deliberately not a data-volume name (no `.qcow2`/`.raw` ending), so a catalog scan never takes it for
 * a backup; the session file is what finds a leftover one. At most 123 characters.
 */
export function scratchVolumeName(input: {
  domain: string;
  disk: string;
  createdAt: Date;
  setId: string;
}): string {
  return `${domainVolumePart(input.domain)}.${input.disk}.${formatUtcStamp(input.createdAt)}-${setIdPrefix(input.setId)}.scratch`;
}

/**
 * The set an external incremental starts from: the named set, or with `latest` the domain's newest
 * restorable set that recorded a checkpoint, push (`complete`) or pull (`external`): an external
 * incremental needs only a checkpoint, never a parent volume. `restorable` tells whether the catalog
 * found the set free of problems.
 */
export function chooseExternalBase(
  sets: ReadonlyArray<{ set: BackupSet; restorable: boolean }>,
  uuid: string,
  definition: BackupDefinition,
): BackupSet | undefined {
  if (definition.kind === 'full') return undefined;
  const from = definition.incrementalFrom;
  if (from && from !== 'latest') {
    const entry = sets.find((e) => e.set.id === from);
    if (!entry || entry.set.domain.uuid !== uuid) {
      throw new VolbackError(
        ErrorCodes.NOT_FOUND,
        `backup set ${from} of this domain was not found in any active pool`,
        {
          fault: 'user',
        },
      );
    }
    if (!entry.set.checkpoint) {
      throw new VolbackError(
        ErrorCodes.CHAIN_BROKEN,
        `backup set ${from} recorded no checkpoint: an incremental cannot start from it`,
        {
          fault: 'user',
        },
      );
    }
    return entry.set;
  }
  return sets
    .filter(
      (e) =>
        e.restorable &&
        e.set.domain.uuid === uuid &&
        (e.set.state === 'complete' || e.set.state === 'external') &&
        e.set.checkpoint,
    )
    .map((e) => e.set)
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
}

/** Plans the session, or throws ERR_INVALID_INPUT naming the definition's mistake. */
export function planExternalBackup(input: ExternalPlanInput): ExternalPlan {
  const { domain, definition, facts, base, setId, createdAt } = input;
  const { selected, skipped } = selectDisks(domain, definition, facts);
  const { parent, fallbackReason } = resolveBase(domain.name, definition, base);
  const metadataPool = definition.location?.pool ?? input.defaultPool;
  const notes: string[] = [];
  const disks: ExternalPlannedDisk[] = [];
  for (const { disk, selection, facts: fact, sourceFormat, bitmap } of selected) {
    if (!bitmap)
      notes.push(
        `disk ${disk.target} cannot keep a dirty bitmap (${sourceFormat}, compat ${fact.compat ?? '-'}): exported in full every time`,
      );
    // Only a disk whose base backup recorded a bitmap can be read incrementally; the volume does not matter.
    const parentDisk = parent?.disks.find((d) => d.target === disk.target && d.bitmap);
    const kind: BackupKind = parent && bitmap && parentDisk ? 'incremental' : 'full';
    if (parent && kind === 'full')
      notes.push(`disk ${disk.target} has no bitmap in backup ${parent.id}: exported in full`);
    disks.push({
      target: disk.target,
      sourcePath: disk.sourcePath,
      sourceFormat,
      virtualSize: fact.virtualSize,
      kind,
      parent: kind === 'incremental' ? parentDisk : undefined,
      bitmap,
      scratchPool: selection?.scratchPool ?? metadataPool,
      scratchVolume: scratchVolumeName({ domain: domain.name, disk: disk.target, createdAt, setId }),
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
      `no disk of ${domain.name} has a bitmap in backup ${parent?.id}`,
    ),
    metadataPool,
    disks,
    skipped,
    notes,
  };
}

/** True for a literal loopback address or `localhost`: the only names an export without TLS may bind. */
export function isLoopbackName(name: string): boolean {
  if (name === 'localhost') return true;
  const bare = name.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(bare);
  return false;
}

/**
 * Refuses an NBD server that would export disks without authentication beyond this host: a TCP name
 * that is not loopback needs `tls='yes'`. Throws ERR_INVALID_INPUT.
 */
export function assertSafeServer(server: NbdServer): void {
  if (server.transport === 'tcp' && !server.tls && !isLoopbackName(server.name)) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `refusing to export disks without TLS on '${server.name}': NBD has no authentication, anyone who reaches the port reads the disks`,
      {
        fault: 'user',
        hint: "bind to 127.0.0.1 (the default) and tunnel, use a unix socket, or set tls='yes' with qemu.conf backup_tls_x509_cert_dir",
      },
    );
  }
}

/** The resolved NBD server of one session (a TCP port is always chosen before the job starts). */
export type ResolvedServer =
  { transport: 'tcp'; name: string; port: number; tls: boolean } | { transport: 'unix'; socket: string };

/**
 * libvirt pull-mode `<domainbackup>`: one export per planned disk (export name = disk target), its
 * scratch file, and `backupmode`/`incremental` per disk when the plan has a base. Disks of the domain
 * outside the plan get backup='no'. Use with VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL (scratch volumes
 * are made beforehand by the pool layer).
 */
export function pullBackupXml(
  plan: ExternalPlan,
  allTargets: readonly string[],
  server: ResolvedServer,
  scratchPaths: Record<string, string>,
): string {
  const planned = new Map(plan.disks.map((d) => [d.target, d]));
  const base = plan.parent?.checkpoint?.name;
  const disks = allTargets
    .map((t) => {
      const disk = planned.get(t);
      if (!disk) return `<disk name='${escapeXml(t)}' backup='no'/>`;
      const mode = base
        ? ` backupmode='${disk.kind}'${disk.kind === 'incremental' ? ` incremental='${escapeXml(base)}'` : ''}`
        : '';
      return (
        `<disk name='${escapeXml(t)}' backup='yes' type='file'${mode} exportname='${escapeXml(t)}'>` +
        `<scratch file='${escapeXml(scratchPaths[t])}'/><driver type='qcow2'/></disk>`
      );
    })
    .join('');
  const serverXml =
    server.transport === 'tcp'
      ? `<server transport='tcp' name='${escapeXml(server.name)}' port='${server.port}'${server.tls ? " tls='yes'" : ''}/>`
      : `<server transport='unix' socket='${escapeXml(server.socket)}'/>`;
  const incremental = base ? `<incremental>${escapeXml(base)}</incremental>` : '';
  return `<domainbackup mode='pull'>${incremental}${serverXml}<disks>${disks}</disks></domainbackup>`;
}

/** One disk export as libvirt reports it for the running job. */
export interface LiveExport {
  target: string;
  exportName: string;
  /** Name of the bitmap exported with it (incremental disks only). */
  exportBitmap?: string;
  scratchFile?: string;
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
    });
  }
  return { server, exports };
}

/** NBD URI of one export (RFC-style, as nbdinfo/nbdcopy/qemu-img accept it). */
export function nbdUri(server: ResolvedServer, exportName: string): string {
  const name = encodeURIComponent(exportName);
  if (server.transport === 'unix')
    return `nbd+unix:///${name}?socket=${encodeURIComponent(server.socket).replace(/%2F/g, '/')}`;
  const host = isIP(server.name) === 6 ? `[${server.name}]` : server.name;
  return `${server.tls ? 'nbds' : 'nbd'}://${host}:${server.port}/${name}`;
}

/** NBD meta context through which a client reads an exported dirty bitmap. */
export const dirtyBitmapContext = (exportBitmap: string): string => `qemu:dirty-bitmap:${exportBitmap}`;
