// Installs what peers replicate into this node's kernel conntrack table, in batches: new flows go
// in one `conntrack -R FILE` process per batch (2,000 inserts in ~40 ms here), never one process per
// flow. The conntrack tool's update and delete look the entry up by dumping the table, so those go
// one per process — and only when they change what forwarding depends on (state, status bits), not
// for a countdown refresh. Async throughout: the event loop never waits for a child.
import type { SyncRecord } from '../cluster/sync-contract.js';
import { deleteArgs, flowKey, fromRecord, installArgs, type CtFlow } from './ct-replica.js';
import type { Runner, RunResult } from './exec.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Records waiting; beyond it the oldest are dropped and counted (the next pull repairs them). */
const MAX_QUEUE = 100_000;
/** Lines per `conntrack -R` process. */
const BATCH = 1000;
/**
 * A flow still opening (TCP SYN_SENT/SYN_RECV, UDP unreplied) waits this long for its next record
 * before it is installed: a handshake takes one round trip, so most flows then go in once, in a
 * batch, already established — instead of an insert followed by a one-process-per-flow update.
 */
export const OPENING_HOLD_MS = 150;
/** Installed versions remembered per flow for echo detection. */
const MAX_VERSIONS = 4;

/** What the kernel's event for an installed flow looks like (its countdown aside). */
const versionOf = (f: CtFlow): string =>
  `${f.state}|${f.assured}|${!!f.unreplied}|${f.reply.src}|${f.reply.sport}|${f.reply.dst}|${f.reply.dport}`;

/** Not yet two-way: its next record (established, replied) usually follows within a round trip. */
export const isOpening = (f: CtFlow): boolean =>
  f.protocol === 'tcp' ? f.state === 'SYN_SENT' || f.state === 'SYN_RECV' : !!f.unreplied;

export interface CtInstallCounters {
  installed: number;
  updated: number;
  deleted: number;
  installFailures: number;
  /** Updates not applied: nothing forwarding depends on changed (a timeout countdown). */
  unchanged: number;
  dropped: number;
  batches: number;
  /** Batches the tool refused (a line failed), replayed one process per flow. */
  batchFallbacks: number;
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
    // A flow never goes back to opening: such a record is late (or an echo), not news.
    else if (!sameForwarding(had, f) && !(isOpening(f) && !isOpening(had))) plan.updates.push(f);
    else unchanged++;
  }
  return { ...plan, unchanged };
}

/** A record of a flow still opening (undecodable ones are not held: the plan reports them). */
function opening(r: SyncRecord): boolean {
  try {
    return isOpening(fromRecord(r));
  } catch {
    return false;
  }
}

export class CtInstaller {
  private queue: SyncRecord[] = [];
  /** Opening flows not installed yet, by key: the latest record and when it is due. */
  private readonly held = new Map<string, { record: SyncRecord; due: number }>();
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  /** What this node installed, by key: the update decision. */
  readonly installed = new Map<string, CtFlow>();
  /** Every version installed per key (a few): the kernel's events for any of them are echoes. */
  private readonly versions = new Map<string, string[]>();
  private running = false;
  private draining: Promise<void> | undefined;
  private stopped = false;
  readonly counters: CtInstallCounters = {
    installed: 0,
    updated: 0,
    deleted: 0,
    installFailures: 0,
    unchanged: 0,
    dropped: 0,
    batches: 0,
    batchFallbacks: 0,
  };

  constructor(
    private readonly run: Runner,
    private readonly log: (level: 'warn', msg: string) => void,
    private readonly holdMs = OPENING_HOLD_MS,
  ) {}

  push(records: readonly SyncRecord[]): void {
    const now = Date.now();
    for (const r of records) {
      const waiting = this.held.get(r.key);
      if (!this.installed.has(r.key) && !r.deleted && this.holdMs > 0 && opening(r)) {
        this.held.set(r.key, { record: r, due: waiting?.due ?? now + this.holdMs });
        continue;
      }
      if (waiting) this.held.delete(r.key);
      this.queue.push(r);
    }
    if (this.held.size > 0) this.holdTimer ??= setTimeout(() => this.release(), this.holdMs);
    if (this.queue.length > MAX_QUEUE) {
      this.counters.dropped += this.queue.length - MAX_QUEUE;
      this.queue = this.queue.slice(-MAX_QUEUE);
    }
    void this.drain();
  }

