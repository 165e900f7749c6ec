// Reads and rewrites the parts of libvirt's domain, pool and volume XML that volback needs.
// Typed results only: xml2js shapes stay inside this file.
import { Builder, parseStringPromise } from 'xml2js';
import { ErrorCodes, VolbackError } from '../errors';

type Node = Record<string, unknown> & { $?: Record<string, string>; _?: string };

const first = (node: Node | undefined, key: string): Node | undefined =>
  (node?.[key] as Node[] | undefined)?.[0];
const all = (node: Node | undefined, key: string): Node[] => (node?.[key] as Node[] | undefined) ?? [];
const text = (node: Node | undefined): string | undefined =>
  node === undefined ? undefined : typeof node === 'string' ? node : node._;

async function parse(xml: string, what: string): Promise<Node> {
  try {
    return (await parseStringPromise(xml, { explicitArray: true })) as Node;
  } catch (err) {
    throw new VolbackError(ErrorCodes.XML_INVALID, `cannot parse ${what} XML: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** One `<disk>` of a domain as the coordinator sees it. */
export interface DomainDisk {
  target: string;
  /** `disk`, `cdrom`, `floppy`, `lun`. */
  device: string;
  /** Source type: `file`, `block`, `network`, `volume`. */
  type: string;
  /** File path or block device; absent for network disks and empty cdroms. */
  sourcePath?: string;
  sourcePool?: string;
  sourceVolume?: string;
  /** Driver format, e.g. `qcow2`, `raw`. */
  format?: string;
  readonly: boolean;
  alias?: string;
}

export interface DomainSummary {
  name: string;
  uuid: string;
  type: string;
  disks: DomainDisk[];
  /**
   * Mandatory-access-control models that confine the running QEMU (`apparmor`, `selinux`), from the
   * live XML's `<seclabel>`s; `dac` (file ownership) and `none` are not confinement of that kind.
   */
  confinedBy: string[];
  /** uid:gid the running QEMU has, from the live XML's DAC label (`+64055:+994`). */
  qemuUser?: { uid: number; gid: number };
}

export async function parseDomainXml(xml: string): Promise<DomainSummary> {
  const domain = (await parse(xml, 'domain')).domain as Node;
  const devices = first(domain, 'devices');
  const disks = all(devices, 'disk').map((disk): DomainDisk => {
    const source = first(disk, 'source');
    return {
      target: first(disk, 'target')?.$?.dev ?? '',
      device: disk.$?.device ?? 'disk',
      type: disk.$?.type ?? 'file',
      sourcePath: source?.$?.file ?? source?.$?.dev,
      sourcePool: source?.$?.pool,
      sourceVolume: source?.$?.volume,
      format: first(disk, 'driver')?.$?.type,
      readonly: first(disk, 'readonly') !== undefined,
      alias: first(disk, 'alias')?.$?.name,
    };
  });
  const seclabels = all(domain, 'seclabel');
  const dac = /^\+?(\d+):\+?(\d+)$/.exec(
    text(
      first(
        seclabels.find((l) => l.$?.model === 'dac'),
        'label',
      ),
    )?.trim() ?? '',
  );
  return {
    name: text(first(domain, 'name')) ?? '',
    uuid: text(first(domain, 'uuid')) ?? '',
    type: domain.$?.type ?? '',
    disks,
    confinedBy: seclabels
      .filter((l) => l.$?.type !== 'none' && ['apparmor', 'selinux'].includes(l.$?.model ?? ''))
      .map((l) => l.$!.model),
    qemuUser: dac ? { uid: Number(dac[1]), gid: Number(dac[2]) } : undefined,
  };
}

export interface DomainRewrite {
  name?: string;
  /** Drop the UUID so libvirt assigns a new one. */
  newUuid?: boolean;
  /** Disk target → new source (a file or block path with its format). */
  disks?: Record<string, { path: string; format: string; type: 'file' | 'block' }>;
  /** Disk targets to remove from the domain (disks that were not restored). */
  dropDisks?: string[];
  /** Remove every interface's `<mac>` so libvirt generates new ones (a clone beside its original). */
  dropMacs?: boolean;
}

/**
 * Rewrites a domain XML for restore: name, UUID, disk sources (a restored disk's source is only its new
 * volume); other devices stay as they are — see applyRestorePolicy (restore-policy.ts) for those.
 */
export async function rewriteDomainXml(xml: string, change: DomainRewrite): Promise<string> {
  const doc = await parse(xml, 'domain');
  const domain = doc.domain as Node;
  if (change.name !== undefined) domain.name = [change.name];
  if (change.newUuid) delete domain.uuid;
  const devices = first(domain, 'devices');
  if (devices) {
    const keep: Node[] = [];
    for (const disk of all(devices, 'disk')) {
      const target = first(disk, 'target')?.$?.dev ?? '';
      if (change.dropDisks?.includes(target)) continue;
      const replacement = change.disks?.[target];
      if (replacement) {
        disk.$ = { ...disk.$, type: replacement.type };
        // The restored volume is the whole source. The old source's children (network hosts,
        // seclabels, reservations, slices), its backing chain, credentials and encryption describe
        // other storage: kept, they would relabel wrongly, break the flattened plain image or leak secrets.
        disk.source = [
          { $: replacement.type === 'file' ? { file: replacement.path } : { dev: replacement.path } },
        ];
        for (const key of ['backingStore', 'auth', 'encryption', 'mirror']) delete disk[key];
        const driver = first(disk, 'driver');
        disk.driver = [
          { ...(driver ?? {}), $: { ...(driver?.$ ?? { name: 'qemu' }), type: replacement.format } },
        ];
      }
      keep.push(disk);
    }
    devices.disk = keep;
    if (change.dropMacs) for (const nic of all(devices, 'interface')) delete nic.mac;
  }
  return new Builder({ headless: true }).buildObject(doc);
}

/** The pool type and target path from `<pool>` XML. */
export async function parsePoolXml(xml: string): Promise<{ type: string; name: string; path?: string }> {
  const pool = (await parse(xml, 'pool')).pool as Node;
  return {
    type: pool.$?.type ?? '',
    name: text(first(pool, 'name')) ?? '',
    path: text(first(first(pool, 'target'), 'path')),
  };
}

/** Path, format and backing store from `<volume>` XML. */
export async function parseVolumeXml(xml: string): Promise<{
  name: string;
  path?: string;
  format?: string;
  compat?: string;
  backingPath?: string;
  capacity: number;
}> {
  const volume = (await parse(xml, 'volume')).volume as Node;
  const target = first(volume, 'target');
  return {
    name: text(first(volume, 'name')) ?? '',
    path: text(first(target, 'path')),
    format: first(target, 'format')?.$?.type,
    compat: text(first(target, 'compat')),
    backingPath: text(first(first(volume, 'backingStore'), 'path')),
    capacity: Number(text(first(volume, 'capacity')) ?? 0),
  };
}
