// The component model: every subsystem of a role (locks, state, API, data plane, SCTP, BGP, ...) is a
// Component, and a role is an ordered list of them run by one Supervisor. Start is in order; a
// required component that fails rolls back the ones already started (reverse order) and the role
// fails with a message naming the component. A retriable one is retried with backoff and reported
// (status, /readyz) until it starts; its failure is never cached. Stop is in reverse order: first
// every component drains (front doors close), then each stops.

export interface Component {
  readonly name: string;
  /** Retried with backoff when its start fails (or it reports a failure later); absent: required. */
  readonly retry?: Backoff;
  /** Longest start allowed; a start that takes longer counts as failed (a role never hangs). */
  readonly startTimeoutMs?: number;
  /** Brings the component up; the context lets it report a failure once running. */
  start(ctx: ComponentContext): Promise<void>;
  /** Disposes everything start made (listeners, timers, sockets); also called after a failed start. */
  stop(): Promise<void>;
  /**
   * Stop taking new work (a front door closes, a queue drains). At shutdown every running component
   * is drained, in reverse order, before any is stopped.
   */
  drain?(): Promise<void>;
  /** undefined when ready, else why not (shown by /readyz). */
  ready?(): string | undefined;
  /** Extra detail for the component status. */
  detail?(): unknown;
}

export interface ComponentContext {
  /** The component broke after a successful start: retriable ones are restarted, required ones end the role. */
  fail(err: unknown): void;
}

export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Growth per failed attempt (default 2). */
  readonly factor?: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1_000, maxMs: 30_000, factor: 2 };
export const DEFAULT_START_TIMEOUT_MS = 60_000;
export const DEFAULT_STOP_TIMEOUT_MS = 15_000;

export type ComponentState = 'stopped' | 'starting' | 'running' | 'retrying' | 'stopping' | 'failed';

export interface ComponentStatus {
  readonly name: string;
  readonly required: boolean;
  readonly state: ComponentState;
  /** undefined when ready. */
  readonly notReady?: string;
  /** The last start or run-time failure. */
  readonly error?: string;
  /** Failed attempts since the last successful start. */
  readonly failures: number;
  /** Milliseconds until the next attempt (state retrying). */
  readonly retryInMs?: number;
  readonly detail?: unknown;
}

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface SupervisorLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A required component could not start; everything started before it has been stopped again. */
export class ComponentStartError extends Error {
  constructor(
    readonly component: string,
    override readonly cause: unknown,
  ) {
    super(`${component} failed to start: ${describe(cause)}`);
    this.name = 'ComponentStartError';
  }
}

