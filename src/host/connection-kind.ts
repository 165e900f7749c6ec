// Whether volback runs on the libvirt host it manages, read from the connection's URI
// (docs/remote-hosts.md): only a local socket passes file descriptors to libvirtd and QEMU, and only
// a local host has volback's tools and paths. Pure.
import { ErrorCodes, VolbackError } from '../errors';

export interface ConnectionKind {
  /** A local socket to this machine's libvirtd: descriptors pass, host paths are this machine's. */
  local: boolean;
  /** The transport, as the URI names it (`unix` when it names none and no host). */
  transport: string;
  /** What travels on the connection (keys read with virSecretGetValue, say) is encrypted or local. */
  private: boolean;
}

/** Transports that encrypt: TLS and SSH tunnels. tcp is plain (its SASL layer may or may not encrypt). */
const PRIVATE_TRANSPORTS = new Set(['unix', 'tls', 'ssh', 'libssh', 'libssh2']);

const URI_RE = /^([A-Za-z][A-Za-z0-9.-]*)(?:\+([A-Za-z0-9]+))?:\/\/([^/?#]*)/;

/**
 * What a libvirt URI says of its connection: `qemu:///system`, `qemu+unix:///system?socket=…` are
 * local; a host part (even localhost) or any transport other than unix is remote, as libvirt then
 * talks over a network stream. A URI that is not of libvirt's `driver[+transport]://…` form is
 * refused: an alias must be resolved first (virConnectGetURI gives the canonical URI).
 */
export function connectionKind(uri: string): ConnectionKind {
  const m = URI_RE.exec(uri);
  if (!m) throw new Error(`not a libvirt URI of the form driver[+transport]://[host]/path: ${uri}`);
  const [, , named, authority] = m;
  const host = authority.replace(/^[^@]*@/, '');
  // libvirt's default transport: unix without a host, tls with one.
  const transport = (named ?? (host ? 'tls' : 'unix')).toLowerCase();
  return {
    local: transport === 'unix' && host === '',
    transport,
    private: PRIVATE_TRANSPORTS.has(transport),
  };
}

/**
 * Refuses to read `what` (a key) over a connection that would carry it unencrypted.
 * @throws VolbackError ERR_INVALID_INPUT naming the transport and the fix.
 */
export function requirePrivateConnection(uri: string, what: string): void {
  const kind = connectionKind(uri);
  if (kind.private) return;
  throw new VolbackError(
    ErrorCodes.INVALID_INPUT,
    `will not read ${what} over ${uri}: the ${kind.transport} transport would carry it unencrypted`,
    { fault: 'user', hint: 'connect with qemu+ssh:// or qemu+tls:// (or run volback on the host)' },
  );
}

const kinds = new WeakMap<object, Promise<ConnectionKind>>();

/** The kind of an open connection, from its canonical URI; asked once per connection. */
export function kindOf(conn: { getURI(): Promise<string> }): Promise<ConnectionKind> {
  let kind = kinds.get(conn);
  if (!kind) {
    kind = conn.getURI().then(connectionKind);
    kinds.set(conn, kind);
  }
  return kind;
}
