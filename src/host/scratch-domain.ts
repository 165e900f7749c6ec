// Exact writes into the disks of the OS-less domains volback starts itself (the demo, the tests, the
// bench), through QEMU, so that no guest OS is needed to know what a disk holds.
import type { Domain } from '../libvirt';
export { buildDomainXml, type ScratchDisk, type ScratchDomainOptions } from '../xml/scratch-domains';

/** HMP `qemu-io` on disk `target` of a domain built by buildDomainXml; throws on QEMU's error. */
async function qemuIo(domain: Domain, target: string, command: string): Promise<void> {
  const index = target.charCodeAt(target.length - 1) - 'a'.charCodeAt(0);
  const device = `/machine/peripheral/virtio-disk${index}/virtio-backend`;
  const out = await domain.qemuMonitorCommand(`qemu-io -d ${device} "${command}"`, { hmp: true });
  if (/error|fail/i.test(out)) throw new Error(`qemu-io ${command} on ${target} failed: ${out}`);
}

/** A qemu-io pattern command on disk `target`: `write` writes the bytes, `read` checks them. */
const patternCommand =
  (op: 'write' | 'read') =>
  (domain: Domain, target: string, pattern: number, offset: number, length: number): Promise<void> =>
    qemuIo(domain, target, `${op} -P 0x${pattern.toString(16)} ${offset} ${length}`);

/**
 * Writes `length` bytes of `pattern` at `offset` into disk `target` of a running domain, through
 * QEMU (the guest runs no OS). The write is in QEMU's caches until flushDisk.
 */
export const writeDiskPattern = patternCommand('write');

/**
 * Flushes QEMU's caches of disk `target` to its image: until then a reader outside QEMU
 * (`qemu-img -U`) may see a qcow2 whose new clusters are not yet in its metadata.
 */
export function flushDisk(domain: Domain, target: string): Promise<void> {
  return qemuIo(domain, target, 'flush');
}

/**
 * Reads `length` bytes at `offset` of disk `target` through QEMU — what the guest sees, whatever
 * layers the image has — and throws unless every byte is `pattern`.
 */
export const checkDiskPattern = patternCommand('read');
