// The one mapping from outcomes to the documented exit codes, and how errors are printed.
import { ErrorCodes, VolbackError, isVolbackError, type ErrorCode } from '../errors';
import { printable } from './format';

export const ExitCode = {
  OK: 0,
  /** The operation failed (libvirt, QEMU, pool, conflict, job failure, problems found). */
  FAILURE: 1,
  /** Bad usage or invalid input: the command as typed cannot succeed; fix the command line, file or config. */
  USAGE: 2,
  /** Partial: the command acted on several items and some of them failed (its output says which). */
  PARTIAL: 3,
  /** Interrupted (SIGINT / Ctrl-C); everything the command had started was undone. */
  INTERRUPTED: 130,
} as const;

/** Codes that mean the caller's input is wrong, when their fault is `user`. */
const USER_INPUT_CODES: readonly ErrorCode[] = [
  ErrorCodes.INVALID_INPUT,
  ErrorCodes.XML_INVALID,
  ErrorCodes.CONFIG,
  ErrorCodes.NOT_FOUND,
];

/** A command-line mistake: unknown command or flag, missing argument, bad value. */
export class UsageError extends VolbackError {
  constructor(message: string, hint?: string) {
    super(ErrorCodes.INVALID_INPUT, message, { fault: 'user', hint: hint ?? 'see `volback help`' });
  }
}

/**
 * 130 for a cancel; 2 for usage errors and user-fault ERR_INVALID_INPUT, ERR_XML_INVALID,
 * ERR_CONFIG and ERR_NOT_FOUND (something named on the command line does not exist); 1 otherwise.
 */
export function exitCodeFor(err: unknown): number {
  if (isVolbackError(err, ErrorCodes.CANCELLED)) return ExitCode.INTERRUPTED;
  if (err instanceof VolbackError && err.fault === 'user' && USER_INPUT_CODES.includes(err.code))
    return ExitCode.USAGE;
  return ExitCode.FAILURE;
}

/**
 * The lines printed on stderr for an error: what went wrong, why (causes), and how to fix it. Messages
 * quote names read from pools and libvirt, so each line is made printable() (one line per item).
 */
export function describeError(err: unknown, debug: boolean): string {
  const lines: string[] = [];
  const message = printable((err instanceof Error ? err.message : String(err)).trimEnd());
  const code = err instanceof VolbackError ? ` [${err.code}]` : '';
  lines.push(`volback: error: ${message}${code}`);
  const seen = new Set<unknown>([err]);
  for (let cause = (err as Error)?.cause; cause && !seen.has(cause); cause = (cause as Error).cause) {
    seen.add(cause);
    const text = printable((cause instanceof Error ? cause.message : String(cause)).trimEnd());
    if (text && !message.includes(text)) lines.push(`  caused by: ${text}`);
  }
  if (err instanceof VolbackError && err.hint) lines.push(`  hint: ${printable(err.hint)}`);
  else if (!(err instanceof VolbackError))
    lines.push('  hint: this looks like a bug in volback; run again with --debug and report it');
  if (debug && err instanceof Error && err.stack) lines.push(err.stack);
  return lines.join('\n');
}
