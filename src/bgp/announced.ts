// Which planned routes carry each service's addresses (pure), so the per-service history can say
// when a service became advertised and when it was withdrawn. An aggregated route (aggregationLength)
// carries every address it contains.
import { tryParseIp } from '../net/ip.js';
import { formatPrefix } from './codec/index.js';
import type { AdvertisedRoute } from './ribout.js';
import type { ServiceAnnouncement } from './plan.js';

const width = (family: 4 | 6): bigint => (family === 4 ? 32n : 128n);

/** For each service: the sorted prefixes of the routes that carry one of its addresses ('' = none). */
export function advertisedByService(
  services: readonly ServiceAnnouncement[],
  routes: readonly AdvertisedRoute[],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of services) {
    const carried = new Set<string>();
    for (const a of s.addresses) {
      const ip = tryParseIp(a.address);
      if (!ip) continue;
      for (const r of routes) {
        const p = r.prefix;
        if (p.family !== ip.family) continue;
        const shift = width(ip.family) - BigInt(p.len);
        if (ip.value >> shift === p.addr >> shift) carried.add(formatPrefix(p));
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
