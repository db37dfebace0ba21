// Pure per-endpoint health state machine. Input: the previous record, one probe verdict and the
// thresholds; output: the next record and, when the state changed, a transition event. No clocks,
// no I/O — the scheduler shell feeds it and publishes the events.
//
// Semantics (see docs/probes.md):
//  - 'unknown' lasts until the first verdict, and the first verdict decides at once. Holding a fresh
//    endpoint for `healthyThreshold` intervals would delay new capacity, and holding a dead one for
//    `unhealthyThreshold` intervals would send it traffic it cannot serve; a single verdict is the best
//    information available and thresholds exist to damp flapping, which needs a history first.
//  - active → inactive after `unhealthyThreshold` consecutive failures.
//  - inactive → active after `healthyThreshold` consecutive successes.
//  - A verdict that agrees with the current state resets the opposite streak.
import type { EndpointState } from './types.js';

export interface Thresholds {
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface HealthRecord {
  readonly state: EndpointState;
  /** Consecutive successes seen (reset by any failure). */
  readonly okStreak: number;
  /** Consecutive failures seen (reset by any success). */
  readonly failStreak: number;
  /** Reason of the latest verdict. */
  readonly reason: string;
}

export interface Verdict {
  readonly ok: boolean;
  readonly reason: string;
}

export interface Transition {
  readonly from: EndpointState;
  readonly to: Exclude<EndpointState, 'unknown'>;
  readonly reason: string;
}

export interface Step {
  readonly record: HealthRecord;
  readonly transition?: Transition;
}

export class InvalidThresholdError extends Error {
  constructor(
    readonly field: keyof Thresholds,
    readonly value: number,
  ) {
    super(`${field} must be an integer ≥ 1, got ${value}`);
    this.name = 'InvalidThresholdError';
  }
}

export const initialHealth = (reason = 'not probed yet'): HealthRecord => ({
  state: 'unknown',
  okStreak: 0,
  failStreak: 0,
  reason,
});

export function checkThresholds(t: Thresholds): void {
  for (const field of ['healthyThreshold', 'unhealthyThreshold'] as const) {
    const v = t[field];
    if (!Number.isInteger(v) || v < 1) throw new InvalidThresholdError(field, v);
  }
}

/** Applies one verdict. Pure. */
export function observe(prev: HealthRecord, verdict: Verdict, t: Thresholds): Step {
  const okStreak = verdict.ok ? prev.okStreak + 1 : 0;
  const failStreak = verdict.ok ? 0 : prev.failStreak + 1;
  let state: EndpointState = prev.state;
  if (prev.state === 'unknown') state = verdict.ok ? 'active' : 'inactive';
  else if (prev.state === 'active' && failStreak >= t.unhealthyThreshold) state = 'inactive';
  else if (prev.state === 'inactive' && okStreak >= t.healthyThreshold) state = 'active';
  const record: HealthRecord = { state, okStreak, failStreak, reason: verdict.reason };
  if (state === prev.state || state === 'unknown') return { record };
  return { record, transition: { from: prev.state, to: state, reason: verdict.reason } };
}

/**
 * Keeps the state but forgets the streaks: used when what is probed changes (type, port, path), so
 * old evidence does not count towards a threshold under the new check, yet traffic does not flap.
 */
export const resetStreaks = (r: HealthRecord): HealthRecord => ({ ...r, okStreak: 0, failStreak: 0 });
