// The rbd pool driver: backups in a Ceph RBD pool that many hypervisors share. A full backup is a raw
// RBD image; an incremental is a copy-on-write clone of its parent backup's image (libvirt's own
// vol-clone: a protected snapshot and a child), into which only the changed extents are written, so
// every backup reads as a whole image at its point in time. Documents are small RBD images.
//
// What is libvirt and what is librbd (docs/architecture.md, "The rbd driver"): libvirt creates,
// clones, lists and deletes the images; librbd (the addon in ./native, connected with the pool
// XML's monitors and the key from the pool's libvirt secret) writes and reads documents, lists
// layers, tells a clone's parent and flattens; QEMU reaches images through its own rbd driver with
// the key in a secret object, never in argv.
import { createHash } from 'node:crypto';
import { virStorageVolDeleteFlags, type StorageVolume } from '../../src/libvirt';
import { ErrorCodes, VolbackError } from '../../src/errors';
import type { DiskSource } from '../../src/model';
import type { ByteRange, CopyTarget, PoolDriver, PoolDriverFactory, PoolRef } from '../../src/pool/driver';
import type { PoolDriverRegistry } from '../../src/pool/registry';
import { refreshPool } from '../../src/pool/refresh';
import { openImageReader } from '../../src/tools/nbd';
import type { ImageRef, ImageSecret } from '../../src/tools/qemu-img';
import { parsePoolIdentity, volumeXml } from '../../src/xml/libvirt-storage';
import { cephAuthFromPool } from './auth';
import { parseRbdPoolSource, type RbdPoolSource } from '../../src/xml/libvirt-storage';
import { connectCeph, type CephCluster, type RbdPool } from './ceph';
import { isCephNotFound } from './ceph-errors';

/**
 * Object sizes (2^order bytes) of backup images. An incremental has 64 KiB objects, the granularity
 * of QEMU's dirty bitmaps, so it rewrites whole objects and Ceph copies nothing up from its parent. A
 * full has librbd's default 4 MiB objects: it is written whole, and small objects made it 2.3× slower
 * (docs/architecture.md, "The rbd driver", has both measurements). librbd lets a clone's objects differ
 * from its parent's.
 */
export const FULL_OBJECT_ORDER = 22;
export const INCREMENTAL_OBJECT_ORDER = 16;

/** What a pool's XML says of its Ceph side, checked: its Ceph pool, monitors, user and secret. */
interface Source {
  pool: string;
  hosts: Array<{ name: string; port?: number }>;
  auth?: { username: string; secretUuid: string };
}

/** The snapshot of a finished backup image its incrementals are cloned from (protected while cloned). */
export const BASE_SNAPSHOT = 'volback-base';

/** Makes sure `image@BASE_SNAPSHOT` exists and is protected; a backup image never changes once done. */
async function baseSnapshot(c: Connected, image: string): Promise<void> {
  const snap = (await c.rbd.snapshots(image)).find((s) => s.name === BASE_SNAPSHOT);
  if (!snap) await c.rbd.createSnapshot(image, BASE_SNAPSHOT);
  if (!snap?.protected) await c.rbd.protectSnapshot(image, BASE_SNAPSHOT);
}

/** One pool's Ceph side, connected once per opened pool. */
interface Connected {
  source: Source;
  cluster: CephCluster;
  rbd: RbdPool;
  /** The key as a QEMU secret object (undefined: the cluster runs without cephx). */
  secret?: ImageSecret;
}

const connections = new WeakMap<PoolRef, Promise<Connected>>();

/** QEMU object ids allow letters, digits, '-', '_' and '.'; one id per libvirt secret. */
const secretId = (secretUuid: string): string =>
  `volback-rbd-${createHash('sha256').update(secretUuid).digest('hex').slice(0, 12)}`;

