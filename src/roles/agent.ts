// `ferrolb agent`: the node role in Kubernetes. The controller allocates and records addresses in the
// API; the agent watches the same objects, rebuilds the model (no allocation of its own) and serves
// it with the same shells as the standalone daemon: data plane, probes, BGP, read-only REST API.
import { desiredL2Statuses, L2StatusReporter } from '../k8s/l2status.js';
import { hostname } from 'node:os';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_CLASS } from '../k8s/annotations.js';
import { CLUSTER_OPTIONS, mappingConfig } from './controller.js';
import { runAgentWatch, type AgentModel } from '../k8s/index.js';
import { formatIssue } from '../model/issues.js';
import { holdersByAddress, type ServiceStatus } from '../ipam/allocator.js';
import { StateStore } from '../state/persist.js';
import { createLogger } from '../shell/log.js';
import { Runtime } from '../shell/runtime.js';
import { parseListen, serve } from './run.js';
import { metricsFlag, onOff, parseCommand, portOrOff, UsageError } from './usage.js';
import { parseNodeSelector, type AgentClusterOptions } from '../k8s/cluster.js';
import { loadApiSecurity } from '../shell/auth.js';
import type { Component } from '../shell/component.js';
import type { SessionStatus } from '../bgp/types.js';
import { SessionStateWriter } from '../k8s/bgpstate-writer.js';

export const AGENT_USAGE = `usage: ferrolb agent [flags]
  --kubeconfig FILE          default: in-cluster, else $KUBECONFIG, else ~/.kube/config
  --lb-class NAME            spec.loadBalancerClass to serve (default ${DEFAULT_CLASS})
  --default-class            also serve LoadBalancer Services that name no class
  --loxilb-compat            also serve loadBalancerClass loxilb.io/loxilb
  --metallb-compat           also read metallb.io resources
  --secondary-pools A,B,C    pools for loxilb.io/num-secondary-networks
  --state-dir DIR            BGP restart marker (default /var/lib/ferrolb)
  --api HOST:PORT            read-only REST API (default 127.0.0.1:11111)
  --api-token-file FILE      bearer token for /api/v1 (default $FERROLB_API_TOKEN)
  --insecure-api             allow a non-loopback --api without a token
  --metrics-addr HOST:PORT   also serve /metrics and /healthz here, no token (default off; the manifests bind [::]:11112)
  --node-name NAME           this node, for externalTrafficPolicy: Local and the Cluster (default $NODE_NAME, else hostname)
  --cluster-key-file FILE    form the Layer 2 Cluster with the other agents; FILE: the shared key (a mounted Secret)
  --cluster-nodes SELECTOR   Nodes that are cluster members, e.g. "node-role.kubernetes.io/lb" (default: every Node)
  --cluster-family ipv4|ipv6 which InternalIP of each Node heartbeats use (default ipv4)
  --cluster-heartbeat DUR    heartbeat interval (default 100ms; dead after 3 missed)
  --dataplane on|off  --probes on|off  --bgp-port PORT|off  --router-id A.B.C.D  --keep-forwarding`;

/** Every allocation the controller recorded is served; the agent never allocates. */
export function snapshotParts(
  m: AgentModel,
  fallback: Runtime['snapshot'],
): Omit<Runtime['snapshot'], 'generation'> {
  if (!m.state) return { ...fallback };
  const status = new Map<string, ServiceStatus>();
  for (const name of m.state.loadBalancers.keys()) {
    if (m.allocations.has(name)) status.set(name, { phase: 'Allocated' });
  }
  return {
    objects: [...m.state.objects.values()],
    state: m.state,
    allocations: m.allocations,
    status,
    warnings: m.issues,
  };
}

/**
 * This node's BGPSessionState objects (src/k8s/bgpstate.ts), in the agent's namespace. Optional: a
 * cluster without the CRD (or the Role) only loses the objects; the writer logs and retries.
 */
function bgpSessionStateComponent(
  kc: KubeConfig,
  node: string,
  sessions: () => readonly SessionStatus[],
  log: ReturnType<typeof createLogger>,
): Component {
  let writer: SessionStateWriter | undefined;
  return {
    name: 'bgp-session-state',
    start: async () => {
      writer = new SessionStateWriter({
        kubeConfig: kc,
        node,
        namespace: process.env.POD_NAMESPACE ?? 'ferrolb-system',
        sessions,
        log: (msg, extra) => log.warn(extra ?? {}, msg),
      });
      writer.start();
    },
    stop: async () => writer?.stop(),
  };
}

export const AGENT_OPTIONS = {
  ...CLUSTER_OPTIONS,
  'state-dir': { type: 'string' },
  api: { type: 'string' },
  'api-token-file': { type: 'string' },
  'insecure-api': { type: 'boolean' },
  dataplane: { type: 'string' },
  probes: { type: 'string' },
  'bgp-port': { type: 'string' },
  'router-id': { type: 'string' },
  'keep-forwarding': { type: 'boolean' },
  'node-name': { type: 'string' },
  'metrics-addr': { type: 'string' },
  'cluster-key-file': { type: 'string' },
  'cluster-nodes': { type: 'string' },
  'cluster-family': { type: 'string' },
  'cluster-heartbeat': { type: 'string' },
} as const;

