// Defaults a real API server fills in on create that tests of the node-port path depend on.
import { ApiError, type Json } from './store.js';

/** kube-apiserver's default --service-node-port-range. */
export const NODE_PORT_RANGE = [30000, 32767] as const;

interface PortJson {
  nodePort?: number;
}

/**
 * A Service of type NodePort, or LoadBalancer without allocateLoadBalancerNodePorts: false, gets a
 * nodePort on every port that names none: the lowest one no Service holds (a real server picks at
 * random; lowest-free keeps test runs repeatable).
 */
export function withNodePorts(svc: Json, existing: readonly Json[]): Json {
  const spec = (svc.spec ?? {}) as Json;
  const wants =
    spec.type === 'NodePort' ||
    (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
  const ports = (spec.ports ?? []) as PortJson[];
  if (!wants || ports.every((p) => p.nodePort !== undefined)) return svc;
  const used = new Set<number>();
  for (const o of [svc, ...existing])
    for (const p of (((o.spec ?? {}) as Json).ports ?? []) as PortJson[])
      if (p.nodePort !== undefined) used.add(p.nodePort);
  let next: number = NODE_PORT_RANGE[0];
  const take = () => {
    while (used.has(next)) next++;
    if (next > NODE_PORT_RANGE[1])
      throw new ApiError(422, 'Invalid', 'spec.ports[].nodePort: no free node port in the range');
    used.add(next);
    return next;
  };
  return {
    ...svc,
    spec: { ...spec, ports: ports.map((p) => (p.nodePort !== undefined ? p : { ...p, nodePort: take() })) },
  };
}
