// Main-side handle of the SCTP carrier thread: start resolves once the queue is open (rejects with
// the reason if it cannot be), services are posted as they change, status() serves the last status
// the worker published. A worker that dies later is logged and restarted with backoff.
import type { MessagePort } from 'node:worker_threads';
import { WorkerSupervisor } from '../../threads/supervisor.js';
import type { EngineLimits, SctpService } from '../engine/types.js';
import type { CarrierStatus } from '../shell/carrier.js';
import { parseFromSctp, type FromSctp, type SctpWorkerData, type ToSctp } from './protocol.js';

export interface SctpThreadOptions {
  readonly queueNum: number;
  readonly limits?: Partial<EngineLimits>;
  readonly services: readonly SctpService[];
  readonly log: (level: 'warn' | 'error', msg: string, err?: string) => void;
}

export class SctpThread {
  private readonly sup: WorkerSupervisor<ToSctp, unknown>;
  private services: readonly SctpService[];
  private last: CarrierStatus | undefined;
  private first?: { resolve: () => void; reject: (e: Error) => void };
  private waiters: (() => void)[] = [];
  private openSync: (() => MessagePort) | undefined;

  private constructor(private readonly o: SctpThreadOptions) {
    this.services = o.services;
    this.sup = new WorkerSupervisor<ToSctp, unknown>({
      name: 'sctp',
      url: new URL('./worker.js', import.meta.url),
      workerData: (restart): SctpWorkerData => ({
        queueNum: o.queueNum,
        limits: o.limits ?? {},
        services: this.services,
        statusIntervalMs: 500,
        restart,
      }),
      onMessage: (m) => this.onMessage(parseFromSctp(m)),
      onExit: (x) => {
        this.last = undefined;
        if (this.first) {
          // Died before the queue opened: start() reports it (and stops the supervisor).
          this.first.reject(new Error(x.error ?? `SCTP carrier thread exited with code ${x.code}`));
          this.first = undefined;
          return;
        }
        o.log(
          'error',
          `SCTP carrier thread died (${x.error ?? `exit code ${x.code}`}); restart ${x.restarts} in ${x.restartInMs} ms (established associations keep flowing in the kernel and are adopted by the restarted thread)`,
        );
      },
      stopMessage: { type: 'stop' },
      stopGraceMs: 5000,
    });
  }

  static async start(o: SctpThreadOptions): Promise<SctpThread> {
    const t = new SctpThread(o);
    try {
      await new Promise<void>((resolve, reject) => {
        t.first = { resolve, reject };
        t.sup.start();
      });
    } catch (e) {
      await t.sup.stop(); // a queue that cannot open is reported, not retried in a loop
      throw e;
    }
    return t;
  }

  setServices(services: readonly SctpService[]): void {
    this.services = services;
    this.sup.post({ type: 'services', services });
  }

  status(): CarrierStatus | undefined {
    return this.last;
  }

  /**
   * Hooks the Cluster's state-sync channel into the SCTP worker: `open` gives a fresh MessagePort
   * (one end of a MessageChannel whose other end the channel holds), transferred to the worker now
   * and again after every worker restart (a dead worker's port is gone with it).
   */
  attachSync(open: () => MessagePort): void {
    this.openSync = open;
    this.postSync();
  }

  private postSync(): void {
    if (!this.openSync) return;
    const port = this.openSync();
    if (!this.sup.post({ type: 'sync', port }, [port])) port.close();
  }

  /**
   * Asks the worker for a status now and resolves once it arrived (or after `timeoutMs`, leaving the
   * last one): `ferroctl get sctp` right after an association must show it.
   */
  refresh(timeoutMs = 250): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref?.();
      this.waiters.push(done);
      this.sup.post({ type: 'status' });
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  stop(): Promise<void> {
    return this.sup.stop();
  }

  private onMessage(m: FromSctp): void {
    switch (m.type) {
      case 'started':
        this.first?.resolve();
        this.first = undefined;
        this.postSync(); // a restarted worker gets a channel again
        break;
      case 'start-failed':
        this.first?.reject(new Error(m.message));
        this.first = undefined;
        break;
      case 'status':
        this.last = m.status;
        for (const w of this.waiters.splice(0)) w();
        break;
      case 'warn':
        this.o.log('warn', m.msg, m.err);
        break;
      case 'stopped':
        break;
    }
  }
}
