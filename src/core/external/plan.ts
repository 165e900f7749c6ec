// Plans an external (pull-mode) backup and builds its libvirt XML: disks, full or incremental per
// disk, scratch volumes, NBD server, export names. Pure: src/core/external.ts gathers facts and acts.
import { isIP } from 'node:net';
import { ErrorCodes, VolbackError } from '../../errors';
import type {
  BackupDefinition,
  BackupKind,
  BackupSet,
  DiskBackup,
  NbdServer,
  ResolvedServer,
} from '../../model';
import { domainVolumePart, formatUtcStamp, setIdPrefix } from '../../pool/volume-names';
import {
  setOutcome,
  resolveBase,
  selectDisks,
  type BaseState,
  type DiskFacts,
} from '../shared/disk-selection';
import type { DomainDisk } from '../../xml/libvirt-domain';

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

/**
 * The NBD server of a session on a host volback does not run on: QEMU listens there, where volback
 * can neither make a socket's directory nor find a free port, so a unix socket is refused and a TCP
 * server needs its port. Pure.
 */
export function assertRemoteServer(server: NbdServer): void {
  if (server.transport === 'unix') {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `a unix socket (${server.socket}) would be on the remote host, where volback cannot prepare its directory`,
      {
        fault: 'user',
        hint: "use <server transport='tcp' name='…' port='…'/> with a port free on that host",
      },
    );
  }
  if (server.port === undefined) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `the NBD server on the remote host needs a port: volback cannot see which ports are free there`,
      {
        fault: 'user',
        hint: `give <server transport='tcp' name='${server.name}' port='…'/>; ${isLoopbackName(server.name) ? 'a loopback address is reached by tunnelling, e.g. ssh -L PORT:127.0.0.1:PORT host' : 'a port the readers reach'}`,
      },
    );
  }
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
