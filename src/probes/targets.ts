// Pure mapping from load balancers (as the model describes them) to probe targets, so the daemon's
// wiring is one call: `scheduler.update(probeTargets(desired.loadBalancers))`.
//
// One target per (service, endpoint address): the data plane's verdict is per endpoint address, as in
// LoxiLB. The probe port is `healthCheck.port`, else the first service port's targetPort — an endpoint
// that fails on its first port is taken out for all ports, which is the conservative choice when only
// one probe runs per endpoint. Types are structural so this file does not depend on src/model.
import type { HealthCheckConfig } from './types.js';
import type { ProbeTarget } from './scheduler.js';

export interface ProbedService {
  readonly endpoints: readonly { readonly address: string }[];
  readonly ports: readonly { readonly targetPort: number }[];
  readonly healthCheck: HealthCheckConfig;
}

export function probeTargets(services: ReadonlyMap<string, ProbedService>): ProbeTarget[] {
  const out: ProbeTarget[] = [];
  for (const [service, lb] of services) {
    const targetPort = lb.ports[0]?.targetPort ?? 0;
    const seen = new Set<string>();
    for (const ep of lb.endpoints) {
      if (seen.has(ep.address)) continue;
      seen.add(ep.address);
      out.push({ service, endpoint: ep.address, targetPort, check: lb.healthCheck });
    }
  }
  return out;
}
