// Reading an image's guest-visible bytes through QEMU: `qemu-nbd --read-only` serves the image (its
// backing chain included, any format and protocol qemu-img opens) on a private unix socket, and a
// small NBD client reads byte ranges from it. The wire codec is pure and unit-tested; the client
// streams each reply into its caller's sink, so a 4 MiB read is never assembled in memory.
//
// Protocol: the fixed newstyle handshake with NBD_OPT_GO, then simple replies only (no structured
// replies are negotiated), as in https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, VolbackError } from '../errors';
import { logger } from '../log';
import { spawnWithSecrets } from './exec';
import { secretObjectArgs, secretPipes, type ImageRef } from './qemu-img';

const log = logger('nbd');

const NBDMAGIC = Buffer.from('NBDMAGIC', 'latin1');
const IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;
const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;
const OPT_GO = 7;
const REP_ACK = 1;
const REP_INFO = 3;
const INFO_EXPORT = 0;
const CMD_READ = 0;
const CMD_DISC = 2;

/** The longest single NBD read volback sends (qemu-nbd accepts up to 32 MiB). */
export const MAX_NBD_READ = 8 * 1024 * 1024;

/** qemu-nbd serving `image` read-only on `socket`, for one client; it exits when that client leaves. */
export const qemuNbdArgv = (image: ImageRef, socket: string): string[] => [
  'qemu-nbd',
  ...secretObjectArgs(image),
  '--read-only',
  '--format',
  image.format,
  '--socket',
  socket,
  '--shared',
  '1',
  '--',
  image.path,
];

/** What the server's greeting allows; throws for anything that is not a fixed-newstyle server. Pure. */
export function parseGreeting(bytes: Buffer): { noZeroes: boolean } {
  if (bytes.length < 18 || !bytes.subarray(0, 8).equals(NBDMAGIC) || !bytes.subarray(8, 16).equals(IHAVEOPT))
    throw new Error('not an NBD newstyle server');
  const flags = bytes.readUInt16BE(16);
  if (!(flags & FLAG_FIXED_NEWSTYLE)) throw new Error('the NBD server does not speak fixed newstyle');
  return { noZeroes: (flags & FLAG_NO_ZEROES) !== 0 };
}

/** The client's flags, then NBD_OPT_GO for the default export with no information requests. Pure. */
export function encodeClientStart(noZeroes: boolean): Buffer {
  const flags = Buffer.alloc(4);
  flags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (noZeroes ? FLAG_NO_ZEROES : 0));
  const data = Buffer.alloc(6); // export name length 0, no name, 0 information requests
  const head = Buffer.alloc(16);
  IHAVEOPT.copy(head, 0);
  head.writeUInt32BE(OPT_GO, 8);
  head.writeUInt32BE(data.length, 12);
  return Buffer.concat([flags, head, data]);
}

/** One option reply header (20 bytes): its type and the length of the data after it. Pure. */
export function parseOptionReplyHeader(bytes: Buffer): { type: number; length: number } {
  if (bytes.readBigUInt64BE(0) !== OPT_REPLY_MAGIC) throw new Error('bad NBD option reply magic');
  if (bytes.readUInt32BE(8) !== OPT_GO) throw new Error('NBD option reply for another option');
  return { type: bytes.readUInt32BE(12), length: bytes.readUInt32BE(16) };
}

/**
 * What one option reply means: `ack` ends the handshake, `size` is the export's size (NBD_INFO_EXPORT),
 * `other` is an information reply volback does not need; an error reply throws its message. Pure.
 */
export function readOptionReply(type: number, data: Buffer): 'ack' | { size: number } | 'other' {
  if (type === REP_ACK) return 'ack';
  if (type >= 0x80000000) {
    const text = data.toString('utf8').trim();
    throw new Error(
      `the NBD server refused the export (reply 0x${type.toString(16)}${text ? `: ${text}` : ''})`,
    );
  }
  if (type === REP_INFO && data.length >= 12 && data.readUInt16BE(0) === INFO_EXPORT) {
    return { size: Number(data.readBigUInt64BE(2)) };
  }
  return 'other';
}

/** A transmission request (28 bytes): read `length` bytes at `offset`, or disconnect. Pure. */
export function encodeRequest(
  command: 'read' | 'disconnect',
  handle: bigint,
  offset = 0,
  length = 0,
): Buffer {
  const out = Buffer.alloc(28);
  out.writeUInt32BE(REQUEST_MAGIC, 0);
  out.writeUInt16BE(0, 4);
  out.writeUInt16BE(command === 'read' ? CMD_READ : CMD_DISC, 6);
  out.writeBigUInt64BE(handle, 8);
  out.writeBigUInt64BE(BigInt(offset), 16);
  out.writeUInt32BE(length, 24);
  return out;
}

