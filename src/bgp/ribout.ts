// Adj-RIB-Out per session, pure: which routes a session should carry given the speaker's routes and
// what the session negotiated, and the diff against what it already sent. The shell only encodes and
// writes what this returns.
import {
  AFI,
  SAFI,
  prefixKey,
  type AsPathSegment,
  type LargeCommunity,
  type OutRoute,
  type Prefix,
} from './codec/index.js';
import type { AfiSafiKey } from './codec/index.js';

/** One service address (or aggregate) to announce, with the attributes chosen for it. */
export interface AdvertisedRoute {
  readonly prefix: Prefix;
  readonly localPref?: number;
  readonly med?: number;
  /** RFC 1997 communities as 32-bit values (high 16 bits = ASN). */
  readonly communities?: readonly number[];
  readonly largeCommunities?: readonly LargeCommunity[];
  /** Extra copies of our ASN at the front of the AS path (path prepending). */
  readonly asPathPrepend?: number;
  /** Next hop to announce instead of the session's local address. */
  readonly nextHop?: bigint;
  /** Peer names that should carry the route; undefined means every peer. */
  readonly peers?: readonly string[];
}

export interface SessionView {
  readonly peerName: string;
  readonly localAsn: number;
  readonly peerAsn: number;
  readonly families: readonly AfiSafiKey[];
  /** The peer's address (a next hop equal to it is refused by the peer). */
  readonly peerAddress?: { readonly family: 4 | 6; readonly value: bigint };
  /** Local address of the TCP connection, per family when known. */
  readonly nextHopV4?: bigint;
  readonly nextHopV6?: bigint;
}

export const familyKey = (f: 4 | 6): AfiSafiKey => `${f === 4 ? AFI.IPv4 : AFI.IPv6}/${SAFI.Unicast}`;

export interface RibOutPlan {
  readonly routes: Map<string, OutRoute>;
  /** Routes this session cannot carry, with the reason (shown by `get bgp`). */
  readonly skipped: readonly { readonly prefix: string; readonly reason: string }[];
  /**
   * Routes the peer would drop on arrival (an unusable next hop, RFC 4271 §5.1.3): not sent,
   * so `get bgp` never shows as announced what the router does not hold.
   */
  readonly rejected: readonly { readonly prefix: string; readonly reason: string }[];
}

const inRange = (v: bigint, base: bigint, len: number, width: number): boolean =>
  v >> BigInt(width - len) === base >> BigInt(width - len);

/**
 * Why a router refuses `nh` as next hop for a route sent to `peer`, or undefined if it takes it.
 * Loopback is allowed: a speaker may peer with a router on the same host.
 */
export function nextHopProblem(
  family: 4 | 6,
  nh: bigint,
  peer?: { readonly family: 4 | 6; readonly value: bigint },
): string | undefined {
  if (peer && peer.family === family && peer.value === nh) return "next hop is the peer's own address";
  if (family === 4) {
    if (inRange(nh, 0n, 8, 32)) return 'next hop in 0.0.0.0/8';
    if (inRange(nh, 0xe0000000n, 3, 32)) return 'next hop is a multicast or reserved address';
    return undefined;
  }
  if (nh === 0n) return 'next hop is ::';
  if (inRange(nh, 0xffn << 120n, 8, 128)) return 'next hop is a multicast address';
  // RFC 2545 §3: the global next hop must be present; a link-local one alone is refused.
  if (inRange(nh, 0xfe80n << 112n, 10, 128))
    return 'next hop is link-local only (RFC 2545 needs a global one)';
  return undefined;
}

