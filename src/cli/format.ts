// Human output helpers: aligned tables, byte sizes, UTC times, durations, and the one escaping of
// values from pools for a terminal. Pure.

// C0 and C1 controls, DEL, line/paragraph separators, bidi overrides and marks, and '\' itself (so an
// escape in the output is never ambiguous). JSON output needs none of this: JSON.stringify escapes.
const UNPRINTABLE = /[\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A value as it may be shown on a terminal: control characters (newlines that would fake rows, ANSI
 * escapes that would rewrite the screen, bidi overrides that reorder it) become visible escapes
 * (`\n`, `\x1b`, `\u202e`). Every value a human renderer prints that came from a pool or from
 * libvirt — domain names, descriptions, volume names, paths, messages — goes through this;
 * table() and keyValues() apply it to every cell.
 */
export function printable(value: string): string {
  return value.replace(UNPRINTABLE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** 1536 → "1.5 KiB"; exact bytes below 1 KiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "2026-11-26 00:15:00Z" */
export function formatUtc(date: Date): string {
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** Columns padded to their widest cell; the last column is not padded. Cells are made printable(). */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows].map((row) => row.map(printable));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i] - [...cell].length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** "key: value" lines with the keys aligned; keys and values are made printable(). */
export function keyValues(pairs: Array<[string, string | undefined]>): string {
  const shown = pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [printable(k), printable(v as string)]) as Array<[string, string]>;
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join('\n');
}

/** The first 8 characters of a set id, as listings show it (any unique prefix is accepted back). */
export const shortId = (id: string): string => id.slice(0, 8);
