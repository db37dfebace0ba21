// Endpoint health as part of the core state: one verdict per (service, endpoint, check). A verdict
// counts only for the check that produced it; what a snapshot change removes (the service, the
// endpoint, the check) is forgotten with it, so a re-created service or a re-added check starts
// "unknown" and its first verdict decides — never a stale verdict from before.
import type { HealthCheck, LoadBalancerSpec } from '../model/types.js';
import type { Snapshot } from './snapshot.js';
import type { EndpointState } from './views.js';

/** What a probe checks, as far as the answer's meaning goes (timing and thresholds excluded). */
export interface CheckShape {
  readonly type: string;
  readonly port?: number;
  readonly path?: string;
  readonly expectStatus?: readonly number[];
  readonly udpSilence?: string;
  readonly udpPayload?: string;
}

/** Identity of a check: the same for the model's healthCheck and the probe target built from it. */
export function checkKey(c: CheckShape, targetPort: number): string {
  return JSON.stringify([
    c.type,
    c.port ?? targetPort,
    c.path ?? '/',
    c.expectStatus ?? null,
    c.udpSilence ?? null,
    c.udpPayload ?? null,
  ]);
}

const keys = new WeakMap<LoadBalancerSpec, { check: string | undefined; endpoints: Set<string> }>();
function specKeys(lb: LoadBalancerSpec): { check: string | undefined; endpoints: Set<string> } {
  let k = keys.get(lb);
  if (!k) {
    const hc: HealthCheck = lb.healthCheck;
    k = {
      check: hc.type === 'none' ? undefined : checkKey(hc, lb.ports[0]?.targetPort ?? 0),
      endpoints: new Set(lb.endpoints.map((e) => e.address)),
    };
    keys.set(lb, k);
  }
  return k;
}

/** The check (service, endpoint) runs in `snap`, or undefined when it runs none. */
export function currentCheck(snap: Snapshot, service: string, endpoint: string): string | undefined {
  const lb = snap.state.loadBalancers.get(service);
  if (!lb || snap.status.get(service)?.phase !== 'Allocated') return undefined;
  const k = specKeys(lb);
  return k.endpoints.has(endpoint) ? k.check : undefined;
}

interface Entry {
  readonly check: string;
  readonly state: EndpointState;
}

export class HealthTable {
  private readonly by = new Map<string, Map<string, Entry>>();
  /** Per service, changed by every change of its verdicts (consumers memoise per service by it). */
  private readonly versions = new Map<string, number>();
  private clock = 0;
  private touch(service: string): void {
    this.versions.set(service, ++this.clock);
  }

  /** Changes whenever a verdict of `service` changes (0: none recorded yet). */
  version(service: string): number {
    return this.versions.get(service) ?? 0;
  }

  /**
   * Records a verdict; false (ignored) when it is for a check the endpoint no longer runs (the probe
   * of an old check, a removed endpoint or service) or changes nothing. `check` absent: the current one.
   */
  record(snap: Snapshot, service: string, endpoint: string, state: EndpointState, check?: string): boolean {
    const now = currentCheck(snap, service, endpoint);
    if (now === undefined || (check !== undefined && check !== now)) return false;
    let m = this.by.get(service);
    if (!m) this.by.set(service, (m = new Map()));
    const e = m.get(endpoint);
    if (e && e.check === now && e.state === state) return false;
    m.set(endpoint, { check: now, state });
    this.touch(service);
    return true;
  }

  lookup(service: string, endpoint: string): EndpointState | undefined {
    return this.by.get(service)?.get(endpoint)?.state;
  }

  /**
   * After the snapshot moved from `before` to `after`: forget services, endpoints and checks that
   * went. A check that changed (another path, port, type) keeps the endpoint's last state only until
   * the new check's own verdicts replace it, so editing a probe does not blackhole a serving service.
   * Cost: one identity comparison per service with recorded health.
   */
  prune(before: Snapshot, after: Snapshot): void {
    for (const [service, m] of this.by) {
      const lb = after.state.loadBalancers.get(service);
      if (!lb || after.status.get(service)?.phase !== 'Allocated') {
        this.by.delete(service);
        this.touch(service);
        continue;
      }
      if (lb === before.state.loadBalancers.get(service)) continue;
      this.touch(service);
      const k = specKeys(lb);
      if (k.check === undefined) {
        this.by.delete(service);
        continue;
      }
      for (const [endpoint, e] of m) {
        if (!k.endpoints.has(endpoint)) m.delete(endpoint);
        else if (e.check !== k.check) m.set(endpoint, { check: k.check, state: e.state });
      }
    }
  }

  /** Number of (service, endpoint) verdicts held (tests, metrics). */
  get size(): number {
    let n = 0;
    for (const m of this.by.values()) n += m.size;
    return n;
  }
}
