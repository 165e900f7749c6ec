// libvirt XML of the domains volback starts itself: the host-kind probe and the OS-less domains of the
// demo, the tests and the bench.
import type { CpuMode, VirtType } from '../model';
import { escapeXml } from './escape';

/** `<cpu>` element for a mode; empty for libvirt's default. Pure. */
export const cpuXml = (cpu: CpuMode): string =>
  cpu === 'host-passthrough' ? `<cpu mode='host-passthrough'/>` : '';

/** A transient domain that only proves QEMU starts and runs: no disks, no devices it could touch. Pure. */
export function probeDomainXml(name: string, virtType: VirtType, cpu: CpuMode): string {
  return (
    `<domain type='${virtType}'><name>${name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>` +
    `<os><type arch='x86_64' machine='pc'>hvm</type></os>${cpuXml(cpu)}` +
    `<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>` +
    `<devices><memballoon model='none'/></devices></domain>`
  );
}

export interface ScratchDisk {
  /** Source file path. */
  path: string;
  /** 'qcow2' (default) or 'raw'. */
  format?: 'qcow2' | 'raw';
  /** Target dev, e.g. 'vda' (default vda, vdb, ... by position). */
  target?: string;
  /** 'file' (default) or 'block': `path` is then a block device (an LV). */
  type?: 'file' | 'block';
}

export interface ScratchDomainOptions {
  name: string;
  /** Fixed UUID; libvirt picks one when absent. */
  uuid?: string;
  /** The host's domain kind and CPU, from chooseVirtType(). */
  virt: { virtType: VirtType; cpu: CpuMode };
  memoryMiB?: number;
  disks?: ScratchDisk[];
}

/**
 * A minimal x86_64 domain that boots no OS and idles in firmware: `memoryMiB` (128), one vCPU,
 * virtio disks (the first gets libvirt's default alias virtio-disk0, whose QOM path
 * /machine/peripheral/virtio-disk0/virtio-backend accepts HMP `qemu-io -d`). Pure.
 */
export function buildDomainXml(o: ScratchDomainOptions): string {
  const disks = (o.disks ?? [])
    .map((d, i) => {
      const target = d.target ?? `vd${String.fromCharCode(97 + i)}`;
      const block = d.type === 'block';
      return `    <disk type='${block ? 'block' : 'file'}' device='disk'>
      <driver name='qemu' type='${d.format ?? 'qcow2'}'/>
      <source ${block ? 'dev' : 'file'}='${escapeXml(d.path)}'/>
      <target dev='${target}' bus='virtio'/>
    </disk>`;
    })
    .join('\n');
  const cpu = cpuXml(o.virt.cpu);
  return `<domain type='${o.virt.virtType}'>
  <name>${escapeXml(o.name)}</name>
${o.uuid ? `  <uuid>${escapeXml(o.uuid)}</uuid>\n` : ''}  <memory unit='MiB'>${o.memoryMiB ?? 128}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
${cpu ? `  ${cpu}\n` : ''}  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
${disks}
    <memballoon model='none'/>
  </devices>
</domain>`;
}
