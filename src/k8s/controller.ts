// `ferrolb controller`: the imperative shell. Reflectors keep caches of Services, EndpointSlices,
// Nodes and our (and optionally MetalLB's) custom resources on every replica, so a new leader starts
// warm; only the Lease holder reconciles. A reconcile is level-based over the whole cache: the pure
// planner decides, the shell writes only differences, so a relist, a duplicate event or a restart
// repeats no work and loses none. Its cost follows the change: the planner carries its mappings,
// validation and IPAM run over (core.ts Carry, fastplan.ts), and Services whose object and outcome
// are both unchanged are not looked at again.
import { hostname } from 'node:os';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { formatIssue } from '../model/issues.js';
import type { Allocation } from '../ipam/allocator.js';
import type { DesiredState } from '../model/types.js';
import { emptyMemory, plan, type CoreConfig, type Memory, type Plan } from './core.js';
import { LeaderElector } from './lease.js';
import { DEFAULT_MAPPING, lbName } from './mapping.js';
import { objKey } from './reflector.js';
import { makeCaches, SERVICES_PATH, type WatchOptions } from './caches.js';
import { ALLOCATED, ALLOCATED_FROM_POOL, ALLOCATED_SECONDARY } from './annotations.js';
import { serviceUpdate } from './status.js';
import type { ControllerMetrics, KService, Log } from './types.js';

export type { ControllerMetrics, Log };
import { writeEvent, writeService } from './writer.js';
import { configReporter } from './report.js';

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly config?: Partial<CoreConfig>;
  /** Lease-based leader election; `false` runs as the only controller (tests, single replica). */
  readonly leaderElection?:
    | false
    | {
        namespace: string;
        name?: string;
        leaseDurationMs?: number;
        renewDeadlineMs?: number;
        retryPeriodMs?: number;
      };
  readonly identity?: string;
  readonly watch?: WatchOptions;
  /** Coalesce bursts of changes into one reconcile. */
  readonly debounceMs?: number;
  readonly writeConcurrency?: number;
  /** Full reconcile at least this often, whatever the watches say (default 5 min). */
  readonly resyncMs?: number;
  readonly log?: Log;
}

export interface Controller {
  /** Resolves once every cache has listed once. */
  readonly ready: Promise<void>;
  readonly metrics: ControllerMetrics;
  isLeader(): boolean;
  /** The last accepted desired state and allocations (what an agent would program). */
  snapshot(): { state?: DesiredState; allocations: ReadonlyMap<string, Allocation>; plan?: Plan };
  /** Resolves when no reconcile is running or queued. */
  idle(): Promise<void>;
  /** Force every cache to relist (also what the stall watchdog does on its own). */
  relistAll(): void;
  stop(): Promise<void>;
}

const COMPONENT = 'ferrolb-controller';
const noLog: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

