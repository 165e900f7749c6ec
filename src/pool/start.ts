// Starting a libvirt pool that another run may be starting at the same moment.
import type { StoragePool } from '../libvirt';

/**
 * Starts `pool`. A start that fails because the pool became active meanwhile (another run, of this
 * process or another, started it) leaves the pool as the caller needs it, so only then it passes.
 */
export async function startPool(pool: StoragePool): Promise<void> {
  await pool.create().catch(async (err: unknown) => {
    if (!(await pool.isActive())) throw err;
  });
}
