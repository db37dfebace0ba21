// The state-sync channel (pure; the membership core feeds it authenticated, non-replayed sync
// bodies and wraps what it returns in the envelope). Per peer: one reliable stream each way
// (sync-stream.ts), a full-state pull when the peer (re)appears, and this node's readiness: it
// is "state-synced" once every live peer's pull has been delivered in full, and only then does
// the membership let it decide ownership (it never takes an address whose flows it cannot forward).
//
// Pull: A sends PullRequest to B (again every PULL_RETRY_MS until answered); B asks its producers
// for snapshots and queues their chunks on its stream to A, then a PullDone marker on the same
// ordered stream, so A holding the marker holds everything before it.
import {
  decodeBatch,
  decodeControl,
  encodeBatch,
  encodeControl,
  SyncFormatError,
  SyncVersionError,
} from './sync-codec.js';
import { SyncKind, SyncWireOffset, type FromProducer, type ToProducer } from './sync-contract.js';
import {
  DEFAULT_LIMITS,
  InStream,
  OutStream,
  type LagFigures,
  type OutBatch,
  type StreamLimits,
} from './sync-stream.js';
import { MsgType } from './wire.js';

export const PULL_RETRY_MS = 1000;
/** Records per second a peer may make this node apply; beyond it batches are left un-acked (resent later). */
export const APPLY_RATE = 200_000;

const KIND_OFFSET: Record<SyncKind, number> = {
  [SyncKind.Conntrack]: SyncWireOffset.Conntrack,
  [SyncKind.Sctp]: SyncWireOffset.Sctp,
};
const OFFSET_KIND = new Map<number, SyncKind>(
  Object.entries(KIND_OFFSET).map(([k, o]) => [o, k as SyncKind]),
);
/** The pull-done marker travels on the ordered stream as a kind of its own. */
const PULL_DONE = 'pull-done' as SyncKind;

export interface SyncSend {
  readonly to: string;
  readonly type: number;
  readonly body: Buffer;
}

export interface SyncPeerStatus {
  readonly name: string;
  /** This node's pull from the peer finished (its full state is here). */
  readonly pulled: boolean;
  readonly sentRecords: number;
  readonly receivedRecords: number;
  readonly queued: number;
  readonly unacked: number;
  readonly retransmits: number;
  readonly overflows: number;
  readonly duplicates: number;
  readonly floodDrops: number;
  /** Sync lag to this peer: a batch's first send → the peer's ack (recent batches). */
  readonly lag?: LagFigures;
  readonly problem?: string;
}

export interface SyncCounters {
  readonly received: number;
  readonly applied: number;
  readonly malformed: number;
  readonly versionRefused: number;
}

interface PeerSync {
  out: OutStream;
  in: InStream;
  /** This node's pull from the peer: when the last request went out; undefined = done. */
  pullSentAt: number | undefined;
  pulled: boolean;
  /** Serving the peer's pull: producer kinds still snapshotting, then the marker is due. */
  serving?: { id: number; waiting: Set<SyncKind> };
  /**
   * The epoch of the peer's pull this node answered (the reliable stream carries it from there);
   * undefined: not answered yet. A retried request repeats its epoch; a new one means the peer
   * started over with this node (it saw this node die and return, this node did not see it go).
   */
  served: number | undefined;
  /** The epoch this node's own pull requests carry (new at every peerUp). */
  readonly epoch: number;
  markerDue: boolean;
  receivedRecords: number;
  floodDrops: number;
  budget: number;
  budgetAt: number;
  problem?: string;
}

export class SyncChannel {
  private readonly peers = new Map<string, PeerSync>();
  private readonly producers = new Map<SyncKind, number>();
  private readonly toProducers: { kind: SyncKind; msg: ToProducer }[] = [];
  private nextSnapshot = 1;
  /** Pull epochs start at a random point: a restarted process must not repeat its last one. */
  private epochs = Math.floor(Math.random() * 0xffffffff) >>> 0;
  private nextEpoch(): number {
    this.epochs = (this.epochs + 1) >>> 0;
    return this.epochs;
  }
  private readonly counters = { received: 0, applied: 0, malformed: 0, versionRefused: 0 };

