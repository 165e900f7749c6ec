// The rbd driver's in-process view of a Ceph cluster: a typed, promise-based facade over the
// volback_ceph addon (librados + librbd), for what libvirt's rbd backend cannot do.
import os from 'node:os';
import { ErrorCodes, VolbackError } from '../../src/errors';
import { logger } from '../../src/log';
import { CephError, fromNativeCeph } from './ceph-errors';
import { loadCephBinding, type CephBinding, type CephHandle } from './native';

const log = logger('ceph');

export interface CephAuth {
  /** Monitors as host:port, from the libvirt pool XML's <source><host name port>. */
  monHosts: string[];
  /** cephx user without the `client.` prefix; undefined: auth none. */
  user?: string;
  /** The key as libvirt's secret holds it (base64 text bytes, as `ceph auth get-key` prints). Kept only in memory. */
  key?: Buffer;
}
export interface RbdExtent {
  offset: number;
  length: number;
  /** false: a discarded/zeroed range this layer hides */
  exists: boolean;
}
export interface RbdParentInfo {
  pool: string;
  image: string;
  snapshot: string;
}
export interface RbdSnapshot {
  name: string;
  size: number;
  protected: boolean;
}
export type RbdRead = { image: string; bytes: Buffer } | { image: string; error: Error };

export interface CephCluster {
  /** An I/O context on a pool (namespace '' ). */
  pool(name: string): Promise<RbdPool>;
  /** Shuts the cluster handle down (all pools). Idempotent. */
  close(): Promise<void>;
}
export interface RbdPool {
  size(image: string): Promise<number>;
  /** Creates a format-2 image with layering (for documents); fails with EEXIST when it exists. */
  /** `order`: object size 2^order bytes (12..25; default librbd's 22, 4 MiB). */
  create(image: string, size: number, options?: { order?: number }): Promise<void>;
  /** Names of every image in the pool (rbd_list2), one call. */
  list(): Promise<string[]>;
  write(image: string, offset: number, data: Buffer): Promise<void>; // then flush
  read(image: string, offset: number, length: number): Promise<Buffer>; // read-only open
  /** Reads up to maxBytes of each image, many at once on native threads (a catalog scan reads thousands: keep it
   *  fast: one connected cluster, concurrent aio or a small thread pool, no process per image). Results follow
   *  `images`; one unreadable image (missing, larger than maxBytes) gives an error entry, not a rejection. */
  readMany(images: readonly string[], maxBytes: number): Promise<RbdRead[]>;
  /** Extents this image's own layer stores (rbd_diff_iterate2 from the image's creation, include_parent=false,
   *  whole_object=false), sorted, adjacent merged. */
  layerExtents(image: string): Promise<RbdExtent[]>;
  parent(image: string): Promise<RbdParentInfo | undefined>;
  /** Images cloned from image@snapshot (rbd_list_children3 or equivalent), as "pool/image". */
  children(image: string, snapshot: string): Promise<string[]>;
  snapshots(image: string): Promise<RbdSnapshot[]>;
  createSnapshot(image: string, snapshot: string): Promise<void>;
  protectSnapshot(image: string, snapshot: string): Promise<void>;
  unprotectSnapshot(image: string, snapshot: string): Promise<void>;
  removeSnapshot(image: string, snapshot: string): Promise<void>;
  /** `order`: the child's own object size 2^order (default: the parent's). */
  clone(parent: string, snapshot: string, child: string, options?: { order?: number }): Promise<void>;
  /** Copies all parent data into the image and detaches it from its parent (rbd_flatten). */
  flatten(image: string): Promise<void>;
  remove(image: string): Promise<void>;
}

export interface ConnectOptions {
  /** client_mount_timeout, rados_mon_op_timeout and rados_osd_op_timeout, in seconds (default 30). */
  timeoutSeconds?: number;
}

/** Threads of one readMany: enough to keep the OSD busy with small reads on a 2-core host. */
export const READ_MANY_THREADS = 16;

const DEFAULT_TIMEOUT_SECONDS = 30;
/** Linux's ESHUTDOWN, which node's os.constants.errno does not list; the addon uses the same. */
const ESHUTDOWN = 108;

/**
 * Runs one addon call: debug-logs what it acts on (never data or keys) and turns a rejection into
 * a CephError carrying the caller's JS stack.
 */
async function call<T>(
  what: string,
  args: Record<string, unknown>,
  op: (n: CephBinding) => Promise<T>,
): Promise<T> {
  const caller: { stack?: string } = {};
  Error.captureStackTrace(caller, call);
  log.debug(what, args);
  try {
    return await op(loadCephBinding());
  } catch (err) {
    throw fromNativeCeph(err, caller.stack);
  }
}

