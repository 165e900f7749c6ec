// Metadata documents kept as small raw volumes, written and read through libvirt's volume streams.
// Shared by the drivers whose pools support virStorageVolUpload/Download (dir, logical).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StorageVolume } from '../libvirt';
import { ErrorCodes, VolbackError } from '../errors';
import { bumpGeneration } from './catalog-index';
import type { MetadataRead, PoolRef } from './driver';
import { findVolume, rawVolumeXml } from './pool-layer';
import { parseMetadataVolumeName } from './volume-names';

/** Far above any real document (the domain XML dominates); guards against reading a wrong volume. */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/**
 * Writes `xml` as volume `name` (replacing an older one). The volume's capacity is the document's
 * byte length, so a reader sees either the whole document or one that fails to parse.
 */
export async function writeStreamMetadata(pool: PoolRef, name: string, xml: string): Promise<void> {
  const bytes = Buffer.from(xml, 'utf8');
  const old = await findVolume(pool, name);
  if (old) await deleteStreamVolume(pool, old).finally(() => old.free());
  const volume = await pool.pool.createVolume(rawVolumeXml(name, bytes.length));
  try {
    await pipeline(Readable.from([bytes]), volume.upload({ offset: 0, length: bytes.length }));
  } catch (err) {
    await volume.delete().catch(() => undefined);
    throw new VolbackError(ErrorCodes.LIBVIRT, `cannot write metadata volume ${name} in pool ${pool.name}`, {
      cause: err,
    });
  } finally {
    volume.free();
  }
}

/**
 * Deletes a volume; deleting a metadata volume first invalidates the pool's catalog index (the
 * index may only serve documents that were never rewritten or deleted since it was built).
 */
export async function deleteStreamVolume(pool: PoolRef, volume: StorageVolume): Promise<void> {
  if (parseMetadataVolumeName(await volume.getName())) await bumpGeneration(pool);
  await volume.delete();
}

/** Native threads downloading at once: enough to overlap libvirt round trips on 2 cores. */
const READ_THREADS = 4;

/** Reads many metadata volumes; a failure becomes that entry's error. Order follows `names`. */
export async function readStreamMetadata(pool: PoolRef, names: readonly string[]): Promise<MetadataRead[]> {
  if (names.length === 0) return [];
  const contents = await pool.pool.readVolumes(names, MAX_METADATA_BYTES, READ_THREADS);
  return contents.map((c): MetadataRead => {
    if ('data' in c) return { name: c.name, xml: c.data.toString('utf8') };
    if ('tooBig' in c) {
      return {
        name: c.name,
        error: new VolbackError(
          ErrorCodes.XML_INVALID,
          `metadata volume ${c.name} in pool ${pool.name} is larger than ${MAX_METADATA_BYTES} bytes, more than a metadata document can be`,
        ),
      };
    }
    return { name: c.name, error: c.error };
  });
}

/** Names of every volume of the pool. */
export function listStreamVolumeNames(pool: PoolRef): Promise<string[]> {
  return pool.pool.listVolumeNames();
}
