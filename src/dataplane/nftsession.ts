// One long-lived `nft -i` per applier for its transactions. Spawning `nft -f -` per change costs
// the process start and library load (≈ 20 ms, more under load) on top of nft's cache fetch and the
// kernel commit; the interactive child pays that once. Each transaction is written to a private
// file and run as one `include "FILE"` line: nft parses a line as one batch, so the transaction
// stays atomic (a failing statement commits nothing). After it we send a line that is a syntax
// error naming a sequence number; nft reports errors in order on stderr, so the text before that
// error is the transaction's own verdict. A child that dies or overruns its time is killed and
// replaced by the next transaction (the one in flight is reported failed, as a killed `nft -f`).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from './exec.js';

/** Error text nft gives our marker line (the marker itself is the line after it). */
const MARK_ERROR = /Error: syntax error[^\n]*\n$/;

interface Pending {
  readonly mark: string;
  readonly resolve: (r: RunResult) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * Time one transaction may take: the base plus 10 s per MB of script (≈ 20k elements; quiet, nft
 * takes ≈ 0.5 s per MB, ten times that at a load of 20). A fixed bound killed big cold loads.
 */
export function transactionTimeoutMs(scriptBytes: number, baseMs = 120_000): number {
  return baseMs + Math.floor(scriptBytes / 100);
}

export class NftSession {
  private child: ChildProcess | undefined;
  private err = '';
  private out = '';
  private seq = 0;
  /** A child has answered a marker: `nft -i` works here. */
  private answered = false;
  /** A child exited before any answered (an nft built without its CLI): run() refuses from then on. */
  private unusable: string | undefined;
  private diedUnanswered = false;
  private pending: Pending | undefined;
  /** Transactions are serialised: one include in flight at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    /** Command prefix (`ip netns exec NS`), as the applier's runner uses. */
    private readonly prefix: readonly string[] = [],
    private readonly baseTimeoutMs = 120_000,
  ) {}

  /** Runs `script` as one atomic transaction; resolves like `nft -f -` would (code 0 or 1, -1 lost). */
  run(script: string): Promise<RunResult> {
    const next = this.queue.then(() => this.runNow(script));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the child (a later run() starts a new one). */
  async close(): Promise<void> {
    await this.queue;
    this.stop();
  }

  /** Process id of the current child (the monitor tells our transactions by it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Each transaction's file lives in its own private directory, removed once nft has answered. */
  private async runNow(script: string): Promise<RunResult> {
    if (this.unusable) throw new Error(this.unusable);
    const dir = await mkdtemp(join(tmpdir(), 'ferrolb-nft-'));
    try {
      // nft's include takes a quoted string: a TMPDIR with a quote in it is refused (the applier spawns).
      if (/["\\\n]/.test(dir)) throw new Error(`nft session: unusable temporary directory ${dir}`);
      const file = join(dir, 'tx.nft');
      await writeFile(file, script, { mode: 0o600 });
      const r = await this.include(file, script.length);
      // The child died without ever answering: nothing was run through it (no CLI in this nft).
      if (this.diedUnanswered) {
        this.unusable = `nft -i unusable: ${r.stderr.trim().slice(-500)}`;
        throw new Error(this.unusable);
      }
      return r;
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private include(file: string, bytes: number): Promise<RunResult> {
    const child = this.ensure();
    if (!child) return Promise.resolve({ code: -1, stdout: '', stderr: 'cannot start nft -i' });
    const mark = `ferrolb-mark-${++this.seq}`;
    return new Promise<RunResult>((resolve) => {
      const timeoutMs = transactionTimeoutMs(bytes, this.baseTimeoutMs);
      const timer = setTimeout(() => {
        this.finish({ code: -1, stdout: '', stderr: `nft -i: no answer in ${timeoutMs} ms (killed)` });
        this.stop();
      }, timeoutMs);
      this.pending = { mark, resolve, timer };
      child.stdin!.write(`include "${file}"\n${mark}\n`);
    });
  }

  private ensure(): ChildProcess | undefined {
    if (this.child && this.child.exitCode === null && !this.child.killed) return this.child;
    const argv = [...this.prefix, 'nft', '-i'];
    let p: ChildProcess;
    try {
      // HOME: nft's line editor reads and writes ~/.nft_history; ours has no history to keep.
      p = spawn(argv[0]!, argv.slice(1), {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, HOME: '/nonexistent' },
      });
    } catch {
      return undefined;
    }
    this.child = p;
    // An idle child must not keep the process alive (a pending transaction's timer does).
    p.unref();
    for (const s of [p.stdin, p.stdout, p.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    this.err = '';
    this.out = '';
    const lost = (why: string) => {
      if (this.child !== p) return; // stopped by us (timeout, close)
      this.child = undefined;
      if (!this.answered) this.diedUnanswered = true;
      this.finish({ code: -1, stdout: this.out, stderr: `${this.err}nft -i ${why}` });
    };
    p.on('error', (e) => lost(`failed: ${e.message}`));
    p.on('exit', (code, signal) => lost(`exited (${signal ?? code})`));
    p.stdin?.on('error', () => undefined);
    p.stdout?.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    p.stderr?.on('data', (d: Buffer) => {
      if (this.child !== p) return;
      this.err += d.toString('utf8');
      this.scan();
    });
    return p;
  }

  /** Whether stderr holds the pending marker's whole error (the caret line after it too). */
  private scan(): void {
    const w = this.pending;
    if (!w) return;
    const line = `${w.mark}\n`;
    const at = this.err.startsWith(line) ? 0 : this.err.indexOf(`\n${line}`) + 1;
    if (at === 0 && !this.err.startsWith(line)) return;
    const caretEnd = this.err.indexOf('\n', at + line.length);
    if (caretEnd < 0) return; // the caret line is still coming
    const verdict = this.err.slice(0, at).replace(MARK_ERROR, '');
    this.err = this.err.slice(caretEnd + 1);
    const stdout = this.out;
    this.out = '';
    this.answered = true;
    this.finish({ code: /(^|\n)([^\n]*: )?Error: /.test(verdict) ? 1 : 0, stdout, stderr: verdict });
  }

  private finish(r: RunResult): void {
    const w = this.pending;
    if (!w) return;
    this.pending = undefined;
    clearTimeout(w.timer);
    const pid = this.child?.pid;
    w.resolve(pid !== undefined && r.code !== -1 ? { ...r, pid } : r);
  }

  private stop(): void {
    const p = this.child;
    this.child = undefined;
    if (!p) return;
    p.stdin?.end();
    if (p.exitCode === null) p.kill('SIGKILL');
  }
}
