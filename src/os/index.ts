// OS primitives Node lacks, typed: advisory whole-file locks (flock(2)) over the volback_os addon.
import { getSystemErrorName } from 'node:util';
import { loadOsBinding } from './native';

/**
 * Tries to take flock(2)'s exclusive lock on `fd` without waiting. True: this descriptor now holds
 * it, until it is closed (or its process dies: the kernel drops it). False: another open file
 * description holds it — another process, or another open() of the same file in this one.
 * The lock belongs to the open file description, so open the file with O_CLOEXEC (Node always does)
 * and never share the descriptor with a child that could outlive the holder.
 * @throws Error with `code`/`errno`/`syscall` like Node's own, for any other failure (EBADF, ENOLCK…).
 */
export function tryLockExclusive(fd: number): boolean {
  const os = loadOsBinding();
  const errno = os.flock(fd, os.LOCK_EX | os.LOCK_NB);
  if (errno === 0) return true;
  if (errno === os.EWOULDBLOCK) return false;
  const code = getSystemErrorName(-errno);
  throw Object.assign(new Error(`flock(${fd}, LOCK_EX|LOCK_NB) failed: ${code}`), {
    code,
    errno: -errno,
    syscall: 'flock',
  });
}

/**
 * The read end of a pipe that already holds `bytes`, its write end closed: given to a child as one of
 * its descriptors, it reads them to EOF as a file (`/dev/fd/N`). Close it once the child is spawned.
 * @throws Error with `code` like Node's own when the pipe cannot be made.
 */
export function pipeHolding(bytes: Buffer): number {
  const fd = loadOsBinding().pipeHolding(bytes);
  if (fd >= 0) return fd;
  const code = getSystemErrorName(fd);
  throw Object.assign(new Error(`pipe2 failed: ${code}`), { code, errno: fd, syscall: 'pipe2' });
}
