// CephError: a failed librados/librbd call, with its errno; predicates instead of message matching.
import os from 'node:os';
import { ErrorCodes, VolbackError, type VolbackErrorOptions } from '../../src/errors';

// os.constants.errno lacks a few Linux names the addon can report; of aliases the first is kept.
const ERRNO_NAMES = new Map<number, string>([[108, 'ESHUTDOWN']]);
for (const [name, n] of Object.entries(os.constants.errno)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);

// The caller asked for something that is not there, already there, or not acceptable.
const USER_FAULT = new Set(['ENOENT', 'EEXIST', 'EINVAL', 'EFBIG', 'ENOTEMPTY', 'EBUSY']);

const HINTS: Record<string, string> = {
  EACCES:
    "the cephx user or key was refused: check the pool's <auth username> and the key in its libvirt secret",
  EPERM:
    "the cephx user or key was refused: check the pool's <auth username> and the key in its libvirt secret",
  ETIMEDOUT:
    'Ceph did not accept the connection in time: check the pool XML <host> entries, that the cluster runs, ' +
    'and the cephx user and key (librados retries a refused key until the timeout)',
  ESHUTDOWN: 'the cluster handle was closed: connect again (connectCeph)',
};

/** `code` is always 'ERR_CEPH'; the errno is `errno` (positive) and `errnoName` ('ENOENT'). */
export class CephError extends VolbackError {
  readonly errno: number;
  readonly errnoName: string;

  constructor(errno: number, message: string, options: VolbackErrorOptions = {}) {
    const errnoName = ERRNO_NAMES.get(errno) ?? `E${errno}`;
    super(ErrorCodes.CEPH, message, {
      fault: USER_FAULT.has(errnoName) ? 'user' : 'system',
      hint: HINTS[errnoName],
      ...options,
    });
    this.errno = errno;
    this.errnoName = errnoName;
  }
}

/** Turns an addon rejection ({message, cephErrno}) into a CephError with the caller's stack. */
export function fromNativeCeph(err: unknown, callerStack?: string): unknown {
  if (err instanceof CephError) return err;
  const errno = (err as { cephErrno?: unknown } | null)?.cephErrno;
  if (typeof errno !== 'number') return err; // TypeError/RangeError from bad arguments
  const e = new CephError(errno, (err as Error).message);
  if (callerStack) e.stack = `${e.name}: ${e.message}\n${callerStack.split('\n').slice(1).join('\n')}`;
  return e;
}

/** True for a CephError, optionally with one of the errno names: `isCephError(err, 'EEXIST')`. */
export function isCephError(err: unknown, ...names: string[]): err is CephError {
  return err instanceof CephError && (names.length === 0 || names.includes(err.errnoName));
}

/** The image, snapshot or pool asked for does not exist. */
export const isCephNotFound = (err: unknown): boolean => isCephError(err, 'ENOENT');
