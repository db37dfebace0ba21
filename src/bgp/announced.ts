// Which planned routes carry each service's addresses (pure), so the per-service history can say
// when a service became advertised and when it was withdrawn. An aggregated route (aggregationLength)
// carries every address it contains.
import { tryParseIp } from '../net/ip.js';
import { formatPrefix } from './codec/index.js';
import type { AdvertisedRoute } from './ribout.js';
import type { ServiceAnnouncement } from './plan.js';

const width = (family: 4 | 6): bigint => (family === 4 ? 32n : 128n);

/**
 * For each service: the sorted prefixes of the routes that carry one of its addresses ('' = none).
 * Routes are indexed by (family, length, network), so the cost is O(addresses × distinct lengths),
 * not addresses × routes (10k services each way would be 10^8 per BGP plan).
 */
export function advertisedByService(
  services: readonly ServiceAnnouncement[],
  routes: readonly AdvertisedRoute[],
): Map<string, string> {
  const index = new Map<string, string>();
  const lengths = { 4: new Set<number>(), 6: new Set<number>() };
  for (const r of routes) {
    const p = r.prefix;
    lengths[p.family].add(p.len);
    index.set(`${p.family}/${p.len}/${p.addr}`, formatPrefix(p));
  }
  const out = new Map<string, string>();
  for (const s of services) {
    const carried = new Set<string>();
    for (const a of s.addresses) {
      const ip = tryParseIp(a.address);
      if (!ip) continue;
      for (const len of lengths[ip.family]) {
        const shift = width(ip.family) - BigInt(len);
        const hit = index.get(`${ip.family}/${len}/${(ip.value >> shift) << shift}`);
        if (hit !== undefined) carried.add(hit);
      }
    }
    out.set(s.service, [...carried].sort().join(','));
  }
  return out;
}

export interface AdvertisedChange {
  readonly service: string;
  /** The prefixes now carried; empty = withdrawn. */
  readonly prefixes: readonly string[];
}

/**
 * The services whose carried prefixes changed between two plans. A service no longer planned at all
 * (deleted, pending) is left out: its own history says why, and a deleted one has none to add to.
 */
export function advertisedChanges(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): AdvertisedChange[] {
  const changes: AdvertisedChange[] = [];
  for (const [service, now] of after)
    if ((before.get(service) ?? '') !== now)
      changes.push({ service, prefixes: now === '' ? [] : now.split(',') });
  return changes;
}
