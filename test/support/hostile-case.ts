// The hostile-input corpus's case format (test/data/hostile/<category>/<name>.json): what a case does,
// the refusal it expects and what may change, read and checked strictly so a typo fails, never skips.
import fs from 'node:fs';
import path from 'node:path';

/** A file a case hands the CLI: text (an array is joined with newlines), bytes, or a large filler. */
export interface FileSpec {
  text?: string | string[];
  base64?: string;
  /** `repeat` written until the file has `bytes` bytes. */
  repeat?: string;
  bytes?: number;
  /** A directory instead of a file. */
  directory?: boolean;
  /** Octal mode set after creation (`1777`). */
  mode?: string;
}

/** A backup set made from one of the shared chain's real sets, with fields replaced. */
export interface ForgedSetSpec {
  /** Name under which `{uuid:KEY}`-style placeholders find this set's id: `{meta:KEY}` is its metadata name. */
  key?: string;
  /** Which real set it starts from (default full). */
  from?: 'full' | 'incr';
  /** Top-level fields to replace (id, domain, state, description, createdAt, parentId, ...). */
  set?: Record<string, unknown>;
  /** Per disk, by position: fields to replace (volume: {pool, name}, target, ...). */
  disks?: Array<Record<string, unknown>>;
  /** Keep the real set's checkpoint and bitmaps (default: the forged set has none). */
  keepCheckpoint?: boolean;
}

/** How a document is stored: framed as volback frames it, or raw, or with its frame damaged. */
export type Framing = 'framed' | 'raw' | 'cut' | 'bad-sha' | 'bad-header';

/** One change to a real pool before the command runs; each is undone after the case. */
export interface TamperStep {
  /** A metadata volume: the formatted forged set, then `replace` edits on its text, then `framing`. */
  metadata?: ForgedSetSpec & {
    pool?: string;
    name?: string;
    replace?: Array<[string, string]>;
    framing?: Framing;
    /** Append spaces inside the document until it holds this many bytes. */
    padTo?: number;
  };
  /** The pool's catalog index, rebuilt under the pool's current generation with extra entries. */
  index?: { pool?: string; add: Record<string, ForgedSetSpec> };
  /** A removal intent for a forged set (copies and rebases may name any volume). */
  intent?: {
    pool?: string;
    set: ForgedSetSpec;
    copies?: Array<{ pool: string; name: string }>;
    rebases?: Array<{ volume: { pool: string; name: string }; newBacking?: { pool: string; name: string } }>;
    domainUuid?: string;
  };
  /** A restore marker naming `volume`, of a process (`dead` or `alive`) on this or another host. */
  marker?: {
    pool?: string;
    volume: string;
    pid?: 'dead' | 'alive';
    host?: 'this' | 'other';
    /** Name the marker volume as the marker of this volume instead (a marker that lies about itself). */
    namedFor?: string;
  };
  /** A raw volume (not framed unless `framed`). */
  volume?: { pool?: string; name: string; content: FileSpec; framed?: boolean };
  /** Rewrites the metadata of a real set of the chain (restored byte for byte afterwards). */
  rewrite?: { set: 'full' | 'incr'; domainXml?: Array<[string, string]> };
}

/** What the case runs: one CLI invocation, possibly while something else holds the domain. */
export interface RunSpec {
  /** Arguments after `volback`; the runner adds `--config` and `-c` (and `--json` unless json is false). */
  cli?: string[];
  stdin?: FileSpec;
  /** Default true: with --json the error code comes from stdout's error document. */
  json?: boolean;
  /** Run against an unreachable URI: the refusal must come before any connection. */
  offline?: boolean;
  env?: Record<string, string>;
  /** Kill the CLI after this long (default 120 s); a killed CLI has exit code null and fails the case. */
  timeoutMs?: number;
  /** Config file instead of the shared one (`{file:bad.conf}`). */
  config?: string;
  /** While this holds the domain lock: a process that took it, or a CLI stopped (SIGSTOP) once its stderr matches `until`. */
  holder?: { lock?: true; cli?: string[]; until?: string };
  /** N processes try to take the domain's lock at the same instant (a winner holds it until all tried). */
  lockRace?: { processes: number };
}

