// Configuration checks for HA connection-state sync (docs/ha.md, "fullNAT under HA"): a fullNAT
// flow survives a failover only if the node taking over can own its SNAT source — the endpoint
// answers that address. The service's own addresses move with the service; a node's own address,
// or an address ferrolb does not move with this service, cannot. Warnings (the configuration still
// applies: an operator may float that address by other means); `ferroctl apply --strict` refuses them.
import type { ClusterSpec } from './cluster.js';
import type { ConfigIssue } from './issues.js';
import type { LoadBalancerSpec } from './types.js';

/** Every HA warning's message starts with this (a Cluster change recomputes them all). */
export const HA_WARNING_PREFIX = 'HA: ';

export function haSnatWarnings(
  label: string,
  lb: LoadBalancerSpec,
  cluster: ClusterSpec | undefined,
): ConfigIssue[] {
  if (!cluster || cluster.nodes.length < 2 || lb.mode !== 'fullnat') return [];
  const own = new Set([...lb.addresses, ...lb.secondaryAddresses]);
  const out: ConfigIssue[] = [];
  lb.snatAddresses.forEach((a, i) => {
    if (own.has(a)) return;
    const node = cluster.nodes.find((n) => n.address === a);
    const field = `spec.snatAddresses[${i}]`;
    const lost =
      'after a failover the endpoints answer an address the new owner does not hold and its connections are lost;' +
      ' leave spec.snatAddresses empty (the service address is the default) or name one of spec.addresses';
    out.push({
      object: label,
      field,
      value: a,
      message: node
        ? `${HA_WARNING_PREFIX}${a} is Cluster node ${node.name}'s own address: no other node can own it — ${lost}`
        : `${HA_WARNING_PREFIX}${a} is not an address of this LoadBalancer, so ferrolb does not move it with the service — ${lost}`,
    });
  });
  return out;
}

/** HA warnings of every LoadBalancer (when the Cluster itself changed: rare, whole-config). */
export function allHaWarnings(
  loadBalancers: Iterable<[string, LoadBalancerSpec]>,
  cluster: ClusterSpec | undefined,
  labelOf: (name: string) => string,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const [name, lb] of loadBalancers) out.push(...haSnatWarnings(labelOf(name), lb, cluster));
  return out;
}
