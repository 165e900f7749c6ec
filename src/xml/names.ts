// Rules for names and values that reach storage backends or the filesystem: pool and volume names,
// disk names, paths, UUIDs, timestamps. Each check returns the reason a value is refused, or undefined.
// The RelaxNG types in schemas/common.rng say the same; this is the code half that explains why.

/** LVM refuses logical-volume names containing these (lvm2 lib/misc/lvm-string.c); keep in sync with common.rng. */
export const LVM_RESERVED_SUBSTRINGS = [
  '_cdata',
  '_cmeta',
  '_corig',
  '_cpool',
  '_cvol',
  '_wcorig',
  '_mlog',
  '_mimage',
  '_pmspare',
  '_rimage',
  '_rmeta',
  '_tdata',
  '_tmeta',
  '_vorigin',
  '_vdata',
  '_imeta',
  '_iorig',
] as const;

/** LVM refuses logical-volume names starting with these. */
export const LVM_RESERVED_PREFIXES = ['snapshot', 'pvmove'] as const;

/** LVM's limit, the strictest of the dir, RBD and LVM backends. */
export const MAX_VOLUME_NAME_LENGTH = 127;
export const MAX_POOL_NAME_LENGTH = 255;

const SAFE_CHARS = /^[A-Za-z0-9+_.:-]*$/;

function safeNameProblem(name: string, max: number): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.includes('/')) return "must not contain '/' (no paths)";
  if (name === '.' || name === '..') return "must not be '.' or '..'";
  if (name.startsWith('-')) return "must not start with '-'";
  if (!SAFE_CHARS.test(name)) {
    const bad = [...name].find((c) => !SAFE_CHARS.test(c));
    return `contains '${bad}'; only A-Z a-z 0-9 + _ . : - are allowed`;
  }
  if (name.length > max) return `is ${name.length} characters long; at most ${max} are allowed`;
  return undefined;
}

export function poolNameProblem(name: string): string | undefined {
  return safeNameProblem(name, MAX_POOL_NAME_LENGTH);
}

export function volumeNameProblem(name: string): string | undefined {
  const basic = safeNameProblem(name, MAX_VOLUME_NAME_LENGTH);
  if (basic) return basic;
  const prefix = LVM_RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) return `must not start with '${prefix}' (reserved by LVM)`;
  const reserved = LVM_RESERVED_SUBSTRINGS.find((s) => name.includes(s));
  if (reserved) return `must not contain '${reserved}' (reserved by LVM)`;
  return undefined;
}

/**
 * A name volback creates a volume under (`<target volume>`, `--volume-name`, its own names): a
 * volume name that also works unquoted everywhere, so no leading '.' (a hidden file in a directory
 * pool) and no ':' (RBD reads it as a snapshot separator in some specs).
 */
export function newVolumeNameProblem(name: string): string | undefined {
  const basic = volumeNameProblem(name);
  if (basic) return basic;
  if (name.startsWith('.')) return "must not start with '.' (a hidden file in a directory pool)";
  if (name.includes(':')) return "must not contain ':'";
  return undefined;
}

/** Disk target names as libvirt writes them: vda, sdb, hdc. */
export function diskNameProblem(name: string): string | undefined {
  return /^[A-Za-z0-9_]+$/.test(name) ? undefined : 'must match [a-zA-Z0-9_]+ (a disk target such as vda)';
}

export function absNormalizedPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must be an absolute path';
  if (path === '/') return undefined;
  if (path.endsWith('/')) return "must not end with '/'";
  const segments = path.slice(1).split('/');
  if (segments.some((s) => s === '')) return "must not contain '//'";
  if (segments.some((s) => s === '.' || s === '..')) return "must not contain '.' or '..' segments";
  return undefined;
}

export function absFilePathProblem(path: string): string | undefined {
  return /^\/.+/.test(path) ? undefined : 'must be an absolute path';
}

const UUID_DASHED = /^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/;
const UUID_PLAIN = /^[0-9a-fA-F]{32}$/;
const UUID_CANONICAL = /^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/;

/** Any form libvirt accepts (32 hex digits or 8-4-4-4-12, either case). */
export function isUuid(value: string): boolean {
  return UUID_DASHED.test(value) || UUID_PLAIN.test(value);
}

/** Lowercase 8-4-4-4-12: the only form volback writes. */
export function isCanonicalUuid(value: string): boolean {
  return UUID_CANONICAL.test(value);
}

export function canonicalUuid(value: string): string {
  const hex = value.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function canonicalUuidProblem(value: string): string | undefined {
  return isCanonicalUuid(value) ? undefined : 'must be a lowercase UUID (8-4-4-4-12)';
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** ISO-8601 UTC with milliseconds, exactly as Date.prototype.toISOString() writes it. */
export function timestampProblem(value: string): string | undefined {
  if (!TIMESTAMP.test(value)) return 'must be UTC with milliseconds, like 2026-11-26T00:15:00.123Z';
  const date = new Date(value);
  if (Number.isNaN(date.getTime()) || date.toISOString() !== value) return 'is not a real date and time';
  return undefined;
}

export function formatTimestamp(date: Date): string {
  // toISOString() throws on invalid dates and writes '+YYYYYY' outside 0000-9999; both fail the schema.
  return Number.isNaN(date.getTime()) ? 'Invalid Date' : date.toISOString();
}

/** Canonical non-negative integer a JS number holds exactly (≤ 2^53-1). */
export function byteCountProblem(value: string): string | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(value)) return 'must be a non-negative integer without sign or leading zeros';
  if (!Number.isSafeInteger(Number(value))) return 'must be at most 9007199254740991 (2^53-1)';
  return undefined;
}

export function portProblem(value: string): string | undefined {
  if (!/^[0-9]+$/.test(value)) return 'must be a number';
  const port = Number(value);
  return port >= 1 && port <= 65535 ? undefined : 'must be between 1 and 65535';
}

export function hostNameProblem(value: string): string | undefined {
  return /^[A-Za-z0-9.:-]+$/.test(value) ? undefined : 'must be a DNS name or IP address';
}

export function checkpointNameProblem(value: string): string | undefined {
  return /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(value)
    ? undefined
    : "must match [a-zA-Z0-9_-][a-zA-Z0-9_.-]* (libvirt's checkpoint names)";
}