async function sourceOf(pool: PoolRef): Promise<Source> {
  const xml: RbdPoolSource = await parseRbdPoolSource(pool.xml);
  if (!xml.cephPool) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `rbd pool ${pool.name}: its XML names no Ceph pool (<source><name>)`,
      {
        fault: 'user',
      },
    );
  }
  let auth: Source['auth'];
  if (xml.auth?.username) {
    let uuid = xml.auth.secretUuid;
    if (!uuid && xml.auth.secretUsage) {
      // A domain's <auth> names the secret by UUID; the pool may name it by usage.
      const secret = await pool.conn.lookupSecretByUsage('ceph', xml.auth.secretUsage);
      try {
        uuid = await secret.getUUIDString();
      } finally {
        secret.free();
      }
    }
    if (uuid) auth = { username: xml.auth.username, secretUuid: uuid };
  }
  return { pool: xml.cephPool, hosts: xml.hosts, auth };
}

async function connect(pool: PoolRef): Promise<Connected> {
  const source = await sourceOf(pool);
  const auth = await cephAuthFromPool(pool.conn, pool.xml);
  const cluster = await connectCeph(auth);
  try {
    const rbd = await cluster.pool(source.pool);
    // The key stays in memory for QEMU's and qemu-img's secret objects, as long as the pool is open.
    const secret =
      auth.key && source.auth ? { id: secretId(source.auth.secretUuid), value: auth.key } : undefined;
    return { source, cluster, rbd, secret };
  } catch (err) {
    auth.key?.fill(0);
    await cluster.close();
    throw err;
  }
}

/** The pool's Ceph connection, made on first use and kept until closePool. */
function ceph(pool: PoolRef): Promise<Connected> {
  let connected = connections.get(pool);
  if (!connected) {
    connected = connect(pool);
    connected.catch(() => connections.delete(pool));
    connections.set(pool, connected);
  }
  return connected;
}

/** An image's name in its Ceph pool: libvirt's volume name (volback's names need no escaping). */
const imageOf = (volume: StorageVolume): Promise<string> => volume.getName();

/** QEMU's rbd protocol node for `image` (blockdev-add / json: options), the key by secret id. */
function rbdNode(c: Connected, image: string): Record<string, unknown> {
  return {
    driver: 'rbd',
    pool: c.source.pool,
    image,
    server: c.source.hosts.map((h) => ({ host: h.name, port: String(h.port ?? 6789) })),
    ...(c.secret && c.source.auth ? { user: c.source.auth.username, 'key-secret': c.secret.id } : {}),
  };
}

const rawVolume = (name: string, capacity: number): string => volumeXml({ name, capacity, format: 'raw' });

/** Extents stored by an image's own layer; for a clone also the ranges where it hides its parent. */
async function ownRanges(c: Connected, image: string): Promise<ByteRange[]> {
  const clone = (await c.rbd.parent(image)) !== undefined;
  const out: ByteRange[] = [];
  for (const e of await c.rbd.layerExtents(image)) {
    if (!e.exists && !clone) continue; // a hole of a full image stores nothing
    const last = out[out.length - 1];
    if (last && last.start + last.length === e.offset) last.length += e.length;
    else out.push({ start: e.offset, length: e.length });
  }
  return out;
}

function refuseFormat(what: string, name: string, format: string): never {
  throw new VolbackError(
    ErrorCodes.INVALID_INPUT,
    `${what} ${name} must be raw: rbd pools hold raw images (got ${format})`,
    { fault: 'user', hint: 'use format raw for volumes in rbd pools' },
  );
}

