// Which secret encrypts a backup run (docs/encryption.md): the definition's `<encryption>`, else the
// config's `backup_encryption_secret`, for a full; an incremental always continues its chain's
// encryption (the full's secret, recorded in the chain's metadata), whatever is asked, so a chain is
// encrypted all the way down with one key or not at all.
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import type { BackupDefinition, BackupEncryption, SecretRef } from '../../model';
import type { Connection } from '../../libvirt';
import type { PoolDriverCapabilities } from '../../pool/driver';
import type { BaseState } from '../shared/disk-selection';
import { keyOfChain, openKey, type OpenedKey } from '../shared/encryption';
import { describeSecretRef, secretRefOf } from '../../xml/encryption';
import type { BackupPlan } from './plan';

const log = logger('backup');

/** The secret a full of this run would be encrypted with: the definition's, else the config's; none: plain. */
export function requestedSecret(
  definition: BackupDefinition,
  configSecret: string | undefined,
): SecretRef | undefined {
  const asked = definition.encryption;
  if (asked) return asked.format === 'luks' ? asked.secret : undefined;
  return configSecret ? secretRefOf(configSecret) : undefined;
}

const sameSecret = (ref: SecretRef, enc: BackupEncryption): boolean =>
  'uuid' in ref ? ref.uuid === enc.secretUuid : ref.usage === enc.secretUsage;

/**
 * The base as the run may build on it: a plain chain cannot take an encrypted incremental (its parents
 * would stay readable), so encryption asked of it starts a new, encrypted chain with a full. An
 * encrypted chain is continued with its own secret; asking for another secret or none only logs that.
 */
export function baseForEncryption(
  domain: string,
  base: BaseState,
  requested: SecretRef | undefined,
): BaseState {
  if (!base?.usable) return base;
  const chain = base.set.encryption;
  if (!chain && requested)
    return {
      set: base.set,
      usable: false,
      reason: `encryption with ${describeSecretRef(requested)} was asked for, and the chain of backup ${base.set.id} is not encrypted`,
    };
  if (chain && !(requested && sameSecret(requested, chain)))
    log.info(
      `${domain}: the incremental stays encrypted with the chain's libvirt secret ${chain.secretUuid}` +
        (requested
          ? ` (not ${describeSecretRef(requested)}: a full starts a chain with it)`
          : ' (a full would be plain)'),
    );
  return base;
}

/**
 * The encryption of the plan's volumes, read from libvirt before anything is created, with the key
 * (the caller wipes it): the chain's for an incremental, the requested secret's for a full; undefined
 * for a plain backup. Refuses, naming the pool or disk, a plan whose volumes cannot be encrypted.
 */
export async function openRunKey(
  conn: Connection,
  domain: string,
  plan: BackupPlan,
  requested: SecretRef | undefined,
  capabilities: (pool: string) => PoolDriverCapabilities,
): Promise<OpenedKey | undefined> {
  const what = `cannot back up ${domain} encrypted`;
  const chain = plan.kind === 'incremental' ? plan.parent?.encryption : undefined;
  if (plan.kind === 'incremental' ? !chain : !requested) return undefined;
  const refuse = (why: string, hint: string): never => {
    throw new VolbackError(ErrorCodes.POOL_UNSUPPORTED, `${what}: ${why}`, { fault: 'user', hint });
  };
  if (plan.compression)
    refuse(
      'a volume cannot be both compressed and encrypted: QEMU stores the compressed clusters of a LUKS qcow2 unencrypted (qemu-img refuses the mix)',
      'back up without compression (--compress none), or without encryption',
    );
  for (const disk of plan.disks) {
    if (!capabilities(disk.pool).encryptedVolumes)
      refuse(
        `pool ${disk.pool} (disk ${disk.target}) cannot store encrypted volumes`,
        'back up into a dir pool on this host, or without encryption',
      );
    if (disk.format !== 'qcow2')
      refuse(
        `disk ${disk.target}'s volume would be ${disk.format}; encrypted backups are LUKS-encrypted qcow2`,
        "give the disk <target format='qcow2'/>, or set backup_format = qcow2",
      );
  }
  if (chain) {
    const key = await keyOfChain(
      conn,
      chain,
      `cannot continue the encrypted chain of backup ${plan.parent!.id}`,
    );
    return { encryption: chain, key };
  }
  return openKey(conn, requested!, what);
}
