#!/usr/bin/env node
// The `volback` command: finds the command, builds its context, renders its result, maps errors to exit codes.
import { addLogFile, setLogLevel, type LogLevel } from '../log';
import { loadConfig, type ResolvedConfig } from '../config';
import { ErrorCodes, VolbackError } from '../errors';
import { Connection } from '../libvirt';
import { VOLBACK_VERSION } from '../version';
import { COMMANDS } from './commands';
import { describeError, ExitCode, exitCodeFor, UsageError } from './exit-codes';
import {
  GLOBAL_FLAGS,
  commandHelp,
  commandsHelp,
  confirmOnTerminal,
  flagString,
  makeProgress,
  parseCommandArgs,
  type CommandContext,
  type CommandSpec,
  type Flags,
} from './framework';

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'];

/** Global flags that take a value, by every spelling (so `volback -c URI backup list` finds `backup list`). */
const VALUE_FLAGS = new Set(
  Object.entries(GLOBAL_FLAGS)
    .filter(([, f]) => f.type === 'string')
    .flatMap(([name, f]) => [`--${name}`, ...(f.short ? [`-${f.short}`] : [])]),
);

/** Splits argv into the command words and the rest (flags and positionals, in order). */
function findCommand(argv: string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--') break;
    if (token.startsWith('-')) {
      rest.push(token);
      if (VALUE_FLAGS.has(token) && i + 1 < argv.length) rest.push(argv[++i]);
      continue;
    }
    const candidate = [...words, token];
    if (
      COMMANDS.some((c) => candidate.every((w, k) => c.path[k] === w)) ||
      (words.length === 0 && token === 'help')
    ) {
      words.push(token);
      if (COMMANDS.some((c) => c.path.join(' ') === candidate.join(' ')) || token === 'help') {
        i++;
        break;
      }
      continue;
    }
    break;
  }
  return { words, rest: [...rest, ...argv.slice(i)] };
}

function resolveCommand(words: string[]): CommandSpec | undefined {
  return COMMANDS.find((c) => c.path.join(' ') === words.join(' '));
}

function unknownCommand(words: string[], next: string | undefined): UsageError {
  const attempted = [...words, ...(next && !next.startsWith('-') ? [next] : [])].join(' ');
  const nouns = [...new Set(COMMANDS.map((c) => c.path[0]))];
  const options = words.length
    ? COMMANDS.filter((c) => c.path[0] === words[0]).map((c) => c.path.join(' '))
    : nouns;
  return new UsageError(
    attempted ? `unknown command '${attempted}'` : 'no command given',
    `commands: ${options.join(', ')}; see \`volback help\``,
  );
}

function configure(flags: Flags): ResolvedConfig {
  const logFlag = flagString(flags['log-level']);
  if (logFlag && !LOG_LEVELS.includes(logFlag)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${logFlag}'`);
  }
  const config = loadConfig({
    path: flagString(flags.config),
    flags: {
      connectUri: flagString(flags.connect),
      logLevel: flags.debug ? 'debug' : (logFlag as LogLevel | undefined),
    },
  });
  setLogLevel(flags.quiet && !flags.debug && !logFlag ? 'error' : config.logLevel);
  if (config.logFile) addLogFile(config.logFile);
  return config;
}

