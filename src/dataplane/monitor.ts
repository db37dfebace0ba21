// A long-running event source (`nft monitor`, `ip -o monitor ...`) as a child process: output is
// handed over as it arrives, and a child that dies is started again with backoff (events may have
// been missed meanwhile: onRestart lets the owner verify in full).
import { spawn, type ChildProcess } from 'node:child_process';

export interface ChildMonitorOptions {
  /** Command line (argv[0] is looked up on PATH). */
  readonly argv: readonly string[];
  readonly onData: (text: string) => void;
  /** After a restart (not the first start). */
  readonly onRestart?: () => void;
  readonly onExit?: (why: string, retryMs: number) => void;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** A child that lived this long was healthy: its next restart starts from the shortest backoff. */
const HEALTHY_MS = 10_000;

export class ChildMonitor {
  private child: ChildProcess | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private backoff: number;
  private starts = 0;

  constructor(private readonly opts: ChildMonitorOptions) {
    this.backoff = opts.minBackoffMs ?? 250;
  }

  /** Running right now (false while waiting to restart). */
  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopped || this.child) return;
    const started = Date.now();
    const [cmd, ...args] = this.opts.argv;
    const p = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = p;
    let stderr = '';
    let done = false;
    const ended = (why: string) => {
      if (done) return;
      done = true;
      this.child = undefined;
      if (this.stopped) return;
      if (Date.now() - started > HEALTHY_MS) this.backoff = this.opts.minBackoffMs ?? 250;
      const wait = this.backoff;
      this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 30_000);
      this.opts.onExit?.(`${why}${stderr ? `: ${stderr.trim().slice(0, 300)}` : ''}`, wait);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.start();
      }, wait);
    };
    p.on('error', (e) => ended(e.message));
    p.on('close', (code, signal) => ended(`exited ${signal ?? code}`));
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => this.opts.onData(d));
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    if (this.starts++ > 0) this.opts.onRestart?.();
  }

  /** Ends the child (by its own pid) and stops restarting it. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const p = this.child;
    if (!p) return;
    await new Promise<void>((resolve) => {
      p.once('close', () => resolve());
      p.kill('SIGTERM');
      setTimeout(() => {
        p.kill('SIGKILL');
        resolve();
      }, 2000).unref();
    });
  }
}
