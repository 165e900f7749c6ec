// volback's configuration: defaults → config file → environment → flags, resolved into one frozen object
// that also remembers where each value came from (for `volback config show`).
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { ErrorCodes, VolbackError } from './errors';
import { MAX_INPUT_FILE_BYTES, utf8Problem } from './tools/user-text';
import { absNormalizedPathProblem } from './xml/names';
import { secretUsageProblem } from './xml/encryption';
import { freezeBoundProblem } from './core/backup/freeze-bound';
import type { VirtPreference } from './host/virt-type';
import type { LogLevel } from './log';
import type { Compression, QuiesceMode, RetentionPolicy } from './model';

export const DEFAULT_CONFIG_PATH = '/etc/volback/volback.conf';

export interface VolbackConfig {
  /** libvirt URI; `LIBVIRT_DEFAULT_URI`, then `qemu:///system` when unset. */
  connectUri: string;
  /** Pool that receives disks without an explicit target; created as a dir pool on first use. */
  defaultPool: string;
  defaultPoolPath: string;
  /** `per-domain`: each domain's sets in its own pool under the default pool (docs/scale.md); `single`. */
  defaultPoolLayout: 'per-domain' | 'single';
  /** Format of full backup volumes where the pool allows a choice. */
  backupFormat: 'qcow2' | 'raw';
  /**
   * Which engine copies backups (`backup_engine`; the older `full_backup_engine` maps onto it):
   * `auto`, `qmp` or `libvirt`, see BackupEngine in src/core/backup/engine.ts.
   */
  backupEngine: 'auto' | 'qmp' | 'libvirt';
  /** Compression of backups whose definition does not say (`backup_compression`): docs/compression.md. */
  backupCompression: Compression;
  /** Freezing the guest's filesystems for backups whose definition does not say (`quiesce`): docs/consistency.md. */
  quiesce: QuiesceMode;
  /** Seconds the guest agent may take to answer a freeze or thaw (`quiesce_timeout`). */
  quiesceTimeout: number;
  /** Seconds after which volback's watchdog thaws a frozen guest whatever happened (`quiesce_max_freeze`). */
  quiesceMaxFreeze: number;
  /**
   * The libvirt secret (a UUID, else a `volume` usage id) whose passphrase encrypts fulls whose
   * definition does not say (`backup_encryption_secret`; docs/encryption.md). Unset: plain backups.
   */
  backupEncryptionSecret?: string;
  /** Backups `backup create --all/--match/--label` runs at once. */
  backupParallel: number;
  /** Kind of the domains volback starts itself (demo, tests, bench): `auto` probes the host. */
  virtType: VirtPreference;
  logLevel: LogLevel;
  logFile?: string;
  retention: RetentionPolicy;
}

export type ConfigSource = 'default' | 'file' | 'environment' | 'flag';
export type ResolvedConfig = Readonly<VolbackConfig> & {
  readonly sources: Readonly<Record<string, ConfigSource>>;
  readonly file?: string;
};

const DEFAULTS: VolbackConfig = {
  connectUri: 'qemu:///system',
  defaultPool: 'volback',
  defaultPoolPath: '/var/lib/libvirt/backups',
  defaultPoolLayout: 'per-domain',
  backupFormat: 'qcow2',
  backupEngine: 'auto',
  backupCompression: 'none',
  quiesce: 'try',
  quiesceTimeout: 10,
  quiesceMaxFreeze: 60,
  backupParallel: 2,
  virtType: 'auto',
  logLevel: 'warn',
  retention: {},
};

type Setting = {
  kind: 'string' | 'integer';
  path: string[];
  check?: (v: string | number) => string | undefined;
  /** A key kept for older files: its value in the terms of the setting it now sets. */
  translate?: (v: string | number) => string | number;
};

const oneOf =
  (...allowed: string[]) =>
  (v: string | number): string | undefined =>
    allowed.includes(String(v)) ? undefined : `must be one of ${allowed.join(', ')}`;
const absolutePath = (v: string | number): string | undefined =>
  String(v).startsWith('/') ? undefined : 'must be an absolute path';
const nonNegative = (v: string | number): string | undefined =>
  Number(v) >= 0 ? undefined : 'must be a non-negative integer';

