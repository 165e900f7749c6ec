// The one root logger: human lines on stderr, JSON lines to a file when configured.
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const rootLogger = winston.createLogger({
  level: process.env.VOLBACK_LOG_LEVEL ?? 'warn',
  transports: [
    new winston.transports.Console({
      stderrLevels: ['error', 'warn', 'info', 'debug'],
      format: winston.format.combine(
        winston.format.timestamp(),
        winston.format.printf(({ timestamp, level, message, component, ...rest }) => {
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          return `${timestamp} ${level} [${component ?? 'volback'}] ${message}${extra}`;
        }),
      ),
    }),
  ],
});

/** A child logger for one module; library code logs only through these, never the console. */
export function logger(component: string): winston.Logger {
  return rootLogger.child({ component });
}

/** Changes the level of every logger (CLI flags, config file). */
export function setLogLevel(level: LogLevel): void {
  rootLogger.level = level;
  for (const transport of rootLogger.transports) transport.level = level;
}

/** Adds a JSON-lines log file (config `log_file`); safe to call once per process. */
export function addLogFile(path: string, level: LogLevel = 'debug'): void {
  rootLogger.add(
    new winston.transports.File({
      filename: path,
      level,
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    }),
  );
}
