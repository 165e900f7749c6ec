// Shared setup of the restore system tests: a unique backup pool removed with everything in it, a lock
// directory, and helpers to find and clean up what a restore made.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BackupDefaults } from '../../src/core/backup';
import { isCatalogVolume } from '../../src/pool/catalog-index';
import { isLibvirtNotFound, virDomainUndefineFlagsValues, type Connection } from '../../src/libvirt';
import { Cleanup, TEST_POOL_ROOT, uniqueName } from '../support';

export const MiB = 1024 * 1024;

/** A unique backup location (created by the first backup) and lock directory, both removed on cleanup. */
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

/** Registers the removal of a domain by name (destroyed, undefined with its checkpoint metadata). */
export function cleanupDomainByName(conn: Connection, cleanup: Cleanup, name: string): void {
  cleanup.add(`domain ${name}`, async () => {
    const dom = await conn.lookupDomainByName(name);
    try {
      if (await dom.isActive()) await dom.destroy();
      await dom.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
    } finally {
      dom.free();
    }
  });
}

/** Names of the volumes in a pool (refreshed first). */
export async function volumeNames(conn: Connection, pool: string): Promise<string[]> {
  const p = await conn.lookupStoragePoolByName(pool);
  try {
    await p.refresh();
    const volumes = await p.listAllVolumes();
    const names = await Promise.all(volumes.map((v) => v.getName()));
    for (const v of volumes) v.free();
    // The catalog's own index and generation markers come and go with every listing.
    return names.filter((n) => !isCatalogVolume(n));
  } finally {
    p.free();
  }
}
