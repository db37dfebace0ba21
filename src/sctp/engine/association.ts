// An Association and its path table. Paths are not stored: they are the product of the address sets
// (client addresses × VIPs on the client side, endpoint addresses × VIPs on the endpoint side), so
// adding or deleting an address (ASCONF) changes every affected path at once and can never leave a
// stale one behind. `natEntries` is the whole kernel state an association needs; changes are diffs.
import { formatIp, type IpAddr } from '../../net/ip.js';
import type { AuthVectors } from './auth.js';
import type {
  AssociationState,
  AssociationView,
  NatEntry,
  PathCounters,
  PathView,
  SctpEndpoint,
  SctpService,
  Side,
} from './types.js';

// Addresses are immutable objects reused across every entry of an association: memoise their keys
// (bigint → string is the engine's hottest operation otherwise).
const keyCache = new WeakMap<IpAddr, string>();
export const ipKey = (ip: IpAddr): string => {
  let k = keyCache.get(ip);
  if (k === undefined) keyCache.set(ip, (k = `${ip.family}/${ip.value.toString(16)}`));
  return k;
};
export const sameIp = (a: IpAddr, b: IpAddr): boolean => a.family === b.family && a.value === b.value;
export const hasIp = (list: readonly IpAddr[], ip: IpAddr): boolean => list.some((x) => sameIp(x, ip));

export interface Association {
  readonly id: number;
  readonly service: SctpService;
  readonly endpoint: SctpEndpoint;
  state: AssociationState;
  readonly createdMs: number;
  stateSinceMs: number;
  lastActiveMs: number;
  readonly clientPort: number;
  /** Source port the endpoint sees (the client's own unless taken towards this endpoint). */
  readonly lbPort: number;
  /** The client's Initiate Tag: the vtag of packets towards the client (0 until known). */
  clientTag: number;
  /** Who sent the INIT: normally the client; the endpoint when it restarts an association. */
  readonly initiator: Side;
  /** The endpoint's Initiate Tag (0 until INIT-ACK): the vtag of packets towards the endpoint. */
  endpointTag: number;
  clientAddrs: IpAddr[];
  endpointAddrs: IpAddr[];
  /** The service addresses both sides are told about (families both sides can use). */
  readonly vips: readonly IpAddr[];
  /** The VIP the INIT arrived on: the endpoint's primary destination for the client. */
  readonly initVip: IpAddr;
  /** Endpoint-side path VIP → client address that packets on it are delivered to. */
  returnTo: Map<string, IpAddr>;
  /**
   * Where each VIP's endpoint-side path belongs while that client address is alive: the INIT's spread
   * of the VIPs over distinct client addresses (or an ASCONF Set Primary). returnTo leaves it only for
   * an address judged dead, and comes back once it is heard again, so the paths never collapse onto
   * the one address a single-source client happens to send from.
   */
  home: Map<string, IpAddr>;
  /**
   * VIP (ipKey) → packets delivered on its endpoint-side path since the client last sent anything to
   * that VIP, and since when. Liveness is judged per VIP path, not per client address: a client may
   * answer from another source address than the one a packet reached (usrsctp's HEARTBEAT-ACKs do),
   * but it answers to the VIP it was addressed from.
   */
  unanswered: Map<string, { since: number; count: number }>;
  /** Client address (ipKey) → when an endpoint-side path to it was judged dead. */
  failedAt: Map<string, number>;
  /** Per family: the endpoint address client-side packets are delivered to. */
  endpointDst: Map<4 | 6, IpAddr>;
  readonly counters: Map<string, PathCounters>;
  /** Last time each client address (ipKey) was heard from, by the engine or via observe(). */
  clientSeen: Map<string, number>;
  auth: AuthVectors;
  /**
   * State Cookie tokens the LB handed out for this association (cookie.ts), by their first 16 bytes:
   * the token itself and the responder's real cookie it stands for. A BSD/usrsctp cookie carries the
   * responder's own addresses in clear, so the real one never crosses the LB.
   */
  cookies: Map<string, { readonly token: Uint8Array; readonly cookie: Uint8Array }>;
  /** An older association on the same client address/port this one replaces once established. */
  supersedes?: number;
  /** Held for this peer LB (HA state sync): not idled out while that peer is up. */
  replica?: string;
}

