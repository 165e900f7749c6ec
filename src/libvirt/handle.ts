// The base of every facade object: owns one native handle and funnels calls through `invoke`.
import { logger } from '../log';
import { fromNative } from './errors';
import { loadBinding, type NativeBinding, type NativeHandle } from './native';

const log = logger('libvirt');

/**
 * Runs one native call: debug-logs the libvirt function and its key arguments, and turns a
 * rejection into a LibvirtError carrying the caller's JS stack.
 */
export async function invoke<T>(
  fn: string,
  args: Record<string, unknown>,
  op: (native: NativeBinding) => Promise<T>,
): Promise<T> {
  const caller: { stack?: string } = {};
  Error.captureStackTrace(caller, invoke); // the JS call site, without this helper's frame
  log.debug(fn, args);
  try {
    return await op(loadBinding());
  } catch (err) {
    throw fromNative(err, caller.stack);
  }
}

/** Runs queued async operations one at a time, in order (per-handle ordering, e.g. streams). */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.tail.then(op, op);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * A facade object owning one libvirt reference. `free()` releases it now (idempotent); later
 * calls reject with a LibvirtError (VIR_ERR_INVALID_DOMAIN etc.). If never freed, the
 * reference is released when the object is garbage collected.
 */
export abstract class LibvirtObject {
  /** @internal */
  readonly handle: NativeHandle;
  /** Name or path when known at creation; used only in debug logs. */
  readonly label: string;

  protected constructor(handle: NativeHandle, label = '') {
    this.handle = handle;
    this.label = label;
  }

  /** Releases the libvirt reference now. Safe to call more than once. */
  free(): void {
    this.handle.free();
  }

  /** True once free() (or close()) has run. */
  get freed(): boolean {
    return this.handle.freed;
  }
}
