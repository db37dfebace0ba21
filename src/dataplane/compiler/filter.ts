// Source-range filtering (Kubernetes' loadBalancerSourceRanges) in ferrolb's table. ferrolb is in the
// path and fullnat hides the client from kube-proxy, so the LB must enforce it. Per family:
//
//   set srcr4 { VIP . proto . port }                      service ports that have ranges
//   set srca4 { VIP . proto . port . source interval }    who may reach them (flags interval)
//   srcpre (filter prerouting -160) and srcout (filter output -160), the same rule:
//     ct state new ip daddr . meta l4proto . th dport @srcr4
//       ip daddr . meta l4proto . th dport . ip saddr != @srca4 counter name srcdrop4 drop
//
// Two lookups per new connection whatever the number of services: a hash set, then (only for
// restricted ports) one interval-set lookup. -160 is after conntrack (-200), so `ct state` exists,
// and before both the SCTP engine's NFQUEUE (mangle, -150) and the nat dispatch (-100). Only a
// connection's first packet is checked (per packet cost ≈ 20 % of a bulk stream, see purge.ts); when
// a change refuses clients, the applier deletes their established flows (purge.ts), so removing a
// range still cuts them, as a firewall would. Replies (towards the VIP in fullnat, possibly from the
// service port) are never a new connection, so never caught. Output too: a client on the LB node is a
// client (kube-proxy filters it the same way).
//
// The SCTP engine's packets are untracked (NOTRACK) and its fast path rewrites them at raw (-300)
// before -160, so its services get a stateless copy, guardpre (filter prerouting -310) over
// guardr/guarda, which checks every packet (there is no conntrack entry to purge). Without conntrack a
// packet from an endpoint to a VIP cannot be told from a client's, hence endpoints are allowed
// sources of their guard.
//
// Chains and sets exist only while some service has ranges, so a table without any costs nothing per
// packet. The drop counters (one per family) always exist, so metrics never reset when they come and go.
import { formatIp, tryParseIp, type Family } from '../../net/ip.js';
import { DataplaneInputError, type DataplaneGuard } from '../types.js';
import { names } from './names.js';
import { sourceSet } from './ranges.js';
import { mapSig, rule, type TableChain, type TableMap } from './table.js';

/** One restricted (address, protocol, port) and who may reach it (nft element text per source). */
export interface Restriction {
  readonly family: Family;
  /** "VIP . proto . port", as in the dispatch maps. */
  readonly key: string;
  readonly sources: readonly string[];
}

export interface FilterParts {
  readonly chains: readonly TableChain[];
  readonly maps: readonly TableMap[];
  /** Named counters: name → comment. */
  readonly counters: ReadonlyMap<string, string>;
}

/** After conntrack (-200), before the SCTP engine's NFQUEUE (mangle, -150) and the nat dispatch (-100). */
export const FILTER_PRIORITY = -160;
/** Before the SCTP engine's fast path (raw, -300), which rewrites the client's packets. */
export const GUARD_PRIORITY = -310;

const FAMILIES: readonly Family[] = [4, 6];
const fam = (f: Family) => (f === 4 ? 'ip' : 'ip6');
const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

function setPair(restricted: string, allowed: string, f: Family, list: readonly Restriction[]): TableMap[] {
  const key = `${addrType(f)} . inet_proto . inet_service`;
  const r = new Map<string, string>();
  const a = new Map<string, string>();
  for (const x of list) {
    if (x.family !== f) continue;
    r.set(x.key, '');
    for (const s of x.sources) a.set(`${x.key} . ${s}`, '');
  }
  return [
    { name: restricted, decl: `type ${key};`, sig: mapSig('set', key, ''), dynamic: false, elements: r },
    {
      name: allowed,
      decl: `type ${key} . ${addrType(f)}; flags interval;`,
      sig: mapSig('set', `${key} . ${addrType(f)}`, ''),
      dynamic: false,
      elements: a,
    },
  ];
}

const dropRule = (f: Family, restricted: string, allowed: string, stateful: boolean, counters: boolean) => {
  const k = `${fam(f)} daddr . meta l4proto . th dport`;
  return (
    `${stateful ? 'ct state new ' : ''}${k} @${restricted} ${k} . ${fam(f)} saddr != @${allowed}` +
    `${counters ? ` counter name ${names.srcDrops(f)}` : ''} drop`
  );
};

/**
 * The filter's chains and (empty) sets of one kind: `tracked` (conntrack-tracked services, srcpre and
 * srcout) or `guarded` (the SCTP engine's, guardpre). They exist only while some port is restricted.
 */
