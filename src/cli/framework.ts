// The CLI's skeleton: command specs (noun verb), argument parsing with util.parseArgs, global flags,
// help text, and the context a command runs in (config, connection, cancel signal, confirmation).
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import type { Connection } from '../libvirt';
import type { ResolvedConfig } from '../config';
import { UsageError } from './exit-codes';
import { setIdArgument } from './input';
import { progressSink, type ProgressSink } from './progress';

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder in help (`FILE`, `POOL`). */
  value?: string;
  description: string;
}

export type Flags = Record<string, string | boolean | string[] | undefined>;

/** A string flag's value; undefined when absent (or given as a boolean). */
export const flagString = (v: Flags[string]): string | undefined => (typeof v === 'string' ? v : undefined);

/** A repeatable string flag's values; undefined when absent. */
export const flagList = (v: Flags[string]): string[] | undefined =>
  Array.isArray(v) ? v : typeof v === 'string' ? [v] : undefined;

/** What a command returns: the data (printed as-is with --json) and how to show it to a person. */
export interface CommandResult {
  data: unknown;
  human?: () => string;
  /** Exit code when not 0 (3 partial, 1 "problems found"). */
  exitCode?: number;
}

export interface CommandSpec {
  /** ['backup', 'create'] */
  path: string[];
  /** `<domain>`, `[name]`: positional arguments as shown in help; `<x>` required, `[x]` optional. */
  args?: string[];
  summary: string;
  description?: string;
  flags?: Record<string, FlagSpec>;
  examples?: string[];
  /** Adds --dry-run and --yes. */
  destructive?: boolean;
  run(ctx: CommandContext, args: string[], flags: Flags): Promise<CommandResult>;
}

/** Flags every command accepts. */
export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  connect: {
    type: 'string',
    short: 'c',
    value: 'URI',
    description: 'libvirt URI (default: config connect_uri, LIBVIRT_DEFAULT_URI, qemu:///system)',
  },
  config: {
    type: 'string',
    value: 'FILE',
    description: 'config file (default: $VOLBACK_CONFIG or /etc/volback/volback.conf)',
  },
  json: { type: 'boolean', description: 'print one JSON document on stdout instead of text' },
  'log-level': {
    type: 'string',
    value: 'LEVEL',
    description: 'error, warn, info or debug (default: config log_level, warn)',
  },
  debug: { type: 'boolean', description: 'debug logs, and stack traces on errors' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress and only errors on stderr' },
  help: { type: 'boolean', short: 'h', description: 'show help for the command' },
};

const DESTRUCTIVE_FLAGS: Record<string, FlagSpec> = {
  'dry-run': { type: 'boolean', short: 'n', description: 'show what would be done, change nothing' },
  yes: {
    type: 'boolean',
    short: 'y',
    description: 'do not ask for confirmation (required when stdin is not a terminal)',
  },
};

export function flagsOf(spec: CommandSpec): Record<string, FlagSpec> {
  return { ...(spec.flags ?? {}), ...(spec.destructive ? DESTRUCTIVE_FLAGS : {}), ...GLOBAL_FLAGS };
}

/** Parses argv (after the command words) for one command; unknown flags and bad arity are UsageErrors. */
export function parseCommandArgs(spec: CommandSpec, argv: string[]): { args: string[]; flags: Flags } {
  const flags = flagsOf(spec);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries(flags).map(([name, f]) => [
          name,
          { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) },
        ]),
      ),
    });
  } catch (err) {
    throw new UsageError(
      `${(err as Error).message.replace(/\. To specify.*$/s, '')}`,
      `see \`volback help ${spec.path.join(' ')}\``,
    );
  }
  const values = parsed.values as Flags;
  if (values.help) return { args: parsed.positionals, flags: values };
  const declared = spec.args ?? [];
  const required = declared.filter((a) => a.startsWith('<')).length;
  const variadic = declared.some((a) => a.endsWith('...]') || a.endsWith('...>'));
  if (parsed.positionals.length < required) {
    throw new UsageError(
      `missing argument ${declared[parsed.positionals.length]}`,
      `usage: ${usageLine(spec)}`,
    );
  }
  if (!variadic && parsed.positionals.length > declared.length) {
    throw new UsageError(
      `unexpected argument '${parsed.positionals[declared.length]}'`,
      `usage: ${usageLine(spec)}`,
    );
  }
  // Checked here, before a command connects or acts: every `<set-id>` is a real id or a long enough prefix.
  declared.forEach((arg, i) => {
    const value = parsed.positionals[i];
    if ((arg === '<set-id>' || arg === '[<set-id>]') && value !== undefined) setIdArgument(value);
  });
  return { args: parsed.positionals, flags: values };
}

