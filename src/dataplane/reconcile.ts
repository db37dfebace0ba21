// The reconcile loop's event side: watches the kernel and tells the data plane shell what drifted.
//   • `nft monitor`: every transaction, attributed by the committing process id. Ours are ignored;
//     anybody else's touching our table become hints (see drift.ts) the shell absorbs and repairs.
//   • `ip -o monitor address route link`: a VIP route/address, or the VIP interface, went away.
//   • a periodic full verification (whole-table read, compared with the model), paced by its own
//     measured cost (≤ 1 % of a core) — the safety net for anything the events miss.
//   • the forwarding sysctls, checked every few seconds (one cheap read).
// Monitors are child processes restarted with backoff; a restart schedules a full verification.
import type { Logger } from 'pino';
import type { Applier } from './applier.js';
import {
  hintKinds,
  MonitorParser,
  transactionHints,
  vipEventHint,
  type DriftHint,
  type DriftKind,
} from './drift.js';
import { ChildMonitor } from './monitor.js';
import { ensureSysctls, wantedSysctls } from './sysctl.js';

export interface ReconcilerOptions {
  readonly applier: Applier;
  readonly log: Logger;
  /** Asks the shell's loop to run (it then calls take() and applies). */
  readonly kick: () => void;
  /** nft table name (default "ferrolb"). */
  readonly table?: string;
  /** Runs the monitors through this (tests: ['ip', 'netns', 'exec', NS]). */
  readonly commandPrefix?: readonly string[];
  /** Full verification: never more often than this (default 30 s)… */
  readonly verifyMinIntervalMs?: number;
  /** …and at most 1/costFactor of the time (default 100: a 2 s read runs every 200 s). */
  readonly verifyCostFactor?: number;
  readonly sysctlIntervalMs?: number;
  /** Called when the sysctl check repaired drift (the shell counts the other kinds itself). */
  readonly onDrift?: (kinds: readonly DriftKind[]) => void;
}

export interface VerifyStatus {
  readonly at: string;
  readonly ms: number;
  readonly drift: readonly DriftKind[];
  readonly nextInMs: number;
}

export interface ReconcileWork {
  /** Someone else's changes to our table (absorb, then apply). */
  readonly hints: DriftHint[];
  readonly kinds: DriftKind[];
  /** A VIP or the VIP interface changed. */
  readonly vip: boolean;
}

export class Reconciler {
  private readonly table: string;
  private readonly monitors: ChildMonitor[] = [];
  private txs: { pid: number; hints: DriftHint[]; truncated: boolean }[] = [];
  private vipEvent = false;
  /** Drift a full verification found; the shell's next apply repairs it. */
  private verifyKinds = new Set<DriftKind>();
  private verifyTimer: ReturnType<typeof setTimeout> | undefined;
  private sysctlTimer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private verifying = false;
  private sysctlsInitialised = false;
  lastVerify: VerifyStatus | undefined;
  /** Why the last full verification or sysctl repair failed (cleared by the next success). */
  error: string | undefined;

  constructor(private readonly opts: ReconcilerOptions) {
    this.table = opts.table ?? 'ferrolb';
  }

  start(): void {
    const prefix = this.opts.commandPrefix ?? [];
    const parser = new MonitorParser();
    const nft = new ChildMonitor({
      argv: [...prefix, 'nft', 'monitor'],
      onData: (text) => {
        let any = false;
        for (const t of parser.push(text)) {
          const hints = transactionHints(t.lines, this.table);
          // nft monitor sometimes prints a transaction as its trailer alone (seen: a map flushed
          // after `nft flush table` — the monitor no longer renders that map's elements). Whose
          // table it touched is unknown then: judged like a truncated one (re-read if foreign).
          const opaque = t.lines.length === 0;
          if (hints.length === 0 && !t.truncated && !opaque) continue;
          this.txs.push({ pid: t.pid, hints, truncated: t.truncated || opaque });
          any = true;
        }
        if (any) this.opts.kick();
      },
      onRestart: () => this.scheduleVerify(1000),
      onExit: (why, retryMs) => this.opts.log.warn({ why, retryMs }, 'nft monitor ended; restarting'),
    });
    this.monitors.push(nft);
    const dev = this.opts.applier.vipInterface;
    if (dev) {
      let partial = '';
      const ip = new ChildMonitor({
        argv: [...prefix, 'ip', '-o', 'monitor', 'address', 'route', 'link'],
        onData: (text) => {
          const lines = (partial + text).split('\n');
          partial = lines.pop() ?? '';
          if (lines.some((l) => vipEventHint(l, dev))) {
            this.vipEvent = true;
            this.opts.kick();
          }
        },
        onRestart: () => {
          this.vipEvent = true;
          this.opts.kick();
        },
        onExit: (why, retryMs) => this.opts.log.warn({ why, retryMs }, 'ip monitor ended; restarting'),
      });
      this.monitors.push(ip);
    }
    for (const m of this.monitors) m.start();
    this.scheduleVerify(this.opts.verifyMinIntervalMs ?? 30_000);
    this.sysctlTimer = setInterval(() => void this.checkSysctls(), this.opts.sysctlIntervalMs ?? 5000);
  }

