// One service's share of the table: its own chains and maps, plus the elements it puts into the
// shared maps (dispatch, SNAT, counters, slot shards) and its source-range restrictions. A pure
// function of the service alone (and the compile options), so the incremental compiler can keep it
// until that service's input changes. See compile.ts for the layout.
import { formatIp, tryParseIp, type Family } from '../../net/ip.js';
import { isPrime, MAGLEV_SIZES, slotPlan } from '../selection/index.js';
import {
  DataplaneInputError,
  type CompileOptions,
  type DataplaneEndpoint,
  type DataplanePort,
  type DataplaneService,
} from '../types.js';
import type { Restriction } from './filter.js';
import { endpointTag, names, servicePortId } from './names.js';
import { sourceSet } from './ranges.js';
import { mapSig, rule, shortHash, type TableChain, type TableMap, type TableRule } from './table.js';

// Address parsing dominates compile time at 10k services; the same strings recur (VIPs, endpoints
// shared across ports), so parse each once per compile run. Bounded: cleared when it grows large,
// and by forgetAddresses() once a large run is over (kept, it held 3.5 MB at 10k × 8).
// Value: the canonical text (the key itself when already canonical, so no second copy is kept), or
// null when not an address. The family follows from the text (IPv6 has a colon).
const ipMemo = new Map<string, string | null>();
/** Dotted quad without leading zeros, each part ≤ 255: already canonical (no parse, no memo). */
export function canonicalV4(a: string): boolean {
  let parts = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= a.length; i++) {
    const c = i < a.length ? a.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || value > 255 || ++parts > 4) return false;
      digits = value = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && value === 0) return false; // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3) return false;
    } else return false;
  }
  return parts === 4;
}

function canonOf(a: string): string | undefined {
  if (canonicalV4(a)) return a;
  let v = ipMemo.get(a);
  if (v === undefined) {
    if (ipMemo.size > 1_000_000) ipMemo.clear();
    const ip = tryParseIp(a);
    const c = ip ? formatIp(ip) : null;
    v = c === a ? a : c;
    ipMemo.set(a, v);
  }
  return v ?? undefined;
}
/** Drops the address memo when it is large (after a big compile; small runs keep it). */
export function forgetAddresses(): void {
  if (ipMemo.size > 4096) ipMemo.clear();
}
/** Canonical text of an address already validated by checkService(). */
const canon = (a: string): string => canonOf(a)!;
const familyOf = (a: string): Family => (canonOf(a)!.includes(':') ? 6 : 4);

/** jhash seed shared by every instance: Maglev consistency across LB nodes needs the same hash. */
export const HASH_SEED = 0x6665726f;
export const DEFAULT_PERSIST_SECONDS = 300;
/** Slot maps per family and protocol (see selection()). */
export const SLOT_SHARDS = 64;

export const counterKey = (set: string, element: string): string => flat(set, '|', element);

/**
 * One flat string from its parts. Template literals build rope (cons) strings, which V8 keeps as
 * trees: the compiler holds ~20 keys per service port, so at 10k services ropes cost tens of MB.
 */
const flat = (...parts: (string | number)[]): string => parts.join('');

export interface CounterRef {
  readonly service: string;
  readonly protocol: DataplanePort['protocol'];
  readonly port: number;
  readonly family: Family;
  /** Set for per-endpoint counters. */
  readonly endpoint?: string;
}

/** A shared map a fragment needs to exist (slot shards: created by their first user). */
export type SharedMapDecl = Omit<TableMap, 'elements'>;

export interface Fragment {
  readonly name: string;
  readonly chains: readonly TableChain[];
  /** Maps only this service uses. */
  readonly maps: readonly TableMap[];
  /** Shared maps this service needs beyond the base ones. */
  readonly shared: readonly SharedMapDecl[];
  /** [map, key, value] put into shared maps. Keys are unique: a key is claimed by one service. */
  readonly elements: readonly (readonly [string, string, string])[];
  readonly restrictions: readonly Restriction[];
  readonly addresses: readonly string[];
  /** (address . proto . port) keys this service serves: one owner each. */
  readonly claims: readonly string[];
}

export const FAMILIES: readonly Family[] = [4, 6];
export const fam = (f: Family) => (f === 4 ? 'ip' : 'ip6');
export const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');
const l4 = (p: DataplanePort['protocol']) => p.toLowerCase();
const hostPort = (f: Family, a: string, port: number) => (f === 4 ? `${a}:${port}` : `[${a}]:${port}`);