function invalid(message: string): VolbackError {
  return new VolbackError(ErrorCodes.INVALID_INPUT, message, { fault: 'user' });
}

// host, host:port, [v6]:port — what Ceph's mon_host takes, without a v1:/v2: prefix.
const MON_HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?$/;

/** Checks auth before anything connects; the key is never part of a message. */
function checkAuth(auth: CephAuth): void {
  if (!Array.isArray(auth.monHosts) || auth.monHosts.length === 0)
    throw invalid('connectCeph: no monitor given (monHosts is empty)');
  for (const h of auth.monHosts) {
    if (typeof h !== 'string' || !MON_HOST.test(h))
      throw invalid(`connectCeph: monitor ${JSON.stringify(h)} is not host or host:port`);
  }
  if (auth.user !== undefined) {
    if (typeof auth.user !== 'string' || !/^[A-Za-z0-9_.@-]+$/.test(auth.user))
      throw invalid(`connectCeph: cephx user ${JSON.stringify(auth.user)} is not a Ceph entity name`);
    if (auth.user.startsWith('client.'))
      throw invalid(`connectCeph: give the cephx user without its "client." prefix (${auth.user.slice(7)})`);
    if (!Buffer.isBuffer(auth.key) || auth.key.length === 0)
      throw invalid(`connectCeph: cephx user ${auth.user} has no key`);
  } else if (auth.key !== undefined) {
    throw invalid('connectCeph: a key was given without a cephx user');
  }
}

/** Connects (rados_create2 "client.<user>", conf set mon_host/key/auth_* in memory, NO config file read and no
 *  keyring file: rados_conf_set "key"), with timeouts (client_mount_timeout, rados_osd_op_timeout,
 *  rados_mon_op_timeout ≈ 30 s) so a dead cluster fails instead of hanging. The key bytes are zeroed after use:
 *  the addon's own copy, as soon as librados has it; `auth.key` itself stays the caller's to wipe. */
export async function connectCeph(auth: CephAuth, opts: ConnectOptions = {}): Promise<CephCluster> {
  checkAuth(auth);
  const timeout = opts.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3600)
    throw invalid(`connectCeph: timeoutSeconds must be a whole number of seconds, 1..3600 (got ${timeout})`);
  const monHost = auth.monHosts.join(',');
  const handle = await call(
    'rados_connect',
    { monHosts: auth.monHosts, user: auth.user ?? null, timeout },
    (n) => n.connect(monHost, auth.user ?? null, auth.key ?? null, timeout),
  );
  return new Cluster(handle, `${auth.user ? `client.${auth.user}` : 'auth none'}@${monHost}`);
}

class Cluster implements CephCluster {
  private readonly pools = new Map<string, Promise<RbdPool>>();
  private closing?: Promise<void>;

  constructor(
    private readonly handle: CephHandle,
    readonly label: string,
  ) {}

  pool(name: string): Promise<RbdPool> {
    if (typeof name !== 'string' || name === '')
      return Promise.reject(invalid('pool: the pool name is empty'));
    if (this.closing)
      return Promise.reject(
        new CephError(ESHUTDOWN, `pool ${name}: the Ceph cluster handle (${this.label}) is closed`),
      );
    let p = this.pools.get(name);
    if (!p) {
      p = call('rados_ioctx_create', { pool: name }, (n) => n.poolOpen(this.handle, name)).then(
        (h) => new Pool(h, name),
      );
      this.pools.set(name, p);
      p.catch(() => this.pools.delete(name));
    }
    return p;
  }

  close(): Promise<void> {
    this.closing ??= call('rados_shutdown', { cluster: this.label }, (n) => n.close(this.handle));
    return this.closing;
  }
}

function checkImage(what: string, image: string): void {
  if (typeof image !== 'string' || image === '') throw invalid(`${what}: the image name is empty`);
}

/** An object size as librbd takes it: 0 (librbd's choice) or 2^12..2^25 bytes. */
function checkOrder(what: string, order = 0): number {
  if (order !== 0 && !(Number.isInteger(order) && order >= 12 && order <= 25))
    throw new RangeError(`${what}: object order ${order} is outside 12..25`);
  return order;
}

class Pool implements RbdPool {
  constructor(
    private readonly h: CephHandle,
    readonly name: string,
  ) {}

  private run<T>(
    what: string,
    args: Record<string, unknown>,
    op: (n: CephBinding) => Promise<T>,
  ): Promise<T> {
    return call(what, { pool: this.name, ...args }, op);
  }

