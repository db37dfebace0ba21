// Structured JSON logs on stdout (one object per line), level from FERROLB_LOG_LEVEL.
import { pino, type Logger } from 'pino';

/** The levels FERROLB_LOG_LEVEL accepts, most to least verbose, then off. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A log level the logger does not know: named with its source, so start-up fails with a clear line. */
export class LogLevelError extends Error {
  constructor(
    readonly source: string,
    readonly value: string,
  ) {
    super(`${source}: "${value}" is not a log level (one of ${LOG_LEVELS.join(', ')})`);
  }
}

export function parseLogLevel(value: string | undefined, source = 'FERROLB_LOG_LEVEL'): LogLevel {
  if (value === undefined || value === '') return 'info';
  const v = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new LogLevelError(source, value);
}

export function createLogger(name = 'ferrolb'): Logger {
  return pino({
    name,
    level: parseLogLevel(process.env.FERROLB_LOG_LEVEL),
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
