// A running domain's disks as QEMU's `query-block` shows them: which entry is which libvirt disk.
// Works on any connection (virDomainQemuMonitorCommand needs no descriptor passing).
import type { Domain } from '../../libvirt';
import type { DomainDisk } from '../../xml/libvirt-domain';

/** One entry of `query-block`, as far as volback reads it. */
export interface QueryBlock {
  qdev?: string;
  inserted?: {
    'node-name'?: string;
    file?: string;
    drv?: string;
    image?: ImageInfo;
  };
}

/** QEMU's ImageInfo: an image, and below it what it reads through (a filter's child, a backing file). */
interface ImageInfo {
  filename?: string;
  format?: string;
  'format-specific'?: { type?: string; data?: { compat?: string } };
  'backing-image'?: ImageInfo;
}

/**
 * The qcow2 compat level of the image `file` in `block`'s chain: the top image, or below the
 * filters a running job or the domain's own XML put over it (copy-before-write, copy-on-read).
 */
export function qcow2CompatOf(block: QueryBlock | undefined, file: string): string | undefined {
  for (let image = block?.inserted?.image; image; image = image['backing-image'])
    if (image.format === 'qcow2' && image.filename === file) return image['format-specific']?.data?.compat;
  return undefined;
}

export const queryBlocks = (domain: Domain): Promise<QueryBlock[]> => domain.qmp<QueryBlock[]>('query-block');

/** The entry of `disk` (by its device alias: `virtio-disk0` or its QOM path), or undefined. */
export function blockOfDisk(blocks: readonly QueryBlock[], disk: DomainDisk): QueryBlock | undefined {
  if (!disk.alias) return undefined;
  const peripheral = `/machine/peripheral/${disk.alias}`;
  return blocks.find(
    (b) => b.qdev === disk.alias || b.qdev === peripheral || b.qdev?.startsWith(`${peripheral}/`),
  );
}
