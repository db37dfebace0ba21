// Pure: what an agent on an LB node programs, from the same cluster objects. The agent never
// allocates — it takes each Service's addresses from what the controller recorded on it
// (ferrolb.io/allocated), so agents and controller can never disagree about an address.
import type { ServiceRef } from './l2status.js';
import type { Allocation } from '../ipam/allocator.js';
import type { DesiredState, RawObject } from '../model/types.js';
import { buildDesiredState } from '../model/validate.js';
import type { ConfigIssue } from '../model/issues.js';
import { ALLOCATED } from './annotations.js';
import { namespaceLabelsOf, persistedAllocation, type ClusterView, type CoreConfig } from './core.js';
import { mapCustomResources } from './crds.js';
import { claims, lbName, mapService } from './mapping.js';
import { clusterFromNodes, type AgentClusterOptions } from './cluster.js';

export interface AgentModel {
  readonly state?: DesiredState;
  readonly allocations: ReadonlyMap<string, Allocation>;
  /** Nodes allowed to announce each load balancer (externalTrafficPolicy Local); absent = any. */
  readonly announceNodes: ReadonlyMap<string, readonly string[]>;
  readonly issues: readonly ConfigIssue[];
  /** The Service behind each load balancer (ServiceL2Status and its owner reference). */
  readonly services: ReadonlyMap<string, ServiceRef>;
}

export function agentModel(view: ClusterView, cfg: CoreConfig, cluster?: AgentClusterOptions): AgentModel {
  const objs: RawObject[] = [...mapCustomResources(view.customObjects, cfg.metallbCompat).objects];
  const allocations = new Map<string, Allocation>();
  const announceNodes = new Map<string, readonly string[]>();
  const services = new Map<string, ServiceRef>();
  const issues: ConfigIssue[] = [];
  // The LB nodes form the Cluster (Layer 2 ownership) from the Nodes the agent watches anyway.
  if (cluster) {
    const c = clusterFromNodes(view.nodes, cluster);
    issues.push(...c.issues);
    if (c.object) objs.push(c.object);
  }
  const nsLabels = namespaceLabelsOf(view);
  for (const svc of view.services) {
    if (!claims(svc, cfg) || svc.metadata.annotations?.[ALLOCATED] === undefined) continue;
    const m = mapService(
      svc,
      view.slices,
      view.nodes,
      cfg,
      nsLabels.get(svc.metadata.namespace ?? 'default'),
    );
    issues.push(...m.issues);
    if (!m.object) continue;
    const name = lbName(svc.metadata.namespace ?? 'default', svc.metadata.name ?? '');
    const held = persistedAllocation(svc);
    if (held) allocations.set(name, held);
    if (m.announceNodes) announceNodes.set(name, m.announceNodes);
    services.set(name, {
      namespace: svc.metadata.namespace ?? 'default',
      name: svc.metadata.name ?? '',
      ...(svc.metadata.uid ? { uid: svc.metadata.uid } : {}),
    });
    objs.push(m.object);
  }
  const r = buildDesiredState(objs.map((object) => ({ origin: 'api' as const, object })));
  return {
    ...(r.state ? { state: r.state } : {}),
    allocations,
    announceNodes,
    services,
    issues: [...issues, ...r.issues],
  };
}
