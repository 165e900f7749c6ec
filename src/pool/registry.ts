// Pool drivers keyed by libvirt pool type. Each driver registers itself in one small function (as
// libvirt's storage backends do) with a factory; a driver is created on first use, its options
// validated then.
import { ErrorCodes, VolbackError } from '../errors';
import { registerBuiltinDrivers } from './builtin-drivers';
import type { PoolDriver } from './driver';

/** What a driver hands the registry: its pool type and how to make it. */
export interface DriverRegistration {
  type: string;
  create(): PoolDriver;
}

/** The registry a driver's register function adds itself to. */
export interface PoolDriverRegistry {
  register(registration: DriverRegistration): void;
}

const registrations = new Map<string, DriverRegistration>();
const created = new Map<string, PoolDriver>();

const registry: PoolDriverRegistry = {
  register(registration) {
    if (registrations.has(registration.type))
      throw new Error(`a pool driver for type '${registration.type}' is registered twice`);
    registrations.set(registration.type, registration);
  },
};

let builtinsRegistered = false;
function ensureRegistered(): void {
  if (builtinsRegistered) return;
  builtinsRegistered = true;
  registerBuiltinDrivers(registry);
}

/** Pool types volback can store backups in. */
export function supportedPoolTypes(): string[] {
  ensureRegistered();
  return [...registrations.keys()];
}

/** The driver of a libvirt pool type, or ERR_POOL_UNSUPPORTED naming the supported ones. */
export function driverFor(poolType: string, poolName?: string): PoolDriver {
  ensureRegistered();
  let driver = created.get(poolType);
  if (driver) return driver;
  const registration = registrations.get(poolType);
  if (!registration) {
    throw new VolbackError(
      ErrorCodes.POOL_UNSUPPORTED,
      `pool ${poolName ? `'${poolName}' ` : ''}has type '${poolType}', which volback cannot store backups in (supported: ${supportedPoolTypes().join(', ')})`,
      { fault: 'user' },
    );
  }
  driver = registration.create();
  created.set(poolType, driver);
  return driver;
}
