// Metadata documents kept as small raw volumes, written and read through libvirt's volume streams.
// Shared by the drivers whose pools support virStorageVolUpload/Download (dir, logical).
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { isLibvirtNotFound, type StorageVolume } from '../libvirt';
import { ErrorCodes, VolbackError } from '../errors';
import type { PoolRef } from './driver';

/** Far above any real document (the domain XML dominates); guards against reading a wrong volume. */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Volume XML of a raw volume holding exactly `bytes` bytes, readable by its owner only. */
export function metadataVolumeXml(name: string, bytes: number): string {
  return (
    `<volume type='file'><name>${escapeXml(name)}</name>` +
    `<capacity unit='bytes'>${bytes}</capacity><allocation unit='bytes'>0</allocation>` +
    `<target><format type='raw'/><permissions><mode>0600</mode></permissions></target></volume>`
  );
}

async function lookupOptional(pool: PoolRef, name: string): Promise<StorageVolume | undefined> {
  try {
    return await pool.pool.lookupVolumeByName(name);
  } catch (err) {
    if (isLibvirtNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Writes `xml` as volume `name` (replacing an older one). The volume's capacity is the document's
 * byte length, so a reader sees either the whole document or one that fails to parse.
 */
export async function writeStreamMetadata(pool: PoolRef, name: string, xml: string): Promise<void> {
  const bytes = Buffer.from(xml, 'utf8');
  const old = await lookupOptional(pool, name);
  if (old) {
    await old.delete();
    old.free();
  }
  const volume = await pool.pool.createVolume(metadataVolumeXml(name, bytes.length));
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

/** Reads a whole metadata volume as UTF-8 text. */
export async function readStreamMetadata(pool: PoolRef, volume: StorageVolume): Promise<string> {
  const info = await volume.getInfo();
  if (info.capacity > MAX_METADATA_BYTES) {
    throw new VolbackError(
      ErrorCodes.XML_INVALID,
      `metadata volume ${await volume.getName()} in pool ${pool.name} is ${info.capacity} bytes, more than a metadata document can be`,
    );
  }
  const chunks: Buffer[] = [];
  await pipeline(
    volume.download({ offset: 0, length: info.capacity }),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(chunks).toString('utf8');
}
