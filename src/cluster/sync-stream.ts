// The per-peer reliable stream of the sync channel (pure; time is an input). Records are coalesced
// by key while they wait (a later record of a key replaces the earlier one: O(live entries), not
// O(changes), under churn), cut into batches below the MTU, numbered, and kept until the peer's
// cumulative ack covers them; a batch not acked within the retransmit timeout is sent again
// (go-back-N from the oldest). The receiver delivers in order only (two batches may hold the same
// key), keeps a bounded reorder buffer, and drops what it has seen, so a cut and healed link
// converges without duplicates or loss. Every queue is bounded and its overflow counted.
import { cutBatches, type Batch } from './sync-codec.js';
import type { SyncKind, SyncRecord } from './sync-contract.js';

export interface StreamLimits {
  /** Largest batch body in bytes (MTU minus IP/UDP, envelope and MAC). */
  readonly maxBody: number;
  /** Batches in flight (sent, not acked) before the sender waits. */
  readonly window: number;
  /** Records waiting per peer; beyond it the queue is dropped and a full re-sync is due. */
  readonly maxPending: number;
  readonly rtoMs: number;
}

export const DEFAULT_LIMITS: StreamLimits = { maxBody: 1200, window: 64, maxPending: 262_144, rtoMs: 200 };

export interface OutBatch extends Batch {
  readonly kind: SyncKind;
}

interface InFlight {
  readonly batch: OutBatch;
  sentAt: number;
  /** First send (a retransmission keeps it): the ack lag counts from here. */
  readonly firstSentAt: number;
}

/** Ack lag samples kept per peer (the p99 is over these). */
const LAG_SAMPLES = 512;

export interface LagFigures {
  readonly lastMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly samples: number;
}

export class OutStream {
  private readonly pending = new Map<SyncKind, Map<string, SyncRecord>>();
  private pendingCount = 0;
  private readonly inFlight: InFlight[] = [];
  private nextSeq = 1;
  /** The queue overflowed since the last full re-sync: the owner sends a snapshot. */
  resyncDue = false;
  overflows = 0;
  retransmits = 0;
  sentRecords = 0;
  private readonly lags: number[] = [];
  private lagAt = 0;
  private lastLag = 0;

  constructor(private readonly limits: StreamLimits = DEFAULT_LIMITS) {}

  /** Highest sequence handed out so far (a PullDone names it: synced once the peer acks it). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  get queued(): number {
    return this.pendingCount;
  }

  get unacked(): number {
    return this.inFlight.length;
  }

  offer(kind: SyncKind, records: readonly SyncRecord[]): void {
    let m = this.pending.get(kind);
    if (!m) this.pending.set(kind, (m = new Map()));
    for (const r of records) {
      if (!m.has(r.key)) this.pendingCount++;
      else m.delete(r.key); // re-insert: keeps the order of the latest change
      m.set(r.key, r);
    }
    if (this.pendingCount > this.limits.maxPending) {
      this.pending.clear();
      this.pendingCount = 0;
      this.overflows++;
      this.resyncDue = true;
    }
  }

  /** New batches to send now (as many as the window allows), plus retransmissions that are due. */
  flush(nowMs: number): OutBatch[] {
    const out: OutBatch[] = [];
    const oldest = this.inFlight[0];
    if (oldest && nowMs - oldest.sentAt >= this.limits.rtoMs)
      for (const f of this.inFlight) {
        f.sentAt = nowMs;
        this.retransmits++;
        out.push(f.batch);
      }
    for (const [kind, m] of this.pending) {
      if (this.inFlight.length >= this.limits.window) break;
      if (m.size === 0) continue;
      const batches = cutBatches([...m.values()], this.limits.maxBody);
      for (const records of batches) {
        if (this.inFlight.length >= this.limits.window) break;
        const batch: OutBatch = { kind, seq: this.nextSeq++, records };
        for (const r of records) m.delete(r.key);
        this.pendingCount -= records.length;
        this.sentRecords += records.length;
        this.inFlight.push({ batch, sentAt: nowMs, firstSentAt: nowMs });
        out.push(batch);
      }
    }
    return out;
  }

  /** The peer holds every batch up to `cum`; with `nowMs`, each newly acked batch is a lag sample. */
  ack(cum: number, nowMs?: number): void {
    while (this.inFlight.length > 0 && (this.inFlight[0] as InFlight).batch.seq <= cum) {
      const f = this.inFlight.shift() as InFlight;
      if (nowMs === undefined) continue;
      this.lastLag = Math.max(0, nowMs - f.firstSentAt);
      this.lags[this.lagAt] = this.lastLag;
      this.lagAt = (this.lagAt + 1) % LAG_SAMPLES;
    }
  }

  /** First send → the peer's ack, over the last LAG_SAMPLES batches; undefined before any. */
  lag(): LagFigures | undefined {
    if (this.lags.length === 0) return undefined;
    const sorted = [...this.lags].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] as number;
    return {
      lastMs: this.lastLag,
      p99Ms: p99,
      maxMs: sorted[sorted.length - 1] as number,
      samples: sorted.length,
    };
  }

  /** When flush() has something to do: a retransmission due, or work waiting for the window. */
  nextWake(nowMs: number): number {
    const oldest = this.inFlight[0];
    if (oldest) return oldest.sentAt + this.limits.rtoMs;
    return this.pendingCount > 0 ? nowMs : Infinity;
  }
}

export interface InResult {
  /** In order, ready for the producers. */
  readonly deliver: OutBatch[];
  /** Cumulative ack to send back. */
  readonly ack: number;
  readonly duplicate: boolean;
}

export class InStream {
  private cum = 0;
  private readonly early = new Map<number, OutBatch>();
  duplicates = 0;
  dropped = 0;

  constructor(private readonly limits: StreamLimits = DEFAULT_LIMITS) {}

  get acked(): number {
    return this.cum;
  }

  receive(b: OutBatch): InResult {
    if (b.seq <= this.cum || this.early.has(b.seq)) {
      this.duplicates++;
      return { deliver: [], ack: this.cum, duplicate: true };
    }
    if (b.seq !== this.cum + 1) {
      // Only what the sender's window can hold; anything further is a flood or a broken peer.
      if (b.seq - this.cum <= this.limits.window) this.early.set(b.seq, b);
      else this.dropped++;
      return { deliver: [], ack: this.cum, duplicate: false };
    }
    const deliver = [b];
    this.cum = b.seq;
    for (let n = this.early.get(this.cum + 1); n; n = this.early.get(this.cum + 1)) {
      this.early.delete(n.seq);
      deliver.push(n);
      this.cum = n.seq;
    }
    return { deliver, ack: this.cum, duplicate: false };
  }
}
