// ProbeScheduler's shape, with the probes running on a worker thread (thread/worker.ts). update()
// validates here (same errors as ProbeScheduler) and posts only the difference; verdicts come back
// as onChange calls. states()/get() mirror the verdicts received (no RTT: that stays in the worker).
import { WorkerSupervisor } from '../../threads/supervisor.js';
import {
  checkTargets,
  SchedulerStoppedError,
  targetKey,
  type EndpointHealth,
  type OnChange,
  type ProbeTarget,
} from '../scheduler.js';
import { diffTargets, parseFromProbes, type FromProbes, type ToProbes } from './protocol.js';
import { checkKey } from '../../state/health.js';

export interface ProbeThreadOptions {
  readonly onChange: OnChange;
  readonly onError?: (err: unknown) => void;
}

export class ProbeThread {
  private readonly sup: WorkerSupervisor<ToProbes, unknown>;
  private targets = new Map<string, ProbeTarget>();
  private readonly health = new Map<string, EndpointHealth>();
  private stopped = false;
  private started = false;

  constructor(private readonly opts: ProbeThreadOptions) {
    this.sup = new WorkerSupervisor<ToProbes, unknown>({
      name: 'probes',
      url: new URL('./worker.js', import.meta.url),
      workerData: () => undefined,
      onMessage: (m) => this.onMessage(parseFromProbes(m)),
      // A fresh worker knows nothing: give it every target (their first verdicts decide again).
      onStart: () => this.sup.post({ type: 'patch', upsert: [...this.targets.values()], remove: [] }),
      onExit: (x) =>
        this.safely(() =>
          this.opts.onError?.(
            new Error(
              `probe thread died (${x.error ?? `exit code ${x.code}`}); restart ${x.restarts} in ${x.restartInMs} ms`,
            ),
          ),
        ),
      stopMessage: { type: 'stop' },
      stopGraceMs: 5000,
    });
  }

  update(targets: readonly ProbeTarget[]): void {
    if (this.stopped) throw new SchedulerStoppedError();
    const next = checkTargets(targets);
    const { upsert, remove } = diffTargets(this.targets, next);
    this.targets = next;
    // The thread starts with the first target: a daemon without health checks runs none.
    if (next.size > 0 && !this.started) {
      this.started = true;
      this.sup.start(); // its onStart posts every target
      return;
    }
    for (const key of remove) this.health.delete(key);
    if (upsert.length > 0 || remove.length > 0) this.sup.post({ type: 'patch', upsert, remove });
  }

  states(): EndpointHealth[] {
    return [...this.health.values()];
  }

  get(service: string, endpoint: string): EndpointHealth | undefined {
    return this.health.get(targetKey(service, endpoint));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.sup.stop();
  }

  private onMessage(m: FromProbes): void {
    if (m.type === 'change') {
      const key = targetKey(m.service, m.endpoint);
      const t = this.targets.get(key);
      // A verdict for a target removed, or whose check was replaced, while it was in flight.
      if (!t || checkKey(t.check, t.targetPort) !== m.check) return;
      this.health.set(key, { service: m.service, endpoint: m.endpoint, state: m.state, reason: m.reason });
      this.safely(() => this.opts.onChange(m.service, m.endpoint, m.state, m.reason, t));
    } else if (m.type === 'error') this.safely(() => this.opts.onError?.(new Error(m.message)));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (this.opts.onError && fn !== this.opts.onError) this.opts.onError(err);
    }
  }
}
