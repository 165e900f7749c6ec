// Secret: a libvirt secret handle (e.g. the cephx key of an rbd pool) and its value, never logged.
import { virSecretUsageType } from './constants.generated';
import { LibvirtError, isLibvirtError } from './errors';
import { invoke, LibvirtObject } from './handle';
import type { NativeHandle } from './native';

/** The `<usage type>` of a secret, as libvirt's XML names it. */
export type SecretUsageType = 'none' | 'volume' | 'ceph' | 'iscsi' | 'tls' | 'vtpm';

const USAGE_TYPES: Record<SecretUsageType, number> = {
  none: virSecretUsageType.VIR_SECRET_USAGE_TYPE_NONE,
  volume: virSecretUsageType.VIR_SECRET_USAGE_TYPE_VOLUME,
  ceph: virSecretUsageType.VIR_SECRET_USAGE_TYPE_CEPH,
  iscsi: virSecretUsageType.VIR_SECRET_USAGE_TYPE_ISCSI,
  tls: virSecretUsageType.VIR_SECRET_USAGE_TYPE_TLS,
  vtpm: virSecretUsageType.VIR_SECRET_USAGE_TYPE_VTPM,
};

/** virSecretUsageType for a usage name; a TypeError for anything else (before any call). */
export function secretUsageType(usage: SecretUsageType): number {
  const n = Object.prototype.hasOwnProperty.call(USAGE_TYPES, usage) ? USAGE_TYPES[usage] : undefined;
  if (n === undefined) {
    throw new TypeError(
      `unknown secret usage type ${JSON.stringify(usage)} (one of ${Object.keys(USAGE_TYPES).join(', ')})`,
    );
  }
  return n;
}

const PRIVATE_HINT =
  "a secret defined with private='yes' cannot be read by any client; define it with private='no' " +
  '(virsh secret-undefine, then secret-define and secret-set-value)';

export class Secret extends LibvirtObject {
  /** @internal */
  constructor(handle: NativeHandle, label = '') {
    super(handle, label);
  }

  getUUIDString(): Promise<string> {
    return invoke('virSecretGetUUIDString', { secret: this.label }, (n) =>
      n.secretGetUUIDString(this.handle),
    );
  }

  /** The secret's XML (uuid, usage, description); never the value. */
  getXMLDesc(): Promise<string> {
    return invoke('virSecretGetXMLDesc', { secret: this.label }, (n) => n.secretGetXMLDesc(this.handle, 0));
  }

  /**
   * The secret's value (a cephx key: its base64 text, as `ceph auth get-key` prints it). Only the
   * secret's label is logged, never the value; the native copy is wiped before it is freed. The
   * caller owns the Buffer: fill(0) it once it is used.
   */
  async getValue(): Promise<Buffer> {
    try {
      return await invoke('virSecretGetValue', { secret: this.label }, (n) =>
        n.secretGetValue(this.handle, 0),
      );
    } catch (err) {
      // libvirt answers a private secret with the code a freed handle gets; tell them apart here.
      if (isLibvirtError(err, 'VIR_ERR_INVALID_SECRET') && !this.freed) {
        throw new LibvirtError(
          { ...err, message: `${err.libvirtMessage} (secret ${this.label})` },
          { cause: err, hint: PRIVATE_HINT },
        );
      }
      throw err;
    }
  }
}
