// Cluster membership and ownership as a state machine (pure: time and datagrams are inputs, the
// datagrams to send are outputs; the worker shell owns the socket and the timers). It keeps each
// peer's liveness (an authenticated, non-replayed message within deadAfter × interval), the peer's
// claims (reassembled from its heartbeats), the quorum, and re-runs the election whenever one of
// those or the candidates change. Its own claims are the election's answer for this node; a change
// is sent at once (a heartbeat with the full claim set), not at the next tick.
import type { ClusterNode } from '../model/cluster.js';
import { cutClaims, decodeClaimsBody, HeartbeatFlag, type EncodedClaims } from './claims.js';
import type { CandidateDelta, L2Candidate, OwnedAddresses } from './contract.js';
import { elect, hasQuorum } from './election.js';
import { electionView, outcome, ownerRows, type OwnerEntry } from './ownership.js';
import { holdDecision, newPeer, peerStatus, startupGate, type Peer } from './peer.js';
import { checkReplay } from './replay.js';
import { SyncChannel, type SyncSend } from './sync-channel.js';
import { emptyCounters, type ClusterCounters, type ClusterStatus, type MemberStatus } from './status.js';
import { decode, DROP_REASONS, DropReason, macKey, MsgType } from './wire.js';

export interface MembershipConfig {
  readonly clusterName: string;
  readonly self: string;
  /** Every node of the Cluster, this one included. */
  readonly nodes: readonly ClusterNode[];
  readonly intervalMs: number;
  readonly deadAfter: number;
  readonly port: number;
  /** The shared key as in the file (trimmed). */
  readonly key: Uint8Array;
}

import { Outbox, type Datagram } from './outbox.js';
export type { Datagram } from './outbox.js';

/** The clocks the core is driven with: monotonic for liveness, wall for what users see. */
export interface Now {
  readonly mono: number;
  readonly wall: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

export class Membership {
  private cfg!: MembershipConfig;
  private key!: Buffer;
  private readonly peers = new Map<string, Peer>();
  private claims: EncodedClaims = cutClaims(0, []);
  private lastTick = -Infinity;
  private nextBeat = 0;
  private synced = false;
  /** When `synced` last became true (monotonic). */
  private syncedAt = -Infinity;
  private quorum = false;
  /** Start of the current start-up grace: the start, or the last moment without quorum. */
  private syncFrom: number;
  private dirty = true;
  private candidatesKnown = false;
  private readonly candidates = new Map<string, L2Candidate>();
  private owners = new Map<string, OwnerEntry>();
  private own: OwnedAddresses = new Map();
  /** Bumped whenever `own` changes: the shell tells the announcer. */
  ownedVersion = 0;
  /** Connection-state sync (issue 12): rides this envelope; gates the first ownership decision. */
  readonly sync = new SyncChannel();
  private readonly counters: Mutable<ClusterCounters> = emptyCounters(
    DROP_REASONS,
  ) as Mutable<ClusterCounters>;
  private readonly out: Outbox;

  constructor(
    cfg: MembershipConfig,
    readonly bootId: number,
    startedMono: number,
  ) {
    this.syncFrom = startedMono;
    this.out = new Outbox(bootId, this.counters);
    this.reconfigure(cfg);
  }

  /** A new Cluster spec (nodes added or removed, interval, key): peers that stay keep their state. */
  reconfigure(cfg: MembershipConfig): void {
    this.cfg = cfg;
    this.key = macKey(cfg.key, cfg.clusterName);
    this.out.cfg = { key: this.key, self: cfg.self, port: cfg.port, intervalMs: cfg.intervalMs };
    const names = new Set(cfg.nodes.map((n) => n.name));
    for (const name of this.peers.keys())
      if (!names.has(name)) {
        this.peers.delete(name);
        this.sync.peerDown(name);
      }
    for (const node of cfg.nodes) {
      if (node.name === cfg.self) continue;
      const p = this.peers.get(node.name);
      if (p) p.node = node;
      else this.peers.set(node.name, newPeer(node));
    }
    this.dirty = true;
  }

  setCandidates(delta: CandidateDelta, full: boolean): void {
    if (full) this.candidates.clear();
    for (const a of delta.remove) this.candidates.delete(a);
    for (const c of delta.upsert) this.candidates.set(c.address, c);
    this.candidatesKnown = true;
    this.dirty = true;
  }

