// A restore into encrypted volumes (docs/encryption.md, "Restoring into encrypted volumes"): the new
// volumes are LUKS-encrypted qcow2 with the passphrase of a libvirt secret the user names, whatever
// the backup was (encrypted or plain); the restored domain's disks name that secret so QEMU opens them.
import { ErrorCodes, VolbackError } from '../../errors';
import type { BackupEncryption, SecretRef, VolumeFormat } from '../../model';
import type { ChainKey } from '../../pool/driver';
import type { OpenPool } from '../../pool/pool-layer';
import { describeSecretRef } from '../../xml/encryption';
import { openKey } from '../shared/encryption';
import type { FillWay } from './copy';

/** The key the new volumes are written with, and what their `<encryption>` names. The caller wipes `key`. */
export interface TargetKey {
  encryption: BackupEncryption;
  key: ChainKey;
}

/**
 * Reads secret `ref` from the target host's libvirt (`conn` of the target pool) before anything is
 * created: a secret this host lacks, cannot read or that is empty is refused naming it (openKey).
 * The key gets its own object id, so that a source chain's key of another secret never shares one.
 */
export async function openTargetKey(target: OpenPool, ref: SecretRef, setId: string): Promise<TargetKey> {
  const opened = await openKey(target.conn, ref, `cannot restore backup ${setId} into encrypted volumes`);
  return {
    encryption: opened.encryption,
    key: { id: `volback-target-key-${opened.encryption.secretUuid.slice(0, 8)}`, value: opened.key.value },
  };
}

/**
 * Refuses, before anything is created, an encrypted target that `target` cannot hold or this way of
 * filling it cannot write: a pool without `encryptedVolumes`, a raw volume, a live layer, or a copy
 * not made by qemu-img on this host (only it is handed the key). Pure.
 */
export function checkEncryptedTarget(
  ref: SecretRef,
  target: OpenPool,
  way: FillWay,
  format: VolumeFormat,
): void {
  const what = `cannot restore into volumes encrypted with ${describeSecretRef(ref)}`;
  const refuse = (why: string, hint: string): never => {
    throw new VolbackError(ErrorCodes.POOL_UNSUPPORTED, `${what}: ${why}`, { fault: 'user', hint });
  };
  if (!target.driver.capabilities.encryptedVolumes)
    refuse(
      `pool '${target.name}' (${target.type}) cannot store encrypted volumes`,
      'restore into a dir pool on this host, or without --encrypt-target',
    );
  if (way !== 'convert')
    refuse(
      way === 'live'
        ? 'a live restore runs the domain on layers over the backup, which are not encrypted'
        : `pool '${target.name}' is not on the host volback runs on: only qemu-img here writes through the key`,
      way === 'live'
        ? 'restore without --live'
        : 'run volback on the host of the target pool (docs/encryption.md)',
    );
  if (format !== 'qcow2')
    refuse(
      `the volumes would be ${format}; encrypted volumes are LUKS-encrypted qcow2`,
      'leave out --format raw',
    );
}
