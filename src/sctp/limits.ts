// Engine limits from the environment (`ferrolb run` / `ferrolb agent`): FERROLB_SCTP_* variables,
// each a non-negative integer, override DEFAULT_LIMITS. A bad value is an error naming the variable
// and the value (the daemon refuses to start rather than run with a limit it did not mean). Pure.
import type { EngineLimits } from './engine/types.js';

export class SctpLimitsError extends Error {
  constructor(
    readonly variable: string,
    readonly value: string,
    detail: string,
  ) {
    super(`${variable}=${JSON.stringify(value)}: ${detail}`);
    this.name = 'SctpLimitsError';
  }
}

type NumericLimit = Exclude<keyof EngineLimits, 'portRange'>;

/** Variable → limit, with the least value that makes sense. */
export const SCTP_LIMIT_VARIABLES: readonly (readonly [string, NumericLimit, number])[] = [
  ['FERROLB_SCTP_MAX_ASSOCIATIONS', 'maxAssociations', 1],
  ['FERROLB_SCTP_MAX_HALF_OPEN', 'maxHalfOpen', 1],
  ['FERROLB_SCTP_HALF_OPEN_TIMEOUT_MS', 'halfOpenTimeoutMs', 100],
  ['FERROLB_SCTP_IDLE_TIMEOUT_MS', 'idleTimeoutMs', 1000],
  ['FERROLB_SCTP_INIT_RATE_PER_SOURCE', 'initRatePerSource', 0],
  ['FERROLB_SCTP_INIT_BURST_PER_SOURCE', 'initBurstPerSource', 1],
  ['FERROLB_SCTP_INIT_RATE', 'initRateGlobal', 0],
  ['FERROLB_SCTP_INIT_BURST', 'initBurstGlobal', 1],
  ['FERROLB_SCTP_MAX_INIT_SOURCES', 'maxInitSources', 1],
];

export function sctpLimitsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<EngineLimits> {
  const out: Partial<Record<NumericLimit, number>> = {};
  for (const [name, key, min] of SCTP_LIMIT_VARIABLES) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (!/^\d+$/.test(raw.trim())) throw new SctpLimitsError(name, raw, 'expected a non-negative integer');
    const v = Number(raw.trim());
    if (!Number.isSafeInteger(v) || v < min)
      throw new SctpLimitsError(name, raw, `expected an integer ≥ ${min}`);
    out[key] = v;
  }
  return out;
}
