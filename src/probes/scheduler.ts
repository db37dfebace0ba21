// The imperative shell: runs the probers for many endpoints, feeds verdicts to the pure state machine
// (health.ts) and reports state changes through `onChange` the moment a verdict changes the state.
//
// Timing. Probes run at a fixed rate from their start times, each period shortened by up to
// `jitter` × interval (never lengthened), so a probe is never later than one interval after the
// previous one started and many endpoints do not probe in lockstep. A new or changed target is first
// probed within `jitter` × interval. With timeout ≤ interval (the model enforces it), a dead
// endpoint is therefore reported within unhealthyThreshold × interval + timeout, and a recovered one
// within healthyThreshold × interval + timeout — as long as the concurrency bound is not saturated
// (then probes queue; size `maxConcurrent` for the fleet).
//
// update(targets) diffs against what runs: unchanged targets keep their timers and health; changed
// timing or thresholds take effect from the next probe; a change of *what* is probed (type, port,
// path, expected status, udp options) keeps the current state (no traffic flap) but restarts the probe
// and forgets the streaks gathered under the old check. stop() clears every timer, aborts every
// probe in flight and waits for them, so nothing dangles.
import { performance } from 'node:perf_hooks';
import { checkThresholds, initialHealth, observe, resetStreaks, type HealthRecord } from './health.js';
import { PROBERS, type ProbingType } from './probers/index.js';
import type { EndpointState, HealthCheckConfig, ProbeRequest, ProbeResult, Prober } from './types.js';

export interface ProbeTarget {
  readonly service: string;
  /** Endpoint address (IPv4 or IPv6 text); also the endpoint's identity within the service. */
  readonly endpoint: string;
  /** The endpoint's target port: the probe port unless `check.port` is set. */
  readonly targetPort: number;
  readonly check: HealthCheckConfig;
}

/**
 * `target`: the target whose check produced the verdict, when the caller knows it (the core ignores
 * verdicts of a check that went; without it the verdict is taken for the endpoint's current check).
 */
export type OnChange = (
  service: string,
  endpoint: string,
  state: EndpointState,
  reason: string,
  target?: ProbeTarget,
) => void;

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface SchedulerOptions {
  readonly onChange: OnChange;
  /** Every probe result, for metrics and debugging. */
  readonly onResult?: (target: ProbeTarget, result: ProbeResult) => void;
  /** An onChange/onResult callback threw; the scheduler carries on. */
  readonly onError?: (err: unknown) => void;
  /** Probe implementations; defaults to the real ones (tests inject fakes). */
  readonly probers?: Partial<Record<ProbingType, Prober>>;
  /** Upper bound on probes in flight at once (sockets, child processes). Default 64. */
  readonly maxConcurrent?: number;
  /** Fraction of the interval used for spreading, 0..0.5. Default 0.1. */
  readonly jitter?: number;
  readonly random?: () => number;
  readonly timers?: Timers;
}

export interface EndpointHealth {
  readonly service: string;
  readonly endpoint: string;
  readonly state: EndpointState;
  readonly reason: string;
  readonly rttMs?: number;
}

export class SchedulerStoppedError extends Error {
  constructor() {
    super('probe scheduler is stopped');
    this.name = 'SchedulerStoppedError';
  }
}

export class DuplicateTargetError extends Error {
  constructor(readonly key: string) {
    super(`duplicate probe target ${key}`);
    this.name = 'DuplicateTargetError';
  }
}

interface Entry {
  target: ProbeTarget;
  record: HealthRecord;
  rttMs?: number;
  /** Bumped whenever what is probed changes; results of older generations are dropped. */
  gen: number;
  timer?: unknown;
  queued: boolean;
  inflight?: { ac: AbortController; done: Promise<void> };
  lastStart?: number;
}

export const targetKey = (service: string, endpoint: string): string => `${service}|${endpoint}`;

/** Everything that decides what a probe sends and how the answer is judged. */
export function probeIdentity(t: ProbeTarget): string {
  const c = t.check;
  return JSON.stringify([
    c.type,
    c.port ?? t.targetPort,
    c.path ?? '/',
    c.expectStatus ?? null,
    c.udpSilence ?? null,
    c.udpPayload ?? null,
  ]);
}

