// Small OS-less domains that volback itself starts (the demo, the tests, the bench), and exact writes
// into their disks through QEMU, so that no guest OS is needed to know what a disk holds.
import type { Domain } from '../libvirt';
import { escapeXml } from '../xml/escape';
import { cpuXml, type VirtChoice } from './virt-type';

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
  /** The host's domain kind and CPU, from chooseVirtType(). */
  virt: Pick<VirtChoice, 'virtType' | 'cpu'>;
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
      return `    <disk type='file' device='disk'>
      <driver name='qemu' type='${d.format ?? 'qcow2'}'/>
      <source file='${escapeXml(d.path)}'/>
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

/** HMP `qemu-io` on disk `target` of a domain built by buildDomainXml; throws on QEMU's error. */
async function qemuIo(domain: Domain, target: string, command: string): Promise<void> {
  const index = target.charCodeAt(target.length - 1) - 'a'.charCodeAt(0);
  const device = `/machine/peripheral/virtio-disk${index}/virtio-backend`;
  const out = await domain.qemuMonitorCommand(`qemu-io -d ${device} "${command}"`, { hmp: true });
  if (/error|fail/i.test(out)) throw new Error(`qemu-io ${command} on ${target} failed: ${out}`);
}

/**
 * Writes `length` bytes of `pattern` at `offset` into disk `target` of a running domain, through
 * QEMU (the guest runs no OS). The write is in QEMU's caches until flushDisk.
 */
export function writeDiskPattern(
  domain: Domain,
  target: string,
  pattern: number,
  offset: number,
  length: number,
): Promise<void> {
  return qemuIo(domain, target, `write -P 0x${pattern.toString(16)} ${offset} ${length}`);
}

/**
 * Flushes QEMU's caches of disk `target` to its image: until then a reader outside QEMU
 * (`qemu-img -U`) may see a qcow2 whose new clusters are not yet in its metadata.
 */
export function flushDisk(domain: Domain, target: string): Promise<void> {
  return qemuIo(domain, target, 'flush');
}
