// Pure mappings from a Snapshot (+ endpoint health) to the inputs of the data plane and the probe
// scheduler. Only Allocated services reach the kernel: a Pending service has no address to serve.
import type { DataplaneService } from '../dataplane/types.js';
import type { ProbeTarget } from '../probes/scheduler.js';
import type { Snapshot } from '../state/snapshot.js';
import { defaultEndpointState, type HealthLookup } from '../state/views.js';

export function dataplaneServices(snap: Snapshot, health: HealthLookup): DataplaneService[] {
  const out: DataplaneService[] = [];
  for (const lb of [...snap.state.loadBalancers.values()].sort((a, b) =>
    a.meta.name.localeCompare(b.meta.name),
  )) {
    const alloc = snap.allocations.get(lb.meta.name);
    if (snap.status.get(lb.meta.name)?.phase !== 'Allocated' || !alloc || alloc.addresses.length === 0)
      continue;
    out.push({
      name: lb.meta.name,
      addresses: alloc.addresses,
      ports: lb.ports.map((p) => ({ port: p.port, protocol: p.protocol, targetPort: p.targetPort })),
      mode: lb.mode,
      algorithm: lb.algorithm,
      persistTimeoutSeconds: lb.persistTimeoutSeconds,
      flushOnInactive: lb.flushOnInactive,
      endpoints: lb.endpoints.map((e) => ({
        address: e.address,
        weight: e.weight,
        state: health(lb.meta.name, e.address) ?? defaultEndpointState(lb),
      })),
    });
  }
  return out;
}

/** One probe target per (service, endpoint); the probe port defaults to the first port's target. */
export function probeTargets(snap: Snapshot): ProbeTarget[] {
  const out: ProbeTarget[] = [];
  for (const lb of snap.state.loadBalancers.values()) {
    if (lb.healthCheck.type === 'none' || snap.status.get(lb.meta.name)?.phase !== 'Allocated') continue;
    const hc = lb.healthCheck;
    for (const e of lb.endpoints) {
      out.push({
        service: lb.meta.name,
        endpoint: e.address,
        targetPort: lb.ports[0]?.targetPort ?? 0,
        check: {
          type: hc.type,
          ...(hc.port !== undefined ? { port: hc.port } : {}),
          path: hc.path,
          intervalMs: hc.intervalMs,
          timeoutMs: hc.timeoutMs,
          unhealthyThreshold: hc.unhealthyThreshold,
          healthyThreshold: hc.healthyThreshold,
          ...(hc.expectStatus ? { expectStatus: hc.expectStatus } : {}),
          ...(hc.udpSilence ? { udpSilence: hc.udpSilence } : {}),
          ...(hc.udpPayload !== undefined ? { udpPayload: hc.udpPayload } : {}),
        },
      });
    }
  }
  return out;
}
