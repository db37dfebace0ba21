// Source ranges check a connection's first packet only (`ct state new`): on this test bed checking
// every packet cost ≈ 20 % of a bulk TCP stream's throughput (one interval-set lookup per packet),
// checking the first costs nothing measurable. A firewall also cuts the established flows of clients
// a change refuses, so when the filter tightens, the applier deletes exactly the conntrack entries it
// would refuse now. Their next packet has no entry: TCP picks it up as a new connection (the filter
// drops it) or calls it invalid, and an invalid packet is never NATed — either way the flow is over.
// Pure: when to look, and which flows to delete.
import { maxValue, parseRange, rangeContains, tryParseIp, type Family, type IpRange } from '../../net/ip.js';
import type { ConntrackEntry } from '../conntrack.js';
import { names } from './names.js';
import type { TableState } from './table.js';

const FAMILIES: readonly Family[] = [4, 6];
const keysOf = (s: TableState | undefined, set: string) => s?.maps.get(set)?.elements ?? new Map();

/** "VIP . proto . port . range" → [the key, the range], both as text. */
const splitElement = (e: string): [string, string] => {
  const cut = e.lastIndexOf(' . ');
  return [e.slice(0, cut), e.slice(cut + 3)];
};

/** Allowed ranges per restricted service port ("VIP . proto . port"), for the keys `only` names. */
function allowedOf(s: TableState | undefined, only?: ReadonlySet<string>): Map<string, IpRange[]> {
  const out = new Map<string, IpRange[]>();
  for (const f of FAMILIES)
    for (const e of keysOf(s, names.srcAllowed(f)).keys()) {
      const [key, range] = splitElement(e);
      if (only && !only.has(key)) continue;
      out.set(key, [...(out.get(key) ?? []), parseRange(range)]);
    }
  return out;
}

const restrictedOf = (s: TableState | undefined): Set<string> =>
  new Set(FAMILIES.flatMap((f) => [...keysOf(s, names.srcRestricted(f)).keys()]));

/**
 * Whether `next` refuses a client `prev` let through: a service port became restricted, or some
 * address of an allowed range is no longer allowed on a port that stays restricted. Runs on every
 * apply, so it compares element text first and parses only the ports that changed.
 */
export function tightened(prev: TableState | undefined, next: TableState): boolean {
  const before = restrictedOf(prev);
  const after = restrictedOf(next);
  const fresh = [...after].filter((k) => !before.has(k));
  const gone: [string, string][] = [];
  for (const f of FAMILIES) {
    const now = keysOf(next, names.srcAllowed(f));
    for (const e of keysOf(prev, names.srcAllowed(f)).keys()) {
      const [key, range] = splitElement(e);
      if (!now.has(e) && after.has(key)) gone.push([key, range]); // else: unchanged, or opened to all
    }
  }
  if (fresh.length === 0 && gone.length === 0) return false;
  const allowed = allowedOf(next, new Set([...fresh, ...gone.map(([k]) => k)]));
  // `next`'s ranges of a port are merged (disjoint, never adjacent): a contiguous range they cover
  // lies inside one of them.
  const covered = (k: string, r: IpRange) =>
    (allowed.get(k) ?? []).some((n) => n.family === r.family && n.first <= r.first && r.last <= n.last);
  // Newly restricted: only a /0 of the port's family (its VIP's) still lets everyone in.
  for (const k of fresh) {
    const family = tryParseIp(k.split(' . ')[0]!)?.family ?? 4;
    if (!covered(k, { family, first: 0n, last: maxValue(family) })) return true;
  }
  return gone.some(([k, range]) => !covered(k, parseRange(range)));
}

export interface RefusedFlow {
  readonly protocol: string;
  /** Client address (original source). */
  readonly src: string;
  /** Service address and port (original destination). */
  readonly dst: string;
  readonly dport: number;
}

/** The distinct (client, service port) pairs of `entries` that `next`'s filter refuses. */
export function refusedFlows(entries: readonly ConntrackEntry[], next: TableState): RefusedFlow[] {
  const restricted = restrictedOf(next);
  const allowed = allowedOf(next);
  const out = new Map<string, RefusedFlow>();
  for (const c of entries) {
    const key = `${c.origDst} . ${c.protocol.toLowerCase()} . ${c.origDport}`;
    if (!restricted.has(key)) continue;
    const src = tryParseIp(c.origSrc);
    if (!src || (allowed.get(key) ?? []).some((r) => rangeContains(r, src))) continue;
    const flow = { protocol: c.protocol.toLowerCase(), src: c.origSrc, dst: c.origDst, dport: c.origDport };
    out.set(`${key} . ${c.origSrc}`, flow);
  }
  return [...out.values()];
}
