// Unique, recognisable names for libvirt objects and paths that tests create.
import { randomBytes } from 'crypto';

let counter = 0;

/** Prefix every test-made libvirt object carries, so leftovers are easy to spot and sweep. */
export const TEST_PREFIX = 'vbt';

/**
 * A name unique across processes and runs: `vbt-<label>-<pid>-<n>-<random>` (only [a-z0-9-],
 * safe as a domain, pool, volume or file name).
 */
export function uniqueName(label: string): string {
  const safe = label
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 24);
  counter += 1;
  return `${TEST_PREFIX}-${safe}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}