  stop(): void {
    this.stopped = true;
    if (this.holdTimer) clearTimeout(this.holdTimer);
  }

  /** Installs waiting (a gauge), held opening flows included. */
  get queued(): number {
    return this.queue.length + this.held.size;
  }

  /** Opening flows whose hold is over go to the queue as they are. */
  private release(): void {
    this.holdTimer = undefined;
    const now = Date.now();
    let next = Infinity;
    for (const [key, h] of this.held) {
      if (h.due <= now) {
        this.held.delete(key);
        this.queue.push(h.record);
      } else next = Math.min(next, h.due);
    }
    if (next !== Infinity) this.holdTimer = setTimeout(() => this.release(), Math.max(1, next - now));
    void this.drain();
  }

  /**
   * The kernel reported a flow this node installed, in a state it installed: not news for peers.
   * (An event may trail a later install of the same flow: SYN_SENT's NEW after the ESTABLISHED
   * update was queued — comparing with the last version only would send it back.)
   */
  isEcho(f: CtFlow): boolean {
    return this.versions.get(flowKey(f))?.includes(versionOf(f)) ?? false;
  }

  /** The kernel ended a flow this node installed. */
  forget(key: string): void {
    this.installed.delete(key);
    this.versions.delete(key);
  }

  private remember(f: CtFlow): void {
    const key = flowKey(f);
    this.installed.set(key, f);
    const v = this.versions.get(key) ?? [];
    v.push(versionOf(f));
    this.versions.set(key, v.slice(-MAX_VERSIONS));
  }

  /** Resolves once nothing queued is being installed (tests; shutdown). */
  async settled(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private drain(): Promise<void> {
    if (this.running) return this.draining ?? Promise.resolve();
    const d: Promise<void> = this.drainAll().finally(() => {
      if (this.draining === d) this.draining = undefined;
    });
    this.draining = d;
    return d;
  }

  private async drainAll(): Promise<void> {
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
      for (const f of plan.inserts) this.remember(f);
      const input = plan.inserts.map((f) => installArgs(f, '-I').join(' ')).join('\n') + '\n';
      const res = await this.batch(input);
      if (res.code === 0) this.counters.installed += plan.inserts.length;
      else {
        // The tool stops at the first line that fails (an entry that exists already): each on its own.
        this.counters.batchFallbacks++;
        if (this.counters.batchFallbacks % 100 === 1)
          this.log(
            'warn',
            `conntrack -R batch of ${plan.inserts.length} failed (${res.stderr.trim().slice(0, 200)}); one by one`,
          );
        for (const f of plan.inserts) await this.single(f, '-I');
      }
    }
    for (const f of plan.updates) await this.single(f, '-U');
    for (const key of plan.deletes) {
      this.forget(key);
      const args = deleteArgs(key);
      if (args && (await this.run('conntrack', args)).code === 0) this.counters.deleted++;
    }
  }

  /**
   * One `conntrack -R FILE`: a private file, not stdin — Node's child stdin is a socket, which the
   * tool cannot open as /dev/stdin.
   */
  private async batch(input: string): Promise<RunResult> {
    const dir = await mkdtemp(join(tmpdir(), 'ferrolb-ct-'));
    try {
      const file = join(dir, 'batch');
      await writeFile(file, input, { mode: 0o600 });
      return await this.run('conntrack', ['-R', file]);
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Insert, or update when the kernel has it (or the other way round: it expired there). */
  private async single(f: CtFlow, first: '-I' | '-U'): Promise<void> {
    this.remember(f);
    let res = await this.run('conntrack', installArgs(f, first));
    // An opening flow never overwrites an entry the kernel has (it may carry that flow itself).
    if (res.code !== 0 && !(first === '-I' && isOpening(f)))
      res = await this.run('conntrack', installArgs(f, first === '-U' ? '-I' : '-U'));
    if (res.code === 0) this.counters[first === '-U' ? 'updated' : 'installed']++;
    else {
      this.counters.installFailures++;
      this.warn(`conntrack install ${flowKey(f)}: ${res.stderr.trim().slice(0, 200)}`);
    }
  }
}
