// Runs external tools (qemu-img, xmllint, ...) asynchronously with argv arrays, never a shell.
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync } from 'node:fs';
import { pipeHolding } from '../os';
import { ErrorCodes, VolbackError } from '../errors';
import { logger } from '../log';

const log = logger('exec');

export interface RunOptions {
  /** Written to the tool's stdin, then stdin is closed. */
  input?: string | Buffer;
  signal?: AbortSignal;
  /** Exit codes that are not failures (e.g. `qemu-img compare` uses 1 for "images differ"). */
  okExitCodes?: number[];
  /** Called with each piece of stdout as it arrives (progress output); stdout is still collected. */
  onStdout?: (chunk: string) => void;
  /**
   * Secrets the tool reads from inherited pipes: the first at fd 3, the next at 4, … (argv names them
   * `/dev/fd/N`, see secretObjectArgs). They never appear in argv, the environment or a file.
   */
  secrets?: readonly Buffer[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Spawns `command` with each secret readable at fd 3, 4, … as a file: a real pipe that already holds
 * it (Node's own 'pipe' stdio is a socket, which `/dev/fd/N` cannot open). Our ends are closed once
 * the child has its copies.
 */
export function spawnWithSecrets(
  command: string,
  args: readonly string[],
  stdio: Array<'pipe' | 'ignore'>,
  secrets: readonly Buffer[],
  signal?: AbortSignal,
): ChildProcess {
  const fds = secrets.map((s) => pipeHolding(s));
  try {
    return spawn(command, args, { stdio: [...stdio, ...fds], signal });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** Runs `argv[0]` with the rest as arguments; rejects with ERR_COMMAND_FAILED naming the command. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [command, ...args] = argv;
  log.debug(`run ${argv.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawnWithSecrets(
      command,
      args,
      ['pipe', 'pipe', 'pipe'],
      options.secrets ?? [],
      options.signal,
    ) as ChildProcessWithoutNullStreams;
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      options.onStdout?.(chunk.toString('utf8'));
    });
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? `${command} is not installed (run scripts/setup)` : err.message;
      reject(
        new VolbackError(
          err.name === 'AbortError' ? ErrorCodes.CANCELLED : ErrorCodes.COMMAND_FAILED,
          `${command}: ${why}`,
          { cause: err },
        ),
      );
    });
    child.on('close', (exitCode) => {
      const result = {
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        exitCode: exitCode ?? -1,
      };
      if (exitCode === 0 || options.okExitCodes?.includes(result.exitCode)) return resolve(result);
      reject(
        new VolbackError(
          ErrorCodes.COMMAND_FAILED,
          `${argv.join(' ')} failed (exit ${result.exitCode}): ${result.stderr.trim() || result.stdout.trim()}`,
        ),
      );
    });
    child.stdin.on('error', () => undefined); // the tool may exit before reading all input
    child.stdin.end(options.input ?? '');
  });
}
