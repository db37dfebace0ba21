// The SCTP multihoming NAT engine: a pure state machine. handle(packet bytes, now) → packets to send,
// kernel NAT entries to add/remove, and (for the integrator) why a packet was dropped. No I/O, no
// clocks, no randomness: time is an argument, so every behaviour is reproducible in tests.
//
// Model: the LB is a multihomed SCTP peer towards both sides. The client sees the service on its
// VIPs; the endpoint sees "the client" on the same VIPs (fullNAT, source port translated only when
// needed). A packet on client path (Ci → Vj) leaves as (Vj → endpoint); a packet on endpoint path
// (Ey → Vx) leaves as (Vx → returnTo[Vx]). VTags are never changed, so SCTP's own protection and the
// kernel entries (keyed with the vtag) stay valid.
import { formatIp, type IpAddr } from '../../net/ip.js';
import {
  ChunkType,
  FLAG_T,
  SctpDecodeError,
  decodeIp,
  decodeSctp,
  encodeIp,
  encodeSctp,
  encodeAsconfAck,
  decodeAsconf,
  decodeCauses,
  encodeCauses,
  freshIpHeader,
  type Chunk,
  type IpPacket,
  type SctpPacket,
  CauseCode,
} from '../codec/index.js';
import {
  type Association,
  diffEntries,
  hasIp,
  ipKey,
  natEntries,
  noteDelivered,
  noteHeard,
  pathKey,
  repointStale,
  sameIp,
  viewOf,
} from './association.js';
import { InitRateLimiter } from './ratelimit.js';
import { applyAsconf } from './asconf.js';
import { associationKey, resign, sign, verify } from './auth.js';
import { onClientInit, onEndpointInit, onInitAck, type InitContext } from './init.js';
import { rebuildFromCookie } from './rebuild.js';
import { CookieSealer, tokenKey } from './cookie.js';
import { AssociationTable } from './table.js';
import {
  DEFAULT_LIMITS,
  isHalfOpen,
  type AssociationView,
  type DropReason,
  type EndpointSelector,
  type EngineLimits,
  type EngineResult,
  type NatEntry,
  type OutPacket,
  type PathChanges,
  type SctpService,
  type Side,
} from './types.js';

const NONE: PathChanges = { add: [], remove: [] };
const merge = (...cs: PathChanges[]): PathChanges => ({
  add: cs.flatMap((c) => c.add),
  remove: cs.flatMap((c) => c.remove),
});

export type { EndpointSelector };

export const hashSelector: EndpointSelector = (_svc, candidates, client, clientPort, tag) => {
  let h = 0x811c9dc5;
  const feed = (n: number) => {
    h ^= n & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  };
  for (const ch of ipKey(client)) feed(ch.charCodeAt(0));
  for (const n of [clientPort >> 8, clientPort, tag >>> 24, tag >>> 16, tag >>> 8, tag]) feed(n);
  return candidates[h % candidates.length] as number;
};

// Error causes that carry addresses: scrubbed from ABORT/ERROR so no address crosses the LB.
const ADDRESS_CAUSES = new Set<number>([
  CauseCode.UNRESOLVABLE_ADDRESS,
  CauseCode.RESTART_WITH_NEW_ADDRESSES,
]);

export class SctpNatEngine {
  private readonly table = new AssociationTable();
  private readonly limits: EngineLimits;
  private readonly limiter: InitRateLimiter;
  private services: SctpService[];
  private nextId = 1;
  /** The time of the packet being handled (translate() needs it for delivery bookkeeping). */
  private clock = 0;

  private readonly sealer: CookieSealer;
  /** Associations rebuilt from the LB's State Cookie after the half-open table had let them go. */
  private rebuilt = 0;

  /** `cookieKey`: 32 bytes for the State Cookie seal (tests); by default a random one per engine. */
  constructor(
    services: readonly SctpService[],
    limits: Partial<EngineLimits> = {},
    private readonly select: EndpointSelector = hashSelector,
    cookieKey?: Uint8Array,
  ) {
    this.sealer = new CookieSealer(cookieKey);
    this.services = [...services];
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.limiter = new InitRateLimiter(this.limits);
  }

