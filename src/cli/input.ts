// What a person hands the CLI besides flags: set-id prefixes and files named on the command line
// (read with a size cap, only from regular files, pipes or stdin, and only as strict UTF-8).
import fs from 'node:fs';
import { ErrorCodes, VolbackError } from '../errors';
import { UsageError } from './exit-codes';
import { MAX_INPUT_FILE_BYTES, utf8Problem } from '../tools/user-text';

/** Shortest set-id prefix a command accepts: `backup list` shows 8, docs/cli.md promises ≥ 4. */
export const MIN_SET_ID_PREFIX = 4;

/**
 * A set id or prefix as typed: hex digits and dashes, at least MIN_SET_ID_PREFIX hex digits, so a
 * one-letter typo cannot pick (and delete) whichever set happens to start with it. Pure.
 * @throws UsageError (exit 2) before anything connects or runs.
 */
export function setIdArgument(value: string): string {
  if (!/^[0-9a-fA-F-]*$/.test(value) || value.startsWith('-')) {
    throw new UsageError(
      `'${value}' is not a backup set id or id prefix`,
      'set ids are UUIDs; list them with `volback backup list`',
    );
  }
  const digits = value.replace(/-/g, '').length;
  if (digits < MIN_SET_ID_PREFIX) {
    throw new UsageError(
      `set id prefix '${value}' is too short: give at least ${MIN_SET_ID_PREFIX} hex digits`,
      '`volback backup list` shows 8 digits of each set id',
    );
  }
  return value;
}

const inputError = (message: string, hint?: string): VolbackError =>
  new VolbackError(ErrorCodes.INVALID_INPUT, message, { fault: 'user', hint });

function kindOf(stat: fs.Stats): string | undefined {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return undefined;
}

async function readCapped(
  chunks: AsyncIterable<Buffer | string>,
  limit: number,
): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += buf.length;
    if (total > limit) return undefined;
    parts.push(buf);
  }
  return Buffer.concat(parts);
}

export interface ReadInputOptions {
  /** Default MAX_INPUT_FILE_BYTES. */
  maxBytes?: number;
  /** What `-` reads; default process.stdin. */
  stdin?: AsyncIterable<Buffer | string> & { destroy?: () => void };
}

/**
 * Reads a file named on the command line as text. `-` is standard input. Regular files and pipes
 * (`<(…)`, `/dev/stdin` when it is a pipe) are read, at most `maxBytes`; devices and directories are
 * refused before reading, so `/dev/zero` fails at once instead of filling memory. The bytes must be
 * UTF-8: a stray Latin-1 byte is refused with its line and byte offset instead of turning into U+FFFD.
 * @throws VolbackError ERR_INVALID_INPUT, fault user (exit 2), naming the file.
 */
export async function readInputFile(
  file: string,
  what: string,
  options: ReadInputOptions = {},
): Promise<string> {
  const limit = options.maxBytes ?? MAX_INPUT_FILE_BYTES;
  const name = file === '-' ? 'standard input' : file;
  const tooLarge = (): VolbackError =>
    inputError(
      `${what} ${name} is larger than ${limit === MAX_INPUT_FILE_BYTES ? '1 MiB' : `${limit} bytes`}; volback reads at most that`,
    );
  let bytes: Buffer | undefined;
  if (file === '-') {
    const stdin = options.stdin ?? process.stdin;
    bytes = await readCapped(stdin, limit);
    if (!bytes) {
      stdin.destroy?.();
      throw tooLarge();
    }
  } else {
    let handle: fs.promises.FileHandle | undefined;
    try {
      // stat first: opening a device can itself block or have effects; the fstat below closes the race.
      const before = kindOf(await fs.promises.stat(file));
      if (before)
        throw inputError(`${what} ${file} is ${before}, not a file`, 'give a regular file, or - for stdin');
      handle = await fs.promises.open(file, 'r');
      const stat = await handle.stat();
      const kind = kindOf(stat);
      if (kind)
        throw inputError(`${what} ${file} is ${kind}, not a file`, 'give a regular file, or - for stdin');
      if (stat.isFile() && stat.size > limit) throw tooLarge();
      bytes = await readCapped(
        handle.createReadStream({ autoClose: false, highWaterMark: 64 * 1024 }),
        limit,
      );
      if (!bytes) throw tooLarge();
    } catch (err) {
      if (err instanceof VolbackError) throw err;
      throw inputError(`cannot read ${what} ${file}: ${(err as Error).message}`);
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }
  const bad = utf8Problem(bytes);
  if (bad) {
    throw inputError(
      `${what} ${name} is not UTF-8: byte 0x${(bytes[bad.offset] as number).toString(16).padStart(2, '0')} at line ${bad.line}, column ${bad.column} (byte offset ${bad.offset})`,
      'save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)',
    );
  }
  return bytes.toString('utf8');
}
