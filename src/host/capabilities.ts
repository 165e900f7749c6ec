// What the host behind a connection is: libvirt and QEMU versions, and the kind of domain it runs.
import type { Connection } from '../libvirt';
import { chooseVirtType, type VirtChoice, type VirtPreference } from './virt-type';

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

/** Versions and the domain kind of the host behind `conn` (the kind is probed, see virt-type.ts). */
export async function hostCapabilities(
  conn: Connection,
  preference: VirtPreference = 'auto',
  overrideSource?: string,
): Promise<HostCapabilities> {
  const [hostname, lib, hv, virt] = await Promise.all([
    conn.getHostname(),
    conn.getLibVersion(),
    conn.getVersion(),
    chooseVirtType(conn, preference, overrideSource),
  ]);
  return {
    uri: conn.uri,
    hostname,
    libvirtVersion: formatLibvirtVersion(lib),
    hypervisorVersion: formatLibvirtVersion(hv),
    virt,
  };
}

/** "KVM", "KVM (libvirt's default CPU)" or "TCG", with the reason: the line reports print. Pure. */
export function describeVirt(virt: VirtChoice): string {
  const kind =
    virt.virtType === 'qemu'
      ? 'TCG'
      : virt.cpu === 'host-passthrough'
        ? 'KVM (host CPU)'
        : "KVM (libvirt's default CPU)";
  return `${kind}: ${virt.reason}`;
}