/** stop() was called (a signal) before every component had started; all have been stopped. */
export class StoppedWhileStarting extends Error {
  constructor() {
    super('stopped while starting');
    this.name = 'StoppedWhileStarting';
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Delay before attempt `failures + 1` (failures ≥ 1). Pure, so the schedule is unit-tested. */
export function backoffMs(b: Backoff, failures: number): number {
  const d = b.initialMs * Math.pow(b.factor ?? 2, Math.max(0, failures - 1));
  return Math.min(b.maxMs, d);
}

interface Slot {
  readonly c: Component;
  state: ComponentState;
  error?: string;
  failures: number;
  retryTimer?: unknown;
  retryAt?: number;
  /** Bumped on every (re)start so a late failure report of an old attempt is ignored. */
  epoch: number;
  /** The attempt in flight (retries), awaited by stop. */
  pending?: Promise<void>;
}

export interface SupervisorOptions {
  readonly log: SupervisorLog;
  readonly timers?: Timers;
  readonly stopTimeoutMs?: number;
}

export interface FatalFailure {
  readonly component: string;
  readonly err: unknown;
}

export class Supervisor {
  private readonly slots: Slot[];
  private readonly timers: Timers;
  private stopping = false;
  private starting: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private onFatal: (f: FatalFailure) => void = () => undefined;
  /** Resolves when a required component fails after its start (the role then stops, exit non-zero). */
  readonly fatal: Promise<FatalFailure> = new Promise((r) => (this.onFatal = r));

  constructor(
    components: readonly Component[],
    private readonly opts: SupervisorOptions,
  ) {
    const names = new Set<string>();
    for (const c of components) {
      if (names.has(c.name)) throw new Error(`component "${c.name}" listed twice`);
      names.add(c.name);
    }
    this.slots = components.map((c) => ({ c, state: 'stopped', failures: 0, epoch: 0 }));
    this.timers = opts.timers ?? realTimers;
  }

  /** Starts every component in order. Throws ComponentStartError after rolling back. */
  start(): Promise<void> {
    this.starting ??= this.startAll();
    return this.starting;
  }

  private async startAll(): Promise<void> {
    for (const slot of this.slots) {
      if (this.stopping) break;
      try {
        await this.attempt(slot);
      } catch (err) {
        if (slot.c.retry) {
          this.scheduleRetry(slot, err);
          continue;
        }
        // attempt() has disposed of the failed start already; roll back the ones before it.
        slot.state = 'stopped';
        this.opts.log.error({ component: slot.c.name, err }, 'component failed to start; rolling back');
        await this.stopAll();
        slot.state = 'failed';
        slot.error = describe(err);
        throw new ComponentStartError(slot.c.name, err);
      }
    }
    if (this.stopping) throw new StoppedWhileStarting();
  }

  /** One start of one component, bounded in time; a failed attempt is disposed of before it returns. */
  private async attempt(slot: Slot): Promise<void> {
    const epoch = ++slot.epoch;
    slot.state = 'starting';
    const ctx: ComponentContext = { fail: (err) => this.failed(slot, epoch, err) };
    try {
      await this.bounded(
        slot.c.start(ctx),
        slot.c.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
        `${slot.c.name}: start`,
      );
    } catch (err) {
      await this.dispose(slot);
      throw err;
    }
    slot.state = 'running';
    if (slot.failures > 0)
      this.opts.log.info(
        { component: slot.c.name, failures: slot.failures },
        'component started after retries',
      );
    slot.failures = 0;
    delete slot.error;
  }

  private scheduleRetry(slot: Slot, err: unknown): void {
    slot.failures++;
    slot.error = describe(err);
    if (this.stopping) {
      slot.state = 'stopped';
      return;
    }
    const ms = backoffMs(slot.c.retry as Backoff, slot.failures);
    slot.state = 'retrying';
    slot.retryAt = this.timers.now() + ms;
    this.opts.log.warn(
      { component: slot.c.name, err: slot.error, failures: slot.failures, retryInMs: ms },
      'component failed; retrying',
    );
    slot.retryTimer = this.timers.setTimeout(() => {
      delete slot.retryTimer;
      delete slot.retryAt;
      if (this.stopping) return;
      slot.pending = this.attempt(slot)
        .catch((e: unknown) => this.scheduleRetry(slot, e))
        .finally(() => delete slot.pending);
    }, ms);
  }

  /** A running component reports a failure. */
  private failed(slot: Slot, epoch: number, err: unknown): void {
    if (this.stopping || epoch !== slot.epoch || slot.state !== 'running') return;
    if (!slot.c.retry) {
      slot.state = 'failed';
      slot.error = describe(err);
      this.opts.log.error({ component: slot.c.name, err }, 'required component failed');
      this.onFatal({ component: slot.c.name, err });
      return;
    }
    slot.epoch++;
    slot.state = 'retrying';
    slot.pending = this.dispose(slot)
      .then(() => this.scheduleRetry(slot, err))
      .finally(() => delete slot.pending);
  }

  private async dispose(slot: Slot): Promise<void> {
    try {
      await this.bounded(
        slot.c.stop(),
        this.opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
        `${slot.c.name}: stop`,
      );
    } catch (err) {
      this.opts.log.error({ component: slot.c.name, err }, 'component stop failed');
    }
  }

  /** Stops every component that started (or is retrying), in reverse order. Never throws. */
  stop(): Promise<void> {
    this.stopping = true;
    this.stopped ??= (async () => {
      // A start in flight finishes (bounded by its timeout) or rolls back first.
      await this.starting?.catch(() => undefined);
      await this.stopAll();
    })();
    return this.stopped;
  }

  private async stopAll(): Promise<void> {
    this.stopping = true;
    const reversed = [...this.slots].reverse();
    for (const slot of reversed) {
      if (slot.state !== 'running' || !slot.c.drain) continue;
      try {
        await this.bounded(
          slot.c.drain(),
          this.opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
          `${slot.c.name}: drain`,
        );
      } catch (err) {
        this.opts.log.error({ component: slot.c.name, err }, 'component drain failed');
      }
    }
    for (const slot of reversed) {
      if (slot.retryTimer !== undefined) this.timers.clearTimeout(slot.retryTimer);
      delete slot.retryTimer;
      delete slot.retryAt;
      await slot.pending?.catch(() => undefined);
      if (slot.state === 'running' || slot.state === 'failed') {
        slot.state = 'stopping';
        await this.dispose(slot);
      }
      slot.state = 'stopped';
    }
  }

  private bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: unknown;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.timers.setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => this.timers.clearTimeout(timer));
  }

  status(): ComponentStatus[] {
    const now = this.timers.now();
    return this.slots.map((s) => {
      const notReady = this.slotNotReady(s);
      return {
        name: s.c.name,
        required: !s.c.retry,
        state: s.state,
        ...(notReady ? { notReady } : {}),
        ...(s.error ? { error: s.error } : {}),
        failures: s.failures,
        ...(s.retryAt !== undefined ? { retryInMs: Math.max(0, s.retryAt - now) } : {}),
        ...(s.c.detail ? { detail: s.c.detail() } : {}),
      };
    });
  }

  private slotNotReady(s: Slot): string | undefined {
    if (s.state === 'running') return s.c.ready?.();
    if (s.state === 'retrying') return `${s.state} after ${s.failures} failure(s): ${s.error ?? ''}`;
    return s.error ? `${s.state}: ${s.error}` : s.state;
  }

  /** The first component that is not ready, and why; undefined when all are. */
  notReady(): string | undefined {
    for (const s of this.slots) {
      const why = this.slotNotReady(s);
      if (why) return `${s.c.name}: ${why}`;
    }
    return undefined;
  }
}