  async size(image: string): Promise<number> {
    checkImage('size', image);
    return this.run('rbd_get_size', { image }, (n) => n.imageSize(this.h, image));
  }

  async create(image: string, size: number, options: { order?: number } = {}): Promise<void> {
    checkImage('create', image);
    const order = checkOrder(`create(${image})`, options.order);
    return this.run('rbd_create4', { image, size, order }, (n) => n.imageCreate(this.h, image, size, order));
  }

  async list(): Promise<string[]> {
    return this.run('rbd_list2', {}, (n) => n.poolImages(this.h));
  }

  async write(image: string, offset: number, data: Buffer): Promise<void> {
    checkImage('write', image);
    return this.run('rbd_write', { image, offset, length: data.length }, (n) =>
      n.imageWrite(this.h, image, offset, data),
    );
  }

  async read(image: string, offset: number, length: number): Promise<Buffer> {
    checkImage('read', image);
    return this.run('rbd_read', { image, offset, length }, (n) => n.imageRead(this.h, image, offset, length));
  }

  async readMany(images: readonly string[], maxBytes: number): Promise<RbdRead[]> {
    images.forEach((image) => checkImage('readMany', image));
    if (images.length === 0) return [];
    const raw = await this.run('readMany', { images: images.length, maxBytes }, (n) =>
      n.readMany(this.h, images, maxBytes, READ_MANY_THREADS),
    );
    return raw.map((r) =>
      r.bytes
        ? { image: r.image, bytes: r.bytes }
        : { image: r.image, error: new CephError(r.errno ?? os.constants.errno.EIO, r.message ?? '') },
    );
  }

  async layerExtents(image: string): Promise<RbdExtent[]> {
    checkImage('layerExtents', image);
    const flat = await this.run('rbd_diff_iterate2', { image }, (n) => n.imageLayerExtents(this.h, image));
    const out: RbdExtent[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      out.push({ offset: flat[i] as number, length: flat[i + 1] as number, exists: flat[i + 2] as boolean });
    }
    return out;
  }

  async parent(image: string): Promise<RbdParentInfo | undefined> {
    checkImage('parent', image);
    return (await this.run('rbd_get_parent', { image }, (n) => n.imageParent(this.h, image))) ?? undefined;
  }

  async children(image: string, snapshot: string): Promise<string[]> {
    checkImage('children', image);
    return this.run('rbd_list_children3', { image, snapshot }, (n) =>
      n.imageChildren(this.h, image, snapshot),
    );
  }

  async snapshots(image: string): Promise<RbdSnapshot[]> {
    checkImage('snapshots', image);
    return this.run('rbd_snap_list', { image }, (n) => n.imageSnapshots(this.h, image));
  }

  async createSnapshot(image: string, snapshot: string): Promise<void> {
    checkImage('createSnapshot', image);
    return this.run('rbd_snap_create', { image, snapshot }, (n) => n.snapCreate(this.h, image, snapshot));
  }

  async protectSnapshot(image: string, snapshot: string): Promise<void> {
    checkImage('protectSnapshot', image);
    return this.run('rbd_snap_protect', { image, snapshot }, (n) => n.snapProtect(this.h, image, snapshot));
  }

  async unprotectSnapshot(image: string, snapshot: string): Promise<void> {
    checkImage('unprotectSnapshot', image);
    return this.run('rbd_snap_unprotect', { image, snapshot }, (n) =>
      n.snapUnprotect(this.h, image, snapshot),
    );
  }

  async removeSnapshot(image: string, snapshot: string): Promise<void> {
    checkImage('removeSnapshot', image);
    return this.run('rbd_snap_remove', { image, snapshot }, (n) => n.snapRemove(this.h, image, snapshot));
  }

  async clone(
    parent: string,
    snapshot: string,
    child: string,
    options: { order?: number } = {},
  ): Promise<void> {
    checkImage('clone', parent);
    checkImage('clone', child);
    const order = checkOrder(`clone(${child})`, options.order);
    return this.run('rbd_clone3', { parent, snapshot, child, order }, (n) =>
      n.imageClone(this.h, parent, snapshot, child, order),
    );
  }

  async flatten(image: string): Promise<void> {
    checkImage('flatten', image);
    return this.run('rbd_flatten', { image }, (n) => n.imageFlatten(this.h, image));
  }

  async remove(image: string): Promise<void> {
    checkImage('remove', image);
    return this.run('rbd_remove', { image }, (n) => n.imageRemove(this.h, image));
  }
}
