// Where an rbd pool's cluster is and how to log in to it, from libvirt alone: the pool's XML names
// the monitors and the cephx user, its libvirt secret holds the key (virSecretGetValue).
import { ErrorCodes, VolbackError } from '../../src/errors';
import { requirePrivateConnection } from '../../src/host/connection-kind';
import { isLibvirtNotFound, type Connection, type Secret } from '../../src/libvirt';
import { parseRbdPoolSource } from '../../src/xml/libvirt-storage';
import type { CephAuth } from './ceph';

// Moved to src/tools so core's encrypted backups share it; re-exported for the tests that use it here.
export { base64Bytes } from '../../src/tools/secret-bytes';
import { base64Bytes } from '../../src/tools/secret-bytes';

function missing(pool: string, what: string, hint: string): VolbackError {
  return new VolbackError(ErrorCodes.INVALID_INPUT, `rbd pool ${pool}: ${what}`, { fault: 'user', hint });
}

/**
 * The CephAuth of an rbd pool: monitors from `<source><host>`, user from `<auth username>`, key
 * from the secret `<auth><secret uuid|usage>` names (usage type ceph). Nothing comes from
 * volback's own configuration, so any host with the pool definition and its secret gets the same.
 * The key is only in memory: the returned Buffer is the caller's to fill(0) after connecting.
 * @throws VolbackError ERR_INVALID_INPUT naming the pool and what is missing; never the key.
 */
export async function cephAuthFromPool(conn: Connection, poolXml: string): Promise<CephAuth> {
  const src = await parseRbdPoolSource(poolXml);
  const pool = src.name || '(unnamed)';
  const fix = 'see the <source> of `virsh pool-dumpxml`; libvirt documents it under "RBD pool"';
  if (src.hosts.length === 0)
    throw missing(pool, 'its XML names no monitor (<source><host name port/>)', fix);
  const monHosts = src.hosts.map((h, i) => {
    if (!h.name) throw missing(pool, `<source><host> #${i + 1} has no name`, fix);
    const host = h.name.includes(':') ? `[${h.name}]` : h.name; // an IPv6 address
    return h.port === undefined ? host : `${host}:${h.port}`;
  });
  if (!src.auth) return { monHosts };
  if (src.auth.type !== 'ceph') throw missing(pool, `<auth type='${src.auth.type}'> is not type 'ceph'`, fix);
  const user = src.auth.username;
  if (!user) throw missing(pool, "<auth type='ceph'> has no username", fix);
  const { secretUuid: uuid, secretUsage: usage } = src.auth;
  if (!uuid && !usage)
    throw missing(pool, '<auth> names no secret (<secret uuid=…/> or <secret usage=…/>)', fix);
  const which = uuid ? `uuid ${uuid}` : `usage '${usage}'`;
  requirePrivateConnection(await conn.getURI(), `rbd pool ${pool}'s key (libvirt secret ${which})`);
  let secret: Secret;
  try {
    secret = uuid
      ? await conn.lookupSecretByUUID(uuid)
      : await conn.lookupSecretByUsage('ceph', usage as string);
  } catch (err) {
    if (!isLibvirtNotFound(err)) throw err;
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `rbd pool ${pool}: its libvirt secret (${which}) is not defined on this host`,
      {
        fault: 'user',
        cause: err,
        hint:
          "define it (virsh secret-define, private='no') and store client." +
          `${user}'s key (virsh secret-set-value --file)`,
      },
    );
  }
  let raw: Buffer;
  try {
    raw = await secret.getValue();
  } catch (err) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `rbd pool ${pool}: cannot read its libvirt secret (${which})`,
      {
        fault: 'user',
        cause: err,
        hint: (err as { hint?: string }).hint ?? 'check that the secret has a value (virsh secret-set-value)',
      },
    );
  } finally {
    secret.free();
  }
  try {
    if (raw.length === 0)
      throw missing(
        pool,
        `its libvirt secret (${which}) has an empty value`,
        'virsh secret-set-value --file',
      );
    return { monHosts, user, key: base64Bytes(raw) };
  } finally {
    raw.fill(0);
  }
}