  /** Replaces the service set. Existing associations keep their endpoint until they end. */
  setServices(services: readonly SctpService[]): void {
    this.services = [...services];
  }

  /** Handles one IP packet seen by the LB (either direction). */
  handle(bytes: Uint8Array, nowMs: number): EngineResult {
    this.clock = nowMs;
    let pkt: IpPacket;
    let sctp: SctpPacket;
    try {
      pkt = decodeIp(bytes);
      sctp = decodeSctp(pkt.payload, { verify: true });
    } catch (e) {
      if (e instanceof SctpDecodeError) return drop(e.kind === 'bad-checksum' ? 'bad-checksum' : 'malformed');
      throw e;
    }
    const first = sctp.chunks[0];
    if (!first) return drop('malformed');
    const ctx = this.initContext(nowMs);
    if (first.type === ChunkType.INIT) {
      if (sctp.chunks.length > 1) return drop('init-bundled');
      const svc = this.services.find(
        (s) => s.port === sctp.dstPort && s.vips.some((v) => sameIp(v, pkt.ip.dst)),
      );
      if (svc && sctp.vtag === 0) {
        // Before any parsing or allocation: a flood costs a map lookup per packet, nothing more.
        const limited = this.limiter.admit(pkt.ip.src, nowMs);
        if (limited) return drop(limited);
        return onClientInit(ctx, svc, pkt, sctp, first);
      }
      if (sctp.vtag === 0) {
        const live = this.table.findByEndpoint(pkt.ip.src, pkt.ip.dst, sctp.srcPort, sctp.dstPort);
        if (live) return onEndpointInit(ctx, live, pkt, sctp, first);
      }
      return drop(svc ? 'invalid-init' : 'no-service');
    }
    const ownTag =
      (first.type === ChunkType.ABORT || first.type === ChunkType.SHUTDOWN_COMPLETE) &&
      (first.flags & FLAG_T) !== 0;
    const hit = this.table.lookup(pkt.ip.src, pkt.ip.dst, sctp.srcPort, sctp.dstPort, sctp.vtag, ownTag);
    if (!hit) {
      if (first.type !== ChunkType.COOKIE_ECHO) return drop('no-association');
      const r = rebuildFromCookie(ctx, this.services, pkt, sctp, first);
      if (typeof r === 'string') return drop(r);
      this.rebuilt++;
      const res = this.onChunks(r.a, 'client', pkt, sctp, nowMs);
      return r.removed.length ? { ...res, changes: merge(res.changes, { add: [], remove: r.removed }) } : res;
    }
    const { a, side } = hit;
    if (first.type === ChunkType.INIT_ACK) return onInitAck(ctx, a, side, pkt, sctp, first);
    return this.onChunks(a, side, pkt, sctp, nowMs);
  }