  constructor(private readonly limits: StreamLimits = DEFAULT_LIMITS) {}

  /** A peer came alive or restarted: fresh streams both ways, and pull its full state. */
  peerUp(name: string, nowMs: number): void {
    this.peers.set(name, {
      out: new OutStream(this.limits),
      in: new InStream(this.limits),
      pullSentAt: nowMs - PULL_RETRY_MS,
      pulled: false,
      served: undefined,
      epoch: this.nextEpoch(),
      markerDue: false,
      receivedRecords: 0,
      floodDrops: 0,
      budget: APPLY_RATE,
      budgetAt: nowMs,
    });
  }

  peerDown(name: string): void {
    if (!this.peers.delete(name)) return;
    for (const kind of this.producers.keys())
      this.toProducers.push({ kind, msg: { type: 'peer-down', kind, node: name } });
  }

  /** Synced with every live peer (the membership passes who is alive). */
  ready(alive: readonly string[]): boolean {
    return alive.every((n) => this.peers.get(n)?.pulled === true);
  }

  fromProducer(m: FromProducer): void {
    switch (m.type) {
      case 'hello':
        this.producers.set(m.kind, m.version);
        return;
      case 'publish':
        for (const p of this.peers.values()) p.out.offer(m.kind, m.records);
        return;
      case 'snapshot':
        for (const p of this.peers.values()) {
          if (p.serving?.id !== m.id) continue;
          p.out.offer(m.kind, m.records);
          if (m.done) p.serving.waiting.delete(m.kind);
          if (p.serving.waiting.size === 0) {
            delete p.serving;
            p.markerDue = true;
          }
        }
    }
  }

  /** Messages for the producers (apply, snapshot requests, peer-down), oldest first. */
  drainProducerMessages(): { kind: SyncKind; msg: ToProducer }[] {
    return this.toProducers.splice(0);
  }

  /** An authenticated sync body from a live peer; returns what to send back at once. */
  receive(from: string, type: number, body: Uint8Array, nowMs: number): SyncSend[] {
    const p = this.peers.get(from);
    if (!p) return [];
    const offset = type - MsgType.SyncBase;
    try {
      if (offset === SyncWireOffset.Ack) {
        p.out.ack(decodeControl(body), nowMs);
        return [];
      }
      if (offset === SyncWireOffset.PullRequest) {
        const epoch = decodeControl(body);
        if (p.served === epoch) return []; // a retry: the answer is on its way
        if (p.served !== undefined) this.restarted(from, p);
        this.serve(from, epoch);
        return [];
      }
      const kind = offset === SyncWireOffset.PullDone ? PULL_DONE : OFFSET_KIND.get(offset);
      if (!kind) throw new SyncFormatError(`unknown sync type ${type}`);
      const batch = decodeBatch(body);
      if (!this.spend(p, batch.records.length, nowMs)) {
        p.floodDrops++;
        return [];
      }
      const r = p.in.receive({ ...batch, kind });
      for (const b of r.deliver) this.deliver(from, p, b);
      delete p.problem;
      return [{ to: from, type: MsgType.SyncBase + SyncWireOffset.Ack, body: encodeControl(r.ack) }];
    } catch (e) {
      if (e instanceof SyncVersionError) {
        this.counters.versionRefused++;
        p.problem = e.message;
      } else this.counters.malformed++;
      return [];
    }
  }

