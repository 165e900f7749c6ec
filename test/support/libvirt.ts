// Connecting to the real libvirtd and making throw-away dir pools and volumes for system tests.
import fs from 'fs';
import path from 'path';
import { Connection, StoragePool, StorageVolume } from '../../src/libvirt';
import { volumeXml as buildVolumeXml } from '../../src/xml/libvirt-storage';
import { Cleanup } from './cleanup';
import { uniqueName } from './names';

export const SYSTEM_URI = process.env.VOLBACK_TEST_URI ?? 'qemu:///system';

/** Root for test pools: reachable by QEMU (libvirt-qemu) through 0755 directories. */
export const TEST_POOL_ROOT = process.env.VOLBACK_TEST_POOL_ROOT ?? '/var/lib/volback-test';

/**
 * Opens qemu:///system (or VOLBACK_TEST_URI). If libvirtd does not answer, throws an Error that
 * says to run scripts/setup — system tests must fail loudly, never skip.
 */
export async function openSystemConnection(): Promise<Connection> {
  try {
    return await Connection.open(SYSTEM_URI);
  } catch (err) {
    throw new Error(
      `libvirtd is not reachable at ${SYSTEM_URI} (${err instanceof Error ? err.message : String(err)}). ` +
        'Run `scripts/setup` (starts virtlogd and libvirtd) and re-run the tests.',
      { cause: err },
    );
  }
}

export interface TestDirPool {
  pool: StoragePool;
  name: string;
  dir: string;
}

/**
 * Defines, builds and starts a persistent dir pool in TEST_POOL_ROOT/<unique> (mode 0755).
 * Registers its removal (with all volumes left in it and its directory) on `cleanup`.
 */
export async function createDirPool(
  conn: Connection,
  cleanup: Cleanup,
  label = 'pool',
): Promise<TestDirPool> {
  fs.mkdirSync(TEST_POOL_ROOT, { recursive: true, mode: 0o755 });
  fs.chmodSync(TEST_POOL_ROOT, 0o755);
  const name = uniqueName(label);
  const dir = path.join(TEST_POOL_ROOT, name);
  const pool = await conn.defineStoragePool(`<pool type='dir'>
  <name>${name}</name>
  <target><path>${dir}</path><permissions><mode>0755</mode></permissions></target>
</pool>`);
  cleanup.pool(pool, { deleteVolumes: true, deleteStorage: true });
  await pool.build();
  await pool.create();
  return { pool, name, dir };
}

/** Volume XML; qcow2 volumes get compat 1.1 (persistent dirty bitmaps need it). */
export function volumeXml(name: string, capacityBytes: number, format: 'qcow2' | 'raw' = 'qcow2'): string {
  return buildVolumeXml({
    name,
    capacity: capacityBytes,
    allocation: 0,
    format,
    compat: format === 'qcow2' ? '1.1' : undefined,
  });
}

/** Creates a volume in `pool`, registering its deletion on `cleanup`. */
export async function createVolume(
  pool: StoragePool,
  cleanup: Cleanup,
  name: string,
  capacityBytes: number,
  format: 'qcow2' | 'raw' = 'qcow2',
): Promise<StorageVolume> {
  const vol = await pool.createVolume(volumeXml(name, capacityBytes, format));
  cleanup.volume(vol);
  return vol;
}
