// Kubernetes: the agents form the Cluster from the API (pure). The members are the Nodes that match
// the agent's --cluster-nodes selector (the LB nodes its DaemonSet runs on), each with its
// InternalIP and labels; the shared key is a Secret mounted as a file (--cluster-key-file). The API
// is used for discovery only: heartbeats and failover never wait for it.
import type { RawObject } from '../model/types.js';
import { CLUSTER_API_VERSION, CLUSTER_KIND } from '../model/cluster.js';
import { selectorMatches, type LabelSelector } from '../model/labels.js';
import type { ConfigIssue } from '../model/issues.js';
import type { KNode } from './types.js';

export interface AgentClusterOptions {
  readonly keyFile: string;
  /** Nodes that are cluster members (empty selector: every Node). */
  readonly selector: LabelSelector;
  /** IPv4 or IPv6 InternalIPs (a node with several: the first of this family). */
  readonly family: 4 | 6;
  readonly heartbeatInterval?: string;
  readonly port?: number;
}

export class SelectorSyntaxError extends Error {
  constructor(readonly input: string) {
    super(
      `--cluster-nodes: "${input}" is not a label selector such as "node-role.kubernetes.io/lb" or "lb=true,zone=a"`,
    );
    this.name = 'SelectorSyntaxError';
  }
}

/** "k=v,k2,!k3" (equality, existence, absence; kubectl's simple forms). */
export function parseNodeSelector(s: string): LabelSelector {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: LabelSelector['matchExpressions'][number][] = [];
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const eq = /^([A-Za-z0-9./_-]+)\s*==?\s*([A-Za-z0-9._-]*)$/.exec(part);
    if (eq) matchLabels[eq[1] as string] = eq[2] as string;
    else if (/^![A-Za-z0-9./_-]+$/.test(part))
      matchExpressions.push({ key: part.slice(1), operator: 'DoesNotExist', values: [] });
    else if (/^[A-Za-z0-9./_-]+$/.test(part))
      matchExpressions.push({ key: part, operator: 'Exists', values: [] });
    else throw new SelectorSyntaxError(s);
  }
  return { matchLabels, matchExpressions };
}

const familyOf = (a: string): 4 | 6 => (a.includes(':') ? 6 : 4);

/** The Cluster object of this Kubernetes cluster's LB nodes, or issues when there is none. */
export function clusterFromNodes(
  nodes: readonly KNode[],
  o: AgentClusterOptions,
): { object?: RawObject; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const members: { name: string; address: string; labels: Record<string, string> }[] = [];
  for (const n of nodes) {
    const name = n.metadata.name ?? '';
    const labels = n.metadata.labels ?? {};
    if (!name || !selectorMatches(o.selector, labels)) continue;
    const address = n.status?.addresses?.find(
      (a) => a.type === 'InternalIP' && familyOf(a.address) === o.family,
    )?.address;
    if (!address) {
      issues.push({
        object: `Node/${name}`,
        field: 'status.addresses',
        value: n.status?.addresses ?? [],
        message: `no IPv${o.family} InternalIP: not a cluster member`,
      });
      continue;
    }
    members.push({ name, address, labels: { ...labels } });
  }
  if (members.length === 0) {
    issues.push({
      object: 'Cluster/kubernetes',
      field: 'spec.nodes',
      value: undefined,
      message: 'no Node matches --cluster-nodes (with an InternalIP): this agent is alone',
    });
    return { issues };
  }
  members.sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    object: {
      apiVersion: CLUSTER_API_VERSION,
      kind: CLUSTER_KIND,
      metadata: { name: 'kubernetes' },
      spec: {
        authKeyFile: o.keyFile,
        ...(o.heartbeatInterval ? { heartbeatInterval: o.heartbeatInterval } : {}),
        ...(o.port ? { port: o.port } : {}),
        nodes: members,
      },
    },
    issues,
  };
}
