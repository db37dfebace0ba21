// Pure compiler: desired services → the complete state of ferrolb's nft table.
//
// Layout (per family f ∈ {4, 6}):
//   prerouting/output (nat): `ip daddr . meta l4proto . th dport vmap @svc4` — O(1) dispatch to one
//     selection chain per (service, protocol, port, family). nat chains only see a connection's first
//     packet, so selection is `ct state new` by construction and established flows keep their
//     conntrack binding whatever we change later.
//   s_<sp>: picks an endpoint: `dnat … numgen inc|jhash … map @m_<sp>` (slot → address . port), or
//     for persist a per-endpoint affinity set lookup before a weighted pick.
//   postrouting (nat): fullnat SNAT, keyed on the connection's original destination
//     (`ct original ip daddr . l4proto . ct original proto-dst` → source address).
//   forward (filter): counted set elements per service port and per endpoint, matched by conntrack tuple,
//     so every packet of both directions is counted (not just the first).
//   srcpre/srcout/guardpre (filter): source ranges, see filter.ts.
import { formatIp, tryParseIp, type Family } from '../../net/ip.js';
import { slotPlan } from '../selection/index.js';
import {
  DataplaneInputError,
  type CompileOptions,
  type DataplaneEndpoint,
  type DataplaneGuard,
  type DataplanePort,
  type DataplaneService,
} from '../types.js';
import { guardRestrictions, sourceFilter, type Restriction } from './filter.js';
import { endpointTag, names, servicePortId } from './names.js';
import { sourceSet } from './ranges.js';
import {
  mapSig,
  rule,
  shortHash,
  type TableChain,
  type TableMap,
  type TableRule,
  type TableState,
} from './table.js';

// Address parsing dominates compile time at 10k services; the same strings recur (VIPs, endpoints
// shared across ports), so parse each once per process. Bounded: cleared when it grows large.
const ipMemo = new Map<string, { canon: string; family: Family } | null>();
function ipInfo(a: string): { canon: string; family: Family } | undefined {
  let v = ipMemo.get(a);
  if (v === undefined) {
    if (ipMemo.size > 1_000_000) ipMemo.clear();
    const ip = tryParseIp(a);
    v = ip ? { canon: formatIp(ip), family: ip.family } : null;
    ipMemo.set(a, v);
  }
  return v ?? undefined;
}
/** Canonical text of an address already validated by check(). */
const canon = (a: string): string => ipInfo(a)!.canon;
const familyOf = (a: string): Family => ipInfo(a)!.family;

/** jhash seed shared by every instance: Maglev consistency across LB nodes needs the same hash. */
export const HASH_SEED = 0x6665726f;
export const DEFAULT_PERSIST_SECONDS = 300;
/** Slot maps per family and protocol (see selection()). */
export const SLOT_SHARDS = 64;

export const counterKey = (set: string, element: string): string => `${set}|${element}`;

export interface CounterRef {
  readonly service: string;
  readonly protocol: DataplanePort['protocol'];
  readonly port: number;
  readonly family: Family;
  /** Set for per-endpoint counters. */
  readonly endpoint?: string;
}

export interface Compiled {
  readonly state: TableState;
  /** counterKey(set, element) → what that element's counter counts. */
  readonly counters: ReadonlyMap<string, CounterRef>;
  /** Canonical service addresses (for VIP plumbing). */
  readonly addresses: readonly string[];
}

const FAMILIES: readonly Family[] = [4, 6];
const fam = (f: Family) => (f === 4 ? 'ip' : 'ip6');
const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');
const l4 = (p: DataplanePort['protocol']) => p.toLowerCase();
const hostPort = (f: Family, a: string, port: number) => (f === 4 ? `${a}:${port}` : `[${a}]:${port}`);

class Builder {
  readonly chains = new Map<string, TableChain>();
  readonly maps = new Map<string, TableMap>();
  readonly counterRefs = new Map<string, CounterRef>();
  chain(name: string, rules: string[], hook = ''): void {
    this.chains.set(name, { name, hook, rules: rules.map(rule) as TableRule[] });
  }
  private readonly elems = new Map<string, Map<string, string>>();
  map(name: string, m: Omit<TableMap, 'name' | 'elements'>): Map<string, string> {
    const elements = new Map<string, string>();
    this.maps.set(name, { name, ...m, elements });
    this.elems.set(name, elements);
    return elements;
  }
  /** Mutable elements of a map declared earlier. */
  el(name: string): Map<string, string> {
    return this.elems.get(name)!;
  }
}

