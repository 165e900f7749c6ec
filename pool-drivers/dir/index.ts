// The dir pool driver: backups are qcow2 (compat 1.1) or raw files; an incremental is a qcow2 overlay
// whose backing file is its parent's volume, so the chain is plain qcow2 that any tool can read.
// Documents are small raw files written and read through libvirt's volume streams.
import { existsSync, lstatSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { isLibvirtError, type Connection, type StoragePool, type StorageVolume } from '../../src/libvirt';
import { ErrorCodes, VolbackError } from '../../src/errors';
import type { VolumeFormat } from '../../src/model';
import type {
  ChainKey,
  NewBackupVolume,
  NewPlainVolume,
  PoolDriver,
  PoolDriverFactory,
  PoolRef,
} from '../../src/pool/driver';
import type { PoolDriverRegistry } from '../../src/pool/registry';
import { streamIntoVolume } from '../../src/host/block-stream';
import { kindOf } from '../../src/host/connection-kind';
import {
  backingProblems,
  descriptorTarget,
  hostImageReads,
  isLocalPool,
  remoteBacking,
  withRemoteChain,
} from '../../src/pool/host-images';
import { refreshPool } from '../../src/pool/refresh';
import { startPool } from '../../src/pool/start';
import { downloadVolumes, uploadNewVolume } from '../../src/pool/volume-streams';
import {
  dirPoolXml,
  parsePoolIdentity,
  parsePoolTargetPath,
  parsePoolTargetMode,
  parseVolumeXml,
  volumeXml,
} from '../../src/xml/libvirt-storage';
import { run } from '../../src/tools/exec';
import {
  checkImage,
  createZstdQcow2Argv,
  imageInfo,
  keyedImage,
  keyedLayer,
  rebaseArgv,
  rebaseUnsafeArgv,
  retryPbkdfGlitch,
  secretPipes,
  type ImageRef,
} from '../../src/tools/qemu-img';
import { mergeEncryptedLayers } from './encrypted-merge';

export interface DirDriverOptions {
  /** Permission bits of every volume the driver creates (octal string); default `0600`, owner only. */
  volumeMode?: string;
}

/** Only the owner (root) reads and writes backups unless the admin widens it to a group. */
const ALLOWED_MODES = ['0600', '0640', '0660'];

/** The volume's file and format, from its libvirt XML (volback's volumes are raw or qcow2). */
async function imageOf(volume: StorageVolume): Promise<ImageRef & { format: VolumeFormat }> {
  const { path, format } = await parseVolumeXml(await volume.getXMLDesc());
  return { path: path ?? (await volume.getPath()), format: format === 'raw' ? 'raw' : 'qcow2' };
}

/**
 * The volume as QEMU's tools open it: with `key`, an encrypted chain's layers each get it (keyedImage;
 * local files only, the chain's headers are read here).
 */
async function keyedImageOf(volume: StorageVolume, key?: ChainKey): Promise<ImageRef> {
  const image = await imageOf(volume);
  return key ? keyedImage(image, key) : image;
}

/**
 * An encrypted backup volume: libvirt creates it LUKS-encrypted qcow2 (compat 1.1, as every backup)
 * with the secret's passphrase. Only on the host volback runs on: the copy, the checksums and every
 * later read open the files with the key here (docs/encryption.md).
 */
async function createEncryptedVolume(
  pool: PoolRef,
  spec: NewBackupVolume | NewPlainVolume,
  xml: (encryption: NonNullable<NewBackupVolume['encryption']>) => string,
): Promise<StorageVolume> {
  if (spec.format !== 'qcow2' || !(await isLocalPool(pool))) {
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `dir pool '${pool.name}' makes encrypted volumes only as qcow2 on the host volback runs on`,
      { fault: 'user' },
    );
  }
  const volumeXml = xml(spec.encryption!);
  return retryPbkdfGlitch(() => pool.pool.createVolume(volumeXml));
}

