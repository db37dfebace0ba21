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
  transitionSteps,
  TransitionError,
  type Change,
  type Snapshot,
  type Transition,
} from '../state/snapshot.js';
import { PersistError, StateFileError, type StateStore } from '../state/persist.js';
import { sameAllocation, sameStatus, type Allocation } from '../ipam/allocator.js';
import type { EndpointState } from '../state/views.js';
import { HealthTable } from '../state/health.js';
import { runSliced } from '../model/steps.js';
import { serviceIndex } from './bridge.js';

export interface RuntimeOptions {
  readonly store: StateStore;
  readonly log: Logger;
  readonly configPath?: string;
  /** Accept a config file that would delete every file-defined object (refused by default). */
  readonly allowEmpty?: boolean;
}

/** How restoring would differ from what the state file records (each entry names the service). */
export function restoreDrift(recorded: ReadonlyMap<string, Allocation>, restored: Snapshot): string[] {
  const out: string[] = [];
  const text = (a: Allocation | undefined) =>
    a ? [...a.addresses, ...a.secondaryAddresses].join(', ') || 'nothing' : 'nothing';
  for (const [name, a] of recorded) {
    if (!restored.state.loadBalancers.has(name)) {
      out.push(`allocation for unknown service "${name}" (${text(a)})`);
      continue;
    }
    const now = restored.allocations.get(name);
    if (text(now) === text(a)) continue;
    const st = restored.status.get(name);
    out.push(
      `"${name}" holds ${text(a)} but would get ${text(now)}${st?.phase === 'Pending' ? ` (${st.reason})` : ' (address not valid for it: outside its pool or held twice)'}`,
    );
  }
  for (const [name, a] of restored.allocations)
    if (!recorded.has(name)) out.push(`"${name}" has no allocation recorded but would get ${text(a)}`);
  return out;
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

/**
 * A component's veto on a change it could not carry (the cluster's key file): issues refuse the
 * whole change before it is saved, so the caller (SIGHUP, the API) hears why and nothing moves.
 */
export type ChangeCheck = (next: Snapshot, before: Snapshot) => Promise<readonly ConfigIssue[]>;

/** Per-service status lines logged at info for one change; above it, a summary. */
const MAX_STATUS_LINES = 100;

export class Runtime extends EventEmitter<{
  snapshot: [Snapshot, Snapshot];
  health: [string, string, EndpointState];
}> {
  private current: Snapshot = emptySnapshot();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly health = new HealthTable();
  private readonly checks = new Set<ChangeCheck>();

  constructor(private readonly opts: RuntimeOptions) {
    super();
  }

  /** Adds a component's check run on every change before it is saved (removed by the returned function). */
  addCheck(check: ChangeCheck): () => void {
    this.checks.add(check);
    return () => this.checks.delete(check);
  }

  get snapshot(): Snapshot {
    return this.current;
  }

  /**
   * Loads persisted state, then applies the config file. Throws StartupError when either is unusable:
   * a state file that is malformed, missing after the directory was initialised, or inconsistent
   * (an allocation that restoring would move or drop) refuses the start — never a silent re-allocation.
   */
  async start(): Promise<void> {
    const store = this.opts.store;
    const cleaned = await store.cleanTemp();
    if (cleaned > 0) this.opts.log.warn({ files: cleaned, dir: store.dir }, 'removed stale temp files');
    let persisted;
    try {
      persisted = await store.load();
    } catch (e) {
      if (e instanceof StateFileError) throw new StartupError(e.message);
      throw e;
    }
    if (persisted) {
      const t = buildSnapshot(persisted.objects, persisted.allocations, 1);
      if (!t.ok)
        throw new StartupError(
          `state file ${store.path}: its objects no longer validate; refusing to start (fix or restore the file)`,
          t.issues,
        );
      const drift = restoreDrift(persisted.allocations, t.next);
      if (drift.length > 0)
        throw new StartupError(
          `state file ${store.path} is inconsistent; refusing to start rather than move addresses: ${drift.slice(0, 10).join('; ')}${drift.length > 10 ? `; ... (${drift.length} in all)` : ''}. Fix or restore the file; to start fresh deliberately move it aside and remove ${store.markerPath}`,
        );
      this.current = t.next;
      this.opts.log.info(
        { objects: persisted.objects.length, allocations: persisted.allocations.size },
        'state restored',
      );
    }
    if (this.opts.configPath) {
      const objects = await this.readConfig();
      const t = await this.submit({
        type: 'file',
        objects,
        ...(this.opts.allowEmpty ? { allowEmpty: true } : {}),
      }).catch((e: unknown) => {
        throw e instanceof PersistError ? new StartupError(`${store.path}: ${e.message}`) : e;
      });
      if (!t.ok) throw new StartupError(`config ${this.opts.configPath} is refused`, t.issues);
    }
    // First start (or a directory from before the marker existed): make the state durable and mark
    // the directory initialised, so a lost state.json is never taken for a first start.
    if (!(await store.initialised()))
      await store
        .save({
          objects: this.current.objects,
          allocations: this.current.allocations,
          index: this.current.state.objects,
        })
        .catch((e: unknown) => {
          throw new StartupError(`${store.path}: cannot write the first state (${(e as Error).message})`);
        });
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
    let t: Transition;
    try {
      t = await this.submit({ type: 'file', objects, ...(this.opts.allowEmpty ? { allowEmpty: true } : {}) });
    } catch (e) {
      // Not durable (disk full): nothing changed; logged by submit.
      const message = (e as Error).message;
      return {
        ok: false,
        code: TransitionError.Invalid,
        issues: [{ object: String(this.opts.configPath), field: '', value: undefined, message }],
      };
    }
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
      // Sliced: a 10,000-object apply gives the event loop back every few ms (probes, BGP, /healthz).
      const t = await runSliced(transitionSteps(before, change));
      if (!t.ok) {
        this.opts.log.warn(
          { change: change.type, issues: t.issues.map(formatIssue) },
          'change rejected; keeping the last good state',
        );
        return t;
      }
      if (!t.changed) return t;
      const vetoes: ConfigIssue[] = [];
      for (const check of this.checks) vetoes.push(...(await check(t.next, before)));
      if (vetoes.length > 0) {
        this.opts.log.warn(
          { change: change.type, issues: vetoes.map(formatIssue) },
          'change rejected; keeping the last good state',
        );
        return { ok: false, code: TransitionError.Invalid, issues: vetoes };
      }
      // Durable first, then swapped: subscribers (data plane, views) only ever see a state that is on
      // disk, so a failed write (ENOSPC) changes nothing that serves — the last good snapshot keeps
      // serving, the caller gets the error, and the next change (or retry) saves once space is back.
      try {
        const next = t.next;
        await this.opts.store.save({
          // The list is made on demand (the store reads the index): not a pass over every object.
          get objects() {
            return next.objects;
          },
          allocations: next.allocations,
          index: next.state.objects,
          generation: next.generation,
          ...(next.changes ? { changes: next.changes } : {}),
        });
      } catch (err) {
        this.opts.log.error(
          { err, change: change.type },
          'state not saved; change refused, last good state kept',
        );
        throw new PersistError(err as Error);
      }
      this.replace(t.next);
      this.logStatus(before, t.next);
      return t;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private logStatus(before: Snapshot, after: Snapshot): void {
    type Line = ['info' | 'warn', Record<string, unknown>, string];
    const lines: Line[] = [];
    // Only the services the change may have touched (all of them when that is not known).
    const names =
      after.changes?.since === before.generation
        ? after.changes.services
        : new Set([...after.status.keys(), ...before.status.keys()]);
    for (const name of names) {
      const st = after.status.get(name);
      if (!st) {
        if (before.status.has(name)) lines.push(['info', { service: name }, 'released']);
        continue;
      }
      const prev = before.status.get(name);
      const alloc = after.allocations.get(name);
      const prevAlloc = before.allocations.get(name);
      if (prev === st && alloc === prevAlloc) continue; // untouched by this change (identity)
      if (prev && sameStatus(prev, st) && sameAllocation(alloc, prevAlloc)) continue;
      if (st.phase === 'Allocated')
        lines.push([
          'info',
          { service: name, addresses: alloc?.addresses, secondaryAddresses: alloc?.secondaryAddresses },
          'allocated',
        ]);
      else lines.push(['warn', { service: name, code: st.code, reason: st.reason }, 'pending']);
    }
    // A bulk change (thousands of services) gets one summary line; the details go to debug, so
    // writing the log does not hold the event loop for as long as the change itself took.
    if (lines.length > MAX_STATUS_LINES) {
      const count = (msg: string) => lines.filter((l) => l[2] === msg).length;
      this.opts.log.info(
        { allocated: count('allocated'), pending: count('pending'), released: count('released') },
        'allocation changes (per service at debug level)',
      );
      if (this.opts.log.isLevelEnabled('debug')) for (const [, o, m] of lines) this.opts.log.debug(o, m);
      return;
    }
    for (const [level, o, m] of lines) this.opts.log[level](o, m);
  }

  /**
   * Replaces the snapshot with one decided elsewhere (the agent: the Kubernetes controller allocates
   * and persists; this node only serves). Nothing is written to the state store.
   */
  adopt(next: Omit<Snapshot, 'generation'>): void {
    // Decided elsewhere: what differs from the current snapshot is not known (changes dropped).
    const { changes: _unknown, ...parts } = next;
    const before = this.replace({ ...parts, generation: this.current.generation + 1 });
    this.logStatus(before, this.current);
  }

  /** Resolves once every queued change has finished (used at shutdown). */
  async drain(): Promise<void> {
    await this.queue;
  }

  /**
   * A probe verdict. `check` (checkKey of the probe target) names the check that produced it: a
   * verdict for a check the endpoint no longer runs is ignored. Returns whether it changed anything.
   */
  setEndpointState(service: string, address: string, state: EndpointState, check?: string): boolean {
    if (!this.health.record(this.current, service, address, state, check)) return false;
    this.emit('health', service, address, state);
    return true;
  }

  /** Last verdict of the endpoint's current check; undefined before the first one (or without a check). */
  endpointState(service: string, address: string): EndpointState | undefined {
    return this.health.lookup(service, address);
  }

  /** Changes whenever an endpoint verdict of `service` changes (memoised conversions key on it). */
  endpointStateVersion(service: string): number {
    return this.health.version(service);
  }

  /** Every snapshot replacement goes through here: health follows the objects it belongs to. */
  private replace(next: Snapshot): Snapshot {
    const before = this.current;
    this.current = next;
    serviceIndex(next, before); // O(change) while every snapshot is indexed in turn
    this.health.prune(before, next);
    this.emit('snapshot', next, before);
    return before;
  }
}
