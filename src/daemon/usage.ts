// Command-line mistakes: a typed error so the entry point prints the usage and exits 2, and the flag
// parsers every role shares.
import { parseDurationMs } from '../model/issues.js';

export class UsageError extends Error {}

export function onOff(flag: string, v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  throw new UsageError(`${flag}: "${v}" is not on or off`);
}

/** A Go-style duration flag ("15s", "500ms", "1m30s") in milliseconds; zero is refused. */
export function durationFlag(flag: string, v: string | undefined, dfltMs: number): number {
  if (v === undefined) return dfltMs;
  const ms = parseDurationMs(v);
  if (ms === undefined || ms <= 0)
    throw new UsageError(`${flag}: "${v}" is not a duration such as 15s or 500ms`);
  return ms;
}

export function portOrOff(flag: string, v: string): number | false {
  if (v === 'off') return false;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`${flag}: "${v}" is not a port or off`);
  return n;
}