  /** Events are queued: the shell's loop takes them between applies, when our own pids are known. */
  hasWork(): boolean {
    return this.txs.length > 0 || this.vipEvent || this.verifyKinds.size > 0;
  }

  take(): ReconcileWork {
    const hints = new Map<string, DriftHint>();
    for (const t of this.txs.splice(0)) {
      if (this.opts.applier.isOwnTransaction(t.pid)) continue;
      const hs: DriftHint[] = t.truncated ? [{ kind: 'table' }] : t.hints;
      for (const h of hs) hints.set(h.kind === 'table' ? 'table' : `${h.kind}:${h.name}`, h);
    }
    const vip = this.vipEvent;
    this.vipEvent = false;
    const list = hints.has('table') ? [{ kind: 'table' as const }] : [...hints.values()];
    const kinds = new Set([...hintKinds(list), ...this.verifyKinds]);
    this.verifyKinds.clear();
    return { hints: list, kinds: [...kinds], vip };
  }

  /** Sets the forwarding sysctls for the families served; a change after the first one is drift. */
  async checkSysctls(): Promise<string[]> {
    try {
      const changed = await ensureSysctls(
        this.opts.applier.runner,
        wantedSysctls(this.opts.applier.families()),
      );
      if (changed.length > 0) {
        if (this.sysctlsInitialised) {
          this.opts.log.warn({ sysctls: changed }, 'data plane drift repaired: sysctl');
          this.opts.onDrift?.(['sysctl']);
        } else this.opts.log.info({ sysctls: changed }, 'forwarding enabled for the data plane');
      }
      if (this.opts.applier.families().size > 0) this.sysctlsInitialised = true;
      return changed;
    } catch (err) {
      this.opts.log.warn({ err }, 'sysctl check failed');
      return [];
    }
  }

  private scheduleVerify(ms: number): void {
    if (this.stopped) return;
    if (this.verifyTimer) clearTimeout(this.verifyTimer);
    this.verifyTimer = setTimeout(() => void this.verifyNow(), ms);
    this.verifyTimer.unref?.();
  }

  /** One full verification now; the next one is paced by how long this one took. */
  async verifyNow(): Promise<VerifyStatus | undefined> {
    if (this.verifying || this.stopped) return undefined;
    this.verifying = true;
    const t0 = performance.now();
    let next = this.opts.verifyMinIntervalMs ?? 30_000;
    try {
      const r = await this.opts.applier.verify();
      const ms = Math.round(performance.now() - t0);
      next = Math.max(next, ms * (this.opts.verifyCostFactor ?? 100));
      if (r.stale)
        next = Math.min(next, 5000); // a commit overlapped: look again soon
      else {
        this.lastVerify = { at: new Date().toISOString(), ms, drift: r.drift, nextInMs: next };
        this.error = undefined;
        if (r.drift.length > 0) {
          this.opts.log.warn({ drift: r.drift, ms }, 'data plane drift found by full verification');
          for (const k of r.drift) this.verifyKinds.add(k);
          // Absorbed by the shell's loop like someone else's transaction (pid 0 is never ours).
          this.txs.push({ pid: 0, hints: r.hints, truncated: false });
          this.opts.kick();
        }
      }
      return this.lastVerify;
    } catch (err) {
      this.error = `full verification failed: ${(err as Error).message}`;
      this.opts.log.error({ err }, 'data plane verification failed');
      return undefined;
    } finally {
      this.verifying = false;
      this.scheduleVerify(next);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.verifyTimer) clearTimeout(this.verifyTimer);
    if (this.sysctlTimer) clearInterval(this.sysctlTimer);
    await Promise.all(this.monitors.map((m) => m.stop()));
  }
}