/** What the parser needs to know of an outstanding read. */
interface Outstanding {
  length: number;
  sink: (chunk: Buffer) => void;
  done: (err?: Error) => void;
}

/**
 * Turns the transmission phase's byte stream, cut anywhere, into replies: each simple reply header
 * names its request, and a successful read's payload goes to that request's sink as it arrives.
 * A malformed stream throws (the connection cannot be trusted after it). Pure.
 */
export class ReplyParser {
  private header: Buffer[] = [];
  private headerBytes = 0;
  private current?: Outstanding;
  private left = 0;

  constructor(private readonly outstanding: Map<bigint, Outstanding>) {}

  feed(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      if (this.current) {
        const n = Math.min(this.left, data.length - at);
        this.current.sink(data.subarray(at, at + n));
        at += n;
        this.left -= n;
        if (this.left === 0) {
          const finished = this.current;
          this.current = undefined;
          finished.done();
        }
        continue;
      }
      const n = Math.min(16 - this.headerBytes, data.length - at);
      this.header.push(Buffer.from(data.subarray(at, at + n))); // kept past this call: copied
      this.headerBytes += n;
      at += n;
      if (this.headerBytes < 16) continue;
      const head = Buffer.concat(this.header);
      this.header = [];
      this.headerBytes = 0;
      if (head.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC) throw new Error('bad NBD reply magic');
      const handle = head.readBigUInt64BE(8);
      const request = this.outstanding.get(handle);
      if (!request) throw new Error(`NBD reply for unknown request ${handle}`);
      this.outstanding.delete(handle);
      const error = head.readUInt32BE(4);
      if (error !== 0) {
        request.done(new Error(`the NBD server failed the read (errno ${error})`));
        continue;
      }
      if (request.length === 0) {
        request.done();
        continue;
      }
      this.current = request;
      this.left = request.length;
    }
  }
}

/** Guest-visible bytes of one image, read through QEMU; several reads may be in flight. */
export interface ImageReader {
  /** Virtual size in bytes. */
  readonly size: number;
  /**
   * Streams bytes [offset, offset+length) to `sink`, in order; resolves once all were delivered. A
   * chunk is valid only during the call (the reader's buffer is reused): consume or copy it there.
   */
  read(offset: number, length: number, sink: (chunk: Buffer) => void): Promise<void>;
  /** Disconnects and stops the server. Idempotent. */
  close(): Promise<void>;
}

/** Throws ERR_INVALID_INPUT unless [offset, offset+length) lies in a `size`-byte image: every ImageReader's check. */
export function checkReadRange(offset: number, length: number, size: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  )
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `read of ${length} bytes at ${offset} is outside the ${size}-byte image`,
    );
}

/** Buffers the handshake's bytes and hands them out by count. */
class HandshakeBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private waiting?: { n: number; resolve: (b: Buffer) => void };

  push(data: Buffer): void {
    this.chunks.push(data);
    this.bytes += data.length;
    this.settle();
  }

  take(n: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.waiting = { n, resolve };
      this.settle();
    });
  }

  /** Whatever arrived beyond the handshake (the transmission phase's first bytes). */
  rest(): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = [];
    this.bytes = 0;
    return all;
  }

  private settle(): void {
    if (!this.waiting || this.bytes < this.waiting.n) return;
    const all = Buffer.concat(this.chunks);
    const { n, resolve } = this.waiting;
    this.waiting = undefined;
    this.chunks = n < all.length ? [all.subarray(n)] : [];
    this.bytes = all.length - n;
    resolve(all.subarray(0, n));
  }
}

/** Receives what the socket read; the chunk is only valid during the call (the read buffer is reused). */
type Consumer = (chunk: Buffer) => void;

/** The socket reads into one 1 MiB buffer: a tenth of the system calls of 64 KiB 'data' chunks, no garbage. */
const READ_BUFFER_BYTES = 1024 * 1024;

async function connectOnce(socketPath: string, consume: () => Consumer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      path: socketPath,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        callback: (n: number, buffer: Uint8Array) => {
          consume()(Buffer.from(buffer.buffer, buffer.byteOffset, n));
          return true;
        },
      },
    });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Connects to the server's socket as soon as it listens; rejects when the server exits first. */
