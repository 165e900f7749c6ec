// Where this host's NBD exports listen: a free loopback TCP port, or a unix socket in a directory
// that only QEMU's user and root can reach.
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { ErrorCodes, VolbackError } from '../errors';

/** Where volback makes unix sockets when the caller asks for one without a path (see `defaultUnixSocket`). */
export const NBD_SOCKET_ROOT = process.env.VOLBACK_NBD_DIR ?? '/run/volback/nbd';

/** A socket path in a dedicated per-domain directory, for `<server transport='unix' socket=…/>`. */
export const defaultUnixSocket = (domainUuid: string): string =>
  join(NBD_SOCKET_ROOT, domainUuid, 'nbd.sock');

/** A TCP port free on `host` right now (the kernel's choice); QEMU binds it a moment later. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Makes the directory of a unix socket that QEMU (not root) binds: a dedicated directory owned by
 * QEMU's user, mode 0700, so only QEMU and root reach the socket. Missing ancestors are made 0711
 * (traverse, no listing); volback's own run directories get o+x if they lack it; any other ancestor
 * QEMU cannot traverse is a CONFIG error. Returns the directory it made (removed with the session),
 * or undefined when the directory existed (then it is the caller's, used as it is).
 */
export function prepareSocketDir(
  socket: string,
  ids: { uid: number; gid: number } | undefined,
): string | undefined {
  const dir = dirname(socket);
  if (existsSync(dir)) return undefined;
  const ancestors: string[] = [];
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) ancestors.unshift(d);
  const ours = new Set([NBD_SOCKET_ROOT, dirname(NBD_SOCKET_ROOT)]);
  for (const d of ancestors) {
    if (!existsSync(d)) {
      mkdirSync(d, { mode: 0o711 });
      chmodSync(d, 0o711);
      continue;
    }
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) {
      if (!ours.has(d)) {
        throw new VolbackError(
          ErrorCodes.CONFIG,
          `QEMU cannot reach a socket under ${d}: the directory is not searchable by other users`,
          {
            fault: 'user',
            hint: `choose a socket path under ${NBD_SOCKET_ROOT}, or chmod o+x ${d}`,
          },
        );
      }
      chmodSync(d, (mode & 0o7777) | 0o011);
    }
  }
  mkdirSync(dir, { mode: 0o700 });
  if (ids) chownSync(dir, ids.uid, ids.gid);
  return dir;
}

/** Removes a socket directory prepareSocketDir made (and the socket in it); a missing one is fine. */
export function removeSocketDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