/** Validates one service's fields (not its relations to others: names and ports are checked by the caller). */
export function checkService(s: DataplaneService): void {
  const bad = (field: string, value: unknown, why: string) =>
    new DataplaneInputError(s.name, field, value, why);
  if (!s.name) throw bad('name', s.name, 'empty');
  for (const a of [...s.addresses, ...(s.snatAddresses ?? []), ...s.endpoints.map((e) => e.address)]) {
    if (!canonOf(a)) throw bad('address', a, 'not an IPv4 or IPv6 address');
  }
  const seenPorts = new Set<string>();
  for (const p of s.ports) {
    for (const [field, v] of [
      ['port', p.port],
      ['targetPort', p.targetPort],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw bad(`ports.${field}`, v, 'not in 1..65535');
    }
    if (!['TCP', 'UDP', 'SCTP'].includes(p.protocol)) throw bad('ports.protocol', p.protocol, 'unknown');
    const k = `${p.protocol}/${p.port}`;
    if (seenPorts.has(k)) throw bad('ports', k, 'duplicate port');
    seenPorts.add(k);
  }
  const seenEp = new Set<string>();
  for (const e of s.endpoints) {
    if (!(e.weight >= 0) || !Number.isFinite(e.weight))
      throw bad('endpoints.weight', e.weight, 'must be ≥ 0');
    const c = canon(e.address);
    if (seenEp.has(c)) throw bad('endpoints.address', e.address, 'duplicate endpoint');
    seenEp.add(c);
  }
  const m = s.maglevTableSize;
  if (m !== undefined && (!isPrime(m) || m > MAGLEV_SIZES[MAGLEV_SIZES.length - 1]!))
    throw bad('maglevTableSize', m, 'must be a prime ≤ 65521');
  if (m !== undefined && s.endpoints.length > m)
    throw bad('maglevTableSize', m, `smaller than the number of endpoints (${s.endpoints.length})`);
  if (s.persistTimeoutSeconds !== undefined && !(s.persistTimeoutSeconds >= 1))
    throw bad('persistTimeoutSeconds', s.persistTimeoutSeconds, 'must be ≥ 1');
  if (s.sourceRanges !== undefined && !Array.isArray(s.sourceRanges))
    throw bad('sourceRanges', s.sourceRanges, 'not a list');
}

class Collector {
  readonly chains: TableChain[] = [];
  readonly maps: TableMap[] = [];
  readonly shared: SharedMapDecl[] = [];
  readonly elements: [string, string, string][] = [];
  chain(name: string, rules: string[]): void {
    this.chains.push({ name, hook: '', rules: rules.map(rule) as TableRule[] });
  }
}

/** The selection chain (and its maps/sets) for one service port in one family. */
function selection(
  b: Collector,
  s: DataplaneService,
  p: DataplanePort,
  f: Family,
  sp: string,
  vips: readonly string[],
  listed: readonly DataplaneEndpoint[],
  opts: CompileOptions,
): void {
  const active = listed.filter((e) => e.state === 'active');
  const plan = slotPlan(
    s.algorithm,
    active.map((e) => ({ name: canon(e.address), weight: e.weight, connections: e.connections })),
    listed.length,
    s.maglevTableSize ?? opts.maglevTableSize,
  );
  const proto = `meta l4proto ${l4(p.protocol)}`;
  const n = plan.slots.length;
  if (s.algorithm === 'persist') {
    const timeout = s.persistTimeoutSeconds ?? DEFAULT_PERSIST_SECONDS;
    const rules: string[] = [];
    for (const e of listed) {
      const a = canon(e.address);
      const tag = endpointTag(a);
      b.maps.push({
        name: names.affinity(sp, tag),
        decl: `type ${addrType(f)}; flags dynamic,timeout; timeout ${timeout}s;`,
        sig: mapSig('set', addrType(f), '', timeout),
        dynamic: true,
        elements: new Map(),
      });
      // Inactive endpoints keep their set (health flaps must not forget clients) but lose the rule.
      if (e.state === 'active' && e.weight > 0)
        rules.push(`${fam(f)} saddr @${names.affinity(sp, tag)} goto ${names.endpointChain(sp, tag)}`);
    }
    for (const e of active) {
      const a = canon(e.address);
      const tag = endpointTag(a);
      b.chain(names.endpointChain(sp, tag), [
        `update @${names.affinity(sp, tag)} { ${fam(f)} saddr }`,
        `${proto} dnat ${fam(f)} to ${hostPort(f, a, p.targetPort)}`,
      ]);
    }
    const v = new Map<string, string>();
    plan.slots.forEach((k, i) =>
      v.set(String(i), `goto ${names.endpointChain(sp, endpointTag(canon(active[k]!.address)))}`),
    );
    b.maps.push({
      name: names.verdicts(sp),
      decl: 'typeof numgen inc mod 1 : verdict;',
      sig: mapSig('map', 'integer', 'verdict'),
      dynamic: false,
      elements: v,
    });
    if (n > 0) rules.push(`numgen inc mod ${n} vmap @${names.verdicts(sp)}`);
    b.chain(names.selectChain(sp), rules);
    return;
  }
  // Slot maps are shared by a shard of services, keyed by the packet's own destination (VIP . port)
  // plus the slot. Why shards: the kernel finds named sets by a linear scan (one map per service:
  // quadratic), and every rule binding a map walks all its elements (one map for all: quadratic).
  const shard = names.slots(f, p.protocol, parseInt(shortHash(sp, 6), 16) % SLOT_SHARDS);
  const l = l4(p.protocol);
  b.shared.push({
    name: shard,
    // typeof names the protocol: nft re-reads it from the kernel for later transactions, and a
    // generic `th dport` there conflicts with the rule's `meta l4proto tcp`.
    decl: `typeof ${fam(f)} daddr . ${l} dport . numgen inc mod 1 : ${fam(f)} daddr . ${l} dport;`,
    sig: mapSig('map', `${addrType(f)} . inet_service . integer`, `${addrType(f)} . inet_service`),
    dynamic: false,
  });
  for (const vip of vips)
    plan.slots.forEach((k, i) =>
      b.elements.push([
        shard,
        flat(vip, ' . ', p.port, ' . ', i),
        flat(canon(active[k]!.address), ' . ', p.targetPort),
      ]),
    );
  const pick =
    plan.picker === 'inc'
      ? `numgen inc mod ${n}`
      : `jhash ${fam(f)} saddr . ${l4(p.protocol)} sport mod ${n} seed 0x${HASH_SEED.toString(16)}`;
  const key = `${fam(f)} daddr . ${l4(p.protocol)} dport . ${pick}`;
  b.chain(names.selectChain(sp), n > 0 ? [`${proto} dnat ${fam(f)} to ${key} map @${shard}`] : []);
}

/** Compiles one service. Throws DataplaneInputError naming the service, field and value. */
export function compileService(s: DataplaneService, opts: CompileOptions): Fragment {
  checkService(s);
  const counters = opts.counters ?? true;
  const srcs = s.sourceRanges?.length ? sourceSet(s.name, s.sourceRanges) : undefined;
  const b = new Collector();
  const restrictions: Restriction[] = [];
  const addresses = new Set<string>();
  const claims: string[] = [];
  for (const f of FAMILIES) {
    const vips = s.addresses.map(canon).filter((a) => familyOf(a) === f);
    if (vips.length === 0) continue;
    const listed = s.endpoints.filter((e) => familyOf(e.address) === f);
    const snatTo = s.snatAddresses?.map(canon).find((a) => familyOf(a) === f);
    for (const p of s.ports) {
      const sp = servicePortId(s.name, p.protocol, p.port, f);
      selection(b, s, p, f, sp, vips, listed, opts);
      for (const vip of vips) {
        addresses.add(vip);
        const key = dispatchKey(vip, p);
        claims.push(key);
        b.elements.push([names.dispatch(f), key, flat('goto ', names.selectChain(sp))]);
        if (srcs) restrictions.push({ family: f, key, sources: srcs[f] });
        if (s.mode === 'fullnat') b.elements.push([names.snat(f), key, snatTo ?? vip]);
        if (counters) {
          b.elements.push([names.svcCounters(f), key, '']);
          for (const e of listed) b.elements.push([names.epCounters(f), endpointKey(key, e), '']);
        }
      }
    }
  }
  return {
    name: s.name,
    chains: b.chains,
    maps: b.maps,
    shared: b.shared,
    elements: b.elements,
    restrictions,
    addresses: [...addresses],
    claims,
  };
}

const dispatchKey = (vip: string, p: DataplanePort) => flat(vip, ' . ', l4(p.protocol), ' . ', p.port);
const endpointKey = (key: string, e: DataplaneEndpoint) => flat(key, ' . ', canon(e.address));

/**
 * counterKey → what it counts, for the counter elements compileService() puts in the table (the
 * same keys, built the same way). Derived on demand, not kept per service: at 10k services × 8
 * endpoints the refs were ≈ 15 MB of the compiler's memory, and only reads of counters need them.
 */
export function counterRefsOf(s: DataplaneService, opts: CompileOptions): [string, CounterRef][] {
  const out: [string, CounterRef][] = [];
  if (!(opts.counters ?? true)) return out;
  for (const f of FAMILIES) {
    const vips = s.addresses.map(canon).filter((a) => familyOf(a) === f);
    const listed = s.endpoints.filter((e) => familyOf(e.address) === f);
    for (const p of s.ports)
      for (const vip of vips) {
        const key = dispatchKey(vip, p);
        const ref = { service: s.name, protocol: p.protocol, port: p.port, family: f };
        out.push([counterKey(names.svcCounters(f), key), ref]);
        for (const e of listed)
          out.push([
            counterKey(names.epCounters(f), endpointKey(key, e)),
            { ...ref, endpoint: canon(e.address) },
          ]);
      }
  }
  return out;
}