/** A pool path as given, normalised; refused unless absolute (on this host or the remote one). */
function absolutePoolPath(path: string): string {
  if (!path.startsWith('/')) {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `pool path ${path} is not absolute`, { fault: 'user' });
  }
  return posix.resolve(path);
}

/**
 * Where a new dir pool may live: an absolute path, normalised; an existing one must be a real
 * directory (not a symlink) that only its owner can write, or backups could be swapped under it.
 */
function checkPoolPath(path: string): { path: string; exists: boolean } {
  const normal = absolutePoolPath(path);
  let stat;
  try {
    stat = lstatSync(normal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path: normal, exists: false };
    throw err;
  }
  if (!stat.isDirectory()) {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `pool path ${normal} exists and is not a directory`, {
      fault: 'user',
    });
  }
  if ((stat.mode & 0o022) !== 0) throw openDirectory(normal, stat.mode & 0o7777);
  return { path: normal, exists: true };
}

/** The refusal of a directory others can write: anyone could put volumes into a backup pool there. */
const openDirectory = (path: string, mode: number): VolbackError =>
  new VolbackError(
    ErrorCodes.INVALID_INPUT,
    `directory ${path} is writable by other users (mode ${mode.toString(8)}): anyone could put volumes into a backup pool there`,
    {
      fault: 'user',
      hint: 'choose a directory only its owner can write, or a path that does not exist yet (volback creates it 0711)',
    },
  );

/** Defines a pool from `xml` and runs `start` on it; on failure it is stopped and undefined again. */
async function withNewPool(
  conn: Connection,
  xml: string,
  start: (pool: StoragePool) => Promise<void>,
): Promise<void> {
  const pool = await conn.defineStoragePool(xml);
  try {
    await start(pool);
  } catch (err) {
    await pool.destroy().catch(() => undefined);
    await pool.undefine().catch(() => undefined);
    throw err;
  } finally {
    pool.free();
  }
}

/**
 * createPool on a host volback does not run on, where its files cannot be looked at: libvirt starts
 * the pool if the directory exists there (whose mode it then reports and volback checks as it does
 * locally), else builds it 0711. Nothing stays defined on failure.
 */
async function createRemotePool(conn: Connection, spec: { name: string; path: string }): Promise<void> {
  const path = absolutePoolPath(spec.path);
  const finish = async (pool: StoragePool): Promise<void> => {
    const mode = await parsePoolTargetMode(await pool.getXMLDesc());
    if (mode === undefined || (mode & 0o022) !== 0) throw openDirectory(path, mode ?? 0o777);
    await pool.setAutostart(true);
  };
  const existed = await withNewPool(conn, dirPoolXml(spec.name, path, true), async (pool) => {
    await pool.create();
    await finish(pool);
  }).then(
    () => true,
    (err: unknown) => {
      if (!isLibvirtError(err)) throw err; // the mode check's refusal
      return false; // libvirt could not start the pool: the directory is not there, so make it
    },
  );
  if (!existed)
    await withNewPool(conn, dirPoolXml(spec.name, path, false), async (pool) => {
      await pool.build();
      await pool.create();
      await finish(pool);
    });
}