/** Keys the targets, refusing duplicates and bad thresholds before anything changes. */
export function checkTargets(targets: Iterable<ProbeTarget>): Map<string, ProbeTarget> {
  const next = new Map<string, ProbeTarget>();
  for (const t of targets) {
    checkThresholds(t.check);
    const key = targetKey(t.service, t.endpoint);
    if (next.has(key)) throw new DuplicateTargetError(key);
    next.set(key, t);
  }
  return next;
}

export class ProbeScheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly queue: string[] = [];
  private running = 0;
  private stopped = false;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly jitter: number;
  private readonly maxConcurrent: number;
  private readonly probers: Record<ProbingType, Prober>;

  constructor(private readonly opts: SchedulerOptions) {
    this.timers = opts.timers ?? realTimers;
    this.random = opts.random ?? Math.random;
    this.jitter = Math.min(Math.max(opts.jitter ?? 0.1, 0), 0.5);
    this.maxConcurrent = Math.max(1, Math.floor(opts.maxConcurrent ?? 64));
    this.probers = { ...PROBERS, ...opts.probers };
  }

  /** Starts, keeps, changes and stops probes so that exactly `targets` are probed. */
  update(targets: readonly ProbeTarget[]): void {
    if (this.stopped) throw new SchedulerStoppedError();
    const next = checkTargets(targets);
    const removed: string[] = [];
    for (const key of this.entries.keys()) if (!next.has(key)) removed.push(key);
    this.patch(next.values(), removed);
  }

  /**
   * O(change) form of update: `upsert` targets are added or changed, `remove` keys (targetKey) go;
   * every other target keeps running untouched.
   */
  patch(upsert: Iterable<ProbeTarget>, remove: Iterable<string> = []): void {
    if (this.stopped) throw new SchedulerStoppedError();
    const events: [ProbeTarget, EndpointState, string][] = [];
    for (const key of remove) {
      const e = this.entries.get(key);
      if (e) this.drop(key, e);
    }
    for (const t of upsert) {
      checkThresholds(t.check);
      const key = targetKey(t.service, t.endpoint);
      const e = this.entries.get(key);
      if (!e) {
        const fresh: Entry = { target: t, record: initialHealth(), gen: 0, queued: false };
        this.entries.set(key, fresh);
        this.begin(key, fresh, events);
      } else if (probeIdentity(e.target) !== probeIdentity(t)) {
        this.cancel(key, e);
        e.gen++;
        e.target = t;
        e.record = resetStreaks(e.record);
        this.begin(key, e, events);
      } else if (e.target.check.intervalMs !== t.check.intervalMs) {
        e.target = t;
        if (e.timer !== undefined) {
          this.timers.clearTimeout(e.timer);
          e.timer = undefined;
          this.scheduleNext(key, e);
        }
      } else {
        e.target = t; // thresholds/timeout: used from the next probe on
      }
    }
    for (const [t, state, reason] of events) this.emit(t, state, reason);
  }

  /** Current health of every target, for status and `ferroctl get lb`. */
  states(): EndpointHealth[] {
    return [...this.entries.values()].map((e) => this.view(e));
  }

  private view(e: Entry): EndpointHealth {
    return {
      service: e.target.service,
      endpoint: e.target.endpoint,
      state: e.record.state,
      reason: e.record.reason,
      ...(e.rttMs === undefined ? {} : { rttMs: e.rttMs }),
    };
  }

  get(service: string, endpoint: string): EndpointHealth | undefined {
    const e = this.entries.get(targetKey(service, endpoint));
    return e && this.view(e);
  }

  /** Clears all timers, aborts probes in flight and waits for them. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    const pending: Promise<void>[] = [];
    for (const [key, e] of this.entries) {
      if (e.inflight) pending.push(e.inflight.done);
      this.cancel(key, e);
    }
    this.entries.clear();
    await Promise.all(pending);
  }

  private begin(key: string, e: Entry, events: [ProbeTarget, EndpointState, string][]): void {
    if (e.target.check.type === 'none') {
      // Nothing to probe: the endpoint serves. Reported like any other transition.
      if (e.record.state !== 'active') events.push([e.target, 'active', 'no health check configured']);
      e.record = { state: 'active', okStreak: 0, failStreak: 0, reason: 'no health check configured' };
      return;
    }
    this.arm(key, e, this.random() * this.jitter * e.target.check.intervalMs);
  }

  private arm(key: string, e: Entry, delayMs: number): void {
    e.timer = this.timers.setTimeout(
      () => {
        e.timer = undefined;
        this.due(key, e);
      },
      Math.max(0, delayMs),
    );
  }

  private scheduleNext(key: string, e: Entry): void {
    const period = e.target.check.intervalMs * (1 - this.jitter * this.random());
    const since = e.lastStart === undefined ? period : this.timers.now() - e.lastStart;
    this.arm(key, e, period - since);
  }

  private due(key: string, e: Entry): void {
    if (this.running >= this.maxConcurrent) {
      e.queued = true;
      this.queue.push(key);
      return;
    }
    this.run(key, e);
  }

  private run(key: string, e: Entry): void {
    const t = e.target;
    const type = t.check.type as ProbingType;
    const gen = e.gen;
    const ac = new AbortController();
    const req: ProbeRequest = {
      address: t.endpoint,
      port: t.check.port ?? t.targetPort,
      timeoutMs: t.check.timeoutMs,
      signal: ac.signal,
      ...(t.check.path === undefined ? {} : { path: t.check.path }),
      ...(t.check.expectStatus === undefined ? {} : { expectStatus: t.check.expectStatus }),
      ...(t.check.udpSilence === undefined ? {} : { udpSilence: t.check.udpSilence }),
      ...(t.check.udpPayload === undefined ? {} : { udpPayload: t.check.udpPayload }),
    };
    this.running++;
    e.lastStart = this.timers.now();
    const done = (async () => {
      let result: ProbeResult;
      try {
        result = await this.probers[type](req);
      } catch (err) {
        // Probers resolve; a throw is a bad request (e.g. an endpoint that is not an IP address).
        result = { ok: false, failure: 'error', reason: err instanceof Error ? err.message : String(err) };
      }
      this.running--;
      if (e.inflight?.ac === ac) e.inflight = undefined;
      if (!this.stopped && this.entries.get(key) === e && e.gen === gen) this.verdict(key, e, result);
      this.drain();
    })();
    e.inflight = { ac, done };
  }

  private verdict(key: string, e: Entry, result: ProbeResult): void {
    const step = observe(e.record, result, e.target.check);
    e.record = step.record;
    if (result.ok && result.rttMs !== undefined) e.rttMs = result.rttMs;
    this.safely(() => this.opts.onResult?.(e.target, result));
    if (step.transition) this.emit(e.target, step.transition.to, step.transition.reason);
    // The callbacks may have stopped the scheduler or replaced this target.
    if (!this.stopped && this.entries.get(key) === e && e.timer === undefined && !e.inflight && !e.queued)
      this.scheduleNext(key, e);
  }

  private drain(): void {
    while (!this.stopped && this.running < this.maxConcurrent && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      const e = this.entries.get(key);
      if (!e || !e.queued) continue;
      e.queued = false;
      this.run(key, e);
    }
  }

  private cancel(key: string, e: Entry): void {
    if (e.timer !== undefined) this.timers.clearTimeout(e.timer);
    e.timer = undefined;
    e.inflight?.ac.abort();
    e.inflight = undefined;
    if (e.queued) {
      e.queued = false;
      const i = this.queue.indexOf(key);
      if (i >= 0) this.queue.splice(i, 1);
    }
  }

  private drop(key: string, e: Entry): void {
    this.cancel(key, e);
    this.entries.delete(key);
  }

  private emit(t: ProbeTarget, state: EndpointState, reason: string): void {
    this.safely(() => this.opts.onChange(t.service, t.endpoint, state, reason, t));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.onError?.(err);
    }
  }
}