export function filterObjects(kind: 'tracked' | 'guarded', counters: boolean): FilterParts {
  const hook = (h: string, prio: number) => `filter ${h} ${prio} accept`;
  const [r, a] =
    kind === 'tracked'
      ? [names.srcRestricted, names.srcAllowed]
      : [names.guardRestricted, names.guardAllowed];
  const rules = FAMILIES.map((f) => rule(dropRule(f, r(f), a(f), kind === 'tracked', counters)));
  const maps = FAMILIES.flatMap((f) => setPair(r(f), a(f), f, []));
  const chains: TableChain[] =
    kind === 'tracked'
      ? [
          { name: names.filterPre, hook: hook('prerouting', FILTER_PRIORITY), rules },
          { name: names.filterOut, hook: hook('output', FILTER_PRIORITY), rules },
        ]
      : [{ name: names.guardPre, hook: hook('prerouting', GUARD_PRIORITY), rules }];
  return { chains, maps, counters: new Map() };
}

/** Named counters of the filter (they always exist with counters on, so metrics never reset). */
export function filterCounters(counters: boolean): Map<string, string> {
  const cnt = new Map<string, string>();
  if (counters) for (const f of FAMILIES) cnt.set(names.srcDrops(f), `dropped by source range (IPv${f})`);
  return cnt;
}

/** Elements of the restricted and allowed sets of family `f` for `list`. */
export function restrictionElements(
  list: readonly Restriction[],
  f: Family,
): { restricted: string[]; allowed: string[] } {
  const restricted: string[] = [];
  const allowed: string[] = [];
  for (const x of list) {
    if (x.family !== f) continue;
    restricted.push(x.key);
    for (const s of x.sources) allowed.push(`${x.key} . ${s}`);
  }
  return { restricted, allowed };
}

/** Chains, sets and counters of the source filter (see the top of this file). */
export function sourceFilter(
  tracked: readonly Restriction[],
  guarded: readonly Restriction[],
  counters: boolean,
): FilterParts {
  const chains: TableChain[] = [];
  const maps: TableMap[] = [];
  if (tracked.length > 0) {
    chains.push(...filterObjects('tracked', counters).chains);
    for (const f of FAMILIES) maps.push(...setPair(names.srcRestricted(f), names.srcAllowed(f), f, tracked));
  }
  if (guarded.length > 0) {
    chains.push(...filterObjects('guarded', counters).chains);
    for (const f of FAMILIES)
      maps.push(...setPair(names.guardRestricted(f), names.guardAllowed(f), f, guarded));
  }
  return { chains, maps, counters: filterCounters(counters) };
}

/**
 * Validates the guards and returns their restrictions. `claim(key, name)` registers each
 * (address, protocol, port) with the compiler, which refuses one owned twice.
 */
export function guardRestrictions(
  guards: readonly DataplaneGuard[],
  claim: (key: string, owner: string) => void,
): Restriction[] {
  const out: Restriction[] = [];
  const seen = new Set<string>();
  for (const g of guards) {
    const bad = (field: string, value: unknown, why: string) =>
      new DataplaneInputError(g.name, field, value, why);
    if (!g.name) throw bad('name', g.name, 'empty');
    if (seen.has(g.name)) throw bad('name', g.name, 'duplicate guard name');
    seen.add(g.name);
    const parse = (field: string, a: string) => {
      const ip = tryParseIp(a);
      if (!ip) throw bad(field, a, 'not an IPv4 or IPv6 address');
      return ip;
    };
    const vips = g.addresses.map((a) => parse('address', a));
    const eps = g.endpoints.map((a) => parse('endpoints', a));
    for (const p of g.ports) {
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535)
        throw bad('ports.port', p.port, 'not in 1..65535');
      if (!['TCP', 'UDP', 'SCTP'].includes(p.protocol)) throw bad('ports.protocol', p.protocol, 'unknown');
    }
    if (g.sourceRanges !== undefined && !Array.isArray(g.sourceRanges))
      throw bad('sourceRanges', g.sourceRanges, 'not a list');
    const ranges = g.sourceRanges ?? [];
    const srcs =
      ranges.length > 0
        ? sourceSet(
            g.name,
            ranges,
            eps.map((e) => ({ family: e.family, first: e.value, last: e.value })),
          )
        : undefined;
    for (const v of vips)
      for (const p of g.ports) {
        const key = `${formatIp(v)} . ${p.protocol.toLowerCase()} . ${p.port}`;
        claim(key, g.name);
        if (srcs) out.push({ family: v.family, key, sources: srcs[v.family] });
      }
  }
  return out;
}
