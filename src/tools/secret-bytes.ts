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