/** Keys accepted in the config file, in libvirt's `key = value` style. */
const FILE_KEYS: Record<string, Setting> = {
  connect_uri: { kind: 'string', path: ['connectUri'] },
  default_pool: { kind: 'string', path: ['defaultPool'] },
  default_pool_layout: {
    kind: 'string',
    path: ['defaultPoolLayout'],
    check: oneOf('per-domain', 'single'),
  },
  default_pool_path: {
    kind: 'string',
    path: ['defaultPoolPath'],
    check: (v) => absNormalizedPathProblem(String(v)),
  },
  backup_format: { kind: 'string', path: ['backupFormat'], check: oneOf('qcow2', 'raw') },
  backup_engine: { kind: 'string', path: ['backupEngine'], check: oneOf('auto', 'qmp', 'libvirt') },
  backup_compression: { kind: 'string', path: ['backupCompression'], check: oneOf('none', 'zstd') },
  quiesce: { kind: 'string', path: ['quiesce'], check: oneOf('try', 'require', 'off') },
  quiesce_timeout: {
    kind: 'integer',
    path: ['quiesceTimeout'],
    check: (v) => (Number(v) >= 1 && Number(v) <= 300 ? undefined : 'must be from 1 to 300'),
  },
  quiesce_max_freeze: {
    kind: 'integer',
    path: ['quiesceMaxFreeze'],
    check: (v) => (Number(v) >= 5 && Number(v) <= 3600 ? undefined : 'must be from 5 to 3600'),
  },
  // Before backup_engine: it chose only the engine of fulls, and its "qmp" is today's "auto".
  full_backup_engine: {
    kind: 'string',
    path: ['backupEngine'],
    check: oneOf('qmp', 'libvirt'),
    translate: (v) => (v === 'libvirt' ? 'libvirt' : 'auto'),
  },
  backup_encryption_secret: {
    kind: 'string',
    path: ['backupEncryptionSecret'],
    check: (v) => secretUsageProblem(String(v)),
  },
  backup_parallel: {
    kind: 'integer',
    path: ['backupParallel'],
    check: (v) => (Number(v) >= 1 && Number(v) <= 64 ? undefined : 'must be from 1 to 64'),
  },
  virt_type: { kind: 'string', path: ['virtType'], check: oneOf('auto', 'kvm', 'qemu') },
  log_level: { kind: 'string', path: ['logLevel'], check: oneOf('error', 'warn', 'info', 'debug') },
  log_file: { kind: 'string', path: ['logFile'], check: absolutePath },
  keep_last: { kind: 'integer', path: ['retention', 'keepLast'], check: nonNegative },
  keep_hourly: { kind: 'integer', path: ['retention', 'keepHourly'], check: nonNegative },
  keep_daily: { kind: 'integer', path: ['retention', 'keepDaily'], check: nonNegative },
  keep_weekly: { kind: 'integer', path: ['retention', 'keepWeekly'], check: nonNegative },
  keep_monthly: { kind: 'integer', path: ['retention', 'keepMonthly'], check: nonNegative },
  keep_yearly: { kind: 'integer', path: ['retention', 'keepYearly'], check: nonNegative },
  keep_within: { kind: 'string', path: ['retention', 'keepWithin'] },
};

type Overrides = Partial<Omit<VolbackConfig, 'retention'>> & { retention?: RetentionPolicy };

/** Parses a config file's text; errors name the file and line. Pure. */
export function parseConfigText(text: string, file: string): Overrides {
  const result: Record<string, unknown> = {};
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) return;
    const fail = (why: string): never => {
      throw new VolbackError(ErrorCodes.CONFIG, `${file}:${index + 1}: ${why}`, { fault: 'user' });
    };
    const match = /^([a-z_]+)\s*=\s*(.+)$/.exec(line) ?? fail(`expected 'key = value', got '${line}'`);
    const [, key, rawValue] = match;
    const setting =
      FILE_KEYS[key] ?? fail(`unknown key '${key}' (known: ${Object.keys(FILE_KEYS).join(', ')})`);
    let value: string | number;
    if (setting.kind === 'integer') {
      if (!/^\d+$/.test(rawValue)) fail(`${key} must be an integer, got ${rawValue}`);
      value = Number(rawValue);
    } else {
      const quoted = /^"([^"]*)"$/.exec(rawValue) ?? fail(`${key} must be a quoted string, got ${rawValue}`);
      value = quoted[1];
    }
    const problem = setting.check?.(value);
    if (problem) fail(`${key} ${problem}, got ${JSON.stringify(value)}`);
    setPath(result, setting.path, setting.translate ? setting.translate(value) : value);
  });
  return result as Overrides;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]] = value;
}

/**
 * A config file's text: a regular file of at most MAX_INPUT_FILE_BYTES, strict UTF-8 (a device such
 * as /dev/zero, or a huge file, is refused before it is read).
 */