export interface JsonCheck {
  /** Dot path; `[]` maps over an array (`invalidMetadata[].volume`). */
  path: string;
  includes?: unknown;
  equals?: unknown;
  excludes?: unknown;
}

export interface Expectation {
  exit: number | number[];
  code?: string | string[];
  /** Regex the error (stderr) must match. */
  message?: string;
  stdout?: string;
  stdoutNot?: string;
  stderrNot?: string;
  json?: JsonCheck[];
  /** Default false: the refusal comes before any job reports progress. */
  progress?: boolean;
  /** Exit code of a CLI holder once it is let go. */
  holderExit?: number;
  /** lockRace: how many processes may take the lock (the others are refused with `code`). */
  winners?: number;
  /** Fresh fixture: how many backup sets its domain has afterwards. */
  sets?: number;
  /** Path → octal mode (`0600`) it must have afterwards (files the command creates, such as its log). */
  modes?: Record<string, string>;
}

export interface HostileCase {
  /** `category/name`, from the path. */
  id: string;
  category: string;
  file: string;
  description: string;
  /** The defect this case awaits: it runs as `test.failing` until the defect is fixed. */
  pending?: string;
  /** `fresh`: a domain of its own with no backups and its own backup pool (for cases that succeed in part). */
  fixture?: 'shared' | 'fresh';
  files?: Record<string, FileSpec>;
  setup?: TamperStep[];
  run: RunSpec;
  expect: Expectation;
  /** Regexes over `<pool>/<volume>` (placeholders allowed), or `checkpoints`: what the case may change. */
  mayChange?: string[];
  /** Extra directories whose mode must not change. */
  dirs?: string[];
}

const CASE_KEYS = new Set([
  'description',
  'pending',
  'fixture',
  'files',
  'setup',
  'run',
  'expect',
  'mayChange',
  'dirs',
]);
const RUN_KEYS = new Set([
  'cli',
  'stdin',
  'json',
  'offline',
  'env',
  'timeoutMs',
  'config',
  'holder',
  'lockRace',
]);
const EXPECT_KEYS = new Set([
  'exit',
  'code',
  'message',
  'stdout',
  'stdoutNot',
  'stderrNot',
  'json',
  'progress',
  'holderExit',
  'winners',
  'sets',
  'modes',
]);
const STEP_KEYS = new Set(['metadata', 'index', 'intent', 'marker', 'volume', 'rewrite']);
const ERROR_CODES = /^ERR_[A-Z_]+$/;

function unknownKeys(obj: object, allowed: Set<string>, where: string): void {
  const bad = Object.keys(obj).filter((k) => !allowed.has(k));
  if (bad.length) throw new Error(`${where}: unknown field(s) ${bad.join(', ')}`);
}

/** Checks one parsed case file; throws naming the file and the problem. Pure. */
export function checkCase(raw: unknown, id: string, file: string): HostileCase {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`${file}: not an object`);
  const c = raw as Omit<HostileCase, 'id' | 'category' | 'file'>;
  unknownKeys(c, CASE_KEYS, file);
  if (typeof c.description !== 'string' || c.description.length < 10)
    throw new Error(`${file}: a description says what is hostile and why it must be refused`);
  if (c.pending !== undefined && (typeof c.pending !== 'string' || c.pending.length < 10))
    throw new Error(`${file}: pending names the defect the case awaits`);
  if (typeof c.run !== 'object' || c.run === null) throw new Error(`${file}: run is required`);
  unknownKeys(c.run, RUN_KEYS, `${file}: run`);
  if (!c.run.cli && !c.run.lockRace) throw new Error(`${file}: run needs cli or lockRace`);
  if (typeof c.expect !== 'object' || c.expect === null) throw new Error(`${file}: expect is required`);
  unknownKeys(c.expect, EXPECT_KEYS, `${file}: expect`);
  const exits = ([] as number[]).concat(c.expect.exit);
  if (exits.length === 0 || exits.some((e) => !Number.isInteger(e)))
    throw new Error(`${file}: expect.exit is an exit code or a list of them`);
  for (const code of ([] as string[]).concat(c.expect.code ?? []))
    if (!ERROR_CODES.test(code)) throw new Error(`${file}: ${code} is not an error code`);
  for (const re of [c.expect.message, c.expect.stdout, c.expect.stdoutNot, c.expect.stderrNot])
    if (re !== undefined) new RegExp(re); // a bad regex fails here, with the file named by the caller
  for (const step of c.setup ?? []) {
    unknownKeys(step, STEP_KEYS, `${file}: setup step`);
    if (Object.keys(step).length !== 1) throw new Error(`${file}: each setup step does one thing`);
  }
  if (
    exits.every((e) => e === 0) &&
    !c.expect.json &&
    !c.expect.stdout &&
    !c.expect.stdoutNot &&
    !c.mayChange
  )
    throw new Error(`${file}: a case that exits 0 must check what it printed`);
  return { ...c, id, category: id.split('/')[0], file };
}