  /** The chunk loop for everything but INIT / INIT-ACK. */
  private onChunks(a: Association, side: Side, pkt: IpPacket, sctp: SctpPacket, nowMs: number): EngineResult {
    const before = natEntries(a);
    const stateBefore = a.state;
    const out: OutPacket[] = [];
    const keep: Chunk[] = [];
    let changed = false;
    let ended: 'abort' | undefined;
    let asconf = false;
    const key = associationKey(a.auth);
    for (let i = 0; i < sctp.chunks.length; i++) {
      const c = sctp.chunks[i] as Chunk;
      switch (c.type) {
        case ChunkType.ASCONF: {
          // Must be covered by an AUTH chunk earlier in the packet when AUTH was negotiated.
          const authAt = sctp.chunks.findIndex((x, k) => k < i && x.type === ChunkType.AUTH);
          if (key && (authAt < 0 || !verify(key, sctp.chunks, authAt))) return drop('auth-failed', a.id);
          let req;
          try {
            req = decodeAsconf(c);
          } catch {
            return drop('malformed', a.id);
          }
          const { ack } = applyAsconf(a, side, req, pkt.ip.src);
          const receiverHmacs = side === 'client' ? a.auth.clientHmacs : a.auth.endpointHmacs;
          const reply = encodeSctp({
            srcPort: sctp.dstPort,
            dstPort: sctp.srcPort,
            vtag: side === 'client' ? a.clientTag : a.endpointTag,
            chunks: sign(key, receiverHmacs, [encodeAsconfAck(ack)]),
          });
          out.push({
            toward: side,
            originated: true,
            bytes: encodeIp(freshIpHeader(pkt.ip.family), pkt.ip.dst, pkt.ip.src, reply),
          });
          changed = true;
          asconf = true;
          continue;
        }
        case ChunkType.ASCONF_ACK:
          // The LB never forwards ASCONFs, so no ASCONF-ACK can be owed by this side's peer.
          changed = true;
          continue;
        case ChunkType.COOKIE_ECHO: {
          if (side === 'client' && a.state === 'cookie-wait' && sctp.vtag !== a.endpointTag) {
            // The client picked another INIT-ACK than the last one seen (INIT retransmitted): follow it.
            a.endpointTag = sctp.vtag;
            this.table.put(a);
          }
          // Swap the LB's token back for the responder's real cookie.
          const filed = a.cookies.get(tokenKey(c.body));
          if (!filed || !Buffer.from(filed.token).equals(c.body)) return drop('bad-cookie', a.id);
          keep.push({ ...c, body: filed.cookie });
          changed = true;
          continue;
        }
        case ChunkType.COOKIE_ACK:
          if (side === 'endpoint' && (a.state === 'cookie-wait' || a.state === 'init-sent'))
            this.setState(a, 'established', nowMs);
          break;
        case ChunkType.SHUTDOWN:
        case ChunkType.SHUTDOWN_ACK:
          if (a.state === 'established' || a.state === 'cookie-wait') this.setState(a, 'shutdown', nowMs);
          break;
        case ChunkType.SHUTDOWN_COMPLETE:
          this.setState(a, 'closed', nowMs);
          break;
        case ChunkType.ABORT:
          ended = 'abort';
          break;
        case ChunkType.ERROR:
          break;
      }
      if (c.type === ChunkType.ABORT || c.type === ChunkType.ERROR) {
        const scrubbed = scrubCauses(c);
        if (scrubbed !== c) changed = true;
        keep.push(scrubbed);
      } else keep.push(c);
    }
    a.lastActiveMs = nowMs;
    if (side === 'client') noteHeard(a, pkt.ip.src, pkt.ip.dst, nowMs);
    // A dead return address answered again (or the paths can move off one): re-point now, not at the
    // next tick. An explicit Set Primary in this packet wins.
    const learned =
      side === 'client' && !asconf && a.state === 'established'
        ? repointStale(a, nowMs, this.limits.returnStaleMs)
        : false;
    const chunks = changed ? resign(key, keep) : keep;
    let forwarded = false;
    if (chunks.length > 0) {
      const o = this.translate(a, side, pkt, { ...sctp, chunks });
      if (o) {
        out.push(o);
        forwarded = true;
        this.count(a, side, pkt.ip.src, pkt.ip.dst, pkt.payload.length, nowMs);
      }
    }
    let changes: PathChanges;
    if (ended === 'abort') changes = { add: [], remove: this.table.remove(a) };
    else changes = changed || learned || a.state !== stateBefore ? diffEntries(before, natEntries(a)) : NONE;
    if (!ended && a.state === 'established' && a.supersedes !== undefined)
      changes = merge(changes, this.retire(a));
    if (!ended) this.table.put(a);
    return {
      packets: out,
      changes,
      association: a.id,
      ...(forwarded ? {} : { dropped: 'nothing-left' as DropReason }),
    };
  }

  /** A restarted association replaces its predecessor once it is established. */
  private retire(a: Association): PathChanges {
    const old = a.supersedes === undefined ? undefined : this.table.get(a.supersedes);
    a.supersedes = undefined;
    return old ? { add: [], remove: this.table.remove(old) } : NONE;
  }

  private setState(a: Association, s: Association['state'], nowMs: number): void {
    if (a.state === s) return;
    a.state = s;
    a.stateSinceMs = nowMs;
  }