export function buildRibOut(routes: readonly AdvertisedRoute[], s: SessionView): RibOutPlan {
  const out = new Map<string, OutRoute>();
  const skipped: { prefix: string; reason: string }[] = [];
  const rejected: { prefix: string; reason: string }[] = [];
  const ibgp = s.localAsn === s.peerAsn;
  for (const r of routes) {
    if (r.peers && !r.peers.includes(s.peerName)) continue;
    const key = prefixKey(r.prefix);
    if (!s.families.includes(familyKey(r.prefix.family))) {
      skipped.push({ prefix: key, reason: `IPv${r.prefix.family} not negotiated with peer` });
      continue;
    }
    const nh = r.nextHop ?? (r.prefix.family === 4 ? s.nextHopV4 : s.nextHopV6);
    if (nh === undefined) {
      skipped.push({ prefix: key, reason: `no IPv${r.prefix.family} next hop on this session` });
      continue;
    }
    const bad = nextHopProblem(r.prefix.family, nh, s.peerAddress);
    if (bad) {
      rejected.push({ prefix: key, reason: bad });
      continue;
    }
    // eBGP: our ASN leads the path (RFC 4271 §5.1.2), then the prepends. iBGP: the path stays empty.
    // Prepending there would put our own AS in a path our own AS receives, and every router drops
    // such a route as a loop; so prepends are an eBGP policy (config validation refuses an
    // advertisement that could only ever reach iBGP peers with one).
    const asns = ibgp ? [] : [s.localAsn, ...Array<number>(r.asPathPrepend ?? 0).fill(s.localAsn)];
    const asPath: AsPathSegment[] = asns.length > 0 ? [{ type: 'sequence', asns }] : [];
    const prev = out.get(key);
    const communities = [
      ...new Set([...(prev?.attributes.communities ?? []), ...(r.communities ?? [])]),
    ].sort((a, b) => a - b);
    const large = [...(prev?.attributes.largeCommunities ?? []), ...(r.largeCommunities ?? [])].filter(
      (l, i, all) =>
        all.findIndex((m) => m.global === l.global && m.local1 === l.local1 && m.local2 === l.local2) === i,
    );
    if (prev) {
      // The same prefix reached this peer through two routes (e.g. two advertisements): keep the first
      // route's scalars and the union of the communities, so the result does not depend on order twice.
      out.set(key, {
        ...prev,
        attributes: {
          ...prev.attributes,
          ...(communities.length > 0 ? { communities } : {}),
          ...(large.length > 0 ? { largeCommunities: large } : {}),
        },
      });
      continue;
    }
    out.set(key, {
      prefix: r.prefix,
      nextHops: [nh],
      attributes: {
        origin: 'igp',
        asPath,
        ...(r.med !== undefined ? { med: r.med } : {}),
        // LOCAL_PREF is for internal peers only (RFC 4271 §5.1.5).
        ...(ibgp ? { localPref: r.localPref ?? 100 } : {}),
        ...(r.communities && r.communities.length > 0
          ? { communities: [...new Set(r.communities)].sort((a, b) => a - b) }
          : {}),
        ...(r.largeCommunities && r.largeCommunities.length > 0
          ? { largeCommunities: r.largeCommunities }
          : {}),
      },
    });
  }
  return { routes: out, skipped, rejected };
}

const same = (a: OutRoute, b: OutRoute): boolean =>
  JSON.stringify([a.nextHops, a.attributes], (_k, v: unknown) =>
    typeof v === 'bigint' ? v.toString() : v,
  ) ===
  JSON.stringify([b.nextHops, b.attributes], (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

/** What to send to move the peer from `sent` to `desired`: new/changed routes and withdrawals. */
export function diffRibOut(
  sent: ReadonlyMap<string, OutRoute>,
  desired: ReadonlyMap<string, OutRoute>,
): { announce: OutRoute[]; withdraw: Prefix[] } {
  const announce: OutRoute[] = [];
  const withdraw: Prefix[] = [];
  for (const [k, r] of desired) {
    const old = sent.get(k);
    if (!old || !same(old, r)) announce.push(r);
  }
  for (const [k, r] of sent) if (!desired.has(k)) withdraw.push(r.prefix);
  return { announce, withdraw };
}