function clusterOptions(v: {
  'cluster-key-file'?: string;
  'cluster-nodes'?: string;
  'cluster-family'?: string;
  'cluster-heartbeat'?: string;
}): AgentClusterOptions | undefined {
  const keyFile = v['cluster-key-file'];
  if (!keyFile) {
    for (const f of ['cluster-nodes', 'cluster-family', 'cluster-heartbeat'] as const)
      if (v[f] !== undefined) throw new UsageError(`--${f} needs --cluster-key-file`);
    return undefined;
  }
  const fam = v['cluster-family'] ?? 'ipv4';
  if (fam !== 'ipv4' && fam !== 'ipv6')
    throw new UsageError(`--cluster-family: "${fam}" is not ipv4 or ipv6`);
  try {
    return {
      keyFile,
      selector: parseNodeSelector(v['cluster-nodes'] ?? ''),
      family: fam === 'ipv4' ? 4 : 6,
      ...(v['cluster-heartbeat'] ? { heartbeatInterval: v['cluster-heartbeat'] } : {}),
    };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export async function agentMain(argv: string[]): Promise<number> {
  const { values: v } = parseCommand(argv, AGENT_OPTIONS, AGENT_USAGE);
  if (v.help) {
    console.log(AGENT_USAGE);
    return 0;
  }
  const listen = parseListen(v.api ?? '127.0.0.1:11111');
  const cluster = clusterOptions(v);
  const serveOpts = {
    stateDir: v['state-dir'] ?? process.env.FERROLB_STATE_DIR ?? '/var/lib/ferrolb',
    listen,
    dataplane: onOff('--dataplane', v.dataplane, true),
    probes: onOff('--probes', v.probes, true),
    bgpPort: portOrOff('--bgp-port', v['bgp-port'] ?? '179'),
    ...(v['router-id'] ? { routerId: v['router-id'] } : {}),
    keepForwarding: v['keep-forwarding'] ?? false,
    ...metricsFlag(v['metrics-addr']),
  };
  const log = createLogger('ferrolb-agent');
  const security = await loadApiSecurity(
    v['api-token-file'],
    process.env.FERROLB_API_TOKEN,
    listen.host,
    v['insecure-api'] ?? false,
  );
  for (const w of security.warnings) log.warn(w);
  const kc = new KubeConfig();
  if (v.kubeconfig) kc.loadFromFile(v.kubeconfig);
  else kc.loadFromDefault();
  const runtime = new Runtime({ store: new StateStore(serveOpts.stateDir), log });
  let lastIssues = '';
  // externalTrafficPolicy: Local — only nodes with a ready local endpoint announce such a service.
  const nodeName = v['node-name'] ?? process.env.NODE_NAME ?? hostname();
  let announceNodes: AgentModel['announceNodes'] = new Map();
  const mayAnnounce = (service: string) => {
    const nodes = announceNodes.get(service);
    return nodes === undefined || nodes.includes(nodeName);
  };
  let synced = false;
  let watch: { stop(): Promise<void> } | undefined;
  // Layer 2 ownership per Service (ServiceL2Status, Events): only with a Cluster.
  let services: AgentModel['services'] = new Map();
  const l2status = cluster
    ? new L2StatusReporter({
        core: kc.makeApiClient(CoreV1Api),
        custom: kc.makeApiClient(CustomObjectsApi),
        node: nodeName,
        log: (msg, extra) => log.warn(extra ?? {}, msg),
      })
    : undefined;
  const onOwned = (owned: ReadonlyMap<string, readonly string[]>) => {
    const byAddress = holdersByAddress(runtime.snapshot.allocations);
    const serviceOf = (address: string) => {
      const lb = byAddress.get(address);
      return lb === undefined ? undefined : services.get(lb);
    };
    void l2status?.update(desiredL2Statuses(owned, serviceOf));
  };
  // The agent's input: the cluster watch (started after the locks, before the API and the kernel).
  const clusterWatch: Component = {
    name: 'cluster-watch',
    start: async () => {
      watch = runAgentWatch({
        kubeConfig: kc,
        config: mappingConfig(v),
        ...(cluster ? { cluster } : {}),
        onModel: (m) => {
          const issues = m.issues.map(formatIssue).join('\n');
          if (issues !== lastIssues && issues)
            log.warn(
              { issues: m.issues.map(formatIssue) },
              'cluster configuration has problems; serving what is valid',
            );
          lastIssues = issues;
          announceNodes = m.announceNodes;
          services = m.services;
          runtime.adopt(snapshotParts(m, runtime.snapshot));
          synced = true;
        },
        log: (msg, extra) => log.info(extra ?? {}, msg),
      });
    },
    drain: async () => watch?.stop(),
    stop: async () => {
      l2status?.stop();
      await watch?.stop();
    },
  };
  const withNode = { ...serveOpts, nodeName };
  return serve(runtime, log, withNode, {
    role: 'agent',
    ...(security.token ? { token: security.token } : {}),
    readOnly: 'the agent serves what Kubernetes says; change the cluster objects instead',
    input: [clusterWatch],
    notReady: () => (synced ? undefined : 'waiting for the first full view of the cluster'),
    mayAnnounce,
    bgpReporters: (sessions) => [bgpSessionStateComponent(kc, nodeName, sessions, log)],
    ...(l2status ? { onOwned } : {}),
  });
}
