// The imperative shell around the snapshot core: serialises changes, persists before acknowledging,
// keeps the last good snapshot on bad input, and tells subscribers (API views, data plane, ...).
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { loadConfigFile } from '../model/load.js';
import { ValidationError, formatIssue, type ConfigIssue } from '../model/issues.js';
import type { RawObject } from '../model/types.js';
import {
  buildSnapshot,
  emptySnapshot,
  transition,
  TransitionError,
  type Change,
  type Snapshot,
  type Transition,
} from '../state/snapshot.js';
import type { StateStore } from '../state/persist.js';
import type { EndpointState } from '../state/views.js';

export interface RuntimeOptions {
  readonly store: StateStore;
  readonly log: Logger;
  readonly configPath?: string;
}

export class StartupError extends Error {
  constructor(
    message: string,
    readonly issues: readonly ConfigIssue[] = [],
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

export class Runtime extends EventEmitter<{
  snapshot: [Snapshot, Snapshot];
  health: [string, string, EndpointState];
}> {
  private current: Snapshot = emptySnapshot();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly health = new Map<string, Map<string, EndpointState>>();

  constructor(private readonly opts: RuntimeOptions) {
    super();
  }

  get snapshot(): Snapshot {
    return this.current;
  }

  /** Loads persisted state, then applies the config file. Throws StartupError when either is unusable. */
  async start(): Promise<void> {
    const persisted = await this.opts.store.load();
    if (persisted) {
      const t = buildSnapshot(persisted.objects, persisted.allocations, 1);
      if (!t.ok) throw new StartupError('persisted state no longer validates', t.issues);
      this.current = t.next;
      this.opts.log.info(
        { objects: persisted.objects.length, allocations: persisted.allocations.size },
        'state restored',
      );
    }
    if (this.opts.configPath) {
      const objects = await this.readConfig();
      const t = await this.submit({ type: 'file', objects });
      if (!t.ok) throw new StartupError(`config ${this.opts.configPath} is invalid`, t.issues);
    }
  }

  private async readConfig(): Promise<RawObject[]> {
    try {
      return await loadConfigFile(this.opts.configPath as string);
    } catch (e) {
      if (e instanceof ValidationError)
        throw new StartupError(`config ${this.opts.configPath} is invalid`, e.issues);
      throw new StartupError((e as Error).message);
    }
  }

  /** SIGHUP: re-read the file; on any error keep serving the last good state and say why. */
  async reload(): Promise<Transition> {
    let objects: RawObject[];
    try {
      objects = await loadConfigFile(this.opts.configPath as string);
    } catch (e) {
      const issues =
        e instanceof ValidationError
          ? e.issues
          : [
              {
                object: String(this.opts.configPath),
                field: '',
                value: undefined,
                message: (e as Error).message,
              },
            ];
      this.opts.log.error(
        { issues: issues.map(formatIssue) },
        'reload rejected; keeping the last good state',
      );
      return { ok: false, code: TransitionError.Invalid, issues };
    }
    const t = await this.submit({ type: 'file', objects });
    if (t.ok)
      this.opts.log.info({ generation: this.current.generation, changed: t.changed }, 'config reloaded');
    else
      this.opts.log.error(
        { issues: t.issues.map(formatIssue) },
        'reload rejected; keeping the last good state',
      );
    return t;
  }

  /** Applies a change; resolves once it is durable (or rejected). Changes run one at a time. */
  submit(change: Change): Promise<Transition> {
    const run = async (): Promise<Transition> => {
      const before = this.current;
      const t = transition(before, change);
      if (!t.ok) {
        this.opts.log.warn(
          { change: change.type, issues: t.issues.map(formatIssue) },
          'change rejected; keeping the last good state',
        );
        return t;
      }
      if (!t.changed) return t;
      // Subscribers (the data plane) start at once so traffic does not wait for the disk; the caller
      // is answered only once the state is durable, so an acknowledged allocation survives kill -9.
      // A crash in between loses an unacknowledged change, and the restart converges the kernel back.
      this.current = t.next;
      this.emit('snapshot', t.next, before);
      try {
        await this.opts.store.save({ objects: t.next.objects, allocations: t.next.allocations });
      } catch (err) {
        this.current = before;
        this.emit('snapshot', before, t.next);
        throw err;
      }
      this.logStatus(before, t.next);
      return t;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private logStatus(before: Snapshot, after: Snapshot): void {
    for (const [name, st] of after.status) {
      const prev = before.status.get(name);
      const alloc = after.allocations.get(name);
      const prevAlloc = before.allocations.get(name);
      if (
        prev &&
        JSON.stringify(prev) === JSON.stringify(st) &&
        JSON.stringify(alloc) === JSON.stringify(prevAlloc)
      )
        continue;
      if (st.phase === 'Allocated')
        this.opts.log.info(
          { service: name, addresses: alloc?.addresses, secondaryAddresses: alloc?.secondaryAddresses },
          'allocated',
        );
      else this.opts.log.warn({ service: name, code: st.code, reason: st.reason }, 'pending');
    }
    for (const name of before.status.keys()) {
      if (!after.status.has(name)) this.opts.log.info({ service: name }, 'released');
    }
  }

  /**
   * Replaces the snapshot with one decided elsewhere (the agent: the Kubernetes controller allocates
   * and persists; this node only serves). Nothing is written to the state store.
   */
  adopt(next: Omit<Snapshot, 'generation'>): void {
    const before = this.current;
    this.current = { ...next, generation: before.generation + 1 };
    this.logStatus(before, this.current);
    this.emit('snapshot', this.current, before);
  }

  /** Resolves once every queued change has finished (used at shutdown). */
  async drain(): Promise<void> {
    await this.queue;
  }

  /** Endpoint health as last reported by the probes (the data plane issue plugs probes in here). */
  setEndpointState(service: string, address: string, state: EndpointState): void {
    let m = this.health.get(service);
    if (!m) this.health.set(service, (m = new Map()));
    if (m.get(address) === state) return;
    m.set(address, state);
    this.emit('health', service, address, state);
  }

  endpointState(service: string, address: string): EndpointState | undefined {
    return this.health.get(service)?.get(address);
  }
}