export const createRbdDriver: PoolDriverFactory = () => {
  const driver: PoolDriver = {
    type: 'rbd',
    capabilities: {
      fullFormats: ['raw'],
      incremental: { kind: 'clone' },
      // libvirt 9.0's push job writes only file and block targets.
      libvirtPushTarget: false,
      qmpTarget: 'node',
      hostCopySource: false,
      // Images are raw (librbd, no qcow2 layer to hold LUKS): encrypted backups are refused here.
      encryptedVolumes: false,
      // A clone's parent is librbd's business: libvirt sees no chain to pull, so the clone is flattened.
      liveLayerFill: 'rebase',
      // Images are raw: no qcow2 clusters to compress.
      compressedClusters: false,
    },

    async describePool(xml) {
      const { type } = await parsePoolIdentity(xml);
      if (type !== 'rbd') throw new Error(`the rbd driver cannot describe a pool of type ${type}`);
      return {};
    },

    async createBackupVolume(pool, spec) {
      if (spec.format !== 'raw') refuseFormat('backup volume', spec.name, spec.format);
      const c = await ceph(pool);
      if (spec.parent) await baseSnapshot(c, await imageOf(spec.parent));
      // librbd, not libvirt, makes backup images: libvirt cannot choose the object size (its clones
      // take 4 MiB objects), and 4 MiB objects would make each incremental copy whole objects (Ceph's
      // copy-up from the parent, and QEMU's backup job, which copies in the target's object size).
      if (spec.parent)
        await c.rbd.clone(await imageOf(spec.parent), BASE_SNAPSHOT, spec.name, {
          order: INCREMENTAL_OBJECT_ORDER,
        });
      else await c.rbd.create(spec.name, spec.capacity, { order: FULL_OBJECT_ORDER });
      try {
        await refreshPool(pool, { required: true }); // libvirt lists what it saw at its last refresh
        return await pool.pool.lookupVolumeByName(spec.name);
      } catch (err) {
        await c.rbd.remove(spec.name).catch(() => undefined);
        throw err;
      }
    },

    async createRestoreVolume(pool, spec) {
      if (spec.format !== 'raw') refuseFormat('restored volume', spec.name, spec.format);
      return pool.pool.createVolume(rawVolume(spec.name, spec.capacity));
    },

    async createLiveRestoreVolume(pool, spec, source) {
      if (spec.format !== 'raw') refuseFormat('live restore layer', spec.name, spec.format);
      const c = await ceph(pool);
      const prefix = `${c.source.pool}/`;
      const sameCluster =
        source.type === 'network' &&
        source.protocol === 'rbd' &&
        source.name.startsWith(prefix) &&
        source.hosts.every((h) => c.source.hosts.some((m) => m.name === h.name && m.port === h.port));
      if (!sameCluster) {
        throw new VolbackError(
          ErrorCodes.POOL_UNSUPPORTED,
          `rbd pool '${pool.name}' can run a restored disk only over a backup in its own Ceph pool (${c.source.pool})`,
          { fault: 'user', hint: 'restore live into the pool of the backup, or restore without --live' },
        );
      }
      // A clone of the backup image's protected snapshot: copy-on-write, the backup itself never written.
      const parent = source.name.slice(prefix.length);
      await baseSnapshot(c, parent);
      await c.rbd.clone(parent, BASE_SNAPSHOT, spec.name, { order: FULL_OBJECT_ORDER });
      try {
        await refreshPool(pool, { required: true });
        return await pool.pool.lookupVolumeByName(spec.name);
      } catch (err) {
        await c.rbd.remove(spec.name).catch(() => undefined);
        throw err;
      }
    },

    async copyTarget(pool, volume): Promise<CopyTarget> {
      const c = await ceph(pool);
      return {
        format: 'raw',
        qemu: { via: 'node', node: rbdNode(c, await imageOf(volume)), secrets: c.secret ? [c.secret] : [] },
      };
    },

    async storedBytes(pool, volume) {
      const c = await ceph(pool);
      const image = await imageOf(volume);
      const extents = await c.rbd.layerExtents(image);
      return extents.filter((e) => e.exists).reduce((sum, e) => sum + e.length, 0);
    },

    async layerExtents(pool, volume) {
      return ownRanges(await ceph(pool), await imageOf(volume));
    },

    async openReader(pool, volume) {
      // qemu-nbd, read-only, through QEMU's rbd driver: a clone reads through its parents.
      return openImageReader(await driver.image(pool, volume));
    },

    async image(pool, volume): Promise<ImageRef> {
      const c = await ceph(pool);
      const node = { driver: 'raw', file: rbdNode(c, await imageOf(volume)) };
      return { path: `json:${JSON.stringify(node)}`, format: 'raw', secrets: c.secret ? [c.secret] : [] };
    },

    async diskSource(pool, volume): Promise<DiskSource> {
      const c = await ceph(pool);
      return {
        type: 'network',
        format: 'raw',
        protocol: 'rbd',
        name: `${c.source.pool}/${await imageOf(volume)}`,
        hosts: c.source.hosts,
        ...(c.source.auth
          ? {
              auth: {
                username: c.source.auth.username,
                secretType: 'ceph',
                secretUuid: c.source.auth.secretUuid,
              },
            }
          : {}),
      };
    },

    async checkLayer(pool, volume, parent) {
      const c = await ceph(pool);
      const image = await imageOf(volume);
      let actual;
      try {
        await c.rbd.size(image);
        actual = await c.rbd.parent(image);
      } catch (err) {
        return [`rbd image ${c.source.pool}/${image} cannot be opened: ${(err as Error).message}`];
      }
      if (!parent) {
        return actual ? [`rbd image ${image} is a clone of ${actual.image}, but it should stand alone`] : [];
      }
      // A flattened incremental (a merge flattens the child: clones cannot change parent) holds its
      // whole point in time and stands alone: sound.
      if (!actual) return [];
      const expected = await imageOf(parent);
      return actual.pool === c.source.pool && actual.image === expected
        ? []
        : [`rbd image ${image} is a clone of ${actual.pool}/${actual.image}, not of its parent ${expected}`];
    },

    async rebase(pool, volume) {
      // An RBD clone cannot be moved to another parent: it takes in all its parent's data instead
      // (rbd_flatten), which keeps its content. An interrupted flatten leaves the clone on its parent,
      // still reading the same, and the next run finishes it; an image without parent is done.
      const c = await ceph(pool);
      const image = await imageOf(volume);
      if (await c.rbd.parent(image)) await c.rbd.flatten(image);
      await refreshPool(pool); // only libvirt's allocation figures change
    },

    deleteVolume(_pool, volume) {
      // Also removes the protected snapshots libvirt made for clones; with a clone still on one, Ceph
      // refuses to unprotect it, so a parent is never removed under its children.
      return volume.delete(virStorageVolDeleteFlags.VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS);
    },

    async holdsVolume(pool, name) {
      return (await ceph(pool)).rbd.size(name).then(
        () => true,
        (err: unknown) => {
          if (isCephNotFound(err)) return false;
          throw err;
        },
      );
    },

    async listVolumeNames(pool) {
      // librbd, not libvirt: libvirt lists what it saw at its last refresh, and refreshing opens
      // every image (seconds per thousand). A lookup of an image it has not seen yet refreshes
      // (findVolume, holdsVolume).
      return (await ceph(pool)).rbd.list();
    },

    async writeDocumentVolume(pool, name, bytes) {
      const c = await ceph(pool);
      // libvirt refuses a volume of 0 bytes; an empty document (a generation marker) reads as one zero.
      const volume = await pool.pool.createVolume(rawVolume(name, Math.max(bytes.length, 1)));
      try {
        await c.rbd.write(name, 0, bytes);
      } catch (err) {
        await volume.delete().catch(() => undefined);
        throw err;
      } finally {
        volume.free();
      }
    },

    async readDocumentVolumes(pool, names, maxBytes) {
      const c = await ceph(pool);
      const read = await c.rbd.readMany(names, maxBytes);
      return read.map((r) =>
        'bytes' in r ? { name: r.image, bytes: r.bytes } : { name: r.image, error: r.error },
      );
    },

    async closePool(pool) {
      const connected = connections.get(pool);
      connections.delete(pool);
      const c = await connected?.catch(() => undefined);
      c?.secret?.value.fill(0);
      await c?.cluster.close();
    },
  };
  return driver;
};

/** Registers the rbd driver (libvirt pool type `rbd`). */
export function registerRbdDriver(registry: PoolDriverRegistry): void {
  registry.register({ type: 'rbd', create: () => createRbdDriver() });
}
