// unframeDocument: what a document volume's bytes mean, whatever the volume's size.
import { CutShortDocument, frameDocument, unframeDocument } from '../../src/pool/documents';

const framed = frameDocument('<set id="1"/>');

describe('unframeDocument', () => {
  it.each([
    ['exactly the framed document', framed, '<set id="1"/>'],
    [
      'the framed document in a larger, zero-filled volume (an LV)',
      Buffer.concat([framed, Buffer.alloc(4096)]),
      '<set id="1"/>',
    ],
    [
      'a framed document followed by other bytes',
      Buffer.concat([framed, Buffer.from('junk')]),
      '<set id="1"/>',
    ],
    ['an unframed (legacy) document', Buffer.from('<set id="2"/>'), '<set id="2"/>'],
    [
      'an unframed document in a zero-filled volume',
      Buffer.concat([Buffer.from('<x/>'), Buffer.alloc(100)]),
      '<x/>',
    ],
    ['an empty volume', Buffer.alloc(0), ''],
    ['a zero-filled volume (an empty marker in an LV)', Buffer.alloc(512), ''],
  ])('reads %s', (_what, bytes, text) => {
    expect(unframeDocument(bytes, 'v')).toBe(text);
  });

  it('refuses a framed document cut short, naming how much it holds', () => {
    const cut = framed.subarray(0, framed.length - 3);
    expect(() => unframeDocument(cut, 'volume a')).toThrow(CutShortDocument);
    expect(() => unframeDocument(cut, 'volume a')).toThrow(/volume a holds 10 of the 13 bytes/);
  });

  it.each([
    [
      'a body that is not the one hashed',
      Buffer.concat([framed.subarray(0, framed.length - 2), Buffer.from('x>')]),
    ],
    [
      'a cut body padded with zeros (an LV)',
      Buffer.concat([framed.subarray(0, framed.length - 3), Buffer.alloc(64)]),
    ],
  ])('refuses %s: it does not match its checksum', (_what, bytes) => {
    expect(() => unframeDocument(bytes, 'volume b')).toThrow(
      /volume b: its content does not match its checksum/,
    );
  });

  it('refuses a damaged header', () => {
    expect(() => unframeDocument(framed.subarray(0, 30), 'volume c')).toThrow(
      /volume c: its document header is damaged/,
    );
  });
});
