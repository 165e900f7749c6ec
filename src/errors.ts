// volback's error family: one base class with a stable code, a fault side and a cause chain.

/** Who has to act: the caller (bad input, refused operation) or the system (libvirt, QEMU, disk). */
export type Fault = 'user' | 'system';

/** Every stable error code volback raises. Defined once; tests and callers match on these. */
export const ErrorCodes = {
  /** A libvirt call failed; see LibvirtError for libvirt's own code and domain. */
  LIBVIRT: 'ERR_LIBVIRT',
  /** A librados/librbd call failed; see CephError for the errno. */
  CEPH: 'ERR_CEPH',
  /** The native binding could not be loaded. */
  BINDING_LOAD: 'ERR_BINDING_LOAD',
  /** An XML document failed its RelaxNG schema or could not be parsed. */
  XML_INVALID: 'ERR_XML_INVALID',
  /** A value in a definition or on the command line is not acceptable. */
  INVALID_INPUT: 'ERR_INVALID_INPUT',
  /** The pool's libvirt type has no volback driver, or lacks the asked-for capability. */
  POOL_UNSUPPORTED: 'ERR_POOL_UNSUPPORTED',
  /** A pool is not active, missing, or too small for the backup. */
  POOL_UNAVAILABLE: 'ERR_POOL_UNAVAILABLE',
  /** A backup's parent is missing or its metadata is wrong. */
  CHAIN_BROKEN: 'ERR_CHAIN_BROKEN',
  /** A named backup, domain or disk does not exist. */
  NOT_FOUND: 'ERR_NOT_FOUND',
  /** Another job holds the domain, or the operation would break another backup. */
  CONFLICT: 'ERR_CONFLICT',
  /** The operation was cancelled by the caller (AbortSignal, SIGINT). */
  CANCELLED: 'ERR_CANCELLED',
  /** A backup or restore job failed while running. */
  JOB_FAILED: 'ERR_JOB_FAILED',
  /** Configuration file or environment is invalid. */
  CONFIG: 'ERR_CONFIG',
  /** An external command (qemu-img, xmllint, ...) failed. */
  COMMAND_FAILED: 'ERR_COMMAND_FAILED',
  /** A backup's stored data does not match the checksums recorded when it was taken. */
  DAMAGED: 'ERR_DAMAGED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface VolbackErrorOptions {
  fault?: Fault;
  cause?: unknown;
  /** What the user can do about it, printed by the CLI under the message. */
  hint?: string;
}

/** Base of every error volback throws on purpose. */
export class VolbackError extends Error {
  readonly code: ErrorCode;
  readonly fault: Fault;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, options: VolbackErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.fault = options.fault ?? 'system';
    this.hint = options.hint;
  }
}

/** Where in an XML document a problem sits (file or volume name, line, element path). */
export interface XmlLocation {
  source: string;
  line?: number;
  element?: string;
}

/** An XML document that does not parse or does not match its schema. */
export class XmlValidationError extends VolbackError {
  readonly location: XmlLocation;
  readonly details: string[];

  constructor(location: XmlLocation, details: string[], options: VolbackErrorOptions = {}) {
    const where = [location.source, location.line !== undefined ? `line ${location.line}` : undefined]
      .filter(Boolean)
      .join(':');
    const element = location.element ? ` (element ${location.element})` : '';
    super(ErrorCodes.XML_INVALID, `${where}${element}: ${details[0] ?? 'invalid document'}`, {
      fault: 'user',
      ...options,
    });
    this.location = location;
    this.details = details;
  }
}

export function isVolbackError(err: unknown, code?: ErrorCode): err is VolbackError {
  return err instanceof VolbackError && (code === undefined || err.code === code);
}

export const isNotFound = (err: unknown): boolean => isVolbackError(err, ErrorCodes.NOT_FOUND);
export const isCancelled = (err: unknown): boolean => isVolbackError(err, ErrorCodes.CANCELLED);