/** Spreads the VIPs over the client addresses of the same family, starting with the INIT's pair. */
export function initialReturnMap(
  vips: readonly IpAddr[],
  clientAddrs: readonly IpAddr[],
  initVip: IpAddr,
  initSrc: IpAddr,
): Map<string, IpAddr> {
  const m = new Map<string, IpAddr>();
  m.set(ipKey(initVip), initSrc);
  for (const fam of [4, 6] as const) {
    const cs = clientAddrs.filter((c) => c.family === fam);
    if (cs.length === 0) continue;
    const start = Math.max(
      0,
      cs.findIndex((c) => sameIp(c, initSrc)),
    );
    let k = 1;
    for (const v of vips) {
      if (v.family !== fam || m.has(ipKey(v))) continue;
      m.set(ipKey(v), cs[(start + k++) % cs.length] as IpAddr);
    }
  }
  return m;
}

export const pathKey = (side: Side, peer: IpAddr, vip: IpAddr): string =>
  `${side}|${ipKey(peer)}|${ipKey(vip)}`;

/** Every kernel NAT entry this association needs now (none before the endpoint's tag is known). */
export function natEntries(a: Association): NatEntry[] {
  // Half-open associations get no kernel entries: an INIT flood never reaches nft, and a restart's
  // newcomer that never completes cannot touch the live association's entries on the same 5-tuple.
  if (a.state === 'init-sent' || a.state === 'cookie-wait') return [];
  return pathEntries(a);
}

/** The association's path table as entries (also while half-open, for views), once both tags are known. */
export function pathEntries(a: Association): NatEntry[] {
  if (a.endpointTag === 0 || a.clientTag === 0) return [];
  const out: NatEntry[] = [];
  const meta = { clientTag: a.clientTag, endpointTag: a.endpointTag, initVip: a.initVip };
  for (const c of a.clientAddrs) {
    const dst = a.endpointDst.get(c.family);
    if (!dst) continue;
    for (const v of a.vips) {
      if (v.family !== c.family) continue;
      out.push({
        association: a.id,
        toward: 'endpoint',
        match: { src: c, dst: v, srcPort: a.clientPort, dstPort: a.service.port, vtag: a.endpointTag },
        rewrite: { src: v, dst, srcPort: a.lbPort, dstPort: a.endpoint.port },
        meta: { ...meta, ...(a.auth.client ? { vector: a.auth.client } : {}) },
      });
    }
  }
  for (const e of a.endpointAddrs) {
    for (const v of a.vips) {
      const to = a.returnTo.get(ipKey(v));
      if (v.family !== e.family || !to) continue;
      const home = a.home.get(ipKey(v));
      out.push({
        association: a.id,
        toward: 'client',
        match: { src: e, dst: v, srcPort: a.endpoint.port, dstPort: a.lbPort, vtag: a.clientTag },
        rewrite: { src: v, dst: to, srcPort: a.service.port, dstPort: a.clientPort },
        meta: {
          ...meta,
          ...(home ? { home } : {}),
          ...(a.auth.endpoint ? { vector: a.auth.endpoint } : {}),
        },
      });
    }
  }
  return out;
}

export const entryKey = (e: NatEntry): string =>
  `${e.association}|${e.toward}|${ipKey(e.match.src)}|${ipKey(e.match.dst)}|${e.match.srcPort}|${e.match.dstPort}|${e.match.vtag}>${ipKey(e.rewrite.src)}|${ipKey(e.rewrite.dst)}|${e.rewrite.srcPort}|${e.rewrite.dstPort}${e.meta?.home ? `~${ipKey(e.meta.home)}` : ''}`;

/** What must be added and removed to go from `before` to `after` (rewrites count as remove + add). */
export function diffEntries(
  before: readonly NatEntry[],
  after: readonly NatEntry[],
): { add: NatEntry[]; remove: NatEntry[] } {
  const b = new Map(before.map((e) => [entryKey(e), e]));
  const a = new Map(after.map((e) => [entryKey(e), e]));
  return {
    add: [...a].filter(([k]) => !b.has(k)).map(([, e]) => e),
    remove: [...b].filter(([k]) => !a.has(k)).map(([, e]) => e),
  };
}

