// Loads the compiled addon (volback_libvirt.node) and describes its raw, handle-based API.
import fs from 'fs';
import path from 'path';
import { ErrorCodes, VolbackError } from '../errors';

/** An opaque native handle owning one libvirt reference until free() or garbage collection. */
export interface NativeHandle {
  /** Drops the reference; idempotent; returns whether this call freed it. */
  free(): boolean;
  readonly freed: boolean;
  readonly kind:
    'connection' | 'domain' | 'storage pool' | 'storage volume' | 'checkpoint' | 'stream' | 'secret';
}

type H = NativeHandle;
type P<T> = Promise<T>;

export interface NativeDomainEvent {
  event: 'lifecycle' | 'jobCompleted' | 'blockJob';
  domain: { name: string; uuid: string };
  /** lifecycle: virDomainEventType; blockJob: virDomainBlockJobType */
  type?: number;
  /** lifecycle: detail code */
  detail?: number;
  /** jobCompleted: typed parameters */
  stats?: Record<string, number | string | boolean>;
  /** blockJob: disk target */
  disk?: string;
  /** blockJob: virConnectDomainEventBlockJobStatus */
  status?: number;
}

/** The raw addon: one function per wrapped libvirt call, handles first, flags last. */
export interface NativeBinding {
  NativeHandle: new () => NativeHandle;
  libvirtVersion: number;
  compiledAgainst: number;
  /** Every libvirt C function the addon calls. */
  wrappedFunctions(): string[];
  /** JS export name → libvirt C functions it calls. */
  exportTable(): Record<string, string[]>;

  connectOpen(uri: string | null, flags: number): P<H>;
  connectClose(conn: H): P<number>;
  connectGetLibVersion(conn: H): P<number>;
  connectGetVersion(conn: H): P<number>;
  connectGetHostname(conn: H): P<string>;
  connectGetURI(conn: H): P<string>;
  connectGetType(conn: H): P<string>;
  connectGetCapabilities(conn: H): P<string>;
  connectGetDomainCapabilities(
    conn: H,
    emulator: string | null,
    arch: string | null,
    machine: string | null,
    virttype: string | null,
    flags: number,
  ): P<string>;
  connectSetKeepAlive(conn: H, interval: number, count: number): P<number>;
  connectIsAlive(conn: H): P<boolean>;
  connectListAllDomains(conn: H, flags: number): P<H[]>;
  connectListAllStoragePools(conn: H, flags: number): P<H[]>;
  domainLookupByName(conn: H, name: string): P<H>;
  domainLookupByUUIDString(conn: H, uuid: string): P<H>;
  domainDefineXMLFlags(conn: H, xml: string, flags: number): P<H>;
  domainCreateXML(conn: H, xml: string, flags: number): P<H>;
  storagePoolLookupByName(conn: H, name: string): P<H>;
  storagePoolLookupByUUIDString(conn: H, uuid: string): P<H>;
  storagePoolDefineXML(conn: H, xml: string, flags: number): P<H>;
  storagePoolCreateXML(conn: H, xml: string, flags: number): P<H>;
  storageVolLookupByPath(conn: H, path: string): P<H>;
  storageVolLookupByKey(conn: H, key: string): P<H>;
  domainEventRegister(
    conn: H,
    dom: H | null,
    eventId: number,
    cb: (ev: NativeDomainEvent) => void,
  ): P<number>;
  domainEventDeregister(conn: H, callbackId: number): P<void>;

  domainUndefineFlags(dom: H, flags: number): P<void>;
  domainCreateWithFlags(dom: H, flags: number): P<void>;
  domainDestroyFlags(dom: H, flags: number): P<void>;
  domainResume(dom: H): P<void>;
  domainSuspend(dom: H): P<void>;
  domainIsActive(dom: H): P<boolean>;
  domainIsPersistent(dom: H): P<boolean>;
  domainAbortJob(dom: H): P<void>;
  domainAbortJobFlags(dom: H, flags: number): P<void>;
  domainGetID(dom: H): P<number>;
  domainGetName(dom: H): P<string>;
  domainGetUUIDString(dom: H): P<string>;
  domainGetXMLDesc(dom: H, flags: number): P<string>;
  domainGetState(dom: H): P<{ state: number; reason: number }>;
  domainGetInfo(
    dom: H,
  ): P<{ state: number; maxMemKiB: number; memoryKiB: number; nrVirtCpu: number; cpuTimeNs: number }>;
  domainGetBlockInfo(
    dom: H,
    disk: string,
    flags: number,
  ): P<{ capacity: number; allocation: number; physical: number }>;
  domainGetBlockJobInfo(
    dom: H,
    disk: string,
    flags: number,
  ): P<{ type: number; bandwidth: number; cur: number; end: number } | null>;
  domainBlockPull(dom: H, disk: string, bandwidth: number, flags: number): P<void>;
  domainBlockJobSetSpeed(dom: H, disk: string, bandwidth: number, flags: number): P<void>;
  domainBlockJobAbort(dom: H, disk: string, flags: number): P<void>;
  domainGetJobStats(
    dom: H,
    flags: number,
  ): P<{ type: number; stats: Record<string, number | string | boolean> }>;
  domainBackupBegin(dom: H, backupXml: string, checkpointXml: string | null, flags: number): P<void>;
  domainBackupGetXMLDesc(dom: H, flags: number): P<string>;
  domainQemuMonitorCommand(dom: H, cmd: string, flags: number): P<string>;
  domainFSFreeze(dom: H, mountpoints: string[], flags: number): P<number>;
  domainQemuAgentCommand(dom: H, cmd: string, timeout: number, flags: number): P<string>;
  domainFSThaw(dom: H, mountpoints: string[], flags: number): P<number>;
  domainAgentSetResponseTimeout(dom: H, timeout: number, flags: number): P<void>;
  domainQemuMonitorCommandWithFiles(dom: H, cmd: string, fds: number[], flags: number): P<string>;
  domainCheckpointCreateXML(dom: H, xml: string, flags: number): P<H>;
  domainListAllCheckpoints(dom: H, flags: number): P<H[]>;
  domainCheckpointLookupByName(dom: H, name: string, flags: number): P<H>;
  domainCheckpointGetName(cp: H): P<string>;
  domainCheckpointGetXMLDesc(cp: H, flags: number): P<string>;
  domainCheckpointDelete(cp: H, flags: number): P<void>;
  domainCheckpointGetParent(cp: H): P<H>;
  domainCheckpointListAllChildren(cp: H, flags: number): P<H[]>;

