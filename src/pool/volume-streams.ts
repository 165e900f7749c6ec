// Document volumes through libvirt's volume streams (virStorageVolUpload/Download): for the drivers
// whose pools libvirt can upload to and download from (dir, logical). Imports only the binding.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, VolbackError } from '../errors';
import type { DocumentBytes, PoolRef } from './driver';

/** Native threads downloading at once: enough to overlap libvirt round trips on 2 cores. */
const READ_THREADS = 4;

/**
 * Creates volume `name` from `volumeXml` (a raw volume of at least `bytes.length` bytes) and uploads
 * `bytes` from offset 0; with `zeroRest`, zeros after them up to the volume's capacity (a pool that
 * rounds volumes up and does not clear them: an LV). On error the volume is deleted again.
 */
export async function uploadNewVolume(
  pool: PoolRef,
  volumeXml: string,
  name: string,
  bytes: Buffer,
  options: { zeroRest?: boolean } = {},
): Promise<void> {
  const volume = await pool.pool.createVolume(volumeXml);
  try {
    const rest = options.zeroRest ? Math.max((await volume.getInfo()).capacity - bytes.length, 0) : 0;
    const all = rest ? Buffer.concat([bytes, Buffer.alloc(rest)]) : bytes;
    if (all.length > 0)
      await pipeline(Readable.from([all]), volume.upload({ offset: 0, length: all.length }));
  } catch (err) {
    await volume.delete().catch(() => undefined);
    throw new VolbackError(ErrorCodes.LIBVIRT, `cannot write volume ${name} in pool ${pool.name}`, {
      cause: err,
    });
  } finally {
    volume.free();
  }
}

/** Downloads many whole volumes at once (one listing, native threads); a failure is that entry's error. */
export async function downloadVolumes(
  pool: PoolRef,
  names: readonly string[],
  maxBytes: number,
): Promise<DocumentBytes[]> {
  if (names.length === 0) return [];
  const contents = await pool.pool.readVolumes(names, maxBytes, READ_THREADS);
  return contents.map((c): DocumentBytes => {
    if ('data' in c) return { name: c.name, bytes: c.data };
    if ('tooBig' in c) {
      return {
        name: c.name,
        error: new VolbackError(
          ErrorCodes.XML_INVALID,
          `volume ${c.name} in pool ${pool.name} is larger than ${maxBytes} bytes, more than a volback document can be`,
        ),
      };
    }
    return { name: c.name, error: c.error };
  });
}