async function connectWhenReady(
  socketPath: string,
  why: () => string | undefined,
  consume: () => Consumer,
): Promise<net.Socket> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ended = why();
    if (ended) throw new Error(ended);
    try {
      return await connectOnce(socketPath, consume);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * Starts qemu-nbd on `image` (read-only: nothing the reader does can change it) and connects. The
 * socket lives in a fresh 0700 directory, so no other user can reach the export. On failure the
 * server is stopped and the directory removed before the error is thrown (ERR_COMMAND_FAILED).
 */
export async function openImageReader(image: ImageRef): Promise<ImageReader> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-nbd-'));
  const socketPath = path.join(dir, 'nbd.sock');
  const argv = qemuNbdArgv(image, socketPath);
  log.debug(`run ${argv.join(' ')}`);
  const server = spawnWithSecrets(
    argv[0],
    argv.slice(1),
    ['ignore', 'ignore', 'pipe'],
    secretPipes(image).secrets,
  );
  let stderr = '';
  server.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    server.once('close', () => resolve());
    server.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err.code === 'ENOENT' ? new Error('qemu-nbd is not installed (run scripts/setup)') : err;
      resolve();
    });
  });
  const ended = (): string | undefined =>
    spawnError?.message ??
    (server.exitCode !== null || server.signalCode !== null
      ? `qemu-nbd exited (${server.exitCode ?? server.signalCode}): ${stderr.trim()}`
      : undefined);
  let socket: net.Socket | undefined;
  let closed = false;
  const stop = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    socket?.destroy();
    if (!spawnError && server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const failed = (why: string, cause?: unknown): VolbackError =>
    new VolbackError(ErrorCodes.COMMAND_FAILED, `cannot read ${image.path} through qemu-nbd: ${why}`, {
      cause,
    });
  try {
    const handshake = new HandshakeBuffer();
    // The handshake keeps what it reads (a copy); the transmission phase takes over the consumer.
    let consumer: Consumer = (chunk) => handshake.push(Buffer.from(chunk));
    socket = await connectWhenReady(socketPath, ended, () => consumer);
    const socketError = new Promise<never>((_, reject) => {
      socket!.once('error', reject);
      socket!.once('close', () => reject(new Error(`the server closed the connection: ${stderr.trim()}`)));
    });
    socketError.catch(() => undefined);
    const { noZeroes } = parseGreeting(await Promise.race([handshake.take(18), socketError]));
    socket.write(encodeClientStart(noZeroes));
    let size: number | undefined;
    for (;;) {
      const { type, length } = parseOptionReplyHeader(await Promise.race([handshake.take(20), socketError]));
      const data = length ? await Promise.race([handshake.take(length), socketError]) : Buffer.alloc(0);
      const reply = readOptionReply(type, data);
      if (reply === 'ack') break;
      if (reply !== 'other') size = reply.size;
    }
    if (size === undefined) throw new Error('the NBD server did not say how large the export is');
    const reader = transmission(socket, stop, size, (why) => failed(why));
    consumer = reader.consume;
    const early = handshake.rest();
    if (early.length) reader.consume(early);
    return reader.reader;
  } catch (err) {
    await stop();
    throw err instanceof VolbackError ? err : failed((err as Error).message, err);
  }
}

function transmission(
  socket: net.Socket,
  stop: () => Promise<void>,
  size: number,
  failed: (why: string) => VolbackError,
): { reader: ImageReader; consume: Consumer } {
  const outstanding = new Map<bigint, Outstanding>();
  const parser = new ReplyParser(outstanding);
  let broken: VolbackError | undefined;
  let nextHandle = 1n;
  const breakAll = (why: string): void => {
    broken ??= failed(why);
    for (const request of outstanding.values()) request.done(broken);
    outstanding.clear();
    socket.destroy();
  };
  const consume = (chunk: Buffer): void => {
    try {
      parser.feed(chunk);
    } catch (err) {
      breakAll((err as Error).message);
    }
  };
  socket.on('error', (err) => breakAll(err.message));
  socket.on('close', () => breakAll('the connection to qemu-nbd closed'));

  const readOne = (offset: number, length: number, sink: (chunk: Buffer) => void): Promise<void> =>
    new Promise((resolve, reject) => {
      if (broken) return reject(broken);
      const handle = nextHandle++;
      outstanding.set(handle, { length, sink, done: (err) => (err ? reject(err) : resolve()) });
      socket.write(encodeRequest('read', handle, offset, length));
    });

  const reader: ImageReader = {
    size,
    async read(offset, length, sink) {
      checkReadRange(offset, length, size);
      // Parts of one read go one after another, so its bytes reach the sink in order.
      for (let done = 0; done < length; done += MAX_NBD_READ)
        await readOne(offset + done, Math.min(MAX_NBD_READ, length - done), sink);
    },
    async close() {
      if (!broken && !socket.destroyed) {
        broken = failed('the reader is closed');
        socket.end(encodeRequest('disconnect', nextHandle++));
      }
      await stop();
    },
  };
  return { reader, consume };
}
