// Cost of the per-service advertisement history (src/bgp/announced.ts) next to the route plan it
// follows, both pure, on the same input in the same run: 10k services, one /32 each, plus an
// aggregating advertisement (/24), so every address is carried by two routes.
import { performance } from 'node:perf_hooks';
import { planRoutes, type ServiceAnnouncement } from '../src/bgp/plan.js';
import { advertisedByService, advertisedChanges } from '../src/bgp/announced.js';
import type { BgpAdvertisementSpec } from '../src/model/bgp.js';

export interface BgpPlanBench {
  readonly services: number;
  readonly planMs: number;
  readonly historyMs: number;
  /** historyMs ÷ planMs: what the history adds to a BGP sync. */
  readonly ratio: number;
}

const adv = (name: string, aggregationLength: number): BgpAdvertisementSpec => ({
  name,
  apiVersion: 'ferrolb.io/v1',
  ipAddressPools: [],
  ipAddressPoolSelectors: [],
  aggregationLength,
  aggregationLengthV6: 128,
  asPathPrepend: 0,
  communities: [],
  largeCommunities: [],
  peers: [],
  nodeSelectors: [],
});

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export function runBgpPlanBench(n = 10_000, rounds = 7): BgpPlanBench {
  const services: ServiceAnnouncement[] = Array.from({ length: n }, (_, i) => ({
    service: `svc${i}`,
    addresses: [{ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, pool: 'p' }],
    activeEndpoints: 1,
  }));
  const advertisements = [adv('host', 32), adv('agg', 24)];
  const plans: number[] = [];
  const history: number[] = [];
  let before = new Map<string, string>();
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const plan = planRoutes(services, advertisements);
    const t1 = performance.now();
    const now = advertisedByService(services, plan.routes);
    advertisedChanges(before, now);
    before = now;
    const t2 = performance.now();
    plans.push(t1 - t0);
    history.push(t2 - t1);
  }
  const planMs = median(plans);
  const historyMs = median(history);
  return {
    services: n,
    planMs: Math.round(planMs * 10) / 10,
    historyMs: Math.round(historyMs * 10) / 10,
    ratio: Math.round((historyMs / planMs) * 100) / 100,
  };
}
