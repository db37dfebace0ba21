// What the kernel must hold for Layer 2, from (candidates, what this node owns, its links): pure.
//
// Mechanism (measured in netns, see docs/l2.md): service addresses are local routes on ferrolb0, so
//   • IPv4: the kernel answers ARP for them on every interface. An `arp` family nft table drops
//     requests for candidate addresses unless this node owns them on the incoming interface (sets
//     `owned_any` for "every interface", `owned_if` of ifname . address otherwise). Matching by
//     interface NAME lets an interface that does not exist yet be listed and work when it appears.
//   • IPv6: the kernel does not answer NS for route-only addresses; the owner adds proxy neighbour
//     entries per interface (proxy_ndp, proxy_delay 0) and the kernel answers at once, even while
//     this process is busy. An `ip6` nft table drops NS for candidates this node does not own
//     (stale proxy entries, or addresses configured as interface addresses, stay silent too).
//   • Owned sets expire unless refreshed (liveness): a dead or stalled announcer stops answering.
import type { L2Candidate, OwnedAddresses } from '../cluster/contract.js';
import { formatIp, tryParseIp } from '../net/ip.js';

export interface Link {
  readonly name: string;
  readonly index: number;
  readonly mac: string;
  readonly up: boolean;
  /** Enslaved to a bridge or bond: the master answers, not the port. */
  readonly enslaved: boolean;
  readonly ether: boolean;
}

/** Interfaces never used for "every interface": loopback, the VIP device, ports, non-Ethernet. */
export const VIP_DEVICE = 'ferrolb0';
export const eligibleForAll = (l: Link): boolean =>
  l.ether && !l.enslaved && l.name !== 'lo' && l.name !== VIP_DEVICE;

export interface KernelL2 {
  /** Candidates per family (requests/solicitations for them are filtered). */
  readonly cand4: ReadonlySet<string>;
  readonly cand6: ReadonlySet<string>;
  /** Owned on every interface (IPv4). */
  readonly ownedAny4: ReadonlySet<string>;
  /** `${ifname}\t${address}` (IPv4 owned on named interfaces). */
  readonly ownedIf4: ReadonlySet<string>;
  /** Owned IPv6 addresses (the NS filter's allow set; the interfaces are the proxy entries). */
  readonly owned6: ReadonlySet<string>;
  /** IPv6 proxy entries, `${ifname}\t${address}`. */
  readonly proxy6: ReadonlySet<string>;
}

export interface AddressPlan {
  readonly address: string;
  /** Interfaces the address is announced on now (present and up), sorted. */
  readonly links: readonly string[];
  /** Requested interfaces this node does not have. */
  readonly missing: readonly string[];
}

export interface L2Plan {
  readonly kernel: KernelL2;
  /** Per owned address. */
  readonly owned: ReadonlyMap<string, AddressPlan>;
}

export const pairKey = (ifname: string, address: string): string => `${ifname}\t${address}`;
export const splitPair = (k: string): [string, string] => {
  const i = k.indexOf('\t');
  return [k.slice(0, i), k.slice(i + 1)];
};
const isV6 = (a: string) => a.includes(':');

export function planKernel(
  candidates: ReadonlyMap<string, L2Candidate>,
  owned: OwnedAddresses,
  links: ReadonlyMap<string, Link>,
): L2Plan {
  const k = emptyKernel();
  for (const a of candidates.keys()) (isV6(a) ? k.cand6 : k.cand4).add(a);
  const all = [...links.values()].filter(eligibleForAll).map((l) => l.name);
  const plans = new Map<string, AddressPlan>();
  for (const [address, ifs] of owned) {
    const v6 = isV6(address);
    const wanted = ifs.length === 0 ? all : ifs;
    const present = wanted.filter((n) => links.has(n)).sort();
    const missing = ifs.filter((n) => !links.has(n)).sort();
    if (v6) {
      k.cand6.add(address);
      k.owned6.add(address);
      for (const n of present) k.proxy6.add(pairKey(n, address));
    } else {
      k.cand4.add(address);
      if (ifs.length === 0) k.ownedAny4.add(address);
      else for (const n of ifs) k.ownedIf4.add(pairKey(n, address));
    }
    plans.set(address, { address, links: present.filter((n) => links.get(n)!.up), missing });
  }
  return { kernel: k, owned: plans };
}

type Mutable = { -readonly [K in keyof KernelL2]: Set<string> };

export const emptyKernel = (): Mutable => ({
  cand4: new Set(),
  cand6: new Set(),
  ownedAny4: new Set(),
  ownedIf4: new Set(),
  owned6: new Set(),
  proxy6: new Set(),
});