/** Every case under `root`, sorted by id. */
export function loadCases(root: string): HostileCase[] {
  const out: HostileCase[] = [];
  for (const category of fs.readdirSync(root).sort()) {
    const dir = path.join(root, category);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const entry of fs.readdirSync(dir).sort()) {
      if (!entry.endsWith('.json')) throw new Error(`${path.join(dir, entry)}: cases are .json files`);
      const file = path.join(dir, entry);
      let raw: unknown;
      try {
        raw = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (err) {
        throw new Error(`${file}: ${(err as Error).message}`);
      }
      out.push(checkCase(raw, `${category}/${entry.slice(0, -'.json'.length)}`, file));
    }
  }
  return out;
}

/**
 * Replaces `{key}` and `{key:arg}` in a string. Unknown keys throw (a typo must not pass as text).
 * `resolve` returns undefined for an unknown key.
 */
export function substitute(text: string, resolve: (key: string, arg?: string) => string | undefined): string {
  return text.replace(/\{([a-zA-Z][a-zA-Z0-9]*)(?::([^{}]*))?\}/g, (whole, key: string, arg?: string) => {
    const value = resolve(key, arg);
    if (value === undefined) throw new Error(`unknown placeholder ${whole}`);
    return value;
  });
}

/** Deep copy of a JSON-like value with every string substituted. */
export function substituteDeep<T>(value: T, resolve: (key: string, arg?: string) => string | undefined): T {
  if (typeof value === 'string') return substitute(value, resolve) as T;
  if (Array.isArray(value)) return value.map((v) => substituteDeep(v, resolve)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [substitute(k, resolve), substituteDeep(v, resolve)]),
    ) as T;
  return value;
}

/** The bytes of a file spec (text already substituted). Pure. */
export function fileBytes(spec: FileSpec): Buffer {
  if (spec.base64 !== undefined) return Buffer.from(spec.base64, 'base64');
  if (spec.repeat !== undefined) {
    const unit = Buffer.from(spec.repeat);
    const total = spec.bytes ?? unit.length;
    const out = Buffer.alloc(total);
    for (let i = 0; i < total; i += unit.length) unit.copy(out, i);
    return out;
  }
  const text = Array.isArray(spec.text) ? spec.text.join('\n') + '\n' : (spec.text ?? '');
  return Buffer.from(text, 'utf8');
}

/** Values at a dot path (`a.b[].c`): one per array element where `[]` appears. Pure. */
export function valuesAt(doc: unknown, dotted: string): unknown[] {
  let current: unknown[] = [doc];
  for (const part of dotted.split('.')) {
    const many = part.endsWith('[]');
    const key = many ? part.slice(0, -2) : part;
    current = current.flatMap((v) => {
      const next = key === '' ? v : (v as Record<string, unknown> | null)?.[key];
      if (!many) return [next];
      return Array.isArray(next) ? next : [];
    });
  }
  return current;
}
