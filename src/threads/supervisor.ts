// Runs one worker thread for the daemon's life: timing-critical protocols (BFD, BGP timers, probes)
// live in workers so that config work on the main thread cannot delay them. A worker that dies is
// reported and restarted with exponential backoff (never a silent death); `stop()` asks it to finish
// cleanly and terminates it if it does not within the grace period.
import { Worker, type TransferListItem } from 'node:worker_threads';
import { nextBackoffMs, type Backoff } from './backoff.js';

export interface WorkerExit {
  readonly name: string;
  /** Exit code, or undefined when the worker failed with an uncaught error. */
  readonly code?: number;
  readonly error?: string;
  readonly restartInMs: number;
  readonly restarts: number;
}

export interface SupervisorOptions<Out> {
  readonly name: string;
  readonly url: URL;
  /** Passed to every (re)start; a function so a restart can see current state (e.g. GR restarting). */
  readonly workerData: (restart: number) => unknown;
  readonly onMessage: (msg: Out) => void;
  /** After each start: replay desired state to the fresh worker. */
  readonly onStart?: (restart: number) => void;
  readonly onExit?: (exit: WorkerExit) => void;
  readonly backoff?: Backoff;
  /** How long stop() waits for a clean exit before terminate(). */
  readonly stopGraceMs?: number;
  /** Message that asks the worker to finish cleanly. */
  readonly stopMessage?: unknown;
}

export interface SupervisorStatus {
  readonly running: boolean;
  readonly restarts: number;
  readonly lastExit?: WorkerExit;
}

const DEFAULT_BACKOFF: Backoff = { minMs: 200, maxMs: 30_000, stableMs: 60_000 };

export class WorkerSupervisor<In, Out> {
  private worker: Worker | undefined;
  private stopped = false;
  private restarts = 0;
  private delayMs = 0;
  private startedAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastExit: WorkerExit | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SupervisorOptions<Out>) {}

  start(): void {
    if (this.stopped || this.worker) return;
    const restart = this.restarts;
    const w = new Worker(this.opts.url, { workerData: this.opts.workerData(restart) });
    this.worker = w;
    this.startedAt = Date.now();
    let error: string | undefined;
    w.on('message', (m: Out) => this.opts.onMessage(m));
    w.on('error', (e) => (error = e instanceof Error ? (e.stack ?? e.message) : String(e)));
    this.exited = new Promise<void>((resolve) =>
      w.once('exit', (code) => {
        this.worker = undefined;
        resolve();
        if (this.stopped) return;
        this.delayMs = nextBackoffMs(
          this.opts.backoff ?? DEFAULT_BACKOFF,
          this.delayMs,
          Date.now() - this.startedAt,
        );
        this.restarts++;
        this.lastExit = {
          name: this.opts.name,
          ...(error === undefined ? { code } : { error }),
          restartInMs: this.delayMs,
          restarts: this.restarts,
        };
        this.opts.onExit?.(this.lastExit);
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.start();
        }, this.delayMs);
      }),
    );
    this.opts.onStart?.(restart);
  }

  /** Posts to the running worker; dropped while it restarts (onStart replays the desired state). */
  post(msg: In, transfer?: readonly TransferListItem[]): boolean {
    if (!this.worker) return false;
    this.worker.postMessage(msg, transfer as TransferListItem[] | undefined);
    return true;
  }

  status(): SupervisorStatus {
    return {
      running: this.worker !== undefined,
      restarts: this.restarts,
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
    };
  }

  /** Clean stop: the stop message, then terminate after the grace period. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.worker;
    if (!w) return;
    if (this.opts.stopMessage !== undefined) w.postMessage(this.opts.stopMessage);
    else void w.terminate();
    const grace = new Promise<'timeout'>((r) => {
      const t = setTimeout(() => r('timeout'), this.opts.stopGraceMs ?? 5000);
      t.unref();
    });
    if ((await Promise.race([this.exited.then(() => 'exited' as const), grace])) === 'timeout')
      await w.terminate();
    await this.exited;
  }
}