function readUserText(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    const refuse = (why: string): never => {
      throw new VolbackError(ErrorCodes.CONFIG, `config file ${path} ${why}`, { fault: 'user' });
    };
    if (!stat.isFile()) refuse('is not a regular file');
    if (stat.size > MAX_INPUT_FILE_BYTES)
      refuse(`is ${stat.size} bytes, more than ${MAX_INPUT_FILE_BYTES} a config can be`);
    const bytes = Buffer.alloc(stat.size);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, done);
      if (n === 0) break;
      done += n;
    }
    const bad = utf8Problem(bytes.subarray(0, done));
    if (bad) refuse(`is not UTF-8 at line ${bad.line}, column ${bad.column} (byte ${bad.offset})`);
    return bytes.subarray(0, done).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Reads the config file; a missing file at the default path is fine, a missing explicit file is not. */
export function readConfigFile(path: string, explicit: boolean): Overrides | undefined {
  let text: string;
  try {
    text = readUserText(path);
  } catch (err) {
    if (err instanceof VolbackError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return undefined;
    throw new VolbackError(ErrorCodes.CONFIG, `cannot read config file ${path}: ${(err as Error).message}`, {
      fault: 'user',
      cause: err,
    });
  }
  return parseConfigText(text, path);
}

/** Environment variables volback honours. Pure. */
export function configFromEnvironment(env: NodeJS.ProcessEnv): Overrides {
  const result: Overrides = {};
  if (env.LIBVIRT_DEFAULT_URI) result.connectUri = env.LIBVIRT_DEFAULT_URI;
  if (env.VOLBACK_LOG_LEVEL) {
    const problem = oneOf('error', 'warn', 'info', 'debug')(env.VOLBACK_LOG_LEVEL);
    if (problem) throw new VolbackError(ErrorCodes.CONFIG, `VOLBACK_LOG_LEVEL ${problem}`, { fault: 'user' });
    result.logLevel = env.VOLBACK_LOG_LEVEL as LogLevel;
  }
  if (env.VOLBACK_VIRT_TYPE) {
    const problem = oneOf('auto', 'kvm', 'qemu')(env.VOLBACK_VIRT_TYPE);
    if (problem)
      throw new VolbackError(
        ErrorCodes.CONFIG,
        `VOLBACK_VIRT_TYPE ${problem}, got ${JSON.stringify(env.VOLBACK_VIRT_TYPE)}`,
        {
          fault: 'user',
        },
      );
    result.virtType = env.VOLBACK_VIRT_TYPE as VirtPreference;
  }
  return result;
}

/** Where a forced `virtType` came from, for reports ("forced by VOLBACK_VIRT_TYPE=qemu"). */
export function virtTypeSource(config: ResolvedConfig): string {
  const source = config.sources.virtType;
  if (source === 'environment') return `VOLBACK_VIRT_TYPE=${config.virtType}`;
  if (source === 'file') return `virt_type = "${config.virtType}" in ${config.file}`;
  return `virt type ${config.virtType}`;
}

/** Applies the layers in order and records the source of every value that one of them set. Pure. */
export function mergeConfig(
  layers: Array<[ConfigSource, Overrides | undefined]>,
  file?: string,
): ResolvedConfig {
  const merged: VolbackConfig = { ...DEFAULTS, retention: { ...DEFAULTS.retention } };
  const sources: Record<string, ConfigSource> = {};
  for (const key of Object.keys(DEFAULTS)) if (key !== 'retention') sources[key] = 'default';
  for (const [source, layer] of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (key === 'retention') {
        for (const [rkey, rvalue] of Object.entries(value as RetentionPolicy)) {
          if (rvalue === undefined) continue;
          (merged.retention as Record<string, unknown>)[rkey] = rvalue;
          sources[`retention.${rkey}`] = source;
        }
      } else {
        (merged as unknown as Record<string, unknown>)[key] = value;
        sources[key] = source;
      }
    }
  }
  // Checked together: each key alone can be valid while the pair cannot bound a freeze.
  const freezeBound = freezeBoundProblem(merged.quiesceTimeout, merged.quiesceMaxFreeze);
  if (freezeBound)
    throw new VolbackError(ErrorCodes.CONFIG, `${file ? `${file}: ` : ''}${freezeBound}`, { fault: 'user' });
  return Object.freeze({
    ...merged,
    retention: Object.freeze(merged.retention),
    sources: Object.freeze(sources),
    file,
  });
}

export interface LoadConfigOptions {
  /** Explicit config file (`--config`, `VOLBACK_CONFIG`); must exist. */
  path?: string;
  flags?: Overrides;
  env?: NodeJS.ProcessEnv;
}

/** The effective configuration of this process. */
export function loadConfig(options: LoadConfigOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const explicitPath = options.path ?? env.VOLBACK_CONFIG;
  const path = explicitPath ?? DEFAULT_CONFIG_PATH;
  const fileLayer = readConfigFile(path, explicitPath !== undefined);
  return mergeConfig(
    [
      ['file', fileLayer],
      ['environment', configFromEnvironment(env)],
      ['flag', options.flags],
    ],
    fileLayer ? path : undefined,
  );
}
