// Builds small test domains (no OS) and picks kvm or TCG for this host.
import { chooseVirtType as chooseHostVirtType, type VirtType } from '../../src/core/host';
import type { Connection } from '../../src/libvirt';

export type { VirtType };

// The domain XML builder lives in src/core/host.ts (the demo uses it too); tests keep their names.
export {
  buildDomainXml,
  type ScratchDisk as TestDisk,
  type ScratchDomainOptions as TestDomainOptions,
} from '../../src/core/host';

/** 'kvm' or 'qemu' (TCG) for this host: the decision lives in src/core/host.ts (one way to do it). */
export async function chooseVirtType(conn: Connection): Promise<VirtType> {
  return (await chooseHostVirtType(conn)).virtType;
}
