// The `<encryption>` element of a backup definition (what is asked) and of a set's metadata (which
// secret holds the passphrase, never its value), libvirt's volume <encryption> style: docs/encryption.md.
import type { BackupEncryption, EncryptionRequest, SecretRef } from '../model';
import { canonicalUuid, canonicalUuidProblem, isUuid } from './names';
import { parseTree, type OutElement, type TreeReader, type XmlElement } from './tree';

/** Why `usage` cannot be a libvirt secret's usage id (printable, one line, 1 to 256 characters). */
export function secretUsageProblem(usage: string): string | undefined {
  if (usage.length === 0 || usage.length > 256 || /[\u0000-\u001f\u007f]/.test(usage))
    return 'must be 1 to 256 printable characters on one line';
  return undefined;
}

/** A secret named by UUID (any libvirt form; kept canonical) or by usage id, from a definition or the config. */
export function secretRefOf(text: string): SecretRef {
  return isUuid(text) ? { uuid: canonicalUuid(text) } : { usage: text };
}

/** How errors and logs name a secret: its UUID, or its usage id. */
export const describeSecretRef = (ref: SecretRef): string =>
  'uuid' in ref ? `libvirt secret ${ref.uuid}` : `libvirt secret with usage '${ref.usage}'`;

/** A definition's `<encryption format='luks'><secret type='passphrase' uuid|usage='…'/></encryption>` or `format='none'`. */
export function readEncryptionRequest(r: TreeReader, el: XmlElement): EncryptionRequest | undefined {
  const format = r.enumAttr(el, 'format', ['luks', 'none'] as const);
  if (format === 'none') {
    r.allowOnly(el, ['format'], []);
    return { format };
  }
  r.allowOnly(el, ['format'], ['secret']);
  const secret = r.required(el, 'secret');
  if (!secret || !format) return undefined;
  r.allowOnly(secret, ['type', 'uuid', 'usage'], []);
  r.enumAttr(secret, 'type', ['passphrase'] as const);
  const { uuid, usage } = secret.attrs;
  if ((uuid === undefined) === (usage === undefined)) {
    r.problem(secret, "<secret> names its libvirt secret by exactly one of 'uuid' or 'usage'");
    return undefined;
  }
  if (uuid !== undefined) {
    if (!isUuid(uuid)) {
      r.problem(secret, `uuid='${uuid}' on <secret> is not a UUID`);
      return undefined;
    }
    return { format, secret: { uuid: canonicalUuid(uuid) } };
  }
  r.check(secret, usage, 'usage', secretUsageProblem);
  return { format, secret: { usage: usage! } };
}

/** The definition's element for `request`. */
export function encryptionRequestTree(request: EncryptionRequest): OutElement {
  if (request.format === 'none') return { name: 'encryption', attrs: [['format', 'none']] };
  const ref = request.secret;
  return {
    name: 'encryption',
    attrs: [['format', request.format]],
    children: [
      {
        name: 'secret',
        attrs: [
          ['type', 'passphrase'],
          ['uuid', 'uuid' in ref ? ref.uuid : undefined],
          ['usage', 'usage' in ref ? ref.usage : undefined],
        ],
      },
    ],
  };
}

/** A set's `<encryption format='luks'><secret type='passphrase' uuid='…' usage='…'/></encryption>`. */
export function readBackupEncryption(r: TreeReader, el: XmlElement): BackupEncryption | undefined {
  r.allowOnly(el, ['format'], ['secret']);
  const format = r.enumAttr(el, 'format', ['luks'] as const);
  const secret = r.required(el, 'secret');
  if (!secret || !format) return undefined;
  r.allowOnly(secret, ['type', 'uuid', 'usage'], []);
  r.enumAttr(secret, 'type', ['passphrase'] as const);
  const uuid = r.requiredAttr(secret, 'uuid');
  r.check(secret, uuid, 'uuid', canonicalUuidProblem);
  r.check(secret, secret.attrs.usage, 'usage', secretUsageProblem);
  if (uuid === undefined) return undefined;
  return {
    format,
    secretUuid: uuid,
    ...(secret.attrs.usage !== undefined ? { secretUsage: secret.attrs.usage } : {}),
  };
}

/** The metadata element for `encryption`. */
export function backupEncryptionTree(encryption: BackupEncryption): OutElement {
  return {
    name: 'encryption',
    attrs: [['format', encryption.format]],
    children: [
      {
        name: 'secret',
        attrs: [
          ['type', 'passphrase'],
          ['uuid', encryption.secretUuid],
          ['usage', encryption.secretUsage],
        ],
      },
    ],
  };
}

/** The usage id of a libvirt `<secret>` (its `<usage>`'s one child: `<volume>`, `<name>`, `<target>`), if any. */
export async function parseSecretUsage(secretXml: string): Promise<string | undefined> {
  const root = await parseTree(secretXml, 'libvirt secret XML');
  const usage = root.children.find((c) => c.name === 'usage');
  const id = usage?.children[0]?.text;
  return id === undefined || id === '' ? undefined : id;
}
