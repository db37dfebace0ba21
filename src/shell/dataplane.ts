// Keeps the kernel in step with the runtime: every accepted snapshot and every endpoint health change
// is compiled and applied (coalesced: while one apply runs, later changes fold into the next one).
// Probes run here too, and their verdicts flow back into the runtime's endpoint states.
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import {
  Applier,
  type ServiceCounters,
  type ServiceFailure,
  type SourceRangeDrops,
} from '../dataplane/applier.js';
import type { CounterReadOptions } from '../dataplane/countercache.js';
import type { DriftKind } from '../dataplane/drift.js';
import { Reconciler, type ReconcilerOptions } from '../dataplane/reconcile.js';
import { ProbeThread as ProbeScheduler } from '../probes/thread/client.js'; // probes on a worker thread
import { dataplaneGuards, probeTargets } from './bridge.js';
import { DataplaneInput } from './dpinput.js';
import type { Snapshot } from '../state/snapshot.js';
import type { Runtime } from './runtime.js';
import { checkKey } from '../state/health.js';
import { runSliced } from '../model/steps.js';

export interface DataplaneShellOptions {
  readonly runtime: Runtime;
  readonly log: Logger;
  /** Program the kernel (nft, VIPs). Off: probes still run and states still show. */
  readonly kernel: boolean;
  /** Run health probes. Off: endpoints with a health check stay "unknown". */
  readonly probes: boolean;
  readonly applier?: Applier;
  /** Leave rules and VIPs in place on shutdown so traffic keeps flowing while the daemon is away. */
  readonly keepForwarding: boolean;
  /** Watch the kernel and repair drift (default on with `kernel`); options for tests and benches. */
  readonly reconcile?: boolean | Partial<Omit<ReconcilerOptions, 'applier' | 'log' | 'kick'>>;
  /**
   * Awaited before each apply of a new snapshot: Layer 2 puts its ARP/NDP suppression for new
   * service addresses in the kernel first, so a non-owner never answers for one (src/roles/run.ts).
   */
  readonly beforeApply?: () => Promise<void>;
  /** After each apply of a snapshot (its generation): Layer 2 lifts suppression of removed addresses. */
  readonly afterApply?: (generation: number) => void;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

export class DataplaneShell {
  private readonly applier: Applier | undefined;
  private readonly probes: ProbeScheduler;
  private running: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves after the next successful apply (tests and benchmarks wait on it). */
  private appliedWaiters: (() => void)[] = [];
  generationApplied = 0;
  private readonly reconciler: Reconciler | undefined;
  /** Drift repaired, by kind (ferrolb_dataplane_drift_repairs_total). */
  private readonly repairs = new Map<DriftKind, number>();
  /** Why the last apply failed as a whole (cleared by the next success): readiness reports it. */
  private lastError: string | undefined;
  /** Drift kinds seen and not yet repaired (carried over a failed apply). */
  private unrepaired = new Set<DriftKind>();
  /** Kernel writes refused as a whole, and the duration histogram (once metrics are registered). */
  private readonly applyStats: { failed: number; histogram?: Histogram } = { failed: 0 };

  constructor(private readonly opts: DataplaneShellOptions) {
    this.applier = opts.kernel ? (opts.applier ?? new Applier()) : undefined;
    if (this.applier && opts.reconcile !== false) {
      this.reconciler = new Reconciler({
        applier: this.applier,
        log: opts.log,
        kick: () => this.kickRepair(),
        onDrift: (kinds) => this.countRepairs(kinds),
        ...(typeof opts.reconcile === 'object' ? opts.reconcile : {}),
      });
    }
    this.probes = new ProbeScheduler({
      onChange: (service, endpoint, state, reason, target) => {
        // Keyed by the check that produced it: a late verdict of a removed/changed check is dropped.
        if (
          !opts.runtime.setEndpointState(
            service,
            endpoint,
            state,
            target && checkKey(target.check, target.targetPort),
          )
        )
          return;
        opts.log.info({ service, endpoint, state, reason }, 'endpoint state changed');
        this.kick();
      },
      onError: (err) => opts.log.error({ err }, 'probe callback failed'),
    });
  }

  private readonly updateProbes = () => {
    if (this.opts.probes) this.probes.update(probeTargets(this.opts.runtime.snapshot));
  };
  /** The services to program, converted in O(change) from the snapshots and verdicts noted. */
  private readonly input = new DataplaneInput();
  private readonly onSnapshot = (next: Snapshot, before: Snapshot) => {
    this.input.noteSnapshot(next, before);
    this.updateProbes();
    this.kick();
  };
  private readonly onHealth = (service: string) => this.input.noteHealth(service);

