// Refreshing libvirt's view of a pool, as drivers need it after changing the pool around libvirt.
import { LibvirtError } from '../libvirt';
import { logger } from '../log';
import type { PoolRef } from './driver';

const log = logger('pool-refresh');

/**
 * libvirt's refusal while its own volume jobs run in the pool (storage_driver.c): an internal error
 * of the storage driver; its text is matched too, as libvirtd may word it in its own locale.
 */
const isBusy = (err: unknown): boolean =>
  /has asynchronous jobs running/.test((err as Error).message) ||
  (err instanceof LibvirtError &&
    err.codeName === 'VIR_ERR_INTERNAL_ERROR' &&
    err.domainName === 'VIR_FROM_STORAGE');

/**
 * Refreshes libvirt's list of the pool's volumes. libvirt refuses while one of its own volume builds
 * or uploads runs in the pool ("has asynchronous jobs running": another run's copy, a concurrent
 * listing's document read), so that refusal is tried `attempts` times a second apart. Then (or at
 * once, for any other error) a `required`
 * refresh (the caller must see a volume libvirt did not make) throws libvirt's refusal; any other is
 * logged and the caller goes on with libvirt's last view, which already holds what this libvirtd
 * created and deleted itself.
 */
export async function refreshPool(
  pool: PoolRef,
  options: { required?: boolean; attempts?: number } = {},
): Promise<void> {
  const attempts = options.attempts ?? (options.required ? 10 : 3);
  for (let attempt = 1; ; attempt++) {
    try {
      return await pool.pool.refresh();
    } catch (err) {
      // Only libvirt's busy refusal passes; any other error would only repeat.
      if (attempt >= attempts || !isBusy(err)) {
        if (options.required) throw err;
        log.debug(`pool '${pool.name}' not refreshed: ${(err as Error).message}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
