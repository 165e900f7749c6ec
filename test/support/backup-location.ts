// A throw-away backup location for tests (a unique pool, created by the first backup, and a lock
// directory), and the backup-related volume names of a pool.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BackupDefaults } from '../../src/core/backup/coordinator';
import { isLibvirtNotFound, type Connection } from '../../src/libvirt';
import { isCatalogVolume } from '../../src/pool/catalog-index';
import type { Cleanup } from './cleanup';
import { TEST_POOL_ROOT } from './libvirt';
import { uniqueName } from './names';

/** A unique backup location and lock directory, both removed (with every volume) on cleanup. */
export function backupLocation(
  conn: Connection,
  cleanup: Cleanup,
): { defaults: BackupDefaults; lockDir: string } {
  const pool = uniqueName('backups');
  const defaults: BackupDefaults = { pool, path: path.join(TEST_POOL_ROOT, pool), format: 'qcow2' };
  const lockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-locks-'));
  cleanup.add(`lock dir ${lockDir}`, async () => fs.rmSync(lockDir, { recursive: true, force: true }));
  cleanup.add(`backup pool ${pool}`, async () => {
    let p;
    try {
      p = await conn.lookupStoragePoolByName(pool);
    } catch (err) {
      if (isLibvirtNotFound(err)) return;
      throw err;
    }
    try {
      if (await p.isActive()) {
        await p.refresh();
        for (const v of await p.listAllVolumes()) await v.delete().finally(() => v.free());
        await p.destroy();
      }
      await p.delete().catch(() => undefined);
      await p.undefine();
    } finally {
      p.free();
    }
  });
  return { defaults, lockDir };
}

/**
 * Sorted volume names of a pool (refreshed first), without the catalog's own index and generation
 * markers, which come and go with every listing.
 */
export async function poolVolumeNames(conn: Connection, pool: string): Promise<string[]> {
  const p = await conn.lookupStoragePoolByName(pool);
  try {
    await p.refresh();
    const volumes = await p.listAllVolumes();
    const names = await Promise.all(volumes.map((v) => v.getName().finally(() => v.free())));
    return names.filter((n) => !isCatalogVolume(n)).sort();
  } finally {
    p.free();
  }
}
