// Small test domains (no OS) and the kind of domain this host runs them as.
import { configFromEnvironment } from '../../src/config';
import { chooseVirtType as chooseHostVirtType, type VirtChoice } from '../../src/host/virt-type';
import type { Connection } from '../../src/libvirt';

export type { VirtChoice };

// The domain XML builder lives in src/host (the demo and the bench use it too); tests keep their names.
export {
  buildDomainXml,
  type ScratchDisk as TestDisk,
  type ScratchDomainOptions as TestDomainOptions,
} from '../../src/host/scratch-domain';

/**
 * The host's domain kind, probed once per test file (src/host/virt-type.ts); `VOLBACK_VIRT_TYPE=kvm|qemu`
 * forces one, so the suite can run as a host without (or with) KVM would run it.
 */
export function chooseVirtType(conn: Connection): Promise<VirtChoice> {
  const { virtType } = configFromEnvironment(process.env);
  return chooseHostVirtType(conn, virtType ?? 'auto', `VOLBACK_VIRT_TYPE=${virtType}`);
}