  owned(): OwnedAddresses {
    return this.own;
  }

  allCandidates(): ReadonlyMap<string, L2Candidate> {
    return this.candidates;
  }

  private get deadAfterMs(): number {
    return this.cfg.deadAfter * this.cfg.intervalMs;
  }

  /** How long a (re)syncing node waits for connection-state pulls: 10 s, or 30 dead intervals. */
  private get pullWaitMs(): number {
    return Math.max(10_000, 30 * this.deadAfterMs);
  }

  /** How long a starting (or healed) node waits for peers it has not heard at all: 10 dead intervals. */
  private get unheardGraceMs(): number {
    return 10 * this.deadAfterMs;
  }

  /** One datagram in; returns datagrams to send at once (a peer asked for our claims). */
  receive(data: Uint8Array, from: { address: string; port: number }, now: Now): Datagram[] {
    const d = decode(this.key, data);
    if (!d.ok) {
      this.counters.drops[d.reason]++;
      if (d.reason === DropReason.Version) {
        const p = [...this.peers.values()].find((x) => x.node.address === from.address);
        if (p) p.problem = `${from.address}: ${d.detail}`;
      }
      return [];
    }
    const m = d.msg;
    if (m.sender === this.cfg.self) {
      this.counters.drops[DropReason.Self]++;
      return [];
    }
    const p = this.peers.get(m.sender);
    if (!p) {
      this.counters.drops[DropReason.UnknownNode]++;
      return [];
    }
    if (m.type >= MsgType.SyncBase) return this.receiveSync(p, m.type, m.bootId, m.seq, m.body, now);
    if (m.type !== MsgType.Heartbeat && m.type !== MsgType.Claims) {
      this.counters.drops[DropReason.UnknownType]++;
      return [];
    }
    let body;
    try {
      body = decodeClaimsBody(m.body);
    } catch {
      this.counters.drops[DropReason.Malformed]++;
      return [];
    }
    const r = checkReplay(p.replay, m.bootId, m.seq);
    if (!r.accept) {
      this.counters.drops[DropReason.Replay]++;
      return [];
    }
    p.replay = r.next;
    p.seenMono = now.mono;
    if (m.type === MsgType.Heartbeat) this.counters.heartbeatsReceived++;
    else this.counters.claimsReceived++;
    // What a restarted peer, or one coming back from the dead, claimed before is void.
    if (r.newBoot || !p.alive) this.peerUp(p, now);
    if (body.flags & HeartbeatFlag.Leaving) {
      // A clean stop: no need to wait for three missed heartbeats.
      p.alive = false;
      this.sync.peerDown(p.node.name);
      p.claims.reset();
      p.latestVersion = undefined;
      this.dirty = true;
      return [];
    }
    p.heardMono = now.mono;
    p.heardWall = now.wall;
    delete p.problem;
    if (p.flags !== body.flags) this.dirty = true;
    p.flags = body.flags;
    p.intervalMs = body.intervalMs;
    p.latestVersion = body.summary.version;
    if (p.claims.offer(body.summary, body.index, body.addresses)) this.dirty = true;
    if (body.flags & HeartbeatFlag.WantClaims && !p.wantClaims) {
      p.wantClaims = true;
      return this.claimsTo(p, -1);
    }
    if (!(body.flags & HeartbeatFlag.WantClaims)) p.wantClaims = false;
    return [];
  }

  private peerUp(p: Peer, now: Now): void {
    p.claims.reset();
    p.latestVersion = undefined;
    if (!p.alive) p.aliveSince = now.mono;
    p.alive = true;
    this.dirty = true;
    this.sync.peerUp(p.node.name, now.mono);
  }

