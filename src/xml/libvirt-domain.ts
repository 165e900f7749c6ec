// Reads and rewrites the parts of libvirt's domain XML that volback needs.
// Typed results only: xml2js shapes stay inside this file.
import { Builder } from 'xml2js';
import type { DiskSource } from '../model';
import { all, first, parse, text, type Node } from './libvirt-nodes';

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
  /** Live XML only: the image stands on a backing image (libvirt lists a `<backingStore>` with a source). */
  backed?: boolean;
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
      backed: first(first(disk, 'backingStore'), 'source') !== undefined,
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
  /** Disk target → new source (a file, block device or network image, as its pool's driver says). */
  disks?: Record<string, DiskSource>;
  /**
   * Disk target → libvirt secret UUID of a replaced disk whose new volume is LUKS-encrypted qcow2:
   * the disk gets `<encryption format='luks'><secret type='passphrase' uuid='…'/></encryption>`.
   */
  encryptedDisks?: Record<string, string>;
  /** Disk targets to remove from the domain (disks that were not restored). */
  dropDisks?: string[];
  /** Remove every interface's `<mac>` so libvirt generates new ones (a clone beside its original). */
  dropMacs?: boolean;
}

/**
/**
 * The `<source>` of a restored disk: only its new volume. The old source's children (network hosts,
 * seclabels, reservations, slices) describe other storage; kept, they would relabel wrongly or
 * point at what the restore does not own. A network source brings its own hosts and `<auth>`.
 */
function sourceNode(source: DiskSource): Node {
  if (source.type === 'file') return { $: { file: source.file } };
  if (source.type === 'block') return { $: { dev: source.dev } };
  return {
    $: { protocol: source.protocol, name: source.name },
    host: source.hosts.map((h) => ({
      $: h.port === undefined ? { name: h.name } : { name: h.name, port: String(h.port) },
    })),
    ...(source.auth
      ? {
          auth: [
            {
              $: { username: source.auth.username },
              secret: [{ $: { type: source.auth.secretType, uuid: source.auth.secretUuid } }],
            },
          ],
        }
      : {}),
  };
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
        disk.source = [sourceNode(replacement)];
        // The old backing chain, credentials and encryption describe other storage: kept, they would
        // break the flattened plain image or leak secrets; a network source carries its own auth.
        for (const key of ['backingStore', 'auth', 'encryption', 'mirror']) delete disk[key];
        const secretUuid = change.encryptedDisks?.[target];
        if (secretUuid !== undefined)
          disk.encryption = [
            { $: { format: 'luks' }, secret: [{ $: { type: 'passphrase', uuid: secretUuid } }] },
          ];
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