export const usageLine = (spec: CommandSpec): string =>
  [
    'volback',
    ...spec.path,
    ...(spec.args ?? []),
    Object.keys(spec.flags ?? {}).length || spec.destructive ? '[flags]' : '',
  ]
    .filter(Boolean)
    .join(' ');

function flagLines(flags: Record<string, FlagSpec>): string[] {
  const left = Object.entries(flags).map(
    ([name, f]) => `${f.short ? `-${f.short}, ` : '    '}--${name}${f.value ? ` ${f.value}` : ''}`,
  );
  const width = Math.max(...left.map((l) => l.length));
  return Object.values(flags).map((f, i) => `  ${left[i].padEnd(width)}  ${f.description}`);
}

export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0    success',
  '  1    failure (libvirt, QEMU, pool, conflict, job failed; verify found problems)',
  '  2    bad usage or invalid input (unknown flag, bad value, invalid XML or config, named object not found,',
  '       confirmation needed but stdin is not a terminal)',
  '  3    partial: some of the items a command acted on failed (the output lists which)',
  '  130  interrupted (Ctrl-C); what the command had started was undone',
].join('\n');

/** Help for one command. */
export function commandHelp(spec: CommandSpec): string {
  const own = { ...(spec.flags ?? {}), ...(spec.destructive ? DESTRUCTIVE_FLAGS : {}) };
  return [
    spec.summary,
    '',
    `Usage: ${usageLine(spec)}`,
    ...(spec.description ? ['', spec.description] : []),
    ...(Object.keys(own).length ? ['', 'Flags:', ...flagLines(own)] : []),
    '',
    'Global flags:',
    ...flagLines(GLOBAL_FLAGS),
    ...(spec.examples?.length ? ['', 'Examples:', ...spec.examples.map((e) => `  $ ${e}`)] : []),
    '',
    EXIT_CODES_HELP,
  ].join('\n');
}

/** Help listing every command (or those under one noun). */
export function commandsHelp(commands: readonly CommandSpec[], noun?: string): string {
  const shown = commands.filter((c) => !noun || c.path[0] === noun);
  const left = shown.map((c) => [...c.path, ...(c.args ?? [])].join(' '));
  const width = Math.max(...left.map((l) => l.length));
  return [
    noun
      ? `volback ${noun}: commands`
      : 'volback — VM disk backups for libvirt/KVM, kept as libvirt storage volumes',
    '',
    `Usage: volback ${noun ?? '<command>'}${noun ? ' <verb>' : ''} [args] [flags]`,
    '',
    'Commands:',
    ...shown.map((c, i) => `  ${left[i].padEnd(width)}  ${c.summary}`),
    '',
    'Global flags:',
    ...flagLines({ ...GLOBAL_FLAGS, version: { type: 'boolean', description: 'print the version' } }),
    '',
    "Run 'volback help <command>' or 'volback <command> --help' for a command's flags.",
    '',
    EXIT_CODES_HELP,
  ].join('\n');
}

/** What a running command can use. The connection is opened on first use and closed by main. */
export interface CommandContext {
  readonly config: ResolvedConfig;
  readonly json: boolean;
  readonly quiet: boolean;
  /** Aborted on SIGINT; pass it to every long core call. */
  readonly signal: AbortSignal;
  connect(): Promise<Connection>;
  /** A second connection, to another host (`--target-connect`); closed by main too. */
  connectTo(uri: string): Promise<Connection>;
  /** A progress display for one job on stderr (silent with --quiet). */
  progress(label: string): ProgressSink;
  /** A line on stderr for the person at the terminal (suppressed by --quiet). */
  note(text: string): void;
  /**
   * Asks before a destructive step. True with --yes; asks on a TTY; throws a UsageError (exit 2)
   * when stdin is not a terminal and --yes is absent.
   */
  confirm(question: string, flags: Flags): Promise<boolean>;
}

export async function confirmOnTerminal(question: string, flags: Flags): Promise<boolean> {
  if (flags.yes) return true;
  if (!process.stdin.isTTY) {
    throw new UsageError(
      `refusing to ${question.replace(/\?$/, '')} without confirmation: stdin is not a terminal`,
      'pass --yes to confirm (or --dry-run to see what would be done)',
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export function makeProgress(label: string, quiet: boolean): ProgressSink {
  return progressSink(label, { enabled: !quiet });
}