  storagePoolBuild(pool: H, flags: number): P<void>;
  storagePoolCreate(pool: H, flags: number): P<void>;
  storagePoolDestroy(pool: H): P<void>;
  storagePoolUndefine(pool: H): P<void>;
  storagePoolDelete(pool: H, flags: number): P<void>;
  storagePoolRefresh(pool: H, flags: number): P<void>;
  storagePoolIsActive(pool: H): P<boolean>;
  storagePoolIsPersistent(pool: H): P<boolean>;
  storagePoolSetAutostart(pool: H, autostart: number): P<void>;
  storagePoolGetAutostart(pool: H): P<boolean>;
  storagePoolGetName(pool: H): P<string>;
  storagePoolGetUUIDString(pool: H): P<string>;
  storagePoolGetXMLDesc(pool: H, flags: number): P<string>;
  storagePoolGetInfo(pool: H): P<{ state: number; capacity: number; allocation: number; available: number }>;
  storagePoolListAllVolumes(pool: H, flags: number): P<H[]>;
  storagePoolListVolumeNames(pool: H): P<string[]>;
  storagePoolReadVolumes(
    pool: H,
    names: string[],
    maxBytes: number,
    threads: number,
  ): P<Array<{ name: string; data?: Buffer; tooBig?: number; error?: unknown }>>;
  storagePoolLookupByVolume(vol: H): P<H>;
  storageVolCreateXML(pool: H, xml: string, flags: number): P<H>;
  storageVolCreateXMLFrom(pool: H, xml: string, from: H, flags: number): P<H>;
  storageVolLookupByName(pool: H, name: string): P<H>;
  storageVolDelete(vol: H, flags: number): P<void>;
  storageVolWipe(vol: H, flags: number): P<void>;
  storageVolResize(vol: H, capacity: number, flags: number): P<void>;
  storageVolGetInfo(vol: H): P<{ type: number; capacity: number; allocation: number }>;
  storageVolGetXMLDesc(vol: H, flags: number): P<string>;
  storageVolGetPath(vol: H): P<string>;
  storageVolGetKey(vol: H): P<string>;
  storageVolGetName(vol: H): P<string>;
  storageVolDownload(vol: H, offset: number, length: number, flags: number): P<H>;
  storageVolUpload(vol: H, offset: number, length: number, flags: number): P<H>;
  /** Resolves a Buffer, `{hole}` (only with stopAtHole), or null at end of stream. */
  streamRecv(st: H, maxBytes: number, stopAtHole: boolean): P<Buffer | { hole: number } | null>;
  streamSend(st: H, data: Buffer): P<void>;
  streamSendHole(st: H, length: number): P<void>;
  streamFinish(st: H): P<void>;
  streamAbort(st: H): P<void>;

  secretLookupByUUIDString(conn: H, uuid: string): P<H>;
  secretLookupByUsage(conn: H, usageType: number, usageId: string): P<H>;
  secretGetUUIDString(secret: H): P<string>;
  secretGetXMLDesc(secret: H, flags: number): P<string>;
  /** The value's bytes; the native copy is wiped before it is freed. */
  secretGetValue(secret: H, flags: number): P<Buffer>;
}

const FIX = 'run `npm run build:native` (needs libvirt-dev, g++, python3)';

/**
 * Where the addon may be: $VOLBACK_LIBVIRT_BINDING if set, else next to this file (ts-jest, ts-node)
 * or in the source tree (dist builds).
 */
export function bindingCandidates(): string[] {
  const rel = path.join('native', 'build', 'Release', 'volback_libvirt.node');
  // An explicit override is the only candidate, so a wrong override fails instead of being skipped.
  if (process.env.VOLBACK_LIBVIRT_BINDING) return [process.env.VOLBACK_LIBVIRT_BINDING];
  return [path.join(__dirname, rel), path.resolve(__dirname, '..', '..', '..', 'src', 'libvirt', rel)];
}

let cached: NativeBinding | undefined;

/**
 * Loads the addon once per module registry. Loading starts libvirt's event loop thread.
 * @throws VolbackError ERR_BINDING_LOAD saying how to build it.
 */
export function loadBinding(): NativeBinding {
  if (cached) return cached;
  const candidates = bindingCandidates();
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new VolbackError(
      ErrorCodes.BINDING_LOAD,
      `libvirt binding not built (looked in ${candidates.join(', ')}); ${FIX}`,
      {
        hint: FIX,
      },
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(found) as NativeBinding;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new VolbackError(ErrorCodes.BINDING_LOAD, `cannot load libvirt binding ${found}: ${why}; ${FIX}`, {
      cause,
      hint: FIX,
    });
  }
  return cached;
}
