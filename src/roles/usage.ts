// Command-line mistakes: a typed error so the entry point prints the usage and exits 2, and the flag
// parsers every role shares.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
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

/** A HOST:PORT flag (IPv6 hosts in brackets or bare: `[::]:11112`, `:::11112`). */
export function parseListen(s: string, flag = '--api'): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  const port = Number(m?.[2]);
  if (!m || !(port >= 0 && port <= 65535)) throw new UsageError(`${flag}: "${s}" is not HOST:PORT`);
  return { host: m[1] as string, port };
}

/** `--metrics-addr HOST:PORT|off` as an optional field of the role's options. */
export function metricsFlag(v: string | undefined): { metricsListen?: { host: string; port: number } } {
  return v === undefined || v === 'off' ? {} : { metricsListen: parseListen(v, '--metrics-addr') };
}

/** How a command's usage error is reported: the message and that command's usage, exit code 2. */
export class CommandUsageError extends UsageError {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * Strict flag parsing for one command: every command takes --help/-h; an unknown flag or a stray
 * argument is a CommandUsageError carrying the command's usage.
 */
export function parseCommand<O extends OptionsConfig>(args: readonly string[], options: O, usage: string) {
  try {
    return parseArgs({
      args: [...args],
      options: { ...options, ...HELP },
      allowPositionals: false,
      strict: true,
    });
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
      throw new CommandUsageError((e as Error).message, usage);
    throw e;
  }
}
