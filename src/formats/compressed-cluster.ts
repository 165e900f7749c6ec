// One compressed qcow2 cluster back to its bytes, as QEMU reads it: zlib is raw deflate (Node's
// zlib), zstd one frame (the volback_os addon: Node 20's zlib has no zstd). The compressed bytes
// end in the rest of their last sector, which both ignore. Input is untrusted: output is bounded to
// the cluster, and anything short of exactly one cluster is an error.
import zlib from 'node:zlib';
import { loadOsBinding } from '../os/native';
import type { CompressionType } from './qcow2-header';

/**
 * The `clusterSize` bytes `compressed` holds.
 * @throws Error naming what is wrong with the compressed data.
 */
export function decompressCluster(type: CompressionType, compressed: Buffer, clusterSize: number): Buffer {
  if (type === 'zstd') {
    const out = Buffer.alloc(clusterSize);
    loadOsBinding().zstdDecompressInto(compressed, out);
    return out;
  }
  let out: Buffer;
  try {
    // Z_SYNC_FLUSH: a stream cut short gives what it holds (checked below) instead of throwing.
    out = zlib.inflateRawSync(compressed, {
      maxOutputLength: clusterSize,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
        ? 'it holds more than one cluster'
        : (err as Error).message;
    throw new Error(`zlib: ${why}`);
  }
  if (out.length !== clusterSize)
    throw new Error(`zlib: the stream holds ${out.length} of ${clusterSize} bytes`);
  return out;
}