  /** A sync message: the same authentication and replay window; only from a live peer (or its new boot). */
  private receiveSync(
    p: Peer,
    type: number,
    bootId: number,
    seq: number,
    body: Uint8Array,
    now: Now,
  ): Datagram[] {
    const r = checkReplay(p.replay, bootId, seq);
    if (!r.accept) {
      this.counters.drops[DropReason.Replay]++;
      return [];
    }
    if (!p.alive && !r.newBoot) {
      this.counters.drops[DropReason.NotAlive]++;
      return [];
    }
    p.replay = r.next;
    p.seenMono = now.mono;
    // What a restarted peer claimed before is void, as for its heartbeat. An authenticated sync
    // message is a sign of life too: without this a restarted peer heard first through one was
    // taken for dead at the next tick (its last heartbeat time was its old boot's).
    if (r.newBoot) this.peerUp(p, now);
    p.heardMono = now.mono;
    p.heardWall = now.wall;
    return this.sync.receive(p.node.name, type, body, now.mono).map((x) => this.syncDatagram(x));
  }

  private syncDatagram(x: SyncSend): Datagram {
    return this.out.envelope(x.type, x.body, this.peers.get(x.to) as Peer);
  }

  /** Timers: deaths, the election when something changed, heartbeats when due. */
  tick(now: Now): Datagram[] {
    // After a stall of this thread (GC, CPU starvation, a long election) the peers' heartbeats may
    // still wait in the socket: judge nobody dead in the first tick after it; the next one does.
    const stalled = now.mono - this.lastTick > this.cfg.intervalMs + 50;
    this.lastTick = now.mono;
    if (!stalled)
      for (const p of this.peers.values())
        if (p.alive && now.mono - (p.heardMono ?? 0) > this.deadAfterMs) {
          p.alive = false;
          this.dirty = true;
          this.sync.peerDown(p.node.name);
        }
    // Without quorum the view of who is dead may be stale by the time it returns: a node that
    // regains quorum syncs again (one dead interval, every live peer's claims) before it decides.
    if (!this.quorum) this.syncFrom = now.mono;
    if (!this.synced && this.syncedNow(now)) {
      this.synced = true;
      this.syncedAt = now.mono;
      this.dirty = true;
    }
    // A due heartbeat goes out before the election, which may take a while with many addresses.
    const out: Datagram[] = [];
    if (now.mono >= this.nextBeat) {
      this.nextBeat = now.mono + this.cfg.intervalMs;
      out.push(...this.heartbeats());
    }
    for (const x of this.sync.tick(now.mono)) if (this.peers.has(x.to)) out.push(this.syncDatagram(x));
    if (this.dirty) this.settle(now);
    // Claims changed by this election: the new set goes out at once.
    if (this.nextBeat === 0) {
      this.nextBeat = now.mono + this.cfg.intervalMs;
      out.push(...this.heartbeats());
    }
    return out;
  }

  /** When tick() has something to do next: a heartbeat, a peer's dead line, the end of a grace. */
  nextWake(now: Now): number {
    let t = this.nextBeat;
    for (const p of this.peers.values())
      if (p.alive) t = Math.min(t, (p.heardMono ?? 0) + this.deadAfterMs + 0.5);
    if (!this.synced) {
      const deadline = this.syncFrom + this.deadAfterMs;
      t = Math.min(t, deadline > now.mono ? deadline : this.syncFrom + this.unheardGraceMs);
    }
    if (this.dirty) t = Math.min(t, now.mono + 5);
    t = Math.min(t, this.sync.nextWake(now.mono));
    return Math.max(t, now.mono + 1);
  }

  /**
   * Ownership is decided only after one dead interval (every live peer has been heard by then) and
   * once every live peer's claims are known: a starting node must not take what others hold.
   */
  private syncedNow(now: Now): boolean {
    const alive = startupGate(
      {
        candidatesKnown: this.candidatesKnown,
        nowMono: now.mono,
        syncFrom: this.syncFrom,
        deadAfterMs: this.deadAfterMs,
        unheardGraceMs: this.unheardGraceMs,
      },
      this.peers.values(),
    );
    // Connection state too: a node that takes an address must already hold its flows — for a
    // bounded time. A peer that served our pull once and never saw us go (we alone saw it dead: our
    // socket starved) does not serve it again, and waiting for it kept a node out for good.
    if (alive === undefined) return false;
    if (this.sync.ready(alive)) return true;
    if (now.mono - this.syncFrom < this.pullWaitMs) return false;
    return true;
  }

