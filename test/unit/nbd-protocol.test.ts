// The NBD client's pure wire codec: handshake, option replies, requests, and the reply parser fed a
// transmission stream cut at every possible place. The reader itself runs against a real qemu-nbd in
// the conformance suite.
import {
  MAX_NBD_READ,
  ReplyParser,
  encodeClientStart,
  encodeRequest,
  parseGreeting,
  parseOptionReplyHeader,
  qemuNbdArgv,
  readOptionReply,
} from '../../src/tools/nbd';

const greeting = (flags: number): Buffer => {
  const b = Buffer.alloc(18);
  b.write('NBDMAGIC', 0, 'latin1');
  b.write('IHAVEOPT', 8, 'latin1');
  b.writeUInt16BE(flags, 16);
  return b;
};

const simpleReply = (handle: bigint, error = 0): Buffer => {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(0x67446698, 0);
  b.writeUInt32BE(error, 4);
  b.writeBigUInt64BE(handle, 8);
  return b;
};

describe('NBD handshake', () => {
  it('accepts a fixed-newstyle server and refuses anything else', () => {
    expect(parseGreeting(greeting(3))).toEqual({ noZeroes: true });
    expect(parseGreeting(greeting(1))).toEqual({ noZeroes: false });
    expect(() => parseGreeting(greeting(0))).toThrow('fixed newstyle');
    expect(() => parseGreeting(Buffer.from('NBDMAGIC\0\0\x42\x02\x81\x86\x12\x53\0\0', 'latin1'))).toThrow(
      'newstyle',
    );
  });

  it('sends its flags and NBD_OPT_GO for the default export', () => {
    expect(encodeClientStart(true).toString('hex')).toBe(
      '00000003' + Buffer.from('IHAVEOPT').toString('hex') + '00000007' + '00000006' + '000000000000',
    );
    expect(encodeClientStart(false).readUInt32BE(0)).toBe(1);
  });

  it('reads option replies: export size, ack, errors with their text', () => {
    const head = Buffer.alloc(20);
    head.writeBigUInt64BE(0x3e889045565a9n, 0);
    head.writeUInt32BE(7, 8);
    head.writeUInt32BE(3, 12);
    head.writeUInt32BE(12, 16);
    expect(parseOptionReplyHeader(head)).toEqual({ type: 3, length: 12 });
    const info = Buffer.alloc(12);
    info.writeUInt16BE(0, 0);
    info.writeBigUInt64BE(BigInt(64 * 1024 * 1024), 2);
    expect(readOptionReply(3, info)).toEqual({ size: 64 * 1024 * 1024 });
    expect(readOptionReply(3, Buffer.from([0, 3, 0, 0]))).toBe('other'); // NBD_INFO_BLOCK_SIZE, unused
    expect(readOptionReply(1, Buffer.alloc(0))).toBe('ack');
    expect(() => readOptionReply(0x80000006, Buffer.from('export not found'))).toThrow(
      'refused the export (reply 0x80000006: export not found)',
    );
    const wrong = Buffer.from(head);
    wrong.writeUInt32BE(1, 8);
    expect(() => parseOptionReplyHeader(wrong)).toThrow('another option');
  });

  it('encodes reads and the disconnect', () => {
    const read = encodeRequest('read', 5n, 3 * 1024 * 1024, MAX_NBD_READ);
    expect(read.length).toBe(28);
    expect(read.readUInt32BE(0)).toBe(0x25609513);
    expect(read.readUInt16BE(6)).toBe(0);
    expect(read.readBigUInt64BE(8)).toBe(5n);
    expect(read.readBigUInt64BE(16)).toBe(BigInt(3 * 1024 * 1024));
    expect(read.readUInt32BE(24)).toBe(MAX_NBD_READ);
    expect(encodeRequest('disconnect', 6n).readUInt16BE(6)).toBe(2);
  });

  it('runs qemu-nbd read-only, one client, the path after --', () => {
    expect(qemuNbdArgv({ path: '-odd.qcow2', format: 'qcow2' }, '/tmp/x/nbd.sock')).toEqual([
      'qemu-nbd',
      '--read-only',
      '--format',
      'qcow2',
      '--socket',
      '/tmp/x/nbd.sock',
      '--shared',
      '1',
      '--',
      '-odd.qcow2',
    ]);
  });
});

describe('NBD reply parser', () => {
  /** Two reads (out of order on the wire) and a failed one, as one stream. */
  const stream = Buffer.concat([
    simpleReply(2n),
    Buffer.from('BBBBBBB'),
    simpleReply(3n, 5),
    simpleReply(1n),
    Buffer.from('AAAA'),
  ]);

  const runWith = (cut: (s: Buffer) => Buffer[]) => {
    const got = new Map<bigint, string>();
    const done: Array<[bigint, string]> = [];
    const outstanding = new Map(
      (
        [
          [1n, 4],
          [2n, 7],
          [3n, 9],
        ] as const
      ).map(([h, length]) => [
        h,
        {
          length,
          sink: (c: Buffer) => got.set(h, (got.get(h) ?? '') + c.toString()),
          done: (err?: Error) => done.push([h, err ? err.message : 'ok']),
        },
      ]),
    );
    const parser = new ReplyParser(outstanding);
    for (const piece of cut(stream)) parser.feed(piece);
    return { got, done, outstanding };
  };

  it('gives each read its bytes and ends each request once, however the stream is cut', () => {
    for (let size = 1; size <= stream.length; size++) {
      const { got, done, outstanding } = runWith((s) => {
        const pieces: Buffer[] = [];
        for (let i = 0; i < s.length; i += size) pieces.push(s.subarray(i, i + size));
        return pieces;
      });
      expect(got).toEqual(
        new Map([
          [2n, 'BBBBBBB'],
          [1n, 'AAAA'],
        ]),
      );
      expect(done).toEqual([
        [2n, 'ok'],
        [3n, 'the NBD server failed the read (errno 5)'],
        [1n, 'ok'],
      ]);
      expect(outstanding.size).toBe(0);
    }
  });

  it('keeps a header split across chunks even when the chunk buffer is reused', () => {
    const reused = Buffer.alloc(stream.length);
    const parser = new ReplyParser(
      new Map([
        [1n, { length: 0, sink: () => undefined, done: (err?: Error) => expect(err).toBeUndefined() }],
      ]),
    );
    const head = simpleReply(1n);
    head.copy(reused, 0, 0, 10);
    parser.feed(reused.subarray(0, 10));
    reused.fill(0xff); // the reader's buffer is overwritten by the next socket read
    head.copy(reused, 0, 10, 16);
    expect(() => parser.feed(reused.subarray(0, 6))).not.toThrow();
  });

  it('refuses a stream it cannot trust', () => {
    const parser = new ReplyParser(new Map());
    expect(() => parser.feed(simpleReply(9n))).toThrow('unknown request 9');
    expect(() => new ReplyParser(new Map()).feed(Buffer.alloc(16))).toThrow('bad NBD reply magic');
  });
});
