// The keys of encrypted backups (docs/encryption.md): a libvirt secret's passphrase read through
// libvirt and handed on only as a QEMU secret object (over QMP, or to QEMU's tools through a pipe).
// The value is never logged, never in an error, never stored; only the secret's UUID and usage are.
import { isLibvirtNotFound, type Connection, type Secret, type StorageVolume } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import type { BackupEncryption, SecretRef } from '../../model';
import type { ChainKey } from '../../pool/driver';
import type { OpenPool } from '../../pool/pool-layer';
import { base64Bytes } from '../../tools/secret-bytes';
import { describeSecretRef, parseSecretUsage } from '../../xml/encryption';

/** A chain's key and what the metadata records of it. The caller wipes the key (`wipeKey`) when done. */
export interface OpenedKey {
  encryption: BackupEncryption;
  key: ChainKey;
}

/** The QEMU object id of a secret's key: names the secret, not the value. */
export const keyObjectId = (secretUuid: string): string => `volback-key-${secretUuid.slice(0, 8)}`;

const HINT_DEFINE =
  "define the same secret on this host (virsh secret-define with its UUID and usage, private='no', then virsh secret-set-value)";

/** The refusal of a secret this host cannot give: named by UUID and usage, never by value. */
export function secretUnavailable(what: string, ref: SecretRef, why: string, cause?: unknown): VolbackError {
  return new VolbackError(ErrorCodes.INVALID_INPUT, `${what}: ${describeSecretRef(ref)} ${why}`, {
    fault: 'user',
    cause,
    hint: HINT_DEFINE,
  });
}

async function lookup(conn: Connection, ref: SecretRef): Promise<Secret> {
  return 'uuid' in ref ? conn.lookupSecretByUUID(ref.uuid) : conn.lookupSecretByUsage('volume', ref.usage);
}

/**
 * Reads secret `ref` from libvirt as a chain key: its UUID and usage (for the metadata) and its
 * passphrase as QEMU's base64 secret data. `what` names the operation in errors.
 * @throws VolbackError ERR_INVALID_INPUT when this host has no such secret, or none with a value.
 */
export async function openKey(conn: Connection, ref: SecretRef, what: string): Promise<OpenedKey> {
  let secret: Secret;
  try {
    secret = await lookup(conn, ref);
  } catch (err) {
    if (isLibvirtNotFound(err)) throw secretUnavailable(what, ref, 'is not defined on this host', err);
    throw err;
  }
  try {
    const uuid = await secret.getUUIDString();
    const usage = await parseSecretUsage(await secret.getXMLDesc());
    let raw: Buffer;
    try {
      raw = await secret.getValue();
    } catch (err) {
      throw secretUnavailable(what, ref, 'has no value this client can read', err);
    }
    if (raw.length === 0) {
      raw.fill(0);
      throw secretUnavailable(what, ref, 'has an empty value');
    }
    const value = base64Bytes(raw);
    raw.fill(0);
    return {
      encryption: {
        format: 'luks',
        secretUuid: uuid,
        ...(usage !== undefined ? { secretUsage: usage } : {}),
      },
      key: { id: keyObjectId(uuid), value },
    };
  } finally {
    secret.free();
  }
}

/**
 * The key of a stored encrypted chain, from the secret its metadata names: by UUID, else — another
 * host may have defined the same passphrase under its own UUID — by the recorded usage.
 */
export async function keyOfChain(
  conn: Connection,
  encryption: BackupEncryption,
  what: string,
): Promise<ChainKey> {
  const byUuid: SecretRef = { uuid: encryption.secretUuid };
  try {
    return (await openKey(conn, byUuid, what)).key;
  } catch (err) {
    if (encryption.secretUsage === undefined || !/is not defined/.test((err as Error).message)) throw err;
    return (
      await openKey(conn, { usage: encryption.secretUsage }, what).catch(() => {
        throw secretUnavailable(
          what,
          byUuid,
          `(usage '${encryption.secretUsage}') is not defined on this host`,
          err,
        );
      })
    ).key;
  }
}

/** Overwrites a key's bytes once nothing needs it any more. */
export function wipeKey(key: ChainKey | undefined): void {
  key?.value.fill(0);
}

/**
 * The key of an encrypted set's chains, for a restore or a verify (`what` names it in errors), checked
 * to open the top layer of `probe` before anything is created: a secret this host lacks, or whose
 * passphrase does not unlock the volume, is refused naming the secret by UUID and usage. Undefined
 * for a plain set.
 */
export async function openSetKey(
  conn: Connection,
  encryption: BackupEncryption | undefined,
  what: string,
  probe?: { pool: OpenPool; volume: StorageVolume },
): Promise<ChainKey | undefined> {
  if (!encryption) return undefined;
  const key = await keyOfChain(conn, encryption, what);
  if (!probe) return key;
  try {
    // A layer's own data map is read with the key: QEMU unlocks the LUKS header or says it cannot.
    await probe.pool.driver.storedBytes(probe.pool, probe.volume, key);
  } catch (err) {
    wipeKey(key);
    if (/Invalid password|cannot unlock any keyslot/i.test((err as Error).message)) {
      const usage = encryption.secretUsage !== undefined ? ` (usage '${encryption.secretUsage}')` : '';
      throw new VolbackError(
        ErrorCodes.INVALID_INPUT,
        `${what}: the passphrase of libvirt secret ${encryption.secretUuid}${usage} on this host does not unlock volume ${await probe.volume.getName()} in pool '${probe.pool.name}'`,
        {
          fault: 'user',
          hint: 'set the secret to the passphrase the backup was made with (virsh secret-set-value)',
        },
      );
    }
    throw err;
  }
  return key;
}