/** Creates the dir driver; `options` are checked here, before any pool is touched. */
export const createDirDriver: PoolDriverFactory<DirDriverOptions> = (options = {}) => {
  const mode = options.volumeMode ?? '0600';
  if (!ALLOWED_MODES.includes(mode)) {
    throw new VolbackError(
      ErrorCodes.CONFIG,
      `dir driver: volumeMode must be one of ${ALLOWED_MODES.join(', ')}, got ${mode}`,
      {
        fault: 'user',
      },
    );
  }
  const fileVolume = (
    name: string,
    capacity: number,
    format: VolumeFormat,
    backing?: ImageRef,
    encryption?: NewBackupVolume['encryption'],
  ): string =>
    volumeXml({
      encryption,
      name,
      type: 'file',
      capacity,
      allocation: 0,
      format,
      compat: format === 'qcow2' ? '1.1' : undefined,
      mode,
      backingStore: backing && { path: backing.path, format: backing.format as VolumeFormat },
    });

  /**
   * A backup volume for compressed clusters: libvirt creates the file (name, mode, its view of the
   * pool), then qemu-img formats it again with compression_type=zstd, which libvirt cannot ask for.
   * Only where volback runs on the pool's host; the volume is removed again when formatting fails.
   */
  const createCompressedVolume = async (
    pool: PoolRef,
    spec: NewBackupVolume,
    backing: ImageRef | undefined,
  ): Promise<StorageVolume> => {
    if (spec.format !== 'qcow2' || !(await isLocalPool(pool))) {
      throw new VolbackError(
        ErrorCodes.POOL_UNSUPPORTED,
        `dir pool '${pool.name}' makes compressed ${spec.format === 'qcow2' ? 'volumes only on the host volback runs on' : 'volumes only as qcow2'}`,
        { fault: 'user' },
      );
    }
    const volume = await pool.pool.createVolume(fileVolume(spec.name, spec.capacity, 'qcow2', backing));
    try {
      // libvirt reads the header again whenever the volume's XML is asked for.
      await run(createZstdQcow2Argv((await imageOf(volume)).path, spec.capacity, backing));
      return volume;
    } catch (err) {
      await volume.delete().catch(() => undefined);
      volume.free();
      throw err;
    }
  };

  const driver: PoolDriver = {
    type: 'dir',
    capabilities: {
      fullFormats: ['qcow2', 'raw'],
      incremental: { kind: 'overlay', format: 'qcow2' },
      libvirtPushTarget: true,
      qmpTarget: 'fd',
      hostCopySource: true,
      liveLayerFill: 'block-pull',
      encryptedVolumes: true,
      compressedClusters: true,
    },

    async describePool(xml) {
      const { type } = await parsePoolIdentity(xml);
      if (type !== 'dir') throw new Error(`the dir driver cannot describe a pool of type ${type}`);
      return { path: await parsePoolTargetPath(xml) };
    },

    async createPool(conn: Connection, spec) {
      if (!(await kindOf(conn)).local) return createRemotePool(conn, spec);
      const { path, exists } = checkPoolPath(spec.path);
      await withNewPool(conn, dirPoolXml(spec.name, path, exists), async (pool) => {
        if (!exists) await pool.build();
        // Another process may have started the pool this one just defined: failing here would make
        // the clean-up undefine it under the other.
        await startPool(pool);
        await pool.setAutostart(true);
      });
    },

    async createBackupVolume(pool, spec) {
      let backing: ImageRef | undefined;
      if (spec.parent) {
        // An overlay is qcow2 whatever its parent is: qcow2 on a raw parent is valid qcow2.
        if (spec.format !== 'qcow2') {
          throw new VolbackError(
            ErrorCodes.INVALID_INPUT,
            `incremental backup ${spec.name} must be qcow2: dir pools keep increments as qcow2 overlays`,
            { fault: 'user' },
          );
        }
        backing = await imageOf(spec.parent);
      }
      if (spec.compression) return createCompressedVolume(pool, spec, backing);
      if (spec.encryption)
        return createEncryptedVolume(pool, spec, (enc) =>
          fileVolume(spec.name, spec.capacity, spec.format, backing, enc),
        );
      return pool.pool.createVolume(fileVolume(spec.name, spec.capacity, spec.format, backing));
    },

    createRestoreVolume(pool, spec) {
      if (spec.encryption)
        return createEncryptedVolume(pool, spec, (enc) =>
          fileVolume(spec.name, spec.capacity, spec.format, undefined, enc),
        );
      return pool.pool.createVolume(fileVolume(spec.name, spec.capacity, spec.format));
    },

    async createLiveRestoreVolume(pool, spec, source) {
      // A qcow2 overlay over the backup's file (or device): QEMU follows its chain, libvirt sees it.
      if (source.type === 'network') {
        throw new VolbackError(
          ErrorCodes.POOL_UNSUPPORTED,
          `dir pool '${pool.name}' cannot run a restored disk over a ${source.protocol} image: its overlays stand on files and devices of this host`,
          {
            fault: 'user',
            hint: "restore live into a pool of the backup's own type, or restore without --live",
          },
        );
      }
      if (spec.format !== 'qcow2') {
        throw new VolbackError(
          ErrorCodes.INVALID_INPUT,
          `a live restore into dir pool '${pool.name}' makes qcow2 overlays, not ${spec.format}`,
          { fault: 'user' },
        );
      }
      const backing = { path: source.type === 'file' ? source.file : source.dev, format: source.format };
      return pool.pool.createVolume(fileVolume(spec.name, spec.capacity, 'qcow2', backing));
    },

    copyVolume(pool, spec, source) {
      // libvirt runs qemu-img convert on the host, which reads the source through its backing chain.
      return pool.pool.createVolumeFrom(fileVolume(spec.name, spec.capacity, spec.format), source);
    },

    async openUpload(_pool, volume, length) {
      // A raw file's bytes are its guest bytes; libvirt punches the holes.
      return volume.upload({ offset: 0, length, sparse: true });
    },

    createScratchVolume(pool, spec) {
      return pool.pool.createVolume(fileVolume(spec.name, spec.capacity, 'qcow2'));
    },

    async copyTarget(_pool, volume, key) {
      const { path, format } = await imageOf(volume);
      return { ...descriptorTarget(path, format, 'file'), ...(key ? { key } : {}) };
    },

    ...hostImageReads(keyedImageOf),

    async image(pool, volume, key) {
      // A remote host's file is no file for this machine's qemu-img: the key goes with reads there.
      return key && (await isLocalPool(pool)) ? keyedImageOf(volume, key) : imageOf(volume);
    },

    async diskSource(_pool, volume) {
      const { path, format } = await imageOf(volume);
      return { type: 'file', file: path, format };
    },

    async checkLayer(pool, volume, parent, key) {
      const image = await imageOf(volume);
      let actual: string | undefined;
      if (await isLocalPool(pool)) {
        const problems = await checkImage(await keyedImageOf(volume, key));
        if (problems.length) return problems;
        const backing = (await imageInfo(image)).backingFile;
        actual = backing === undefined ? undefined : resolve(dirname(image.path), backing);
      } else {
        // Opening the chain reads and checks every header against libvirt's backing names.
        const opened = await remoteBacking(pool, volume, {}, image.path);
        if (Array.isArray(opened)) return opened;
        actual = opened.backing;
      }
      return backingProblems(image.path, actual, parent ? resolve((await imageOf(parent)).path) : undefined);
    },

    async rebaseRefusal(pool, encrypted) {
      // An encrypted layer is rebuilt through its key by qemu-img here (encrypted-merge.ts).
      if (encrypted && !(await isLocalPool(pool)))
        return `dir pool '${pool.name}' merges encrypted volumes only on the host volback runs on`;
      return undefined;
    },

    async rebase(pool, volume, newBacking, key) {
      const image = await imageOf(volume);
      if (image.format !== 'qcow2') {
        throw new VolbackError(
          ErrorCodes.INVALID_INPUT,
          `cannot rebase ${image.path}: only qcow2 volumes have a backing file`,
          {
            fault: 'user',
          },
        );
      }
      const target = newBacking ? await imageOf(newBacking) : undefined;
      // The backing file is a path in the volume's header: already there means a previous run finished.
      if (key) {
        if (!(await isLocalPool(pool)))
          throw new VolbackError(
            ErrorCodes.POOL_UNSUPPORTED,
            `dir pool '${pool.name}' merges encrypted volumes only on the host volback runs on`,
            { fault: 'user' },
          );
        if ((await imageInfo(image)).backingFile !== target?.path)
          await mergeEncryptedLayers(pool, image, target, key, (name, capacity) =>
            pool.pool.createVolume(fileVolume(name, capacity, 'qcow2')),
          );
      } else if (await isLocalPool(pool)) {
        const current = (await imageInfo(image)).backingFile;
        if (current !== target?.path) await run(rebaseArgv(image, target), secretPipes(image));
      } else {
        // No files here: QEMU on the host streams the layers in between into the volume. libvirt is
        // refreshed first, as an interrupted run may have changed the header since it last read it.
        await refreshPool(pool, { required: true });
        const current = await withRemoteChain(pool, volume, {}, async (chain) => chain.backingPath);
        if (current !== target?.path) await streamIntoVolume(pool.conn, image.path, target?.path);
      }
      // Required: libvirt must show the new backing store before the journal moves on.
      await refreshPool(pool, { required: true });
    },

    async copyLayerRefusal(source, volume) {
      if (source.type !== 'dir')
        return `dir pools copy layers only from dir pools, and pool '${source.name}' is ${source.type}`;
      if (!(await isLocalPool(source)))
        return `dir pools copy layers (cp, qemu-img) only on the host volback runs on, and pool '${source.name}' is on another host`;
      if (!volume) return undefined;
      // cp follows a symlink: a link another tool left under a backup's name must not copy its target.
      const { path } = await imageOf(volume);
      return lstatSync(path).isFile() ? undefined : `${path} of pool '${source.name}' is not a regular file`;
    },

    async copyLayer(pool, name, source, backing, key) {
      const refusal = await driver.copyLayerRefusal!(source.pool, source.volume);
      if (refusal)
        throw new VolbackError(
          ErrorCodes.POOL_UNSUPPORTED,
          `cannot copy into pool '${pool.name}': ${refusal}`,
          {
            fault: 'user',
          },
        );
      const from = await imageOf(source.volume);
      const parent = backing ? await imageOf(backing) : undefined;
      const { virtualSize } = await imageInfo(from);
      // libvirt makes the file (name, mode, owner, its view of the pool); the copy then replaces its bytes.
      const volume = await pool.pool.createVolume(fileVolume(name, virtualSize, from.format, parent));
      try {
        const to = { ...(await imageOf(volume)), format: from.format };
        await run(['cp', '--sparse=always', '--', from.path, to.path]);
        if (parent) {
          if (to.format !== 'qcow2') throw new Error(`${from.path} is raw: a raw layer has no backing file`);
          // The copy is the original's bytes: an encrypted layer keeps its LUKS header and key.
          const layer = key ? keyedLayer(to.path, key) : { ...to, format: 'qcow2' as const };
          await run(rebaseUnsafeArgv(layer, parent), secretPipes(layer));
        }
        await refreshPool(pool);
        return volume;
      } catch (err) {
        await volume.delete().catch(() => undefined);
        volume.free();
        throw err;
      }
    },

    async holdsVolume(pool, name) {
      // A directory other hosts write too (NFS): its file is there before libvirt's next refresh.
      // On a remote host there is no file to look at; libvirt's view stands.
      if (name.includes('/') || name === '.' || name === '..' || !(await isLocalPool(pool))) return false;
      const dir = await parsePoolTargetPath(pool.xml);
      return dir !== undefined && existsSync(join(dir, name));
    },

    deleteVolume(_pool, volume) {
      return volume.delete();
    },

    listVolumeNames(pool) {
      return pool.pool.listVolumeNames();
    },

    writeDocumentVolume(pool: PoolRef, name, bytes) {
      return uploadNewVolume(pool, fileVolume(name, bytes.length, 'raw'), name, bytes);
    },

    readDocumentVolumes(pool, names, maxBytes) {
      return downloadVolumes(pool, names, maxBytes);
    },
  };
  return driver;
};

/** Registers the dir driver (libvirt pool type `dir`). */
export function registerDirDriver(registry: PoolDriverRegistry): void {
  registry.register({ type: 'dir', create: () => createDirDriver() });
}
