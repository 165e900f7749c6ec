// What this host can run: KVM or TCG (and why), libvirt/QEMU versions, and the small OS-less domains
// the demo and the tests run on it (built here so there is one way to do each).
import fs from 'node:fs';
import type { Connection, Domain } from '../libvirt';
import { logger } from '../log';

const log = logger('host');

/** libvirt's `<domain type=…>`: `kvm` (hardware virtualisation) or `qemu` (TCG, software emulation). */
export type VirtType = 'kvm' | 'qemu';

export interface VirtChoice {
  virtType: VirtType;
  /** Why KVM is not used; absent when it is. */
  reason?: string;
}

export interface HostCapabilities {
  uri: string;
  hostname: string;
  /** `major.minor.micro` of libvirt (the daemon's, for remote URIs). */
  libvirtVersion: string;
  /** `major.minor.micro` of the hypervisor (QEMU) libvirt drives. */
  hypervisorVersion: string;
  virt: VirtChoice;
}

/** libvirt encodes versions as major*1e6 + minor*1e3 + micro. Pure. */
export function formatLibvirtVersion(n: number): string {
  return `${Math.floor(n / 1e6)}.${Math.floor((n % 1e6) / 1e3)}.${n % 1e3}`;
}

function groupId(name: string): number | undefined {
  try {
    const line = fs
      .readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${name}:`));
    return line ? Number(line.split(':')[2]) : undefined;
  } catch {
    return undefined;
  }
}

/** Why KVM cannot be used here, or undefined when it can. */
export async function kvmUnavailableReason(conn: Connection): Promise<string | undefined> {
  if (!fs.existsSync('/dev/kvm')) return 'no /dev/kvm';
  try {
    await conn.getDomainCapabilities({ virttype: 'kvm' });
  } catch (err) {
    return `libvirt has no kvm domain capabilities: ${err instanceof Error ? err.message : String(err)}`;
  }
  const st = fs.statSync('/dev/kvm');
  const kvmGid = groupId('kvm');
  const groupRw = (st.mode & 0o060) === 0o060 && kvmGid !== undefined && st.gid === kvmGid;
  const otherRw = (st.mode & 0o006) === 0o006;
  if (!groupRw && !otherRw)
    return '/dev/kvm is not readable+writable by group kvm (libvirt-qemu); run scripts/setup';
  return undefined;
}

/**
 * `kvm` only when /dev/kvm exists, libvirt has kvm domain capabilities, and QEMU's user
 * (libvirt-qemu, group kvm) can open /dev/kvm; otherwise `qemu` (TCG), with the reason.
 */
export async function chooseVirtType(conn: Connection): Promise<VirtChoice> {
  const reason = await kvmUnavailableReason(conn);
  const choice: VirtChoice = reason ? { virtType: 'qemu', reason } : { virtType: 'kvm' };
  log.info(`domains use virt type ${choice.virtType}${reason ? ` (${reason})` : ''}`);
  return choice;
}

/** Versions and virtualisation mode of the host behind `conn`. */
export async function hostCapabilities(conn: Connection): Promise<HostCapabilities> {
  const [hostname, lib, hv, virt] = await Promise.all([
    conn.getHostname(),
    conn.getLibVersion(),
    conn.getVersion(),
    chooseVirtType(conn),
  ]);
  return {
    uri: conn.uri,
    hostname,
    libvirtVersion: formatLibvirtVersion(lib),
    hypervisorVersion: formatLibvirtVersion(hv),
    virt,
  };
}

export interface ScratchDisk {
  /** Source file path. */
  path: string;
  /** 'qcow2' (default) or 'raw'. */
  format?: 'qcow2' | 'raw';
  /** Target dev, e.g. 'vda' (default vda, vdb, ... by position). */
  target?: string;
}

export interface ScratchDomainOptions {
  name: string;
  /** Fixed UUID; libvirt picks one when absent. */
  uuid?: string;
  /** 'kvm' or 'qemu' (TCG); use chooseVirtType() to decide. */
  virtType: VirtType;
  memoryMiB?: number;
  disks?: ScratchDisk[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;');

/**
 * A minimal x86_64 domain that boots no OS and idles in firmware: `memoryMiB` (128), one vCPU,
 * virtio disks (the first gets libvirt's default alias virtio-disk0, whose QOM path
 * /machine/peripheral/virtio-disk0/virtio-backend accepts HMP `qemu-io -d`). No `-cpu host`
 * under TCG (it fails without KVM).
 */
export function buildDomainXml(o: ScratchDomainOptions): string {
  const disks = (o.disks ?? [])
    .map((d, i) => {
      const target = d.target ?? `vd${String.fromCharCode(97 + i)}`;
      return `    <disk type='file' device='disk'>
      <driver name='qemu' type='${d.format ?? 'qcow2'}'/>
      <source file='${esc(d.path)}'/>
      <target dev='${target}' bus='virtio'/>
    </disk>`;
    })
    .join('\n');
  const cpu = o.virtType === 'kvm' ? `  <cpu mode='host-passthrough'/>\n` : '';
  return `<domain type='${o.virtType}'>
  <name>${esc(o.name)}</name>
${o.uuid ? `  <uuid>${esc(o.uuid)}</uuid>\n` : ''}  <memory unit='MiB'>${o.memoryMiB ?? 128}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
${cpu}  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
${disks}
    <memballoon model='none'/>
  </devices>
</domain>`;
}

/**
 * Writes `length` bytes of `pattern` at `offset` into disk `target` of a running domain built by
 * buildDomainXml, through QEMU's HMP `qemu-io` (monitor pass-through): the guest runs no OS.
 */
export async function writeDiskPattern(
  domain: Domain,
  target: string,
  pattern: number,
  offset: number,
  length: number,
): Promise<void> {
  const index = target.charCodeAt(target.length - 1) - 'a'.charCodeAt(0);
  const device = `/machine/peripheral/virtio-disk${index}/virtio-backend`;
  const out = await domain.qemuMonitorCommand(
    `qemu-io -d ${device} "write -P 0x${pattern.toString(16)} ${offset} ${length}"`,
    { hmp: true },
  );
  if (/error|fail/i.test(out)) throw new Error(`qemu-io write on ${target} failed: ${out}`);
}
