// A restore in progress leaves a marker volume beside the volume it writes, so that a restore that
// crashed (killed process, power loss) is found and its half-written volume removed by the next one.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { isLibvirtNotFound } from '../libvirt';
import { logger } from '../log';
import type { OpenPool } from '../pool/pool-layer';

const log = logger('restore');

const MARKER_RE = /^volback-restoring-[0-9a-f]{12}\.json$/;

interface Marker {
  volume: string;
  setId: string;
  pid: number;
  host: string;
  startedAt: string;
}

/** The marker's name: fixed length whatever the restored volume's name (LVM allows 127 characters). Pure. */
export function restoreMarkerName(volume: string): string {
  return `volback-restoring-${createHash('sha256').update(volume).digest('hex').slice(0, 12)}.json`;
}

export const isRestoreMarker = (name: string): boolean => MARKER_RE.test(name);

async function deleteIfPresent(pool: OpenPool, name: string): Promise<void> {
  try {
    const volume = await pool.pool.lookupVolumeByName(name);
    await pool.driver.deleteVolume(pool, volume).finally(() => volume.free());
  } catch (err) {
    if (!isLibvirtNotFound(err)) throw err;
  }
}

/**
 * Writes the marker of a restore into `volume` before the volume is created. The returned function
 * removes it once the restore of that volume is complete (or undone).
 */
export async function markRestore(
  pool: OpenPool,
  volume: string,
  setId: string,
): Promise<() => Promise<void>> {
  const marker: Marker = {
    volume,
    setId,
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
  };
  const name = restoreMarkerName(volume);
  await pool.driver.writeMetadata(pool, name, JSON.stringify(marker));
  return () => deleteIfPresent(pool, name);
}

function ownerAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the half-written volumes of restores into this pool whose process died on this host, and
 * their markers. A marker of another host is left alone (its owner may still run). Returns the names
 * of the volumes removed.
 */
export async function undoCrashedRestores(pool: OpenPool): Promise<string[]> {
  const markers = (await pool.driver.listVolumeNames(pool)).filter(isRestoreMarker);
  if (markers.length === 0) return [];
  const removed: string[] = [];
  for (const read of await pool.driver.readMetadata(pool, markers)) {
    let marker: Marker | undefined;
    try {
      if ('xml' in read) marker = JSON.parse(read.xml) as Marker;
    } catch {
      marker = undefined;
    }
    if (marker && (marker.host !== hostname() || ownerAlive(marker.pid))) continue;
    if (marker && restoreMarkerName(marker.volume) === read.name) {
      log.warn(
        `removing ${marker.volume} in pool ${pool.name}: its restore of backup ${marker.setId} (pid ${marker.pid}, started ${marker.startedAt}) did not finish`,
      );
      await deleteIfPresent(pool, marker.volume);
      removed.push(marker.volume);
    }
    await deleteIfPresent(pool, read.name); // a marker cut short while being written names nothing yet
  }
  return removed;
}