  private count(a: Association, side: Side, src: IpAddr, dst: IpAddr, bytes: number, nowMs: number): void {
    const k = pathKey(side, src, dst);
    const c = a.counters.get(k) ?? { packets: 0, bytes: 0, lastSeenMs: nowMs };
    c.packets++;
    c.bytes += bytes;
    c.lastSeenMs = nowMs;
    a.counters.set(k, c);
  }

  /** Re-frames a packet of `a` arriving from `side` for the other side. */
  private translate(
    a: Association,
    side: Side,
    pkt: IpPacket,
    sctp: Omit<SctpPacket, 'checksum'>,
  ): OutPacket | undefined {
    const vip = pkt.ip.dst;
    if (side === 'client') {
      const dst = a.endpointDst.get(vip.family);
      if (!dst) return undefined;
      const body = encodeSctp({ ...sctp, srcPort: a.lbPort, dstPort: a.endpoint.port });
      return { toward: 'endpoint', originated: false, bytes: encodeIp(pkt.ip, vip, dst, body) };
    }
    const dst = a.returnTo.get(ipKey(vip));
    if (!dst) return undefined;
    noteDelivered(a, vip, 1, this.clock);
    const body = encodeSctp({ ...sctp, srcPort: a.service.port, dstPort: a.clientPort });
    return { toward: 'client', originated: false, bytes: encodeIp(pkt.ip, vip, dst, body) };
  }

  private initContext(nowMs: number): InitContext {
    return {
      nowMs,
      limits: this.limits,
      table: this.table,
      select: this.select,
      sealer: this.sealer,
      newId: () => this.nextId++,
      translate: (a, side, pkt, sctp) => this.translate(a, side, pkt, sctp),
    };
  }

  /** Expires half-open, idle and closed associations. */
  tick(nowMs: number): PathChanges {
    const remove: NatEntry[] = [];
    const add: NatEntry[] = [];
    for (const a of [...this.table.all()]) {
      const L = this.limits;
      const expired =
        a.state === 'init-sent' || a.state === 'cookie-wait'
          ? nowMs - a.createdMs >= L.halfOpenTimeoutMs
          : a.state === 'closed'
            ? nowMs - a.stateSinceMs >= L.closeLingerMs
            : a.replica === undefined && nowMs - a.lastActiveMs >= L.idleTimeoutMs;
      if (expired) {
        remove.push(...this.table.remove(a));
        continue;
      }
      if (a.state !== 'established') continue;
      const before = natEntries(a);
      if (repointStale(a, nowMs, L.returnStaleMs)) {
        const d = diffEntries(before, natEntries(a));
        add.push(...d.add);
        remove.push(...d.remove);
      }
    }
    return { add, remove };
  }

  /**
   * Traffic from a client address that the kernel fast path carried (from its per-path counters):
   * keeps the association from idling out and tells the engine which client addresses are alive.
   */
  observe(associationId: number, clientAddr: IpAddr, nowMs: number, vip?: IpAddr): void {
    const a = this.table.get(associationId);
    if (!a || !hasIp(a.clientAddrs, clientAddr)) return;
    noteHeard(a, clientAddr, vip && hasIp(a.vips, vip) ? vip : undefined, nowMs);
    a.lastActiveMs = Math.max(a.lastActiveMs, nowMs);
  }

  /**
   * The fast path carried `packets` packets of this association on the endpoint-side path of `vip`
   * (from its per-path counters): unanswered ones are how a dead client link is recognised.
   */
  delivered(associationId: number, vip: IpAddr, packets: number, nowMs: number): void {
    const a = this.table.get(associationId);
    if (!a || !hasIp(a.vips, vip) || packets <= 0) return;
    noteDelivered(a, vip, packets, nowMs);
    a.lastActiveMs = Math.max(a.lastActiveMs, nowMs);
  }

  /**
   * Takes over associations rebuilt from the kernel after a restart (see kernel/adopt.ts). Ids are
   * kept (the kernel entries name them); new associations get higher ones. Returns how many were
   * taken (one whose id is already in use is skipped).
   */
  adopt(associations: readonly Association[]): number {
    let n = 0;
    for (const a of associations) {
      if (this.table.get(a.id)) continue;
      this.table.put(a);
      this.nextId = Math.max(this.nextId, a.id + 1);
      n++;
    }
    return n;
  }

