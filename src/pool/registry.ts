// Pool drivers keyed by libvirt pool type; each is loaded on first use.
import { ErrorCodes, VolbackError } from '../errors';
import type { PoolDriver } from './driver';

const DRIVERS: Record<string, () => PoolDriver> = {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  dir: () => (require('../../pool-drivers/dir') as typeof import('../../pool-drivers/dir')).dirDriver,
};

/** Pool types volback can store backups in. */
export const supportedPoolTypes = (): string[] => Object.keys(DRIVERS);

/** The driver of a libvirt pool type, or ERR_POOL_UNSUPPORTED naming the supported ones. */
export function driverFor(poolType: string, poolName?: string): PoolDriver {
  const load = DRIVERS[poolType];
  if (!load) {
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `pool ${poolName ? `'${poolName}' ` : ''}has type '${poolType}', which volback cannot store backups in (supported: ${supportedPoolTypes().join(', ')})`,
      { fault: 'user' },
    );
  }
  return load();
}
