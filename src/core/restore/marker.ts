// A restore in progress leaves a marker volume beside the volume it writes, so that a restore that
// crashed (killed process, power loss) is found and its half-written volume removed by the next one.
// The marker is signed with this host's key: a marker someone else wrote into the pool, naming
// somebody's volume, is never acted on.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { isLibvirtNotFound, virDomainXMLFlags } from '../../libvirt';
import { logger } from '../../log';
import { deleteVolumeIfPresent, type OpenPool } from '../../pool/pool-layer';
import { processAlive } from '../shared/domain-lock';
import { CutShortDocument, readDocuments, writeDocument } from '../../pool/documents';
import { signedByThisHost, signForThisHost } from '../../host/host-key';

const log = logger('restore');

const MARKER_RE = /^volback-restoring-[0-9a-f]{12}\.json$/;

export interface Marker {
  volume: string;
  setId: string;
  pid: number;
  host: string;
  startedAt: string;
}

/** The marker as stored: its fields and this host's signature of them. */
interface SignedMarker {
  marker: Marker;
  mac: string;
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
  await writeDocument(pool, name, markerDocument(marker));
  return () => deleteVolumeIfPresent(pool, name);
}

/** The document of a marker: its fields and this host's signature of them. */
export function markerDocument(marker: Marker): string {
  const signed: SignedMarker = { marker, mac: signForThisHost(JSON.stringify(marker)) };
  return JSON.stringify(signed);
}

/** The marker a document holds, when this host's volback wrote it (its signature checks). */
function ownMarker(text: string): Marker | undefined {
  try {
    const doc = JSON.parse(text) as Partial<SignedMarker>;
    const m = doc.marker;
    if (!m || typeof m.volume !== 'string' || typeof m.pid !== 'number' || typeof m.host !== 'string')
      return undefined;
    const fields: Marker = {
      volume: m.volume,
      setId: String(m.setId),
      pid: m.pid,
      host: m.host,
      startedAt: String(m.startedAt),
    };
    return signedByThisHost(JSON.stringify(fields), doc.mac) ? fields : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the half-written volumes of restores into this pool whose process died on this host, and
 * their markers. Only markers this host's volback signed are acted on: one of another host is left
 * alone (its owner may still run), and one nobody here signed (written by someone else) is reported
 * and left, with the volume it names. Returns the names of the volumes removed.
 */
/**
 * The name of a defined domain whose XML names `volume` (a volume of `pool`) as a disk source, if
 * any. Matched as text on the name, which is specific (`<domain>.<disk>.restored-<time>…`); a false
 * match only keeps a volume.
 */
async function domainUsing(pool: OpenPool, volume: string): Promise<string | undefined> {
  const domains = await pool.conn.listAllDomains();
  try {
    for (const domain of domains) {
      try {
        const xml = await domain.getXMLDesc(virDomainXMLFlags.VIR_DOMAIN_XML_INACTIVE);
        const sources = xml.match(/<source\b[^>]*>/g) ?? [];
        if (sources.some((source) => source.includes(volume))) return await domain.getName();
      } catch (err) {
        if (!isLibvirtNotFound(err)) throw err; // undefined meanwhile: it uses nothing
      }
    }
    return undefined;
  } finally {
    for (const domain of domains) domain.free();
  }
}

export async function undoCrashedRestores(
  pool: OpenPool,
  options: { dryRun?: boolean } = {},
): Promise<string[]> {
  const markers = (await pool.driver.listVolumeNames(pool)).filter(isRestoreMarker);
  if (markers.length === 0) return [];
  const removed: string[] = [];
  for (const read of await readDocuments(pool, markers)) {
    if ('error' in read) {
      // A marker volback began to write and was stopped in names nothing yet.
      if (read.error instanceof CutShortDocument && !options.dryRun)
        await deleteVolumeIfPresent(pool, read.name);
      else
        log.warn(
          `leaving ${read.name} in pool ${pool.name}: it does not read as a restore marker (${read.error.message})`,
        );
      continue;
    }
    const marker = ownMarker(read.text);
    if (!marker) {
      log.warn(
        `leaving ${read.name} in pool ${pool.name}: it is not a restore marker this host's volback signed`,
      );
      continue;
    }
    if (marker.host !== hostname() || processAlive(marker.pid)) continue;
    if (options.dryRun) {
      if (restoreMarkerName(marker.volume) === read.name && !(await domainUsing(pool, marker.volume)))
        removed.push(marker.volume);
      continue;
    }
    const user = restoreMarkerName(marker.volume) === read.name && (await domainUsing(pool, marker.volume));
    if (user) {
      // The restore defined its domain (its commit) and was stopped before the marker came off.
      log.info(
        `keeping ${marker.volume} in pool ${pool.name}: domain ${user} uses it; dropping its restore marker`,
      );
    } else if (restoreMarkerName(marker.volume) === read.name) {
      log.warn(
        `removing ${marker.volume} in pool ${pool.name}: its restore of backup ${marker.setId} (pid ${marker.pid}, started ${marker.startedAt}) did not finish`,
      );
      await deleteVolumeIfPresent(pool, marker.volume);
      removed.push(marker.volume);
    }
    await deleteVolumeIfPresent(pool, read.name);
  }
  return removed;
}