export interface KernelDiff {
  readonly add: KernelL2;
  readonly remove: KernelL2;
  /** The owned sets differ: they are rewritten whole (they carry liveness timeouts). */
  readonly ownedChanged: boolean;
}

const minus = (a: ReadonlySet<string>, b: ReadonlySet<string>) => new Set([...a].filter((x) => !b.has(x)));
const KEYS = ['cand4', 'cand6', 'ownedAny4', 'ownedIf4', 'owned6', 'proxy6'] as const;

export function diffKernel(have: KernelL2, want: KernelL2): KernelDiff {
  const add = emptyKernel();
  const remove = emptyKernel();
  for (const key of KEYS) {
    add[key] = minus(want[key], have[key]);
    remove[key] = minus(have[key], want[key]);
  }
  const ownedChanged = (['ownedAny4', 'ownedIf4', 'owned6'] as const).some(
    (key) => add[key].size + remove[key].size > 0,
  );
  return { add, remove, ownedChanged };
}

export const diffIsEmpty = (d: KernelDiff): boolean =>
  [d.add, d.remove].every((k) => KEYS.every((key) => k[key].size === 0));

export const TABLE = 'ferrolb_l2';

/**
 * The tables, sets and rules (idempotent; chains rewritten atomically, set contents kept).
 * Owned sets carry a timeout that the announcer keeps refreshing: if this process dies or stalls,
 * the node stops answering for its addresses within the timeout, as the other nodes take over
 * (they stop hearing its heartbeats just as fast). Candidate sets never expire: a non-owner stays
 * silent with or without us (fail closed). IPv6 sets are keyed by the raw NS target field (nft 1.0.6
 * has no typed ND target expression): 128-bit integers.
 */
export function tableScript(): string {
  const T6 = '@th,64,128';
  return [
    `add table arp ${TABLE}`,
    `add set arp ${TABLE} cand4 { type ipv4_addr; }`,
    `add set arp ${TABLE} owned_any4 { type ipv4_addr; flags timeout; }`,
    `add set arp ${TABLE} owned_if4 { type ifname . ipv4_addr; flags timeout; }`,
    `add chain arp ${TABLE} input { type filter hook input priority filter; policy accept; }`,
    `add chain arp ${TABLE} candidate`,
    `flush chain arp ${TABLE} input`,
    `flush chain arp ${TABLE} candidate`,
    `add rule arp ${TABLE} input arp operation request arp daddr ip @cand4 jump candidate`,
    `add rule arp ${TABLE} candidate arp daddr ip @owned_any4 accept`,
    `add rule arp ${TABLE} candidate meta iifname . arp daddr ip @owned_if4 accept`,
    `add rule arp ${TABLE} candidate counter drop`,
    `add table ip6 ${TABLE}`,
    `add set ip6 ${TABLE} cand6 { typeof ${T6}; }`,
    `add set ip6 ${TABLE} owned6 { typeof ${T6}; flags timeout; }`,
    `add chain ip6 ${TABLE} input { type filter hook input priority filter; policy accept; }`,
    `flush chain ip6 ${TABLE} input`,
    `add rule ip6 ${TABLE} input icmpv6 type nd-neighbor-solicit ${T6} @cand6 ${T6} != @owned6 counter drop`,
  ].join('\n');
}

/** Rules the tables must have (for drift checks), per `${family} ${chain}`. */
export const RULE_COUNTS: Readonly<Record<string, number>> = {
  'arp input': 1,
  'arp candidate': 3,
  'ip6 input': 1,
};

const q = (ifname: string) => `"${ifname.replace(/["\\]/g, '')}"`;

/** An IPv6 address as the 128-bit integer the NS filter compares. */
export function v6Int(address: string): string {
  const ip = tryParseIp(address);
  if (!ip || ip.family !== 6) throw new Error(`"${address}" is not an IPv6 address`);
  return `0x${ip.value.toString(16).padStart(32, '0')}`;
}
export const intV6 = (hex: string): string => formatIp({ family: 6, value: BigInt(hex) });

/**
 * nft statements for a diff. Candidate sets by difference; owned sets rewritten whole with fresh
 * timeouts when they change or are refreshed (`refresh`), in the same atomic transaction.
 */
