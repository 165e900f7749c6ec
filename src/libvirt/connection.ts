// Connection: a libvirt connection — host facts, lookups, lists, defines, and domain events.
import { logger } from '../log';
import { virConnectFlags, virDomainEventID } from './constants.generated';
import { Domain, type TypedParams } from './domain';
import { invoke, LibvirtObject } from './handle';
import { loadBinding, type NativeDomainEvent, type NativeHandle } from './native';
import { Secret, secretUsageType, type SecretUsageType } from './secret';
import { StoragePool, StorageVolume } from './storage';

const log = logger('libvirt');

export interface OpenOptions {
  /** VIR_CONNECT_RO: read-only connection. */
  readOnly?: boolean;
}

export interface DomainCapabilitiesQuery {
  emulator?: string;
  arch?: string;
  machine?: string;
  /** 'kvm' or 'qemu' */
  virttype?: string;
}

export interface DomainRef {
  name: string;
  uuid: string;
}

export interface LifecycleEvent {
  event: 'lifecycle';
  domain: DomainRef;
  /** virDomainEventType */
  type: number;
  detail: number;
}

export interface JobCompletedEvent {
  event: 'jobCompleted';
  domain: DomainRef;
  /** Final job statistics (VIR_DOMAIN_JOB_* typed parameters: operation, success, disk_total, ...). */
  stats: TypedParams;
}

export interface BlockJobEvent {
  event: 'blockJob';
  domain: DomainRef;
  /** Disk target, e.g. 'vda' (BLOCK_JOB_2 reports targets, not paths). */
  disk: string;
  /** virDomainBlockJobType */
  type: number;
  /** virConnectDomainEventBlockJobStatus */
  status: number;
}

export interface DomainEventMap {
  lifecycle: LifecycleEvent;
  jobCompleted: JobCompletedEvent;
  blockJob: BlockJobEvent;
}
export type DomainEventKind = keyof DomainEventMap;

const EVENT_IDS: Record<DomainEventKind, number> = {
  lifecycle: virDomainEventID.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
  jobCompleted: virDomainEventID.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
  blockJob: virDomainEventID.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
};

/** Stops an event subscription; idempotent. */
export type Unsubscribe = () => Promise<void>;

/** One libvirt registration for an (event, domain) pair, shared by every subscriber of that pair. */
interface EventFanout {
  registration: Promise<number>;
  listeners: Set<(ev: NativeDomainEvent) => void>;
}

export class Connection extends LibvirtObject {
  private readonly subscriptions = new Set<number>();
  private readonly fanouts = new Map<string, EventFanout>();
  /** Deregistrations in flight, by fan-out key: a new subscriber of the pair waits for its end. */
  private readonly releasing = new Map<string, Promise<void>>();

  private constructor(
    handle: NativeHandle,
    readonly uri: string,
  ) {
    super(handle, uri);
  }

  /**
   * Opens a connection: 'test:///default', 'qemu:///system', 'qemu+tcp://host/system',
   * 'qemu+ssh://user@host/system', ... No interactive auth: ssh must work non-interactively.
   */
  static async open(uri: string, opts: OpenOptions = {}): Promise<Connection> {
    const flags = opts.readOnly ? virConnectFlags.VIR_CONNECT_RO : 0;
    const h = await invoke('virConnectOpenAuth', { uri, flags }, (n) => n.connectOpen(uri, flags));
    return new Connection(h, uri);
  }

  /**
   * Deregisters this connection's event callbacks, then closes it. Resolves libvirt's remaining
   * reference count (> 0 while domain/pool/volume handles from it are still unfreed).
   */
  async close(): Promise<number> {
    if (this.freed) return 0;
    this.fanouts.clear();
    for (const id of [...this.subscriptions]) await this.deregister(id).catch(() => undefined);
    return invoke('virConnectClose', { uri: this.uri }, (n) => n.connectClose(this.handle));
  }

  /** Synchronous close (GC-style); prefer close(), which also deregisters event callbacks. */
  override free(): void {
    if (this.subscriptions.size)
      log.warn('connection freed with live event subscriptions', { uri: this.uri });
    super.free();
  }

  /** libvirt library version as major*1e6 + minor*1e3 + micro (of the daemon for remote URIs). */
  getLibVersion(): Promise<number> {
    return invoke('virConnectGetLibVersion', { uri: this.uri }, (n) => n.connectGetLibVersion(this.handle));
  }

  /** Hypervisor version, same encoding (e.g. 7002022 for QEMU 7.2.22). */
  getVersion(): Promise<number> {
    return invoke('virConnectGetVersion', { uri: this.uri }, (n) => n.connectGetVersion(this.handle));
  }

