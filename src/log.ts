// The one root logger: human lines on stderr, JSON lines to a file when configured.
import fs from 'node:fs';
import winston from 'winston';
import { ErrorCodes, VolbackError } from './errors';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

// Each transport filters by its own level: stderr by the one asked for, a log file by its own.
const stderr = new winston.transports.Console({
  level: process.env.VOLBACK_LOG_LEVEL ?? 'warn',
  stderrLevels: ['error', 'warn', 'info', 'debug'],
  format: winston.format.combine(
    winston.format.timestamp(),
    winston.format.printf(({ timestamp, level, message, component, ...rest }) => {
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
      return `${timestamp} ${level} [${component ?? 'volback'}] ${message}${extra}`;
    }),
  ),
});

const rootLogger = winston.createLogger({ level: 'debug', transports: [stderr] });

/** A child logger for one module; library code logs only through these, never the console. */
export function logger(component: string): winston.Logger {
  return rootLogger.child({ component });
}

/** Changes what reaches stderr (CLI flags, config file); a log file keeps the level it was added with. */
export function setLogLevel(level: LogLevel): void {
  stderr.level = level;
}

/**
 * Adds a JSON-lines log file (config `log_file`); safe to call once per process. The file is created
 * here, mode 0600: it holds command lines, paths and domain details. An existing file keeps its mode
 * (the admin's choice), with a warning when others can read it. Returns a function that detaches and
 * closes it. Throws ERR_CONFIG (fault user) when the file cannot be opened.
 */
export function addLogFile(path: string, level: LogLevel = 'debug'): () => void {
  let mode: number;
  try {
    const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o600);
    try {
      mode = fs.fstatSync(fd).mode & 0o777;
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new VolbackError(ErrorCodes.CONFIG, `cannot open log file ${path}: ${(err as Error).message}`, {
      fault: 'user',
      cause: err,
      hint: 'fix log_file in the config file (an absolute path in a directory that exists)',
    });
  }
  const transport = new winston.transports.File({
    filename: path,
    level,
    // winston passes these to fs.createWriteStream; mode matters only if the file was removed meanwhile.
    options: { flags: 'a', mode: 0o600 },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  });
  rootLogger.add(transport);
  if (mode & 0o077) {
    logger('log').warn(
      `log file ${path} can be read by other users (mode ${mode.toString(8)}); chmod 600 it: it holds command lines and domain details`,
    );
  }
  return () => {
    rootLogger.remove(transport);
    transport.close?.();
  };
}
