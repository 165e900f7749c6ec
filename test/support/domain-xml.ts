// Builds small test domains (no OS) and picks kvm or TCG for this host.
import fs from 'fs';
import { Connection } from '../../src/libvirt';
import { logger } from '../../src/log';

const log = logger('test-support');

export type VirtType = 'kvm' | 'qemu';

export interface TestDisk {
  /** Source file path. */
  path: string;
  /** 'qcow2' (default) or 'raw'. */
  format?: 'qcow2' | 'raw';
  /** Target dev, e.g. 'vda' (default vda, vdb, ... by position). */
  target?: string;
}

export interface TestDomainOptions {
  name: string;
  /** 'kvm' or 'qemu' (TCG); use chooseVirtType() to decide. */
  virtType: VirtType;
  memoryMiB?: number;
  disks?: TestDisk[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;');

/**
 * A minimal x86_64 domain that boots no OS and idles in firmware: `memoryMiB` (128), one vCPU,
 * virtio disks (the first gets libvirt's default alias virtio-disk0, whose QOM path
 * /machine/peripheral/virtio-disk0/virtio-backend accepts HMP `qemu-io -d`). No `-cpu host`
 * under TCG (it fails without KVM).
 */
export function buildDomainXml(o: TestDomainOptions): string {
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
  <memory unit='MiB'>${o.memoryMiB ?? 128}</memory>
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
 * 'kvm' only when /dev/kvm exists, libvirt's domain capabilities for virttype kvm succeed, and
 * the libvirt-qemu user (QEMU's) can open /dev/kvm; otherwise 'qemu' (TCG). Logs the choice.
 */
export async function chooseVirtType(conn: Connection): Promise<VirtType> {
  const why = await kvmUnavailableReason(conn);
  const choice: VirtType = why ? 'qemu' : 'kvm';
  log.info(`test domains use virt type ${choice}${why ? ` (${why})` : ''}`);
  return choice;
}

async function kvmUnavailableReason(conn: Connection): Promise<string | undefined> {
  if (!fs.existsSync('/dev/kvm')) return 'no /dev/kvm';
  try {
    await conn.getDomainCapabilities({ virttype: 'kvm' });
  } catch (err) {
    return `libvirt has no kvm domain capabilities: ${String(err)}`;
  }
  const st = fs.statSync('/dev/kvm');
  const kvmGid = groupId('kvm');
  const groupRw = (st.mode & 0o060) === 0o060 && kvmGid !== undefined && st.gid === kvmGid;
  const otherRw = (st.mode & 0o006) === 0o006;
  if (!groupRw && !otherRw)
    return '/dev/kvm not readable+writable by group kvm (libvirt-qemu); run scripts/setup';
  return undefined;
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
