// Keeps the kernel in step with the runtime: every accepted snapshot and every endpoint health change
// is compiled and applied (coalesced: while one apply runs, later changes fold into the next one).
// Probes run here too, and their verdicts flow back into the runtime's endpoint states.
import type { Logger } from 'pino';
import { Applier, type ServiceCounters, type SourceRangeDrops } from '../dataplane/applier.js';
import type { CounterReadOptions } from '../dataplane/countercache.js';
import { ProbeScheduler } from '../probes/scheduler.js';
import { dataplaneGuards, dataplaneServices, probeTargets } from './bridge.js';
import type { Runtime } from './runtime.js';

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

  constructor(private readonly opts: DataplaneShellOptions) {
    this.applier = opts.kernel ? (opts.applier ?? new Applier()) : undefined;
    this.probes = new ProbeScheduler({
      onChange: (service, endpoint, state, reason) => {
        opts.log.info({ service, endpoint, state, reason }, 'endpoint state changed');
        opts.runtime.setEndpointState(service, endpoint, state);
        this.kick();
      },
      onError: (err) => opts.log.error({ err }, 'probe callback failed'),
    });
  }

  async start(): Promise<void> {
    const updateProbes = () => {
      if (this.opts.probes) this.probes.update(probeTargets(this.opts.runtime.snapshot));
    };
    this.opts.runtime.on('snapshot', () => {
      updateProbes();
      this.kick();
    });
    updateProbes();
    if (this.applier) {
      const adopted = await this.applier.observe();
      this.opts.log.info(
        { adopted },
        adopted ? 'adopting the existing ferrolb table' : 'no ferrolb table yet',
      );
    }
    this.kick();
    await this.running;
  }

  /** Schedules an apply; coalesces with one already running. */
  kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (!this.running) this.running = this.loop().finally(() => (this.running = undefined));
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      const snap = this.opts.runtime.snapshot;
      const services = dataplaneServices(snap, (s, a) => this.opts.runtime.endpointState(s, a));
      try {
        if (this.applier) {
          const t0 = performance.now();
          const r = await this.applier.apply(services, dataplaneGuards(snap));
          const ms = Math.round(performance.now() - t0);
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
        this.generationApplied = snap.generation;
        this.retryMs = RETRY_MIN_MS;
        for (const w of this.appliedWaiters.splice(0)) w();
      } catch (err) {
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

  async counters(o: CounterReadOptions = {}): Promise<ServiceCounters[]> {
    return this.applier ? this.applier.counters(o) : [];
  }

  async sourceRangeDrops(): Promise<SourceRangeDrops[]> {
    return this.applier ? this.applier.sourceRangeDrops() : [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.probes.stop();
    await this.running;
    if (this.applier) await this.applier.shutdown(this.opts.keepForwarding);
    this.opts.log.info(
      { keepForwarding: this.opts.keepForwarding },
      this.opts.keepForwarding ? 'data plane left in place' : 'data plane removed',
    );
  }
}
