// `backup create --encrypt SECRET|none`, `backup restore --encrypt-target SECRET` and how `backup show`
// names a set's encryption (docs/encryption.md).
import type { BackupDefinition, BackupEncryption, SecretRef } from '../model';
import { secretRefOf, secretUsageProblem } from '../xml/encryption';
import { UsageError } from './exit-codes';
import { flagString, type Flags } from './framework';

/** The definition with `--encrypt` applied: a secret's UUID or volume usage id, or `none`. Pure. */
export function withEncryptFlag(
  definition: BackupDefinition | undefined,
  flags: Flags,
): BackupDefinition | undefined {
  const value = flagString(flags.encrypt);
  if (value === undefined) return definition;
  const problem = secretUsageProblem(value);
  if (problem) throw new UsageError(`--encrypt ${problem}`);
  const base: BackupDefinition = definition ?? { mode: 'push', kind: 'auto', disks: [] };
  return {
    ...base,
    encryption: value === 'none' ? { format: 'none' } : { format: 'luks', secret: secretRefOf(value) },
  };
}

/** `--encrypt-target`: the secret (UUID or volume usage id) the restored volumes are encrypted with. Pure. */
export function encryptTargetFlag(flags: Flags): SecretRef | undefined {
  const value = flagString(flags['encrypt-target']);
  if (value === undefined) return undefined;
  const problem = secretUsageProblem(value);
  if (problem) throw new UsageError(`--encrypt-target ${problem}`);
  return secretRefOf(value);
}

/** `luks, libvirt secret 5a1d… (usage 'vm1 backups')`, or undefined for a plain set. Pure. */
export function describeEncryption(e: BackupEncryption | undefined): string | undefined {
  if (!e) return undefined;
  return `${e.format}, libvirt secret ${e.secretUuid}${e.secretUsage !== undefined ? ` (usage '${e.secretUsage}')` : ''}`;
}
