// Volume upload/download as Node streams, and file helpers that keep holes as holes.
import fs from 'fs';
import { Readable, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import { invoke, SerialQueue } from './handle';
import type { NativeBinding, NativeHandle } from './native';

/** A sparse-mode chunk: data, or a hole of `length` bytes (reads as zeros). */
export type SparseChunk = { kind: 'data'; data: Buffer } | { kind: 'hole'; length: number };

export interface TransferOptions {
  /** Byte offset in the volume (default 0). */
  offset?: number;
  /** Bytes to transfer; 0 or absent means up to the end of the volume. */
  length?: number;
  /**
   * Sparse stream (VIR_STORAGE_VOL_{UP,DOWN}LOAD_SPARSE_STREAM): the stream is in object mode
   * and carries SparseChunk values instead of Buffers.
   */
  sparse?: boolean;
  /** Bytes per native read/send (default 4 MiB). */
  chunkSize?: number;
}

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

type Start = () => Promise<NativeHandle>;

/** Serialised calls on one libvirt stream; knows whether the transfer has ended. */
class StreamCalls {
  readonly queue = new SerialQueue();
  handle?: NativeHandle;
  ended = false;

  constructor(private readonly label: string) {}

  call<T>(
    fn: string,
    args: Record<string, unknown>,
    op: (n: NativeBinding, h: NativeHandle) => Promise<T>,
  ): Promise<T> {
    return this.queue.run(() =>
      invoke(fn, { volume: this.label, ...args }, (n) => {
        if (!this.handle) throw new Error(`${fn}: stream not started`);
        return op(n, this.handle);
      }),
    );
  }

  /** Starts the transfer (a Node stream's _construct): the stream is usable once `callback` runs. */
  begin(start: Start, callback: (err?: Error | null) => void): void {
    start().then(
      (h) => {
        this.handle = h;
        callback();
      },
      (err: Error) => callback(err),
    );
  }

  finish(): Promise<void> {
    return this.call('virStreamFinish', {}, (n, h) => n.streamFinish(h)).then(() => {
      this.ended = true;
    });
  }

  /** Aborts an unfinished transfer (swallowing errors: the original error matters) and frees. */
  async close(): Promise<void> {
    if (this.handle && !this.ended) {
      this.ended = true;
      await this.call('virStreamAbort', {}, (n, h) => n.streamAbort(h)).catch(() => undefined);
    }
    this.handle?.free();
  }
}

/**
 * Readable over virStorageVolDownload. Byte mode yields Buffers; sparse mode yields SparseChunk
 * objects. Ends with virStreamFinish; destroy() or an error aborts the transfer.
 */
export class VolumeReadStream extends Readable {
  private readonly calls: StreamCalls;
  private readonly chunkSize: number;
  private readonly sparse: boolean;

  /** @internal */
  constructor(
    private readonly start: Start,
    opts: TransferOptions,
    label: string,
  ) {
    const sparse = opts.sparse ?? false;
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    super({ objectMode: sparse, highWaterMark: sparse ? 4 : 2 * chunkSize });
    this.sparse = sparse;
    this.chunkSize = chunkSize;
    this.calls = new StreamCalls(label);
  }

  override _construct(callback: (err?: Error | null) => void): void {
    this.calls.begin(this.start, callback);
  }

  override _read(): void {
    this.calls
      .call('virStreamRecvFlags', { max: this.chunkSize, sparse: this.sparse }, (n, h) =>
        n.streamRecv(h, this.chunkSize, this.sparse),
      )
      .then(async (res) => {
        if (res === null) {
          await this.calls.finish();
          this.push(null);
        } else if (Buffer.isBuffer(res)) {
          this.push(this.sparse ? ({ kind: 'data', data: res } satisfies SparseChunk) : res);
        } else {
          this.push({ kind: 'hole', length: res.hole } satisfies SparseChunk);
        }
      })
      .catch((err: Error) => this.destroy(err));
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.calls.close().then(
      () => callback(err),
      () => callback(err),
    );
  }
}

/**
 * Writable over virStorageVolUpload. Byte mode takes Buffers; sparse mode also takes
 * SparseChunk objects (holes go out as virStreamSendHole). end() runs virStreamFinish;
 * destroy() or an error aborts the transfer.
 */
export class VolumeWriteStream extends Writable {
  private readonly calls: StreamCalls;
  private readonly sparse: boolean;

  /** @internal */
  constructor(
    private readonly start: Start,
    opts: TransferOptions,
    label: string,
  ) {
    const sparse = opts.sparse ?? false;
    super({ objectMode: sparse, highWaterMark: sparse ? 4 : (opts.chunkSize ?? DEFAULT_CHUNK_SIZE) });
    this.sparse = sparse;
    this.calls = new StreamCalls(label);
  }

  override _construct(callback: (err?: Error | null) => void): void {
    this.calls.begin(this.start, callback);
  }

  private send(chunk: unknown): Promise<void> {
    const data = Buffer.isBuffer(chunk)
      ? chunk
      : this.sparse && (chunk as SparseChunk)?.kind === 'data'
        ? (chunk as { data: Buffer }).data
        : undefined;
    if (data) {
      return this.calls.call('virStreamSend', { bytes: data.length }, (n, h) => n.streamSend(h, data));
    }
    if (this.sparse && (chunk as SparseChunk)?.kind === 'hole') {
      const length = (chunk as { length: number }).length;
      return this.calls.call('virStreamSendHole', { length }, (n, h) => n.streamSendHole(h, length));
    }
    return Promise.reject(
      new TypeError(
        this.sparse
          ? 'volume upload (sparse): write Buffers or {kind:"data",data} / {kind:"hole",length} objects'
          : 'volume upload: write Buffers (use sparse: true for holes)',
      ),
    );
  }

  override _write(chunk: unknown, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.send(chunk).then(() => callback(), callback);
  }

  override _writev(chunks: Array<{ chunk: unknown }>, callback: (err?: Error | null) => void): void {
    // Coalesce runs of small Buffers so each native send moves a big chunk.
    const out: unknown[] = [];
    let run: Buffer[] = [];
    const flush = () => {
      if (run.length) out.push(run.length === 1 ? run[0] : Buffer.concat(run));
      run = [];
    };
    for (const { chunk } of chunks) {
      if (Buffer.isBuffer(chunk)) run.push(chunk);
      else {
        flush();
        out.push(chunk);
      }
    }
    flush();
    out
      .reduce<Promise<void>>((p, c) => p.then(() => this.send(c)), Promise.resolve())
      .then(() => callback(), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.calls.finish().then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.calls.close().then(
      () => callback(err),
      () => callback(err),
    );
  }
}

export interface FileTransferResult {
  /** Bytes covered (data + holes). */
  bytes: number;
  /** Bytes actually moved as data. */
  dataBytes: number;
  /** Bytes skipped as holes. */
  holeBytes: number;
}

/** Anything with download()/upload(): a StorageVolume. */
export interface Transferable {
  download(opts?: TransferOptions): Readable;
  upload(opts?: TransferOptions): Writable;
}

/**
 * Downloads a volume into a local file, keeping holes as holes (seek past them and ftruncate
 * at the end; never writes zeros for a hole). sparse defaults to true. The file is created or
 * truncated; on failure it is left partial (the caller owns cleanup).
 */
export async function downloadToFile(
  vol: Transferable,
  path: string,
  opts: TransferOptions = {},
): Promise<FileTransferResult> {
  const sparse = opts.sparse ?? true;
  const fh = await fs.promises.open(path, 'w');
  const result: FileTransferResult = { bytes: 0, dataBytes: 0, holeBytes: 0 };
  try {
    for await (const chunk of vol.download({ ...opts, sparse })) {
      const c: SparseChunk = sparse ? (chunk as SparseChunk) : { kind: 'data', data: chunk as Buffer };
      if (c.kind === 'data') {
        let done = 0;
        while (done < c.data.length) {
          const { bytesWritten } = await fh.write(c.data, done, c.data.length - done, result.bytes + done);
          done += bytesWritten;
        }
        result.bytes += c.data.length;
        result.dataBytes += c.data.length;
      } else {
        result.bytes += c.length;
        result.holeBytes += c.length;
      }
    }
    await fh.truncate(result.bytes); // a trailing hole still sets the file's size
  } finally {
    await fh.close();
  }
  return result;
}

const ZERO_BLOCK = 64 * 1024;
const ZEROS = Buffer.alloc(ZERO_BLOCK);

/** Splits a buffer into data and hole chunks on ZERO_BLOCK boundaries (all-zero blocks → hole). */
export function* splitHoles(buf: Buffer): Generator<SparseChunk> {
  let start = 0;
  let inHole: boolean | undefined;
  for (let off = 0; off < buf.length; off += ZERO_BLOCK) {
    const end = Math.min(off + ZERO_BLOCK, buf.length);
    const zero = buf.subarray(off, end).equals(ZEROS.subarray(0, end - off));
    if (inHole !== undefined && zero !== inHole) {
      yield inHole ? { kind: 'hole', length: off - start } : { kind: 'data', data: buf.subarray(start, off) };
      start = off;
    }
    inHole = zero;
  }
  if (inHole !== undefined && start < buf.length) {
    yield inHole ? { kind: 'hole', length: buf.length - start } : { kind: 'data', data: buf.subarray(start) };
  }
}

/**
 * Uploads a local file into a volume. With sparse (default true), all-zero 64 KiB blocks are
 * sent as holes (Node has no SEEK_DATA, so holes are found by content — a superset of the
 * file's real holes), so a dir-pool target stays sparse.
 */
export async function uploadFromFile(
  vol: Transferable,
  path: string,
  opts: TransferOptions = {},
): Promise<FileTransferResult> {
  const sparse = opts.sparse ?? true;
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const size = (await fs.promises.stat(path)).size;
  const result: FileTransferResult = { bytes: 0, dataBytes: 0, holeBytes: 0 };
  async function* chunks(): AsyncGenerator<Buffer | SparseChunk> {
    const fh = await fs.promises.open(path, 'r');
    try {
      for (;;) {
        const buf = Buffer.allocUnsafe(chunkSize);
        const { bytesRead } = await fh.read(buf, 0, chunkSize, null);
        if (bytesRead === 0) return;
        const data = buf.subarray(0, bytesRead);
        result.bytes += bytesRead;
        if (!sparse) {
          result.dataBytes += bytesRead;
          yield data;
          continue;
        }
        for (const c of splitHoles(data)) {
          if (c.kind === 'data') result.dataBytes += c.data.length;
          else result.holeBytes += c.length;
          yield c;
        }
      }
    } finally {
      await fh.close();
    }
  }
  await pipeline(chunks(), vol.upload({ ...opts, sparse, length: opts.length ?? size }));
  return result;
}
