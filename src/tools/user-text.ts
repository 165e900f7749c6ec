// Text a user hands volback in a file (a definition, the config): its size cap and a strict UTF-8 check.

/** Largest file (or standard input) volback reads from a user: a definition or config is a few hundred bytes. */
export const MAX_INPUT_FILE_BYTES = 1024 * 1024;

/** Where the first byte that is not UTF-8 is: 0-based byte offset, 1-based line and column (in bytes). */
export interface Utf8Problem {
  offset: number;
  line: number;
  column: number;
}

/**
 * The first position where `bytes` is not well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or undefined. Pure.
 */
export function utf8Problem(bytes: Uint8Array): Utf8Problem | undefined {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i] as number;
    let length = 0;
    let min = 0;
    if (b < 0x80) {
      if (b === 0x0a) {
        line++;
        lineStart = i + 1;
      }
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [length, min] = [2, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [length, min] = [3, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [length, min] = [4, 0x10000];
    let cp = length === 2 ? b & 0x1f : length === 3 ? b & 0x0f : b & 0x07;
    let ok = length > 0 && i + length <= bytes.length;
    for (let k = 1; ok && k < length; k++) {
      const c = bytes[i + k] as number;
      if ((c & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (c & 0x3f);
    }
    if (!ok || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return { offset: i, line, column: i - lineStart + 1 };
    }
    i += length;
  }
  return undefined;
}
