// Installs what peers replicate into this node's kernel conntrack table, in batches: new flows go
// in one `conntrack -R -` process per batch (2,000 inserts in ~40 ms here), never one process per
// flow. The conntrack tool's update and delete look the entry up by dumping the table, so those go
// one per process — and only when they change what forwarding depends on (state, status bits), not
// for a countdown refresh. Async throughout: the event loop never waits for a child.
import type { SyncRecord } from '../cluster/sync-contract.js';
import { deleteArgs, flowKey, fromRecord, installArgs, type CtFlow } from './ct-replica.js';
import type { Runner } from './exec.js';

/** Records waiting; beyond it the oldest are dropped and counted (the next pull repairs them). */
const MAX_QUEUE = 100_000;
/** Lines per `conntrack -R` process. */
const BATCH = 1000;

export interface CtInstallCounters {
  installed: number;
  updated: number;
  deleted: number;
  installFailures: number;
  /** Updates not applied: nothing forwarding depends on changed (a timeout countdown). */
  unchanged: number;
  dropped: number;
  batches: number;
}

export interface InstallPlan {
  readonly inserts: CtFlow[];
  readonly updates: CtFlow[];
  /** Keys of flows this node installed and a peer ended. */
  readonly deletes: string[];
  readonly unchanged: number;
  /** Records that do not decode (version, key mismatch): counted as failures. */
  readonly bad: { key: string; error: string }[];
}

/** Forwarding depends on the state and on the status bits, not on the countdown. */
export const sameForwarding = (a: CtFlow, b: CtFlow): boolean =>
  a.state === b.state && a.assured === b.assured && !!a.unreplied === !!b.unreplied;

/**
 * What to do with a batch of peers' records (pure). The last record of a key wins; a flow this
 * node did not install is inserted, one it did is updated only when its forwarding changed; a
 * delete of a flow this node never installed is not this node's to make.
 */
export function planInstalls(
  records: readonly SyncRecord[],
  installed: ReadonlyMap<string, CtFlow>,
): InstallPlan {
  const last = new Map<string, SyncRecord>();
  for (const r of records) last.set(r.key, r);
  const plan: InstallPlan = { inserts: [], updates: [], deletes: [], unchanged: 0, bad: [] };
  let unchanged = 0;
  for (const [key, r] of last) {
    const had = installed.get(key);
    if (r.deleted) {
      if (had) plan.deletes.push(key);
      continue;
    }
    let f: CtFlow;
    try {
      f = fromRecord(r);
    } catch (e) {
      plan.bad.push({ key, error: (e as Error).message });
      continue;
    }
    if (!had) plan.inserts.push(f);
    else if (!sameForwarding(had, f)) plan.updates.push(f);
    else unchanged++;
  }
  return { ...plan, unchanged };
}

export class CtInstaller {
  private queue: SyncRecord[] = [];
  /** What this node installed, by key: the echo filter and the update decision. */
  readonly installed = new Map<string, CtFlow>();
  private running = false;
  private stopped = false;
  readonly counters: CtInstallCounters = {
    installed: 0,
    updated: 0,
    deleted: 0,
    installFailures: 0,
    unchanged: 0,
    dropped: 0,
    batches: 0,
  };

  constructor(
    private readonly run: Runner,
    private readonly log: (level: 'warn', msg: string) => void,
  ) {}

  push(records: readonly SyncRecord[]): void {
    this.queue.push(...records);
    if (this.queue.length > MAX_QUEUE) {
      this.counters.dropped += this.queue.length - MAX_QUEUE;
      this.queue = this.queue.slice(-MAX_QUEUE);
    }
    void this.drain();
  }

  stop(): void {
    this.stopped = true;
  }

  /** Installs waiting (a gauge). */
  get queued(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const batch = this.queue.splice(0, BATCH);
        await this.apply(planInstalls(batch, this.installed)).catch((e: Error) => {
          this.counters.installFailures += batch.length;
          this.warn(`conntrack installs: ${e.message}`);
        });
      }
    } finally {
      this.running = false;
    }
  }

  private warn(msg: string): void {
    if (this.counters.installFailures % 100 <= 1) this.log('warn', msg);
  }

  private async apply(plan: InstallPlan): Promise<void> {
    this.counters.unchanged += plan.unchanged;
    for (const b of plan.bad) {
      this.counters.installFailures++;
      this.warn(b.error);
    }
    if (plan.inserts.length > 0) {
      this.counters.batches++;
      for (const f of plan.inserts) this.installed.set(flowKey(f), f);
      const input = plan.inserts.map((f) => installArgs(f, '-I').join(' ')).join('\n') + '\n';
      const res = await this.run('conntrack', ['-R', '-'], input);
      if (res.code === 0) this.counters.installed += plan.inserts.length;
      // The tool stops at the first line that fails (an entry that exists already): each on its own.
      else for (const f of plan.inserts) await this.single(f, '-I');
    }
    for (const f of plan.updates) await this.single(f, '-U');
    for (const key of plan.deletes) {
      this.installed.delete(key);
      const args = deleteArgs(key);
      if (args && (await this.run('conntrack', args)).code === 0) this.counters.deleted++;
    }
  }

  /** Insert, or update when the kernel has it (or the other way round: it expired there). */
  private async single(f: CtFlow, first: '-I' | '-U'): Promise<void> {
    this.installed.set(flowKey(f), f);
    let res = await this.run('conntrack', installArgs(f, first));
    if (res.code !== 0) res = await this.run('conntrack', installArgs(f, first === '-U' ? '-I' : '-U'));
    if (res.code === 0) this.counters[first === '-U' ? 'updated' : 'installed']++;
    else {
      this.counters.installFailures++;
      this.warn(`conntrack install ${flowKey(f)}: ${res.stderr.trim().slice(0, 200)}`);
    }
  }
}
