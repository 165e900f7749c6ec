// The shared rbd pool of the Ceph test cluster as tests reach it: its name, and a clean-up that
// removes every image a test added to it (clones before their parents).
import { virStorageVolDeleteFlags, type Connection, type StoragePool } from '../../src/libvirt';
import { closePools, openPool, type OpenPool } from '../../src/pool/pool-layer';
import type { Cleanup } from './cleanup';
import { cephEnv } from './ceph';

/** The libvirt rbd pool of the test cluster. */
export const rbdPoolName = async (): Promise<string> => (await cephEnv()).VOLBACK_CEPH_LIBVIRT_POOL;

/**
 * Deletes every volume of `pool` not in `before`. A parent refuses deletion while a clone stands on
 * it, so passes repeat until nothing new is left or a pass removes nothing.
 */
export async function removeNewVolumes(pool: StoragePool, before: ReadonlySet<string>): Promise<string[]> {
  for (;;) {
    await pool.refresh();
    const left = (await pool.listVolumeNames()).filter((n) => !before.has(n));
    if (!left.length) return [];
    let removed = 0;
    for (const name of left) {
      try {
        const v = await pool.lookupVolumeByName(name);
        try {
          await v.delete(virStorageVolDeleteFlags.VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS);
          removed++;
        } finally {
          v.free();
        }
      } catch {
        /* a parent whose clone goes in this pass: the next pass */
      }
    }
    if (!removed) return left;
  }
}

/**
 * Opens the test cluster's rbd pool for a test: `cleanup` later removes every image the test added
 * (clones before parents) and closes the pool. The pool is shared, so checks compare against what
 * was there before, never against an empty pool.
 */
export async function openTestRbdPool(conn: Connection, cleanup: Cleanup): Promise<OpenPool> {
  // An earlier test may have restarted libvirtd or the cluster while the pool could not start.
  const name = await rbdPoolName();
  const libvirtPool = await conn.lookupStoragePoolByName(name);
  try {
    if (!(await libvirtPool.isActive())) await libvirtPool.create();
  } finally {
    libvirtPool.free();
  }
  const pool = await openPool(conn, name);
  await pool.pool.refresh();
  const before = new Set(await pool.pool.listVolumeNames());
  cleanup.add(`handle of pool ${pool.name}`, async () => closePools([pool]));
  // Runs before the handle is closed: clean-up steps run newest first.
  cleanup.add(`images the test added to pool ${pool.name}`, async () => {
    const left = await removeNewVolumes(pool.pool, before);
    if (left.length) throw new Error(`could not remove ${left.join(', ')}`);
  });
  return pool;
}