  /** Timers: pull requests to retry, batches to send or resend, pull-done markers due. */
  tick(nowMs: number): SyncSend[] {
    const out: SyncSend[] = [];
    for (const [name, p] of this.peers) {
      if (p.pullSentAt !== undefined && nowMs - p.pullSentAt >= PULL_RETRY_MS) {
        p.pullSentAt = nowMs;
        out.push({
          to: name,
          type: MsgType.SyncBase + SyncWireOffset.PullRequest,
          body: encodeControl(p.epoch),
        });
      }
      if (p.out.resyncDue && !p.serving) {
        p.out.resyncDue = false;
        this.serve(name, p.served ?? 0);
      }
      if (p.markerDue && p.out.queued === 0) {
        p.markerDue = false;
        p.out.offer(PULL_DONE, [{ key: '' }]);
      }
      for (const b of p.out.flush(nowMs))
        out.push({
          to: name,
          type: MsgType.SyncBase + (b.kind === PULL_DONE ? SyncWireOffset.PullDone : KIND_OFFSET[b.kind]),
          body: encodeBatch(b),
        });
    }
    return out;
  }

  nextWake(nowMs: number): number {
    let t = Infinity;
    for (const p of this.peers.values()) {
      t = Math.min(t, p.out.nextWake(nowMs));
      if (p.pullSentAt !== undefined) t = Math.min(t, p.pullSentAt + PULL_RETRY_MS);
      if (p.markerDue || p.out.resyncDue) t = Math.min(t, nowMs);
    }
    return t;
  }

  status(): { peers: SyncPeerStatus[]; counters: SyncCounters; producers: string[] } {
    return {
      producers: [...this.producers.keys()],
      counters: { ...this.counters },
      peers: [...this.peers].map(([name, p]) => ({
        name,
        pulled: p.pulled,
        sentRecords: p.out.sentRecords,
        receivedRecords: p.receivedRecords,
        queued: p.out.queued,
        unacked: p.out.unacked,
        retransmits: p.out.retransmits,
        overflows: p.out.overflows,
        duplicates: p.in.duplicates,
        floodDrops: p.floodDrops + p.in.dropped,
        ...(p.out.lag() ? { lag: p.out.lag() } : {}),
        ...(p.problem ? { problem: p.problem } : {}),
      })),
    };
  }

  /**
   * The peer started over with this node while this node kept it alive: its streams are fresh, so
   * this node's must be too (its old sequence numbers would be taken as duplicates). What this node
   * pulled from it stays pulled — being handed the peer's state again is not needed to stay synced.
   */
  private restarted(name: string, old: PeerSync): void {
    this.peers.set(name, {
      ...old,
      out: new OutStream(this.limits),
      in: new InStream(this.limits),
      markerDue: false,
    });
    delete this.peers.get(name)?.serving;
  }

  private serve(name: string, epoch: number): void {
    const p = this.peers.get(name);
    if (!p) return;
    p.served = epoch;
    const id = this.nextSnapshot++;
    p.serving = { id, waiting: new Set(this.producers.keys()) };
    for (const kind of this.producers.keys())
      this.toProducers.push({ kind, msg: { type: 'snapshot', kind, id } });
    if (p.serving.waiting.size === 0) {
      delete p.serving;
      p.markerDue = true;
    }
  }

  private deliver(from: string, p: PeerSync, b: OutBatch): void {
    if (b.kind === PULL_DONE) {
      p.pulled = true;
      p.pullSentAt = undefined;
      for (const kind of this.producers.keys())
        this.toProducers.push({ kind, msg: { type: 'synced', kind, from } });
      return;
    }
    p.receivedRecords += b.records.length;
    this.counters.received += b.records.length;
    if (!this.producers.has(b.kind)) return;
    this.counters.applied += b.records.length;
    this.toProducers.push({ kind: b.kind, msg: { type: 'apply', kind: b.kind, from, records: b.records } });
  }

  /** Token bucket per peer: a flood is bounded, and what is refused comes again with the retransmission. */
  private spend(p: PeerSync, n: number, nowMs: number): boolean {
    p.budget = Math.min(APPLY_RATE, p.budget + ((nowMs - p.budgetAt) / 1000) * APPLY_RATE);
    p.budgetAt = nowMs;
    if (n > p.budget) return false;
    p.budget -= n;
    return true;
  }
}