export function nftScript(d: KernelDiff, want: KernelL2, refresh: boolean, timeoutMs: number): string {
  const lines: string[] = [];
  const el = (op: 'add' | 'delete', fam: 'arp' | 'ip6', set: string, items: string[]) => {
    for (let i = 0; i < items.length; i += 1000)
      lines.push(`${op} element ${fam} ${TABLE} ${set} { ${items.slice(i, i + 1000).join(', ')} }`);
  };
  const t = ` timeout ${Math.max(1, Math.round(timeoutMs))}ms`;
  const pairs = (s: ReadonlySet<string>) =>
    [...s].map((k) => splitPair(k)).map(([i, a]) => `${q(i)} . ${a}${t}`);
  el('add', 'arp', 'cand4', [...d.add.cand4]);
  el('add', 'ip6', 'cand6', [...d.add.cand6].map(v6Int));
  if (d.ownedChanged || refresh) {
    lines.push(
      `flush set arp ${TABLE} owned_any4`,
      `flush set arp ${TABLE} owned_if4`,
      `flush set ip6 ${TABLE} owned6`,
    );
    el(
      'add',
      'arp',
      'owned_any4',
      [...want.ownedAny4].map((a) => `${a}${t}`),
    );
    el('add', 'arp', 'owned_if4', pairs(want.ownedIf4));
    el(
      'add',
      'ip6',
      'owned6',
      [...want.owned6].map((a) => `${v6Int(a)}${t}`),
    );
  }
  el('delete', 'arp', 'cand4', [...d.remove.cand4]);
  el('delete', 'ip6', 'cand6', [...d.remove.cand6].map(v6Int));
  return lines.join('\n');
}

/** `ip -batch` lines for the IPv6 proxy neighbour entries. */
export function proxyBatch(d: KernelDiff): string[] {
  return [
    ...[...d.remove.proxy6].map((k) => splitPair(k)).map(([i, a]) => `neigh del proxy ${a} dev ${i}`),
    ...[...d.add.proxy6].map((k) => splitPair(k)).map(([i, a]) => `neigh replace proxy ${a} dev ${i}`),
  ];
}

type NftJson = { nftables?: Record<string, unknown>[] };

/** Reads `nft -j list ruleset`-style JSON of our tables: set contents and rule counts per chain. */
export function parseNftTables(json: string): { kernel: Mutable; rules: Record<string, number> } {
  const k = emptyKernel();
  const rules: Record<string, number> = {};
  for (const doc of json.split('\n').filter((l) => l.trim())) {
    for (const item of (JSON.parse(doc) as NftJson).nftables ?? []) {
      const set = item.set as { name?: string; table?: string; elem?: unknown[] } | undefined;
      if (set && set.table === TABLE) {
        for (const e of set.elem ?? []) {
          const v: unknown =
            e && typeof e === 'object' && 'elem' in e ? (e as { elem: { val?: unknown } }).elem.val : e;
          if (set.name === 'owned_if4') {
            const c = (v as { concat?: unknown[] } | undefined)?.concat;
            if (Array.isArray(c) && c.length === 2) k.ownedIf4.add(pairKey(String(c[0]), String(c[1])));
          } else if (typeof v === 'string' || typeof v === 'number') {
            const x = String(v);
            if (set.name === 'cand4') k.cand4.add(x);
            else if (set.name === 'owned_any4') k.ownedAny4.add(x);
            else if (set.name === 'cand6') k.cand6.add(intV6(x));
            else if (set.name === 'owned6') k.owned6.add(intV6(x));
          }
        }
      }
      const rule = item.rule as { family?: string; table?: string; chain?: string } | undefined;
      if (rule?.chain && rule.table === TABLE) {
        const key = `${rule.family} ${rule.chain}`;
        rules[key] = (rules[key] ?? 0) + 1;
      }
    }
  }
  return { kernel: k, rules };
}

/** Reads `ip -j link show`. */
export function parseLinks(json: string): Map<string, Link> {
  const out = new Map<string, Link>();
  const items = JSON.parse(json || '[]') as {
    ifindex: number;
    ifname: string;
    flags?: string[];
    link_type?: string;
    address?: string;
    master?: string;
  }[];
  for (const l of items) {
    // "veth0@if12" appears only in text output; JSON gives the plain name.
    out.set(l.ifname, {
      name: l.ifname,
      index: l.ifindex,
      mac: l.address ?? '',
      up: (l.flags ?? []).includes('UP'),
      enslaved: l.master !== undefined,
      ether: l.link_type === 'ether' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(l.address ?? ''),
    });
  }
  return out;
}

/** Reads `ip -j -6 neigh show proxy` into `${ifname}\t${address}` keys. */
export function parseProxies(json: string, canon: (a: string) => string): Set<string> {
  const out = new Set<string>();
  for (const e of JSON.parse(json || '[]') as { dst?: string; dev?: string }[])
    if (e.dst && e.dev) out.add(pairKey(e.dev, canon(e.dst)));
  return out;
}