  /**
   * Installs (or replaces) an association a peer LB replicated (HA standby state, engine/replica.ts):
   * it forwards like an adopted one as soon as its packets arrive here, and it does not idle out
   * while `a.replica` names its origin (see releaseReplicas). Returns the kernel entry changes.
   */
  installReplica(a: Association): PathChanges {
    const old = this.table.get(a.id);
    const before = old ? this.table.remove(old) : [];
    this.table.put(a);
    this.nextId = Math.max(this.nextId, a.id + 1);
    return diffEntries(before, natEntries(a));
  }

  /** Removes an association (a peer replicated its end). */
  removeAssociation(id: number): PathChanges {
    const a = this.table.get(id);
    return a ? { add: [], remove: this.table.remove(a) } : NONE;
  }

  /** Associations held for peer `node` (it left the cluster) age from now on by local activity. */
  releaseReplicas(node: string, nowMs: number): number {
    let n = 0;
    for (const a of this.table.all())
      if (a.replica === node) {
        a.replica = undefined;
        a.lastActiveMs = Math.max(a.lastActiveMs, nowMs);
        n++;
      }
    return n;
  }

  /** A fresh association id (for replicas, which get local ids). */
  newId(): number {
    return this.nextId++;
  }

  /** The live association with this id (for the shell's bookkeeping; do not mutate). */
  association(id: number): Readonly<Association> | undefined {
    return this.table.get(id);
  }

  /** Activity the kernel fast path saw (from its counters) keeps an association from idling out. */
  touch(associationId: number, nowMs: number): void {
    const a = this.table.get(associationId);
    if (a) a.lastActiveMs = Math.max(a.lastActiveMs, nowMs);
  }

  /** Every kernel NAT entry that should exist now (for a full reconcile after a restart). */
  natEntries(): NatEntry[] {
    return [...this.table.all()].flatMap(natEntries);
  }

  /** Views of the associations; at most `halfOpenLimit` half-open ones (a flood holds thousands). */
  associations(nowMs: number, halfOpenLimit = Infinity): AssociationView[] {
    const out: AssociationView[] = [];
    let half = 0;
    for (const a of this.table.all()) {
      if (isHalfOpen(a.state) && ++half > halfOpenLimit) continue;
      out.push(viewOf(a, nowMs));
    }
    return out;
  }

  /** Associations per state. */
  counts(): Record<Association['state'], number> {
    const c = { 'init-sent': 0, 'cookie-wait': 0, established: 0, shutdown: 0, closed: 0 };
    for (const a of this.table.all()) c[a.state]++;
    return c;
  }

  get size(): { associations: number; halfOpen: number; rebuiltFromCookie: number } {
    return {
      associations: this.table.size,
      halfOpen: this.table.halfOpenCount,
      rebuiltFromCookie: this.rebuilt,
    };
  }
}

function drop(reason: DropReason, association?: number): EngineResult {
  return {
    packets: [],
    changes: NONE,
    dropped: reason,
    ...(association === undefined ? {} : { association }),
  };
}

/** Removes the address-carrying causes from an ABORT/ERROR chunk (returns the same object if none). */
function scrubCauses(c: Chunk): Chunk {
  let causes;
  try {
    causes = decodeCauses(c.body);
  } catch {
    return c;
  }
  if (!causes.some((p) => ADDRESS_CAUSES.has(p.type))) return c;
  return encodeCauses(
    c.type,
    c.flags,
    causes.filter((p) => !ADDRESS_CAUSES.has(p.type)),
  );
}

export const describeEntry = (e: NatEntry): string =>
  `${e.toward === 'endpoint' ? 'c→e' : 'e→c'} ${formatIp(e.match.src)}:${e.match.srcPort} → ${formatIp(e.match.dst)}:${e.match.dstPort} vtag ${e.match.vtag.toString(16)} ⇒ ${formatIp(e.rewrite.src)}:${e.rewrite.srcPort} → ${formatIp(e.rewrite.dst)}:${e.rewrite.dstPort}`;
