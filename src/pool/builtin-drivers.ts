// The drivers volback ships: each registers itself, the registry calls this once on first use.
import { registerDirDriver } from '../../pool-drivers/dir';
import { registerLogicalDriver } from '../../pool-drivers/logical';
import { registerRbdDriver } from '../../pool-drivers/rbd';
import type { PoolDriverRegistry } from './registry';

export function registerBuiltinDrivers(registry: PoolDriverRegistry): void {
  registerDirDriver(registry);
  registerLogicalDriver(registry);
  registerRbdDriver(registry);
}
