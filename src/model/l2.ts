// L2Advertisement objects (ferrolb.io/v1, and MetalLB's metallb.io/v1beta1 unchanged) → validated
// advertisements. Semantics follow MetalLB: no pool named and no pool selector = every pool; several
// advertisements for one pool add up (nodes and interfaces are unions); an empty node selector list
// means every node, an empty interface list every interface. Every problem names object, field, value.
import { tryParseIp } from '../net/ip.js';
import type { ConfigIssue } from './issues.js';
import { selectorMatches, toSelector, type LabelSelector } from './labels.js';
import { poolHolds } from './pools.js';
import type { BgpConfig, L2AdvertisementSpec, Pool, RawObject } from './types.js';

export type { L2AdvertisementSpec };

export const L2_KIND = 'L2Advertisement';
const ACCEPTED = ['ferrolb.io/v1', 'metallb.io/v1beta1'];
const FIELDS = [
  'ipAddressPools',
  'ipAddressPoolSelectors',
  'interfaces',
  'nodeSelectors',
  'serviceSelectors',
];

/** The interface that holds the service addresses (src/dataplane/vip.ts): never an announcement link. */
const VIP_DEVICE = 'ferrolb0';

/**
 * Why `name` cannot be a Linux interface name, or undefined. The kernel's rule (dev_valid_name):
 * 1..15 bytes, not "." or "..", no "/", ":" or whitespace.
 */
export function interfaceNameRefusal(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (Buffer.byteLength(name) > 15) return 'longer than 15 bytes (the kernel limit for interface names)';
  if (name === '.' || name === '..') return 'not a valid interface name';
  if (/[/:\s]/.test(name)) return 'must not contain "/", ":" or whitespace';
  if (name === 'lo') return 'loopback cannot answer ARP/NDP for a service address';
  if (name === VIP_DEVICE) return `${VIP_DEVICE} holds the service addresses; name the links clients reach`;
  return undefined;
}

function selectors(object: string, field: string, v: unknown, issues: ConfigIssue[]): LabelSelector[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((s) => s === null || typeof s !== 'object' || Array.isArray(s))) {
    issues.push({ object, field: `spec.${field}`, value: v, message: 'must be a list of label selectors' });
    return [];
  }
  return v.map(toSelector);
}

function strings(object: string, field: string, v: unknown, issues: ConfigIssue[]): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    issues.push({ object, field: `spec.${field}`, value: v, message: 'must be a list of strings' });
    return [];
  }
  return v as string[];
}

function parseOne(
  o: RawObject,
  index: number,
  issues: ConfigIssue[],
): { spec: L2AdvertisementSpec; ok: boolean } | undefined {
  const meta = (o.metadata ?? {}) as { name?: unknown };
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : undefined;
  const object = name ? `${L2_KIND}/${name}` : `document ${index + 1}`;
  const before = issues.length;
  if (!name) {
    issues.push({ object, field: 'metadata.name', value: meta.name, message: 'required field is missing' });
    return undefined;
  }
  if (typeof o.apiVersion !== 'string' || !ACCEPTED.includes(o.apiVersion)) {
    issues.push({
      object,
      field: 'apiVersion',
      value: o.apiVersion,
      message: `must be one of ${ACCEPTED.join(', ')}`,
    });
    return undefined;
  }
  const spec = o.spec ?? {};
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    issues.push({ object, field: 'spec', value: o.spec, message: 'must be an object' });
    return undefined;
  }
  const s = spec as Record<string, unknown>;
  for (const k of Object.keys(s))
    if (!FIELDS.includes(k))
      issues.push({ object, field: `spec.${k}`, value: s[k], message: 'unknown field' });
  const interfaces = strings(object, 'interfaces', s.interfaces, issues);
  interfaces.forEach((ifname, i) => {
    const why = interfaceNameRefusal(ifname);
    if (why) issues.push({ object, field: `spec.interfaces[${i}]`, value: ifname, message: why });
  });
  const out: L2AdvertisementSpec = {
    name,
    apiVersion: o.apiVersion,
    ipAddressPools: strings(object, 'ipAddressPools', s.ipAddressPools, issues),
    ipAddressPoolSelectors: selectors(object, 'ipAddressPoolSelectors', s.ipAddressPoolSelectors, issues),
    interfaces: [...new Set(interfaces)],
    nodeSelectors: selectors(object, 'nodeSelectors', s.nodeSelectors, issues),
    serviceSelectors: selectors(object, 'serviceSelectors', s.serviceSelectors, issues),
  };
  return { spec: out, ok: issues.length === before };
}

/** The pools an advertisement covers (MetalLB: neither names nor selectors = all pools). */
export function advertisedPools(a: L2AdvertisementSpec, pools: ReadonlyMap<string, Pool>): string[] {
  if (a.ipAddressPools.length === 0 && a.ipAddressPoolSelectors.length === 0) return [...pools.keys()];
  const out = new Set(a.ipAddressPools.filter((p) => pools.has(p)));
  for (const p of pools.values())
    if (a.ipAddressPoolSelectors.some((sel) => selectorMatches(sel, p.meta.labels))) out.add(p.meta.name);
  return [...out];
}

/**
 * Validates every L2Advertisement in `objects` (other kinds are ignored) against the pools and the
 * BGP configuration. Contradiction refused: an L2-announced pool that holds a BGP peer's address (or
 * our BGP source address) — the owner would answer ARP/NDP for the router's own address.
 */
export function parseL2Advertisements(
  objects: readonly RawObject[],
  pools: ReadonlyMap<string, Pool>,
  poolNames: ReadonlySet<string>,
  bgp: BgpConfig,
): { advertisements: L2AdvertisementSpec[]; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const advertisements: L2AdvertisementSpec[] = [];
  objects.forEach((o, i) => {
    if (o.kind !== L2_KIND) return;
    const parsed = parseOne(o, i, issues);
    if (!parsed) return;
    const a = parsed.spec;
    const object = `${L2_KIND}/${a.name}`;
    let bad = !parsed.ok;
    a.ipAddressPools.forEach((p, j) => {
      if (!poolNames.has(p)) {
        bad = true;
        issues.push({
          object,
          field: `spec.ipAddressPools[${j}]`,
          value: p,
          message: 'no IPAddressPool with this name',
        });
      }
    });
    const bgpAddrs = bgp.peers.flatMap((p) => [
      { what: `BGPPeer/${p.name} peerAddress`, a: p.peerAddress },
      ...(p.sourceAddress ? [{ what: `BGPPeer/${p.name} sourceAddress`, a: p.sourceAddress }] : []),
    ]);
    for (const name of advertisedPools(a, pools)) {
      const pool = pools.get(name)!;
      for (const b of bgpAddrs) {
        const ip = tryParseIp(b.a);
        if (!ip || !poolHolds(pool, ip)) continue;
        bad = true;
        const j = a.ipAddressPools.indexOf(name);
        issues.push({
          object,
          field: j >= 0 ? `spec.ipAddressPools[${j}]` : 'spec.ipAddressPoolSelectors',
          value: name,
          message: `pool holds ${b.a} (${b.what}); announcing it on Layer 2 would answer ARP/NDP for the BGP peering address`,
        });
      }
    }
    if (!bad) advertisements.push(a);
  });
  return { advertisements, issues };
}
