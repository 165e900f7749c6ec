// Reads and writes the parts of libvirt's pool and volume XML that volback needs. Generic pieces only:
// each pool driver decides the values (and parses what is specific to its pool type).
import { ErrorCodes, VolbackError } from '../errors';
import type { VolumeFormat } from '../model';
import { escapeXml } from './escape';
import { all, first, parse, text, type Node } from './libvirt-nodes';

/** A pool's type and name: all the generic pool layer reads of a pool's XML. */
export async function parsePoolIdentity(xml: string): Promise<{ type: string; name: string }> {
  const pool = (await parse(xml, 'pool')).pool as Node;
  return { type: pool.$?.type ?? '', name: text(first(pool, 'name')) ?? '' };
}

/** `<target><path>` of a pool (dir, logical, ...), when it has one. */
export async function parsePoolTargetPath(xml: string): Promise<string | undefined> {
  const pool = (await parse(xml, 'pool')).pool as Node;
  return text(first(first(pool, 'target'), 'path'));
}

/** `<target><permissions><mode>` of a pool as libvirt reports it (its directory's mode), as a number. */
export async function parsePoolTargetMode(xml: string): Promise<number | undefined> {
  const pool = (await parse(xml, 'pool')).pool as Node;
  const mode = text(first(first(first(pool, 'target'), 'permissions'), 'mode'));
  return mode !== undefined && /^[0-7]{1,4}$/.test(mode) ? parseInt(mode, 8) : undefined;
}

/** Path, format and backing store from `<volume>` XML. */
export async function parseVolumeXml(xml: string): Promise<{
  name: string;
  /** libvirt's volume type: `file`, `block`, `network`, ... */
  type?: string;
  path?: string;
  format?: string;
  compat?: string;
  backingPath?: string;
  backingFormat?: string;
  capacity: number;
  /** Bytes of the file itself (`<physical>`, libvirt 3.0+); absent for volumes without one. */
  physical?: number;
}> {
  const volume = (await parse(xml, 'volume')).volume as Node;
  const target = first(volume, 'target');
  const backing = first(volume, 'backingStore');
  return {
    name: text(first(volume, 'name')) ?? '',
    type: volume.$?.type,
    path: text(first(target, 'path')),
    format: first(target, 'format')?.$?.type,
    compat: text(first(target, 'compat')),
    backingPath: text(first(backing, 'path')),
    backingFormat: first(backing, 'format')?.$?.type,
    capacity: Number(text(first(volume, 'capacity')) ?? 0),
    physical:
      text(first(volume, 'physical')) === undefined ? undefined : Number(text(first(volume, 'physical'))),
  };
}

export interface VolumeSpec {
  name: string;
  /** libvirt's volume type attribute (`file` for dir pools); absent: the pool's default. */
  type?: string;
  capacity: number;
  /** Bytes to allocate up front; absent: libvirt's default for the pool. */
  allocation?: number;
  format: VolumeFormat;
  /** qcow2 compat level; `1.1` is what persistent bitmaps need. */
  compat?: string;
  /** Octal permission bits, e.g. `0600`. */
  mode?: string;
  backingStore?: { path: string; format: VolumeFormat };
  /** qcow2 LUKS encryption with the passphrase of libvirt secret `secretUuid` (docs/encryption.md). */
  encryption?: { format: 'luks'; secretUuid: string };
}

/** `<volume>` XML for a new volume. Pure. */
export function volumeXml(spec: VolumeSpec): string {
  const type = spec.type ? ` type='${escapeXml(spec.type)}'` : '';
  const allocation =
    spec.allocation !== undefined ? `<allocation unit='bytes'>${spec.allocation}</allocation>` : '';
  const compat = spec.compat ? `<compat>${escapeXml(spec.compat)}</compat>` : '';
  const mode = spec.mode ? `<permissions><mode>${escapeXml(spec.mode)}</mode></permissions>` : '';
  const backing = spec.backingStore
    ? `<backingStore><path>${escapeXml(spec.backingStore.path)}</path><format type='${spec.backingStore.format}'/></backingStore>`
    : '';
  const encryption = spec.encryption
    ? `<encryption format='${spec.encryption.format}'><secret type='passphrase' uuid='${escapeXml(spec.encryption.secretUuid)}'/></encryption>`
    : '';
  return (
    `<volume${type}><name>${escapeXml(spec.name)}</name>` +
    `<capacity unit='bytes'>${spec.capacity}</capacity>${allocation}` +
    `<target><format type='${spec.format}'/>${compat}${mode}${encryption}</target>${backing}</volume>`
  );
}

/**
 * XML of a new dir pool. An existing directory gets no `<permissions>`, so libvirt leaves its mode
 * and owner alone; a new one is made 0711: QEMU (libvirt-qemu) must reach the volumes of a running
 * job, nobody needs to list them. Pure.
 */
export function dirPoolXml(name: string, path: string, exists: boolean): string {
  const permissions = exists ? '' : '<permissions><mode>0711</mode></permissions>';
  return `<pool type='dir'><name>${escapeXml(name)}</name><target><path>${escapeXml(path)}</path>${permissions}</target></pool>`;
}

/** The `<source>` of an rbd pool: where its monitors are, its Ceph pool, and how it authenticates. */
export interface RbdPoolSource {
  /** The libvirt pool's name (for messages). */
  name: string;
  /** `<source><name>`: the Ceph pool. */
  cephPool?: string;
  /** `<source><host name port>`, in document order; port absent when the XML has none. */
  hosts: Array<{ name: string; port?: number }>;
  /** `<source><auth>`; absent: the pool uses auth none. */
  auth?: {
    type: string;
    username?: string;
    /** `<secret uuid>` or `<secret usage>`, whichever the pool names. */
    secretUuid?: string;
    secretUsage?: string;
  };
}

/**
 * Reads the `<source>` of a pool's XML (rbd pools: hosts, Ceph pool, `<auth>`). Checks shape only:
 * a port that is not a number is an error; what must be present is the caller's to say.
 */
export async function parseRbdPoolSource(xml: string): Promise<RbdPoolSource> {
  const pool = (await parse(xml, 'pool')).pool as Node | undefined;
  const name = text(first(pool, 'name')) ?? '';
  const source = first(pool, 'source');
  const hosts = all(source, 'host').map((h) => {
    const port = h.$?.port;
    if (port !== undefined && !/^[0-9]{1,5}$/.test(port)) {
      throw new VolbackError(
        ErrorCodes.XML_INVALID,
        `pool ${name}: <host port='${port}'> is not a port number`,
        {
          fault: 'user',
        },
      );
    }
    return { name: h.$?.name ?? '', port: port === undefined ? undefined : Number(port) };
  });
  const auth = first(source, 'auth');
  const secret = first(auth, 'secret');
  return {
    name,
    cephPool: text(first(source, 'name')),
    hosts,
    auth: auth && {
      type: auth.$?.type ?? '',
      username: auth.$?.username,
      secretUuid: secret?.$?.uuid,
      secretUsage: secret?.$?.usage,
    },
  };
}
