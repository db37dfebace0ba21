// Structured JSON logs on stdout (one object per line), level from FERROLB_LOG_LEVEL.
import { pino, type Logger } from 'pino';

export function createLogger(name = 'ferrolb'): Logger {
  return pino({
    name,
    level: process.env.FERROLB_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