async function openConnection(uri: string): Promise<Connection> {
  try {
    return await Connection.open(uri);
  } catch (err) {
    throw new VolbackError(ErrorCodes.LIBVIRT, `cannot connect to libvirt at ${uri}`, {
      cause: err,
      hint: 'check that libvirtd is running (scripts/setup starts it) and the URI is right (--connect, config connect_uri, LIBVIRT_DEFAULT_URI)',
    });
  }
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) =>
    text ? stream.write(text.endsWith('\n') ? text : `${text}\n`, () => resolve()) : resolve(),
  );
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let debug = argv.includes('--debug');
  let json = argv.includes('--json');
  let conn: Connection | undefined;
  const others: Connection[] = [];
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(
        '\nvolback: interrupted: cancelling and cleaning up (Ctrl-C again to exit at once)\n',
      );
      controller.abort();
    } else {
      process.exit(ExitCode.INTERRUPTED);
    }
  };
  process.on('SIGINT', onSigint);
  try {
    const { words, rest } = findCommand(argv);
    if (words[0] === 'help' || (words.length === 0 && (rest.includes('--help') || rest.includes('-h')))) {
      const topic = words[0] === 'help' ? rest.filter((t) => !t.startsWith('-')) : [];
      const spec = resolveCommand(topic);
      if (spec) return await write(process.stdout, commandHelp(spec)).then(() => ExitCode.OK);
      if (topic.length === 0 || COMMANDS.some((c) => c.path[0] === topic[0] && topic.length === 1)) {
        return await write(process.stdout, commandsHelp(COMMANDS, topic[0])).then(() => ExitCode.OK);
      }
      throw unknownCommand(topic.slice(0, -1), topic[topic.length - 1]);
    }
    if (words.length === 0 && rest.includes('--version')) {
      // docs/cli.md: `--version --json` is `{"version"}`, like every other --json document.
      await write(
        process.stdout,
        json ? JSON.stringify({ version: VOLBACK_VERSION }, null, 2) : `volback ${VOLBACK_VERSION}`,
      );
      return ExitCode.OK;
    }
    const spec = resolveCommand(words);
    if (!spec) {
      if (words.length === 1 && (rest.length === 0 || rest.includes('--help') || rest.includes('-h'))) {
        await write(rest.length ? process.stdout : process.stderr, commandsHelp(COMMANDS, words[0]));
        return rest.length ? ExitCode.OK : ExitCode.USAGE;
      }
      if (words.length === 0 && rest.length === 0) {
        await write(process.stderr, commandsHelp(COMMANDS));
        return ExitCode.USAGE;
      }
      throw unknownCommand(
        words,
        rest.find((t) => !t.startsWith('-')),
      );
    }
    const { args, flags } = parseCommandArgs(spec, rest);
    debug = Boolean(flags.debug);
    json = Boolean(flags.json);
    if (flags.help) return await write(process.stdout, commandHelp(spec)).then(() => ExitCode.OK);
    const config = configure(flags);
    const quiet = Boolean(flags.quiet);
    const ctx: CommandContext = {
      config,
      json,
      quiet,
      signal: controller.signal,
      connect: async () => (conn ??= await openConnection(config.connectUri)),
      connectTo: async (uri) => {
        const other = await openConnection(uri);
        others.push(other);
        return other;
      },
      progress: (label) => makeProgress(label, quiet),
      note: (text) => {
        if (!quiet) process.stderr.write(`${text}\n`);
      },
      confirm: (question, f) => confirmOnTerminal(question, f),
    };
    const result = await spec.run(ctx, args, flags);
    if (json) await write(process.stdout, JSON.stringify(result.data, null, 2));
    else if (result.human) await write(process.stdout, result.human());
    return result.exitCode ?? ExitCode.OK;
  } catch (err) {
    const code = exitCodeFor(err);
    await write(process.stderr, describeError(err, debug));
    if (json) {
      const e = err instanceof VolbackError ? err : undefined;
      await write(
        process.stdout,
        JSON.stringify(
          {
            error: {
              code: e?.code ?? 'ERR_INTERNAL',
              message: (err as Error)?.message ?? String(err),
              hint: e?.hint ?? null,
              exitCode: code,
            },
          },
          null,
          2,
        ),
      );
    }
    return code;
  } finally {
    process.off('SIGINT', onSigint);
    await conn?.close().catch(() => undefined);
    for (const other of others) await other.close().catch(() => undefined);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`volback: internal error: ${String(err)}\n`);
      process.exit(ExitCode.FAILURE);
    },
  );
}