function check(s: DataplaneService, seenNames: Set<string>): void {
  const bad = (field: string, value: unknown, why: string) =>
    new DataplaneInputError(s.name, field, value, why);
  if (!s.name) throw bad('name', s.name, 'empty');
  if (seenNames.has(s.name)) throw bad('name', s.name, 'duplicate service name');
  seenNames.add(s.name);
  for (const a of [...s.addresses, ...(s.snatAddresses ?? []), ...s.endpoints.map((e) => e.address)]) {
    if (!ipInfo(a)) throw bad('address', a, 'not an IPv4 or IPv6 address');
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
  if (s.persistTimeoutSeconds !== undefined && !(s.persistTimeoutSeconds >= 1))
    throw bad('persistTimeoutSeconds', s.persistTimeoutSeconds, 'must be ≥ 1');
  if (s.sourceRanges !== undefined && !Array.isArray(s.sourceRanges))
    throw bad('sourceRanges', s.sourceRanges, 'not a list');
  if (s.sourceRanges?.length) sourceSet(s.name, s.sourceRanges); // throws on a bad one
}

function baseChains(b: Builder, counters: boolean): void {
  const dispatch = FAMILIES.map(
    (f) => `${fam(f)} daddr . meta l4proto . th dport vmap @${names.dispatch(f)}`,
  );
  b.chain('prerouting', dispatch, 'nat prerouting -100 accept');
  b.chain('output', dispatch, 'nat output -100 accept');
  const snat: string[] = [];
  for (const f of FAMILIES) {
    b.map(names.dispatch(f), {
      decl: `type ${addrType(f)} . inet_proto . inet_service : verdict;`,
      sig: mapSig('map', `${addrType(f)} . inet_proto . inet_service`, 'verdict'),
      dynamic: false,
    });
    b.map(names.snat(f), {
      decl: `type ${addrType(f)} . inet_proto . inet_service : ${addrType(f)};`,
      sig: mapSig('map', `${addrType(f)} . inet_proto . inet_service`, addrType(f)),
      dynamic: false,
    });
    for (const p of ['tcp', 'udp', 'sctp'])
      snat.push(
        `meta l4proto ${p} ct status dnat snat ${fam(f)} to ct original ${fam(f)} daddr . meta l4proto . ` +
          `ct original proto-dst map @${names.snat(f)}`,
      );
  }
  b.chain('postrouting', snat, 'nat postrouting 100 accept');
  if (!counters) return;
  const fwd: string[] = [];
  const jumps: string[] = [];
  for (const f of FAMILIES) {
    // Sets with per-element counters: one object per family instead of a named counter per
    // service port and endpoint (90k objects for 10k services × 8 endpoints).
    const key = `${addrType(f)} . inet_proto . inet_service`;
    b.map(names.svcCounters(f), {
      decl: `type ${key}; counter;`,
      sig: mapSig('set', key, ''),
      dynamic: false,
    });
    b.map(names.epCounters(f), {
      decl: `type ${key} . ${addrType(f)}; counter;`,
      sig: mapSig('set', `${key} . ${addrType(f)}`, ''),
      dynamic: false,
    });
    // One chain per family and protocol, reached by a single vmap lookup: every forwarded packet
    // pays one jump and two set lookups, not a walk over rules for the other protocols.
    const orig = `ct original ${fam(f)} daddr . meta l4proto . ct original proto-dst`;
    for (const p of ['tcp', 'udp', 'sctp']) {
      jumps.push(`${f === 4 ? 'ipv4' : 'ipv6'} . ${p} : jump ${names.countChain(f, p)}`);
      b.chain(names.countChain(f, p), [
        `meta l4proto ${p} ${orig} @${names.svcCounters(f)}`,
        `meta l4proto ${p} ${orig} . ct reply ${fam(f)} saddr @${names.epCounters(f)}`,
      ]);
    }
  }
  fwd.push(`ct status dnat meta nfproto . meta l4proto vmap { ${jumps.join(', ')} }`);
  b.chain('forward', fwd, 'filter forward -10 accept');
}

/** The selection chain (and its maps/sets) for one service port in one family. */
function selection(
  b: Builder,
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
    opts.maglevTableSize,
  );
  const proto = `meta l4proto ${l4(p.protocol)}`;
  const n = plan.slots.length;
  if (s.algorithm === 'persist') {
    const timeout = s.persistTimeoutSeconds ?? DEFAULT_PERSIST_SECONDS;
    const rules: string[] = [];
    for (const e of listed) {
      const a = canon(e.address);
      const tag = endpointTag(a);
      b.map(names.affinity(sp, tag), {
        decl: `type ${addrType(f)}; flags dynamic,timeout; timeout ${timeout}s;`,
        sig: mapSig('set', addrType(f), '', timeout),
        dynamic: true,
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
    const v = b.map(names.verdicts(sp), {
      decl: 'typeof numgen inc mod 1 : verdict;',
      sig: mapSig('map', 'integer', 'verdict'),
      dynamic: false,
    });
    plan.slots.forEach((k, i) =>
      v.set(String(i), `goto ${names.endpointChain(sp, endpointTag(canon(active[k]!.address)))}`),
    );
    if (n > 0) rules.push(`numgen inc mod ${n} vmap @${names.verdicts(sp)}`);
    b.chain(names.selectChain(sp), rules);
    return;
  }
  // Slot maps are shared by a shard of services, keyed by the packet's own destination (VIP . port)
  // plus the slot. Why shards: the kernel finds named sets by a linear scan (one map per service:
  // quadratic), and every rule binding a map walks all its elements (one map for all: quadratic).
  const shard = names.slots(f, p.protocol, parseInt(shortHash(sp, 6), 16) % SLOT_SHARDS);
  if (!b.maps.has(shard)) {
    const l = l4(p.protocol);
    b.map(shard, {
      // typeof names the protocol: nft re-reads it from the kernel for later transactions, and a
      // generic `th dport` there conflicts with the rule's `meta l4proto tcp`.
      decl: `typeof ${fam(f)} daddr . ${l} dport . numgen inc mod 1 : ${fam(f)} daddr . ${l} dport;`,
      sig: mapSig('map', `${addrType(f)} . inet_service . integer`, `${addrType(f)} . inet_service`),
      dynamic: false,
    });
  }
  const m = b.el(shard);
  for (const vip of vips)
    plan.slots.forEach((k, i) =>
      m.set(`${vip} . ${p.port} . ${i}`, `${canon(active[k]!.address)} . ${p.targetPort}`),
    );
  const pick =
    plan.picker === 'inc'
      ? `numgen inc mod ${n}`
      : `jhash ${fam(f)} saddr . ${l4(p.protocol)} sport mod ${n} seed 0x${HASH_SEED.toString(16)}`;
  const key = `${fam(f)} daddr . ${l4(p.protocol)} dport . ${pick}`;
  b.chain(names.selectChain(sp), n > 0 ? [`${proto} dnat ${fam(f)} to ${key} map @${shard}`] : []);
}

/**
 * Compiles the whole table. `guards`: services the SCTP engine translates, filtered by source here
 * (see filter.ts). Throws DataplaneInputError naming the service, field and value.
 */
export function compile(
  services: readonly DataplaneService[],
  opts: CompileOptions = {},
  guards: readonly DataplaneGuard[] = [],
): Compiled {
  const b = new Builder();
  const counters = opts.counters ?? true;
  baseChains(b, counters);
  const seenNames = new Set<string>();
  const owner = new Map<string, string>();
  /** One owner per (address, protocol, port), services and guards alike. */
  const claim = (key: string, name: string) => {
    const prev = owner.get(key);
    if (prev !== undefined)
      throw new DataplaneInputError(name, 'ports', key, `already used by service "${prev}"`);
    owner.set(key, name);
  };
  const addresses = new Set<string>();
  const restricted: Restriction[] = [];
  for (const s of services) {
    check(s, seenNames);
    const srcs = s.sourceRanges?.length ? sourceSet(s.name, s.sourceRanges) : undefined;
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
          const key = `${vip} . ${l4(p.protocol)} . ${p.port}`;
          claim(key, s.name);
          b.el(names.dispatch(f)).set(key, `goto ${names.selectChain(sp)}`);
          if (srcs) restricted.push({ family: f, key, sources: srcs[f] });
          if (s.mode === 'fullnat') b.el(names.snat(f)).set(key, snatTo ?? vip);
          if (counters) {
            const ref = { service: s.name, protocol: p.protocol, port: p.port, family: f };
            b.el(names.svcCounters(f)).set(key, '');
            b.counterRefs.set(counterKey(names.svcCounters(f), key), ref);
            for (const e of listed) {
              const a = canon(e.address);
              b.el(names.epCounters(f)).set(`${key} . ${a}`, '');
              b.counterRefs.set(counterKey(names.epCounters(f), `${key} . ${a}`), { ...ref, endpoint: a });
            }
          }
        }
      }
    }
  }
  const filter = sourceFilter(restricted, guardRestrictions(guards, claim), counters);
  for (const c of filter.chains) b.chains.set(c.name, c);
  for (const m of filter.maps) b.maps.set(m.name, m);
  return {
    state: { table: opts.table ?? 'ferrolb', chains: b.chains, maps: b.maps, counters: filter.counters },
    counters: b.counterRefs,
    addresses: [...addresses],
  };
}
