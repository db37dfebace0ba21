// Pure: which endpoints and target ports a Service's load balancer sends to. Either the pods listed in
// its EndpointSlices (ready ones; serving+terminating ones only when nothing is ready, as kube-proxy
// does during a rollout), or every node's address with the Service's NodePort (kube-loxilb's way).
// externalTrafficPolicy Local narrows both to nodes that have a ready local endpoint.
import { formatIp, tryParseIp } from '../net/ip.js';
import { SERVICE_NAME_LABEL } from './annotations.js';
import type { KEndpoint, KEndpointSlice, KNode, KService } from './types.js';

export interface MappedEndpoints {
  readonly ports: { name?: string; port: number; protocol: string; targetPort: number }[];
  readonly endpoints: { address: string }[];
  readonly announceNodes?: string[];
  readonly issues: { field: string; value: unknown; message: string }[];
}

export const slicesOf = (svc: KService, slices: readonly KEndpointSlice[]): KEndpointSlice[] =>
  slices.filter(
    (s) =>
      (s.metadata.namespace ?? 'default') === (svc.metadata.namespace ?? 'default') &&
      s.metadata.labels?.[SERVICE_NAME_LABEL] === svc.metadata.name,
  );

export function nodeReady(n: KNode): boolean {
  return (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** A node's addresses to send to: InternalIP (one per family), else ExternalIP. */
export function nodeAddresses(n: KNode): string[] {
  const pick = (type: string) =>
    (n.status?.addresses ?? [])
      .filter((a) => a.type === type)
      .map((a) => tryParseIp(a.address))
      .filter((ip) => ip !== undefined);
  const ips = pick('InternalIP');
  const chosen = ips.length > 0 ? ips : pick('ExternalIP');
  const seen = new Set<number>();
  return chosen.filter((ip) => !seen.has(ip.family) && seen.add(ip.family)).map(formatIp);
}

export function endpointsFor(
  svc: KService,
  allSlices: readonly KEndpointSlice[],
  nodes: readonly KNode[],
  nodePorts: boolean,
): MappedEndpoints {
  const issues: MappedEndpoints['issues'] = [];
  const slices = slicesOf(svc, allSlices);
  const local = svc.spec?.externalTrafficPolicy === 'Local';

  const all: { ep: KEndpoint; slice: KEndpointSlice }[] = [];
  for (const slice of slices) for (const ep of slice.endpoints ?? []) all.push({ ep, slice });
  const ready = all.filter(({ ep }) => ep.conditions?.ready !== false);
  const chosen =
    ready.length > 0
      ? ready
      : all.filter(({ ep }) => ep.conditions?.serving === true && ep.conditions?.terminating === true);
  const localNodes = [...new Set(chosen.map(({ ep }) => ep.nodeName).filter((n): n is string => !!n))].sort();

  const ports = (svc.spec?.ports ?? []).map((p, i) => {
    const protocol = p.protocol ?? 'TCP';
    let targetPort: number | undefined;
    if (nodePorts) {
      targetPort = p.nodePort;
      if (targetPort === undefined)
        issues.push({
          field: `spec.ports[${i}].nodePort`,
          value: p.nodePort,
          message:
            'node-port endpoints need a nodePort (spec.allocateLoadBalancerNodePorts must not be false)',
        });
    } else {
      // The slices carry the resolved container port, also for a named targetPort.
      const sp = slices
        .flatMap((s) => s.ports ?? [])
        .find((x) => (x.name ?? '') === (p.name ?? '') && (x.protocol ?? 'TCP') === protocol && x.port);
      targetPort = sp?.port ?? (typeof p.targetPort === 'number' ? p.targetPort : undefined) ?? p.port;
    }
    return { ...(p.name ? { name: p.name } : {}), port: p.port, protocol, targetPort: targetPort ?? p.port };
  });

  let addresses: string[];
  if (nodePorts) {
    const usable = nodes
      .filter(nodeReady)
      .filter((n) => !local || localNodes.includes(n.metadata.name ?? ''));
    addresses = usable.flatMap(nodeAddresses);
  } else {
    addresses = chosen.flatMap(({ ep }) => ep.addresses);
  }
  const endpoints: { address: string }[] = [];
  const seen = new Set<string>();
  for (const a of addresses) {
    const ip = tryParseIp(a);
    if (!ip) continue; // an EndpointSlice of addressType FQDN; nothing to forward to
    const text = formatIp(ip);
    if (!seen.has(text)) {
      seen.add(text);
      endpoints.push({ address: text });
    }
  }
  endpoints.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return { ports, endpoints, ...(local ? { announceNodes: localNodes } : {}), issues };
}
