// Main-side handle of the membership worker (worker.ts): posts configuration and candidate deltas,
// asks for status, and keeps the latest summary for metrics. A worker that dies is restarted by the
// supervisor and gets the configuration and every candidate again; its new boot id makes peers
// drop its old claims (it starts with none, so it takes nothing back).
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { WorkerSupervisor } from '../threads/supervisor.js';
import type { CandidateDelta, L2Candidate } from './contract.js';
import {
  parseFromCluster,
  type ClusterSummary,
  type FromCluster,
  type ToCluster,
  type WorkerConfig,
} from './protocol.js';
import type { ClusterStatus } from './status.js';

export interface ClusterThreadEvents {
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  readonly owned?: (owned: number, added: readonly string[], removed: readonly string[]) => void;
}

const STATUS_TIMEOUT_MS = 3000;
/** A stalled worker never holds the data plane longer than this (it restarts and gets every candidate). */
const APPLIED_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 10_000;

export class ClusterThread {
  private readonly sup: WorkerSupervisor<ToCluster, unknown>;
  private config: WorkerConfig | undefined;
  private readonly candidates = new Map<string, L2Candidate>();
  private nextId = 1;
  private readonly waiting = new Map<number, (s: ClusterStatus | undefined) => void>();
  private startWait: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly acks = new Map<number, () => void>();
  private lastApplied: Promise<void> = Promise.resolve();
  private started = false;
  private readonly producers: ((port: MessagePort) => void)[] = [];
  summary: ClusterSummary | undefined;
  bootId: number | undefined;
  /** Why the thread is not running (it died and restarts), or undefined. */
  down: string | undefined;

  constructor(private readonly events: ClusterThreadEvents) {
    this.sup = new WorkerSupervisor<ToCluster, unknown>({
      name: 'cluster',
      url: new URL('./worker.js', import.meta.url),
      workerData: () => undefined,
      onMessage: (m) => this.onMessage(parseFromCluster(m)),
      onStart: (restart) => {
        // Every (re)start of the worker: a fresh channel per producer (the old ports died with it).
        for (const p of this.producers) this.connect(p);
        if (restart === 0 || !this.config) return;
        this.sup.post({ type: 'config', config: this.config });
        this.sup.post({
          type: 'candidates',
          delta: { upsert: [...this.candidates.values()], remove: [] },
          full: true,
        });
      },
      onExit: (x) => {
        this.down = `cluster thread exited (${x.error ?? `code ${x.code}`}); restart ${x.restarts} in ${x.restartInMs} ms`;
        this.summary = undefined;
        this.events.log('error', this.down);
        for (const w of this.waiting.values()) w(undefined);
        this.waiting.clear();
        for (const a of this.acks.values()) a();
        this.acks.clear();
        this.startWait?.reject(new Error(this.down));
        this.startWait = undefined;
      },
      stopMessage: { type: 'stop' },
      stopGraceMs: 3000,
    });
  }

  /**
   * Starts the worker with its first configuration; resolves once its socket is bound and the
   * first candidates are in the kernel (before the data plane adds a service address).
   */
  async start(config: WorkerConfig, candidates: CandidateDelta): Promise<void> {
    await this.startWorker(config, candidates);
    await this.lastApplied;
  }

  private startWorker(config: WorkerConfig, candidates: CandidateDelta): Promise<void> {
    this.config = config;
    this.apply(candidates, true);
    const p = new Promise<void>((resolve, reject) => {
      this.startWait = { resolve, reject };
      const t = setTimeout(
        () => reject(new Error(`cluster thread did not start in ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      t.unref();
    });
    this.sup.start();
    this.sup.post({ type: 'config', config });
    this.post({ upsert: [...this.candidates.values()], remove: [] }, true);
    return p;
  }

  /** Posts candidates with an ack id; `applied()` waits for the ack (bounded). */
  private post(delta: CandidateDelta, full: boolean): void {
    const id = this.nextId++;
    const done = new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        if (!this.acks.delete(id)) return;
        this.events.log('warn', `cluster thread did not apply candidates in ${APPLIED_TIMEOUT_MS} ms`);
        resolve();
      }, APPLIED_TIMEOUT_MS);
      t.unref();
      this.acks.set(id, () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (!this.sup.post({ type: 'candidates', delta, full, ack: id })) {
      this.acks.get(id)?.();
      this.acks.delete(id);
    }
    this.lastApplied = done;
  }

  /** Resolves once every candidate posted so far is in the kernel (the announcer's suppression sets). */
  applied(): Promise<void> {
    return this.lastApplied;
  }

  /**
   * Registers a state-sync producer (sync-contract.ts): `onPort` gets its end of a MessagePort now
   * and again after every restart of the worker (it says hello and republishes on each).
   */
  syncProducer(onPort: (port: MessagePort) => void): void {
    this.producers.push(onPort);
    if (this.sup.status().running) this.connect(onPort);
  }

  private connect(onPort: (port: MessagePort) => void): void {
    const { port1, port2 } = new MessageChannel();
    if (this.sup.post({ type: 'sync-port', port: port1 }, [port1])) onPort(port2);
    else port2.close();
  }

  reconfigure(config: WorkerConfig): void {
    this.config = config;
    this.sup.post({ type: 'config', config });
  }

  /** Posts a delta (nothing when empty). */
  update(delta: CandidateDelta): void {
    if (delta.upsert.length === 0 && delta.remove.length === 0) return;
    this.apply(delta, false);
    this.post(delta, false);
  }

  private apply(delta: CandidateDelta, full: boolean): void {
    if (full) this.candidates.clear();
    for (const a of delta.remove) this.candidates.delete(a);
    for (const c of delta.upsert) this.candidates.set(c.address, c);
  }

  /** A fresh status from the worker (undefined when it is down or does not answer in time). */
  status(): Promise<ClusterStatus | undefined> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, STATUS_TIMEOUT_MS);
      t.unref();
      this.waiting.set(id, (s) => {
        clearTimeout(t);
        resolve(s);
      });
      if (!this.sup.post({ type: 'status', id })) {
        this.waiting.delete(id);
        clearTimeout(t);
        resolve(undefined);
      }
    });
  }

  stop(): Promise<void> {
    return this.sup.stop();
  }

  private onMessage(m: FromCluster): void {
    switch (m.type) {
      case 'started':
        this.bootId = m.bootId;
        this.down = undefined;
        this.started = true;
        this.startWait?.resolve();
        this.startWait = undefined;
        break;
      case 'applied':
        this.acks.get(m.id)?.();
        this.acks.delete(m.id);
        break;
      case 'status':
        this.waiting.get(m.id)?.(m.status);
        this.waiting.delete(m.id);
        break;
      case 'summary':
        this.summary = m.summary;
        break;
      case 'owned':
        this.events.owned?.(m.owned, m.added, m.removed);
        break;
      case 'log':
        this.events.log(m.level, m.msg);
        break;
      case 'error':
        if (!this.started && this.startWait) {
          this.startWait.reject(new Error(m.message));
          this.startWait = undefined;
        } else this.events.log('error', `cluster thread: ${m.message}`);
        break;
      case 'stopped':
        break;
    }
  }
}
