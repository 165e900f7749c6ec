// LibvirtError: a failed libvirt call, with libvirt's numeric and symbolic code and domain.
import { ErrorCodes, VolbackError, type VolbackErrorOptions } from '../errors';
import {
  VIR_ERROR_CODE_NAMES,
  VIR_ERROR_DOMAIN_NAMES,
  virErrorDomain,
  virErrorNumber,
} from './constants.generated';

/** Symbolic libvirt error code names, e.g. 'VIR_ERR_NO_DOMAIN'. */
export type LibvirtErrorCodeName = keyof typeof virErrorNumber;
/** Symbolic libvirt error domain names, e.g. 'VIR_FROM_QEMU'. */
export type LibvirtErrorDomainName = keyof typeof virErrorDomain;

/** What the addon attaches to the Error objects it rejects with. */
export interface NativeErrorFields {
  libvirtCode: number;
  libvirtDomain: number;
  libvirtLevel?: number;
  libvirtFunction?: string;
}

// Codes where the caller asked for something that is not there or not valid: the fix is theirs.
const USER_FAULT = new Set<string>([
  'VIR_ERR_NO_DOMAIN',
  'VIR_ERR_NO_STORAGE_POOL',
  'VIR_ERR_NO_STORAGE_VOL',
  'VIR_ERR_NO_DOMAIN_CHECKPOINT',
  'VIR_ERR_NO_SECRET',
  'VIR_ERR_INVALID_ARG',
  'VIR_ERR_XML_ERROR',
  'VIR_ERR_XML_DETAIL',
  'VIR_ERR_CONFIG_UNSUPPORTED',
  'VIR_ERR_OPERATION_INVALID',
]);

/** A libvirt call failed. `code` is always 'ERR_LIBVIRT'; libvirt's own code is `libvirtCode`. */
const CONNECTION_LOST_HINT =
  'the connection to libvirtd was lost (libvirtd stopped or restarted?); once it answers again, ' +
  '`volback repair --dry-run` shows what the interrupted run left, and `volback repair --yes` removes it';

export class LibvirtError extends VolbackError {
  /** libvirt's virErrorNumber, e.g. 42. */
  readonly libvirtCode: number;
  /** libvirt's virErrorDomain, e.g. 10. */
  readonly libvirtDomain: number;
  /** Symbolic code, e.g. 'VIR_ERR_NO_DOMAIN' ('VIR_ERR_UNKNOWN_<n>' for codes newer than this build). */
  readonly codeName: string;
  /** Symbolic domain, e.g. 'VIR_FROM_QEMU'. */
  readonly domainName: string;
  /** The libvirt C function that failed, e.g. 'virDomainLookupByName'. */
  readonly libvirtFunction: string;
  /** libvirt's own message, without the function prefix. */
  readonly libvirtMessage: string;

  constructor(fields: NativeErrorFields & { message: string }, options: VolbackErrorOptions = {}) {
    const codeName = VIR_ERROR_CODE_NAMES[fields.libvirtCode] ?? `VIR_ERR_UNKNOWN_${fields.libvirtCode}`;
    const domainName =
      VIR_ERROR_DOMAIN_NAMES[fields.libvirtDomain] ?? `VIR_FROM_UNKNOWN_${fields.libvirtDomain}`;
    const fn = fields.libvirtFunction ?? 'libvirt';
    super(ErrorCodes.LIBVIRT, `${fn}: ${fields.message}`, {
      fault: USER_FAULT.has(codeName) ? 'user' : 'system',
      // The RPC layer fails when the connection to libvirtd is gone, not the operation itself.
      hint: domainName === 'VIR_FROM_RPC' ? CONNECTION_LOST_HINT : undefined,
      ...options,
    });
    this.libvirtCode = fields.libvirtCode;
    this.libvirtDomain = fields.libvirtDomain;
    this.codeName = codeName;
    this.domainName = domainName;
    this.libvirtFunction = fn;
    this.libvirtMessage = fields.message;
  }
}

// Duck-typed: the addon's Error comes from Node's main realm, which is not `Error` inside a vm
// context such as a jest test environment.
function isNativeError(err: unknown): err is Error & NativeErrorFields {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as Partial<NativeErrorFields>).libvirtCode === 'number'
  );
}

/**
 * Turns whatever the addon rejected with into a LibvirtError carrying the caller's JS stack
 * (native rejections have none worth keeping). Non-libvirt errors (TypeError from bad arguments)
 * are returned unchanged apart from the stack.
 */
export function fromNative(err: unknown, callerStack?: string): unknown {
  if (err instanceof LibvirtError) return err;
  if (isNativeError(err)) {
    const e = new LibvirtError({ ...err, message: err.message });
    if (callerStack) e.stack = `${e.name}: ${e.message}\n${callerStack.split('\n').slice(1).join('\n')}`;
    return e;
  }
  return err;
}

/**
 * True when err is a LibvirtError, optionally with one of the given symbolic codes or domains:
 * `isLibvirtError(err, 'VIR_ERR_NO_DOMAIN')`, `isLibvirtError(err, 'VIR_FROM_QEMU')`.
 */
export function isLibvirtError(
  err: unknown,
  ...names: Array<LibvirtErrorCodeName | LibvirtErrorDomainName>
): err is LibvirtError {
  if (!(err instanceof LibvirtError)) return false;
  if (names.length === 0) return true;
  return names.some((n) => n === err.codeName || n === err.domainName);
}

/** The object asked for does not exist (domain, pool, volume, checkpoint or secret). */
export const isLibvirtNotFound = (err: unknown): boolean =>
  isLibvirtError(
    err,
    'VIR_ERR_NO_DOMAIN',
    'VIR_ERR_NO_STORAGE_POOL',
    'VIR_ERR_NO_STORAGE_VOL',
    'VIR_ERR_NO_DOMAIN_CHECKPOINT',
    'VIR_ERR_NO_SECRET',
  );

/** The handle was freed/closed before the call. */
export const isFreedHandle = (err: unknown): boolean =>
  isLibvirtError(
    err,
    'VIR_ERR_INVALID_CONN',
    'VIR_ERR_INVALID_DOMAIN',
    'VIR_ERR_INVALID_STORAGE_POOL',
    'VIR_ERR_INVALID_STORAGE_VOL',
    'VIR_ERR_INVALID_DOMAIN_CHECKPOINT',
    'VIR_ERR_INVALID_STREAM',
    'VIR_ERR_INVALID_SECRET',
  );
