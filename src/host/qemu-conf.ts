// What this host's /etc/libvirt/qemu.conf says, where volback must know it before asking libvirt.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, VolbackError } from '../errors';

/**
 * Refuses TLS when this host's libvirt has no certificates for backup exports. libvirt takes them from
 * qemu.conf `backup_tls_x509_cert_dir` (else `default_tls_x509_cert_dir`, else /etc/pki/qemu). Only
 * checked for local connections: a remote daemon's files are not visible here.
 */
export function assertTlsConfigured(uri: string): void {
  if (!/^qemu:\/\/\//.test(uri)) return;
  let conf = '';
  try {
    conf = readFileSync('/etc/libvirt/qemu.conf', 'utf8');
  } catch {
    /* defaults apply */
  }
  const setting = (key: string): string | undefined =>
    new RegExp(`^\\s*${key}\\s*=\\s*"([^"]*)"`, 'm').exec(conf)?.[1];
  const dir = setting('backup_tls_x509_cert_dir') ?? setting('default_tls_x509_cert_dir') ?? '/etc/pki/qemu';
  const missing = ['ca-cert.pem', 'server-cert.pem', 'server-key.pem'].filter(
    (f) => !existsSync(join(dir, f)),
  );
  if (missing.length) {
    throw new VolbackError(
      ErrorCodes.CONFIG,
      `TLS for backup exports is not configured on this host: ${dir} lacks ${missing.join(', ')}`,
      {
        fault: 'user',
        hint: 'put ca-cert.pem, server-cert.pem and server-key.pem (readable by QEMU) in that directory, or set backup_tls_x509_cert_dir in /etc/libvirt/qemu.conf and restart libvirtd',
      },
    );
  }
}