  getHostname(): Promise<string> {
    return invoke('virConnectGetHostname', { uri: this.uri }, (n) => n.connectGetHostname(this.handle));
  }

  getURI(): Promise<string> {
    return invoke('virConnectGetURI', { uri: this.uri }, (n) => n.connectGetURI(this.handle));
  }

  /** Driver name, e.g. 'QEMU' or 'TEST'. */
  getType(): Promise<string> {
    return invoke('virConnectGetType', { uri: this.uri }, (n) => n.connectGetType(this.handle));
  }

  getCapabilities(): Promise<string> {
    return invoke('virConnectGetCapabilities', { uri: this.uri }, (n) =>
      n.connectGetCapabilities(this.handle),
    );
  }

  getDomainCapabilities(q: DomainCapabilitiesQuery = {}): Promise<string> {
    return invoke('virConnectGetDomainCapabilities', { uri: this.uri, ...q }, (n) =>
      n.connectGetDomainCapabilities(
        this.handle,
        q.emulator ?? null,
        q.arch ?? null,
        q.machine ?? null,
        q.virttype ?? null,
        0,
      ),
    );
  }

  /**
   * Enables keepalive (needs the event loop the addon runs). Resolves 0, or 1 when the remote
   * side does not support keepalive; local drivers reject with VIR_ERR_OPERATION_INVALID... or
   * VIR_ERR_NO_SUPPORT depending on the driver.
   */
  setKeepAlive(intervalSeconds: number, count: number): Promise<number> {
    return invoke('virConnectSetKeepAlive', { uri: this.uri, intervalSeconds, count }, (n) =>
      n.connectSetKeepAlive(this.handle, intervalSeconds, count),
    );
  }

  isAlive(): Promise<boolean> {
    return invoke('virConnectIsAlive', { uri: this.uri }, (n) => n.connectIsAlive(this.handle));
  }

  async lookupDomainByName(name: string): Promise<Domain> {
    const h = await invoke('virDomainLookupByName', { name }, (n) => n.domainLookupByName(this.handle, name));
    return new Domain(h, name);
  }

  async lookupDomainByUUID(uuid: string): Promise<Domain> {
    const h = await invoke('virDomainLookupByUUIDString', { uuid }, (n) =>
      n.domainLookupByUUIDString(this.handle, uuid),
    );
    return new Domain(h, uuid);
  }

  /** flags: virConnectListAllDomainsFlags (ACTIVE, INACTIVE, PERSISTENT, ...); 0 = all. */
  async listAllDomains(flags = 0): Promise<Domain[]> {
    const hs = await invoke('virConnectListAllDomains', { flags }, (n) =>
      n.connectListAllDomains(this.handle, flags),
    );
    return hs.map((h) => new Domain(h));
  }

  /** Defines (or redefines) a persistent domain. flags: virDomainDefineFlags (VALIDATE). */
  async defineDomain(xml: string, flags = 0): Promise<Domain> {
    const h = await invoke('virDomainDefineXMLFlags', { flags }, (n) =>
      n.domainDefineXMLFlags(this.handle, xml, flags),
    );
    return new Domain(h);
  }

  /** Creates and starts a transient domain. flags: virDomainCreateFlags (START_PAUSED, ...). */
  async createDomain(xml: string, flags = 0): Promise<Domain> {
    const h = await invoke('virDomainCreateXML', { flags }, (n) =>
      n.domainCreateXML(this.handle, xml, flags),
    );
    return new Domain(h);
  }

  async lookupStoragePoolByName(name: string): Promise<StoragePool> {
    const h = await invoke('virStoragePoolLookupByName', { name }, (n) =>
      n.storagePoolLookupByName(this.handle, name),
    );
    return new StoragePool(h, name);
  }

  async lookupStoragePoolByUUID(uuid: string): Promise<StoragePool> {
    const h = await invoke('virStoragePoolLookupByUUIDString', { uuid }, (n) =>
      n.storagePoolLookupByUUIDString(this.handle, uuid),
    );
    return new StoragePool(h, uuid);
  }

  /** flags: virConnectListAllStoragePoolsFlags (ACTIVE, DIR, ...); 0 = all. */
  async listAllStoragePools(flags = 0): Promise<StoragePool[]> {
    const hs = await invoke('virConnectListAllStoragePools', { flags }, (n) =>
      n.connectListAllStoragePools(this.handle, flags),
    );
    return hs.map((h) => new StoragePool(h));
  }

  /** Defines a persistent (inactive) pool; build() and create() it next. flags: virStoragePoolDefineFlags. */
  async defineStoragePool(xml: string, flags = 0): Promise<StoragePool> {
    const h = await invoke('virStoragePoolDefineXML', { flags }, (n) =>
      n.storagePoolDefineXML(this.handle, xml, flags),
    );
    return new StoragePool(h);
  }

