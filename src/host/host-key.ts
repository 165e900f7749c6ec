// A secret only this host's volback knows (root-only file), to sign records that this host alone acts
// on later, so a record someone else wrote into a shared pool cannot make volback act.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Where volback keeps its own state on this host (not in any pool). */
export const STATE_DIR = process.env.VOLBACK_STATE_DIR ?? '/var/lib/volback';

let cached: Buffer | undefined;

/** The host key: 32 random bytes in STATE_DIR/host.key (0600), made on first use. */
function hostKey(): Buffer {
  if (cached) return cached;
  const path = join(STATE_DIR, 'host.key');
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  try {
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      writeSync(fd, randomBytes(32));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = readFileSync(path);
  if (key.length !== 32) throw new Error(`${path} is not a volback host key (${key.length} bytes, not 32)`);
  cached = key;
  return key;
}

/** The signature of `text` with this host's key (hex). */
export function signForThisHost(text: string): string {
  return createHmac('sha256', hostKey()).update(text).digest('hex');
}

/** True when `mac` is this host's signature of `text`. */
export function signedByThisHost(text: string, mac: unknown): boolean {
  if (typeof mac !== 'string' || !/^[0-9a-f]{64}$/.test(mac)) return false;
  return timingSafeEqual(Buffer.from(signForThisHost(text), 'hex'), Buffer.from(mac, 'hex'));
}
