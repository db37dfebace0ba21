// Plumbing shared by the probers: one hard deadline per attempt, errno → failure classification, and
// result constructors. Every prober resolves exactly once and releases its socket/timer/child before
// resolving; `attempt` enforces "exactly once" and guarantees the cleanup runs on every path.
import { performance } from 'node:perf_hooks';
import { isIP } from 'node:net';
import type { ProbeFailure, ProbeRequest, ProbeResult } from '../types.js';

export const up = (reason: string, rttMs?: number): ProbeResult =>
  rttMs === undefined ? { ok: true, reason } : { ok: true, reason, rttMs: round(rttMs) };

export const down = (failure: ProbeFailure, reason: string): ProbeResult => ({ ok: false, reason, failure });

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

const ERRNO: Record<string, ProbeFailure> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  ETIMEDOUT: 'timeout',
};

export function fromError(err: unknown, what: string): ProbeResult {
  const code = (err as { code?: unknown } | null)?.code;
  const failure = (typeof code === 'string' && ERRNO[code]) || 'error';
  const text = err instanceof Error ? err.message : String(err);
  return down(failure, `${what}: ${text}`);
}

/** Host part for "addr:port" text: brackets IPv6. */
export const hostPort = (address: string, port: number): string =>
  isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;

export interface Attempt {
  /** Milliseconds since the attempt started. */
  elapsed(): number;
  /** Resolves the attempt (first call wins) after running every registered cleanup. */
  finish(r: ProbeResult): void;
  /** Registers cleanup (close socket, kill child) run once on finish, whichever path finishes. */
  onCleanup(fn: () => void): void;
}

export class InvalidProbeRequestError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidProbeRequestError';
  }
}

export function checkRequest(req: ProbeRequest, needsPort: boolean): void {
  if (isIP(req.address) === 0) throw new InvalidProbeRequestError(`not an IP address: "${req.address}"`);
  if (needsPort && !(Number.isInteger(req.port) && req.port >= 1 && req.port <= 65535))
    throw new InvalidProbeRequestError(`port must be 1-65535, got ${req.port}`);
  if (!(Number.isFinite(req.timeoutMs) && req.timeoutMs > 0))
    throw new InvalidProbeRequestError(`timeoutMs must be > 0, got ${req.timeoutMs}`);
}

/**
 * Runs `body` under a hard deadline. On timeout or abort the attempt resolves with
 * `onTimeout()` (default: a 'timeout' failure) and all cleanups run, so nothing outlives it.
 */
export function attempt(
  req: ProbeRequest,
  body: (a: Attempt) => void,
  onTimeout: (a: Attempt) => ProbeResult = () => down('timeout', `no answer within ${req.timeoutMs}ms`),
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const cleanups: (() => void)[] = [];
    let done = false;
    const a: Attempt = {
      elapsed: () => performance.now() - t0,
      onCleanup: (fn) => {
        if (done) fn();
        else cleanups.push(fn);
      },
      finish: (r) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        for (const fn of cleanups.splice(0)) {
          try {
            fn();
          } catch {
            /* cleanup must not mask the verdict */
          }
        }
        resolve(r);
      },
    };
    const onAbort = (): void => a.finish(down('aborted', 'probe cancelled'));
    const timer = setTimeout(() => a.finish(onTimeout(a)), req.timeoutMs);
    if (req.signal?.aborted) return onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      body(a);
    } catch (e) {
      a.finish(fromError(e, 'probe failed'));
    }
  });
}