  /** Creates and starts a transient pool. flags: virStoragePoolCreateFlags (WITH_BUILD, ...). */
  async createStoragePool(xml: string, flags = 0): Promise<StoragePool> {
    const h = await invoke('virStoragePoolCreateXML', { flags }, (n) =>
      n.storagePoolCreateXML(this.handle, xml, flags),
    );
    return new StoragePool(h);
  }

  async lookupVolumeByPath(path: string): Promise<StorageVolume> {
    const h = await invoke('virStorageVolLookupByPath', { path }, (n) =>
      n.storageVolLookupByPath(this.handle, path),
    );
    return new StorageVolume(h, path);
  }

  async lookupVolumeByKey(key: string): Promise<StorageVolume> {
    const h = await invoke('virStorageVolLookupByKey', { key }, (n) =>
      n.storageVolLookupByKey(this.handle, key),
    );
    return new StorageVolume(h, key);
  }

  async lookupSecretByUUID(uuid: string): Promise<Secret> {
    const h = await invoke('virSecretLookupByUUIDString', { uuid }, (n) =>
      n.secretLookupByUUIDString(this.handle, uuid),
    );
    return new Secret(h, uuid);
  }

  /** The secret of a `<usage type=…>`, e.g. ('ceph', 'volback-rbd/client.volback'). */
  async lookupSecretByUsage(usageType: SecretUsageType, usageId: string): Promise<Secret> {
    const type = secretUsageType(usageType);
    const h = await invoke('virSecretLookupByUsage', { usageType, usageId }, (n) =>
      n.secretLookupByUsage(this.handle, type, usageId),
    );
    return new Secret(h, `${usageType}:${usageId}`);
  }

  /**
   * Subscribes to a domain event (all domains, or `opts.domain`). The callback runs on the main
   * thread; a throwing callback is logged, never crashes the process. A subscription does not
   * keep Node alive. close() removes all subscriptions.
   */
  async onDomainEvent<K extends DomainEventKind>(
    kind: K,
    callback: (event: DomainEventMap[K]) => void,
    opts: { domain?: Domain } = {},
  ): Promise<Unsubscribe> {
    const eventId = EVENT_IDS[kind];
    const deliver = (ev: NativeDomainEvent) => {
      try {
        callback(ev as unknown as DomainEventMap[K]);
      } catch (err) {
        log.error('domain event callback threw', {
          kind,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    };
    // libvirt tracks one callback per connection, event and domain ("event callback already
    // tracked"), so subscribers of the same pair share one registration and a JS fan-out.
    const key = `${eventId}:${opts.domain ? await opts.domain.getUUIDString() : '*'}`;
    if (!this.fanouts.has(key)) await this.releasing.get(key)?.catch(() => undefined);
    let fanout = this.fanouts.get(key);
    if (!fanout) {
      const listeners = new Set<(ev: NativeDomainEvent) => void>();
      const registration = invoke(
        'virConnectDomainEventRegisterAny',
        { kind, domain: opts.domain?.label },
        (n) =>
          n.domainEventRegister(this.handle, opts.domain?.handle ?? null, eventId, (ev) => {
            for (const listener of [...listeners]) listener(ev);
          }),
      );
      const created: EventFanout = { registration, listeners };
      fanout = created;
      this.fanouts.set(key, created);
      registration.then(
        (id) => this.subscriptions.add(id),
        () => this.fanouts.get(key) === created && this.fanouts.delete(key),
      );
    }
    const shared = fanout;
    shared.listeners.add(deliver);
    try {
      await shared.registration;
    } catch (err) {
      shared.listeners.delete(deliver);
      throw err;
    }
    let subscribed = true;
    return async () => {
      if (!subscribed) return;
      subscribed = false;
      shared.listeners.delete(deliver);
      if (shared.listeners.size || this.fanouts.get(key) !== shared) return;
      this.fanouts.delete(key);
      const release = shared.registration.then((id) =>
        this.subscriptions.has(id) ? this.deregister(id) : undefined,
      );
      this.releasing.set(key, release);
      try {
        await release;
      } finally {
        if (this.releasing.get(key) === release) this.releasing.delete(key);
      }
    };
  }

  private async deregister(id: number): Promise<void> {
    this.subscriptions.delete(id);
    await invoke('virConnectDomainEventDeregisterAny', { callbackId: id }, (n) =>
      n.domainEventDeregister(this.handle, id),
    );
  }
}

/** Libvirt functions the addon wraps (for coverage checks and docs). */
export function wrappedFunctions(): string[] {
  return loadBinding().wrappedFunctions();
}