  private settle(now: Now): void {
    this.dirty = false;
    const total = this.cfg.nodes.length;
    const alive = [...this.peers.values()].filter((p) => p.alive);
    this.quorum = hasQuorum(alive.length + 1, total);
    if (!this.quorum) this.synced = false;
    if (
      this.quorum &&
      holdDecision(
        alive,
        now.mono,
        this.deadAfterMs,
        this.synced ? this.syncedAt + this.unheardGraceMs : undefined,
      )
    ) {
      this.dirty = true;
      return;
    }
    const view =
      this.synced && this.quorum
        ? electionView(this.cfg.self, this.own, alive)
        : { members: new Set<string>(), claims: new Map<string, ReadonlySet<string>>() };
    this.counters.elections++;
    const result = elect({ candidates: this.candidates, ...view });
    const o = outcome(
      result,
      { owners: this.owners, own: this.own },
      this.cfg.self,
      this.candidates,
      now.wall,
    );
    this.counters.ownerChanges += o.ownerChanges;
    this.owners = o.owners;
    if (!o.changed) return;
    const own = o.own;
    const claimsChanged =
      own.size !== this.claims.addresses.length || this.claims.addresses.some((a) => !own.has(a));
    this.own = own;
    this.ownedVersion++;
    if (claimsChanged) {
      this.claims = cutClaims(this.claims.summary.version + 1, own.keys());
      // The new set goes out now in full; a lost chunk comes with a later heartbeat (rotation) or
      // when the peer asks (WantClaims). One burst only: bursts that overrun a busy peer's socket
      // buffer would cost it heartbeats.
      this.out.burstLeft = 1;
      this.nextBeat = 0;
    }
  }

  private flags(): number {
    let f = 0;
    if (this.synced) f |= HeartbeatFlag.Synced;
    if (this.quorum) f |= HeartbeatFlag.Quorum;
    for (const p of this.peers.values())
      if (p.alive && !p.claims.upToDate(p.latestVersion)) f |= HeartbeatFlag.WantClaims;
    return f;
  }

  private heartbeats(): Datagram[] {
    return this.out.heartbeats(this.peers.values(), this.flags(), this.claims);
  }

  private claimsTo(p: Peer, except: number): Datagram[] {
    return this.out.claimsTo(p, this.flags(), this.claims, except);
  }

  /**
   * A clean stop: owns nothing from now on, and tells every peer (twice, for a lost datagram) so
   * they take its addresses over at once instead of after deadAfter heartbeats.
   */
  leave(): Datagram[] {
    this.own = new Map();
    this.ownedVersion++;
    this.claims = cutClaims(this.claims.summary.version + 1, []);
    return this.out.leave(this.peers.values(), this.claims);
  }

  status(now: Now): ClusterStatus {
    const total = this.cfg.nodes.length;
    const alive = 1 + [...this.peers.values()].filter((p) => p.alive).length;
    const members: MemberStatus[] = this.cfg.nodes.map((n) => {
      if (n.name === this.cfg.self)
        return {
          name: n.name,
          address: n.address,
          state: 'self',
          bootId: this.bootId,
          synced: this.synced,
          quorum: this.quorum,
          claims: this.claims.summary.count,
          claimsVersion: this.claims.summary.version,
        };
      return peerStatus(this.peers.get(n.name) as Peer, now.mono, this.cfg.intervalMs);
    });
    return {
      configured: true,
      name: this.cfg.clusterName,
      self: this.cfg.self,
      running: true,
      bootId: this.bootId,
      heartbeatIntervalMs: this.cfg.intervalMs,
      deadAfter: this.cfg.deadAfter,
      port: this.cfg.port,
      synced: this.synced,
      quorum: { have: this.quorum, alive, needed: total <= 2 ? 1 : Math.floor(total / 2) + 1, total },
      members,
      owners: ownerRows(this.owners, this.candidates),
      owned: this.own.size,
      counters: this.countersNow(),
      sync: this.sync.status(),
    };
  }

  countersNow(): ClusterCounters {
    return { ...this.counters, drops: { ...this.counters.drops } };
  }

  /** Small summary for metrics: members up and quorum. */
  summary(): { membersUp: number; quorum: boolean; synced: boolean; owned: number } {
    return {
      membersUp: 1 + [...this.peers.values()].filter((p) => p.alive).length,
      quorum: this.quorum,
      synced: this.synced,
      owned: this.own.size,
    };
  }
}
