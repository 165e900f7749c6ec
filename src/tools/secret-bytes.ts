// Secret bytes in the form QEMU and librados take them, through no JS string (a string cannot be wiped).

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');

/**
 * Base64 of `raw` as a new Buffer. Pure. libvirt stores a cephx key or a LUKS passphrase decoded;
 * librados and QEMU's secret objects (format=base64) take base64 text.
 */
export function base64Bytes(raw: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.ceil(raw.length / 3) * 4);
  let o = 0;
  for (let i = 0; i < raw.length; i += 3) {
    const n = (raw[i] << 16) | ((raw[i + 1] ?? 0) << 8) | (raw[i + 2] ?? 0);
    out[o++] = B64[(n >> 18) & 63];
    out[o++] = B64[(n >> 12) & 63];
    out[o++] = i + 1 < raw.length ? B64[(n >> 6) & 63] : 0x3d;
    out[o++] = i + 2 < raw.length ? B64[n & 63] : 0x3d;
  }
  return out;
}

/**
 * The bytes of base64 text `text` as a new Buffer (base64Bytes undone), through no JS string. Pure.
 * @throws Error on a character outside the base64 alphabet or a length not a multiple of 4.
 */
export function bytesOfBase64(text: Uint8Array): Buffer {
  if (text.length % 4 !== 0)
    throw new Error(`base64 text of ${text.length} characters is not a multiple of 4`);
  const pad =
    text.length === 0
      ? 0
      : (text[text.length - 1] === 0x3d ? 1 : 0) + (text[text.length - 2] === 0x3d ? 1 : 0);
  const out = Buffer.alloc((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const c = text[i + k];
      const v = c === 0x3d && i + k >= text.length - pad ? 0 : B64.indexOf(c);
      if (v < 0) throw new Error(`base64 text has an invalid character at ${i + k}`);
      n = (n << 6) | v;
    }
    for (let k = 0; k < 3 && o < out.length; k++) out[o++] = (n >> (16 - 8 * k)) & 0xff;
  }
  return out;
}
