// A restore in progress leaves a marker volume beside the volume it writes, so that a restore that
// crashed (killed process, power loss) is found and its half-written volume removed by the next one.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { logger } from '../../log';
import { deleteVolumeIfPresent, type OpenPool } from '../../pool/pool-layer';
import { processAlive } from '../shared/domain-lock';
import { readDocuments, writeDocument } from '../../pool/documents';

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
  await writeDocument(pool, name, JSON.stringify(marker));
  return () => deleteVolumeIfPresent(pool, name);
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
  for (const read of await readDocuments(pool, markers)) {
    let marker: Marker | undefined;
    try {
      if ('text' in read) marker = JSON.parse(read.text) as Marker;
    } catch {
      marker = undefined;
    }
    if (marker && (marker.host !== hostname() || processAlive(marker.pid))) continue;
    if (marker && restoreMarkerName(marker.volume) === read.name) {
      log.warn(
        `removing ${marker.volume} in pool ${pool.name}: its restore of backup ${marker.setId} (pid ${marker.pid}, started ${marker.startedAt}) did not finish`,
      );
      await deleteVolumeIfPresent(pool, marker.volume);
      removed.push(marker.volume);
    }
    await deleteVolumeIfPresent(pool, read.name); // a marker cut short while being written names nothing yet
  }
  return removed;
}