export function viewOf(a: Association, nowMs: number): AssociationView {
  const fmt = (xs: readonly IpAddr[]) => xs.map(formatIp);
  const paths: PathView[] = pathEntries(a).map((e) => {
    const side: Side = e.toward === 'endpoint' ? 'client' : 'endpoint';
    const c = a.counters.get(pathKey(side, e.match.src, e.match.dst));
    const primary =
      side === 'client'
        ? sameIp(e.match.dst, a.initVip)
        : sameIp(e.match.dst, a.initVip) &&
          sameIp(e.match.src, a.endpointDst.get(e.match.src.family) ?? e.match.src);
    return {
      side,
      peer: formatIp(e.match.src),
      vip: formatIp(e.match.dst),
      mapsTo: `${formatIp(e.rewrite.src)} → ${formatIp(e.rewrite.dst)}`,
      state: primary ? 'active' : 'standby',
      packets: c?.packets ?? 0,
      bytes: c?.bytes ?? 0,
    };
  });
  return {
    id: a.id,
    service: a.service.name,
    state: a.state,
    clientAddresses: fmt(a.clientAddrs),
    clientPort: a.clientPort,
    serviceAddresses: fmt(a.vips),
    servicePort: a.service.port,
    endpoint: fmt(a.endpointAddrs),
    endpointPort: a.endpoint.port,
    lbPort: a.lbPort,
    clientVtag: a.clientTag,
    endpointVtag: a.endpointTag,
    ageMs: nowMs - a.createdMs,
    paths,
  };
}

/** A packet from this client address to this VIP: the VIP's endpoint-side path is answered. */
export function noteHeard(a: Association, addr: IpAddr, vip: IpAddr | undefined, nowMs: number): void {
  const k = ipKey(addr);
  a.clientSeen.set(k, Math.max(a.clientSeen.get(k) ?? 0, nowMs));
  if (vip) a.unanswered.delete(ipKey(vip));
}

/** `packets` packets went out on this VIP's endpoint-side path (engine-forwarded or fast-path counted). */
export function noteDelivered(a: Association, vip: IpAddr, packets: number, nowMs: number): void {
  const k = ipKey(vip);
  const u = a.unanswered.get(k);
  if (u) u.count += packets;
  else a.unanswered.set(k, { since: nowMs, count: packets });
}

/** Packets went out on the VIP's path, a retransmission among them, and nothing came back for staleMs. */
const pathDead = (a: Association, vip: IpAddr, nowMs: number, staleMs: number): boolean => {
  const u = a.unanswered.get(ipKey(vip));
  return u !== undefined && u.count >= 2 && nowMs - u.since > staleMs;
};

/** Not judged dead, or heard from since it was. */
const usable = (a: Association, c: IpAddr): boolean => {
  const f = a.failedAt.get(ipKey(c));
  return f === undefined || (a.clientSeen.get(ipKey(c)) ?? -Infinity) > f;
};

/**
 * Keeps each endpoint-side path on its home client address, so the paths stay spread over distinct
 * client addresses as the endpoint's own paths would be without the LB (a single-source client must
 * not collapse them onto its one source). A path whose packets go unanswered (a retransmission among
 * them, nothing sent to its VIP for `staleMs`) moves to another client address of the family that is
 * not known dead, preferring the one heard most recently; it moves home once the home address is heard
 * from again. Without this a cut client link strands the endpoint's primary VIP until the endpoint's
 * own RTO back-off gives up on it (tens of seconds). Returns true when anything changed.
 */
export function repointStale(a: Association, nowMs: number, staleMs: number): boolean {
  let changed = false;
  for (const v of a.vips) {
    const k = ipKey(v);
    const to = a.returnTo.get(k);
    if (!to) continue;
    const home = a.home.get(k) ?? to;
    let want = to;
    if (!sameIp(to, home) && usable(a, home) && a.failedAt.has(ipKey(home))) want = home;
    else if (!usable(a, to) || pathDead(a, v, nowMs, staleMs)) {
      // Dead path, or its address failed on another VIP's path: move it.
      if (usable(a, to)) a.failedAt.set(ipKey(to), nowMs);
      let bestSeen = -Infinity;
      for (const c of a.clientAddrs) {
        if (c.family !== to.family || sameIp(c, to) || !usable(a, c)) continue;
        const t = a.clientSeen.get(ipKey(c)) ?? -1;
        if (t > bestSeen) {
          want = c;
          bestSeen = t;
        }
      }
      a.unanswered.delete(k);
    }
    if (!sameIp(want, to)) {
      a.returnTo.set(k, want);
      changed = true;
    }
  }
  return changed;
}