  async start(): Promise<void> {
    this.opts.runtime.on('snapshot', this.onSnapshot);
    this.opts.runtime.on('health', this.onHealth);
    this.updateProbes();
    if (this.applier) {
      const adopted = await this.applier.observe();
      this.opts.log.info(
        { adopted },
        adopted ? 'adopting the existing ferrolb table' : 'no ferrolb table yet',
      );
    }
    this.kick();
    await this.running;
    this.reconciler?.start();
  }

  /** Schedules an apply; coalesces with one already running. */
  kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (!this.running) this.running = this.loop().finally(() => (this.running = undefined));
  }

  /** Drift to repair: runs the loop without recompiling when nothing else changed. */
  private kickRepair(): void {
    if (this.stopped) return;
    if (!this.running) this.running = this.loop().finally(() => (this.running = undefined));
  }

  private async loop(): Promise<void> {
    // From the next turn: the change that kicked us (an API write) is acknowledged first.
    await new Promise<void>((r) => setImmediate(r));
    while ((this.dirty || this.reconciler?.hasWork()) && !this.stopped) {
      // Only drift (no new snapshot, no health change): diff the last compiled state against the
      // kernel instead of compiling everything again.
      const repairOnly = !this.dirty && this.applier?.hasCompiled() === true;
      this.dirty = false;
      const snap = this.opts.runtime.snapshot;
      try {
        if (this.applier) {
          const work = this.reconciler?.take();
          // The monitor's echo of our own transactions: nothing to repair, not even a diff.
          if (repairOnly && !work?.hints.length && !work?.kinds.length && !work?.vip) continue;
          for (const k of work?.kinds ?? []) this.unrepaired.add(k);
          if (work?.vip) this.applier.vipsDrifted(); // list the VIPs again at this sync
          if (work?.hints.length) await this.applier.absorb(work.hints);
          if (!repairOnly) await this.opts.beforeApply?.();
          const t0 = performance.now();
          const input = repairOnly
            ? undefined
            : await runSliced(
                this.input.updateSteps(
                  snap,
                  (s, a) => this.opts.runtime.endpointState(s, a),
                  (s) => this.opts.runtime.endpointStateVersion(s),
                ),
              );
          const r = !input
            ? await this.applier.repair()
            : await this.applier.apply(
                input.services,
                dataplaneGuards(snap),
                input.changed && input.since ? { since: input.since, changed: input.changed } : undefined,
              );
          const ms = Math.round(performance.now() - t0);
          this.applyStats.histogram?.observe(ms / 1000);
          const drift = [...this.unrepaired];
          this.unrepaired.clear();
          if (r.vipsRepaired.length > 0) drift.push('vip');
          if (drift.length > 0 && (r.statements > 0 || r.vipsRepaired.length > 0)) {
            this.countRepairs(drift);
            this.opts.log.warn(
              { drift, ms, statements: r.statements, vipsRepaired: r.vipsRepaired },
              'data plane drift repaired',
            );
          }
          for (const f of r.failed)
            this.opts.log.error(
              { service: f.service, kind: f.kind, reason: f.reason },
              'service not programmed: the kernel refused it; the others are',
            );
          if (r.failed.length > 0) this.failuresTotal += r.failed.length;
          // Forwarding for a family the node just started serving: now, not at the next check.
          const fams = [...this.applier.families()].sort().join();
          if (fams !== this.families) {
            this.families = fams;
            await this.reconciler?.checkSysctls();
          }
          if (r.statements > 0 || r.vipsAdded.length || r.vipsRemoved.length || r.purged > 0) {
            this.opts.log.info(
              {
                generation: snap.generation,
                ms,
                statements: r.statements,
                full: r.full,
                vipsAdded: r.vipsAdded,
                vipsRemoved: r.vipsRemoved,
                flushed: r.flushed,
                purged: r.purged,
              },
              'data plane applied',
            );
          }
        }
        this.lastError = undefined;
        this.retryMs = RETRY_MIN_MS;
        if (repairOnly) continue;
        this.generationApplied = snap.generation;
        this.opts.afterApply?.(snap.generation);
        for (const w of this.appliedWaiters.splice(0)) w();
      } catch (err) {
        this.applyStats.failed++;
        this.lastError = (err as Error).message.slice(0, 300);
        // The kernel keeps the last good table; try again with backoff.
        this.opts.log.error(
          { err, retryMs: this.retryMs },
          'data plane apply failed; keeping the previous rules',
        );
        this.retryTimer = setTimeout(() => this.kick(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
        return;
      }
    }
  }

  /** Resolves once an apply that started after this call has completed. */
  whenApplied(): Promise<void> {
    return new Promise((r) => {
      this.appliedWaiters.push(r);
      this.kick();
    });
  }

  private failuresTotal = 0;
  private families = '';

  private countRepairs(kinds: readonly DriftKind[]): void {
    for (const k of kinds) this.repairs.set(k, (this.repairs.get(k) ?? 0) + 1);
  }

  /** Services the kernel refused (not or only partly programmed), by name. */
  failures(): ReadonlyMap<string, ServiceFailure> {
    return this.applier?.failed() ?? new Map();
  }

  /** Why the kernel does not match and repair is failing (readiness), or undefined. */
  problem(): string | undefined {
    const e = this.lastError ?? this.reconciler?.error;
    return e ? `data plane: the kernel does not match and repair is failing: ${e}` : undefined;
  }

  /** Reconcile status for the API (GET /api/v1/dataplane). */
  status(): unknown {
    return {
      kernel: Boolean(this.applier),
      generationApplied: this.generationApplied,
      problem: this.problem() ?? null,
      driftRepairs: Object.fromEntries(this.repairs),
      lastVerification: this.reconciler?.lastVerify ?? null,
      failedServices: [...this.failures().values()].map(({ sig: _s, ...f }) => f),
    };
  }

  registerMetrics(r: Registry): void {
    const repairs = this.repairs;
    new Counter({
      name: 'ferrolb_dataplane_drift_repairs_total',
      help: 'Kernel drift (objects or sysctls missing or changed behind our back) repaired, by kind',
      labelNames: ['kind'],
      registers: [r],
      collect() {
        this.reset();
        for (const [kind, n] of repairs) this.inc({ kind }, n);
      },
    });
    const failures = () => this.failures();
    new Gauge({
      name: 'ferrolb_dataplane_failed_services',
      help: 'Services the kernel refused (input, rules or VIP), not or only partly programmed',
      labelNames: ['kind'],
      registers: [r],
      collect() {
        this.reset();
        for (const k of ['input', 'rules', 'vip']) this.set({ kind: k }, 0);
        for (const f of failures().values()) this.inc({ kind: f.kind });
      },
    });
    const total = () => this.failuresTotal;
    new Counter({
      name: 'ferrolb_dataplane_service_failures_total',
      help: 'Times a service was found refused by the kernel and isolated',
      registers: [r],
      collect() {
        this.reset();
        this.inc(total());
      },
    });
    const stats = this.applyStats;
    stats.histogram = new Histogram({
      name: 'ferrolb_dataplane_apply_duration_seconds',
      help: 'Duration of each kernel write (apply of a new generation or drift repair) that committed',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [r],
    });
    new Counter({
      name: 'ferrolb_dataplane_apply_errors_total',
      help: 'Kernel writes refused as a whole (the previous rules kept serving; retried with backoff)',
      registers: [r],
      collect() {
        this.reset();
        this.inc(stats.failed);
      },
    });
    const verify = () => this.reconciler?.lastVerify;
    new Gauge({
      name: 'ferrolb_dataplane_verify_seconds',
      help: 'Duration of the last full kernel verification (it is paced by this cost)',
      registers: [r],
      collect() {
        const v = verify();
        if (v) this.set(v.ms / 1000);
      },
    });
  }

  async counters(o: CounterReadOptions = {}): Promise<ServiceCounters[]> {
    return this.applier ? this.applier.counters(o) : [];
  }

  async sourceRangeDrops(): Promise<SourceRangeDrops[]> {
    return this.applier ? this.applier.sourceRangeDrops() : [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.opts.runtime.off('snapshot', this.onSnapshot);
    this.opts.runtime.off('health', this.onHealth);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.reconciler?.stop();
    await this.probes.stop();
    await this.running;
    if (this.applier) await this.applier.shutdown(this.opts.keepForwarding);
    this.opts.log.info(
      { keepForwarding: this.opts.keepForwarding },
      this.opts.keepForwarding ? 'data plane left in place' : 'data plane removed',
    );
  }
}
