// What push and pull backups read of a running domain before they plan: its live disks and labels,
// its persistent definition, and the facts of each disk's own image.
import { virDomainXMLFlags, type Domain } from '../../libvirt';
import { parseDomainXml, type DomainSummary } from '../../xml/libvirt-domain';
import type { DiskFacts } from './disk-selection';
import { blockOfDisk, qcow2CompatOf, queryBlocks } from './qemu-blocks';

/** What planning needs of a running domain. */
export interface DomainState {
  summary: DomainSummary;
  /** The persistent definition, stored with every backup set. */
  inactiveXml: string;
  facts: Record<string, DiskFacts>;
}

export async function readDomainState(domain: Domain): Promise<DomainState> {
  const [liveXml, inactiveXml] = await Promise.all([
    domain.getXMLDesc(),
    domain.getXMLDesc(virDomainXMLFlags.VIR_DOMAIN_XML_INACTIVE),
  ]);
  const summary = await parseDomainXml(liveXml);
  return { summary, inactiveXml, facts: await diskFacts(domain, summary) };
}

/**
 * Size and allocation of each disk of the domain that has a source (from libvirt), and, for a qcow2
 * disk, its compat level: QEMU keeps persistent dirty bitmaps only in qcow2 images of compat 1.1.
 * These are the domain's own disks as its XML names them, never a backup pool's volumes. The compat
 * level is the running QEMU's (`query-block`), which also answers over a remote connection, where
 * the image is no file of this machine.
 */
async function diskFacts(domain: Domain, summary: DomainSummary): Promise<Record<string, DiskFacts>> {
  const facts: Record<string, DiskFacts> = {};
  const blocks = summary.disks.some((d) => d.format === 'qcow2') ? await queryBlocks(domain) : [];
  for (const disk of summary.disks) {
    if (disk.device !== 'disk' || !disk.sourcePath) continue;
    const block = await domain.getBlockInfo(disk.target);
    const compat =
      disk.format === 'qcow2' ? qcow2CompatOf(blockOfDisk(blocks, disk), disk.sourcePath) : undefined;
    facts[disk.target] = {
      virtualSize: block.capacity,
      allocation: block.allocation || block.capacity,
      compat,
    };
  }
  return facts;
}