export function runController(opts: ControllerOptions): Controller {
  const kc = opts.kubeConfig;
  const log = opts.log ?? noLog;
  const identity = opts.identity ?? `${hostname()}-${process.pid}`;
  const cfg: CoreConfig = { ...DEFAULT_MAPPING, metallbCompat: false, ...(opts.config ?? {}) };
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const metrics: ControllerMetrics = {
    reconciles: 0,
    apiWrites: 0,
    writeConflicts: 0,
    writeErrors: 0,
    events: 0,
    configInvalid: 0,
  };

  let memory: Memory = emptyMemory();
  let lastPlan: Plan | undefined;
  let leading = opts.leaderElection === false || opts.leaderElection === undefined;
  const fingerprints = new Map<string, string>();
  /** Per Service, the object and outcome that last needed no write: the same pair again is skipped. */
  const settled = new Map<string, { svc: KService; outcome: unknown; ipMode: string }>();
  /** Services written (or tried) by the last reconcile: looked at again by the next one. */
  const unsettled = new Set<string>();
  /** False until a reconcile has looked at every Service (after start and each new term). */
  let settledAll = false;

  // ---- caches ----
  const caches = makeCaches(
    kc,
    cfg.metallbCompat,
    opts.watch ?? {},
    (path, obj) => {
      // Only Service changes that alter our input cause a reconcile: the echo of our own annotation
      // and status writes does not (the periodic resync catches anyone else editing those).
      if (obj && path === SERVICES_PATH) {
        const key = objKey(obj);
        const o = caches.services.items.get(key);
        const f = o ? fingerprint(o) : 'deleted';
        if (fingerprints.get(key) === f) return;
        if (o) fingerprints.set(key, f);
        else fingerprints.delete(key);
      }
      kick();
    },
    (msg, extra) => log.warn(extra ?? {}, msg),
  );
  const { services, ready } = caches;

  // ---- reconcile loop: at most one at a time; changes during a run cause one more run ----
  let dirty = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let retryMs = 0;
  let stopped = false;
  // stop() must not wait for caches that never sync (API server unreachable): SIGTERM is honoured.
  let halt: () => void = () => undefined;
  const halted = new Promise<void>((r) => (halt = r));
  function kick(delay = opts.debounceMs ?? 20): void {
    dirty = true;
    if (stopped || running || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = runLoop().finally(() => {
        running = undefined;
        if (dirty) kick();
      });
    }, delay);
  }
  async function runLoop(): Promise<void> {
    // Bounded: each turn consumes the dirty flag; new changes re-arm it through kick().
    for (let turns = 0; dirty && turns < 100 && !stopped; turns++) {
      dirty = false;
      await Promise.race([ready, halted]);
      if (!leading || stopped) return;
      const failed = await reconcileOnce();
      if (failed) {
        retryMs = Math.min(30_000, Math.max(200, retryMs * 2));
        setTimeout(() => kick(0), retryMs);
        return;
      }
      retryMs = 0;
    }
  }

  async function reconcileOnce(): Promise<boolean> {
    metrics.reconciles++;
    const p = plan(caches.view(), cfg, memory);
    await reportConfig(p);
    if (p.hold) {
      log.warn(
        { issues: p.configIssues.map(formatIssue) },
        'configuration invalid and no last good one; changing nothing',
      );
      return false;
    }
    memory = p.memory;
    lastPlan = p;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const jobs: (() => Promise<void>)[] = [];
    let failed = false;
    // Only Services the plan may have changed, and those not settled last time (a write failed or
    // is in flight), need a look; without that hint, every one (the settled check still skips most).
    let keys: Iterable<string> = p.outcomes.keys();
    if (p.changed && settledAll) keys = new Set([...p.changed, ...unsettled]);
    else for (const key of settled.keys()) if (!p.outcomes.has(key)) settled.delete(key);
    settledAll = true;
    for (const key of keys) {
      const outcome = p.outcomes.get(key);
      if (!outcome) {
        settled.delete(key);
        unsettled.delete(key);
        continue;
      }
      const svc = services.items.get(key);
      if (!svc) continue;
      const lb = p.state?.loadBalancers.get(
        lbName(svc.metadata.namespace ?? 'default', svc.metadata.name ?? ''),
      );
      const ipMode = lb?.mode === 'fullnat' ? 'Proxy' : 'VIP';
      // serviceUpdate is pure: the same Service object and outcome need no second look.
      const was = settled.get(key);
      if (was && was.svc === svc && was.outcome === outcome && was.ipMode === ipMode) continue;
      const first = serviceUpdate(svc, outcome, ipMode, now);
      if (!first.annotations && !first.status && !first.event) {
        settled.set(key, { svc, outcome, ipMode });
        unsettled.delete(key);
        continue;
      }
      settled.delete(key);
      unsettled.add(key);
      jobs.push(async () => {
        let cur = svc;
        let u = first;
        for (let attempt = 0; attempt < 4; attempt++) {
          // A replica that lost the Lease mid-reconcile stops writing at once.
          if (!leading || stopped) return;
          try {
            const r = await writeService(core, cur, u);
            metrics.apiWrites += r.calls;
            if (r.calls > 0) services.items.set(key, r.service); // our own write is newer than the cache
            if (u.event) await event(cur, u.event);
            return;
          } catch (e) {
            const code = (e as { code?: number }).code;
            if (code === 404) return; // deleted meanwhile; the watch will tell
            if (code !== 409) {
              metrics.writeErrors++;
              failed = true;
              log.error({ service: key, code, error: (e as Error).message }, 'service write failed');
              return;
            }
            metrics.writeConflicts++;
            cur = (await core.readNamespacedService({
              name: svc.metadata.name as string,
              namespace: svc.metadata.namespace ?? 'default',
            })) as unknown as KService;
            u = serviceUpdate(cur, outcome, ipMode, now);
          }
        }
        failed = true;
      });
    }
    await pool(jobs, opts.writeConcurrency ?? 16);
    return failed;
  }

  async function event(
    svc: KService,
    e: { type: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void> {
    try {
      await writeEvent(
        core,
        {
          kind: 'Service',
          apiVersion: 'v1',
          namespace: svc.metadata.namespace ?? 'default',
          name: svc.metadata.name ?? '',
          ...(svc.metadata.uid ? { uid: svc.metadata.uid } : {}),
        },
        e,
        COMPONENT,
        identity,
      );
      metrics.events++;
    } catch (err) {
      log.warn({ error: (err as Error).message, reason: e.reason }, 'event not written');
    }
  }

  const reportConfig = configReporter({ core, custom, caches, metrics, log, identity });

  // ---- leadership ----
  let elector: LeaderElector | undefined;
  if (opts.leaderElection) {
    const le = opts.leaderElection;
    elector = new LeaderElector({
      api: kc.makeApiClient(CoordinationV1Api),
      namespace: le.namespace,
      name: le.name ?? 'ferrolb-controller',
      identity,
      ...(le.leaseDurationMs !== undefined ? { leaseDurationMs: le.leaseDurationMs } : {}),
      ...(le.renewDeadlineMs !== undefined ? { renewDeadlineMs: le.renewDeadlineMs } : {}),
      ...(le.retryPeriodMs !== undefined ? { retryPeriodMs: le.retryPeriodMs } : {}),
      onStartedLeading: () => {
        // A new term starts from what the API records, never from a previous term's memory.
        memory = emptyMemory();
        settled.clear();
        unsettled.clear();
        settledAll = false;
        leading = true;
        kick(0);
      },
      onStoppedLeading: () => {
        leading = false;
      },
      log: (msg, extra) => log.info(extra ?? {}, msg),
    });
  }

  caches.start();
  elector?.start();
  const resync = setInterval(() => kick(), opts.resyncMs ?? 300_000);
  if (leading) kick(0);

  return {
    ready,
    metrics,
    isLeader: () => leading,
    snapshot: () => ({
      ...(lastPlan?.state ? { state: lastPlan.state } : {}),
      allocations: memory.allocations,
      ...(lastPlan ? { plan: lastPlan } : {}),
    }),
    async idle() {
      for (let i = 0; i < 1000 && (running || timer); i++) {
        await running;
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    relistAll() {
      for (const r of caches.all) r.relist();
    },
    async stop() {
      stopped = true;
      halt();
      clearTimeout(timer);
      clearInterval(resync);
      await running;
      await elector?.stop();
      await caches.stop();
    },
  };
}

/** What a reconcile reads from a Service, minus what it writes itself (annotations ours, status). */
function fingerprint(s: KService): string {
  const ann = { ...(s.metadata.annotations ?? {}) };
  delete ann[ALLOCATED];
  delete ann[ALLOCATED_SECONDARY];
  delete ann[ALLOCATED_FROM_POOL];
  return JSON.stringify([s.spec ?? {}, s.metadata.labels ?? {}, ann, s.metadata.generation ?? 0]);
}

/** Runs jobs with at most `n` in flight. */
async function pool(jobs: (() => Promise<void>)[], n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await (jobs[next++] as () => Promise<void>)();
  };
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, worker));
}
