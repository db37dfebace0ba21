// Kubernetes objects → controller (allocation, status) → the agent's model → the real kernel data
// plane in a namespace topology: traffic to the Service's allocated address reaches the pods its
// EndpointSlice lists, and follows when an endpoint stops being ready. Needs root (netns, nft).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import { e2eSkipReason, Topology } from '../support/netns.js';
import {
  AGENT_SA,
  CONTROLLER_SA,
  createPool,
  kubeConfigAs,
  startEmulator,
  waitFor,
  type KubeEmulator,
} from '../support/kube-emulator/index.js';
import { buildLbTopology, httpBatch, tally, VIP4, type LbTopo } from './support-dataplane/topo.js';
import { Applier } from '../../src/dataplane/applier.js';
import type { DataplaneService } from '../../src/dataplane/types.js';
import { runController, type Controller } from '../../src/k8s/controller.js';
import { agentModel, type AgentModel } from '../../src/k8s/agent.js';
import { runAgentWatch } from '../../src/k8s/agent-watch.js';
import type { ClusterView } from '../../src/k8s/core.js';
import { DEFAULT_MAPPING } from '../../src/k8s/mapping.js';

const skip = e2eSkipReason();
const CFG = { ...DEFAULT_MAPPING, metallbCompat: false };

/** What an agent does on each change: read the objects, build its model, hand it to the data plane. */
async function agentServices(kc: KubeConfig): Promise<DataplaneService[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const view: ClusterView = {
    services: (await core.listServiceForAllNamespaces()).items as never,
    slices: (await kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces()).items as never,
    nodes: (await core.listNode()).items as never,
    customObjects: (
      (await kc.makeApiClient(CustomObjectsApi).listCustomObjectForAllNamespaces({
        group: 'ferrolb.io',
        version: 'v1',
        plural: 'ipaddresspools',
      })) as {
        items: never[];
      }
    ).items,
  };
  return toDataplane(agentModel(view, CFG));
}

function toDataplane(m: AgentModel): DataplaneService[] {
  assert.deepEqual(m.issues, []);
  const out: DataplaneService[] = [];
  for (const lb of m.state?.loadBalancers.values() ?? []) {
    const a = m.allocations.get(lb.meta.name);
    if (!a || a.addresses.length === 0) continue;
    out.push({
      name: lb.meta.name,
      addresses: a.addresses,
      ports: lb.ports.map((p) => ({ port: p.port, protocol: p.protocol, targetPort: p.targetPort })),
      mode: lb.mode,
      algorithm: lb.algorithm,
      persistTimeoutSeconds: lb.persistTimeoutSeconds,
      endpoints: lb.endpoints.map((e) => ({
        address: e.address,
        weight: e.weight,
        state: 'active' as const,
      })),
    });
  }
  return out;
}

describe('k8s agent programs the kernel from Kubernetes objects', { skip }, () => {
  let emu: KubeEmulator;
  let kc: KubeConfig;
  let controller: Controller;
  const topo = new Topology();
  let t: LbTopo;
  before(async () => {
    ({ emu, kc } = await startEmulator());
    controller = runController({
      kubeConfig: kubeConfigAs(emu, CONTROLLER_SA),
      leaderElection: false,
      debounceMs: 5,
    });
    t = await buildLbTopology(topo);
  });
  after(async () => {
    await controller.stop();
    await emu.stop();
    await topo.cleanup();
  });

  it('Service + EndpointSlice → allocated VIP → traffic to every ready pod; a not-ready pod drops out', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const disc = kc.makeApiClient(DiscoveryV1Api);
    await createPool(kc, 'vips', [`${VIP4}/32`]);
    await core.createNamespacedService({
      namespace: 'web',
      body: {
        metadata: { name: 'web' },
        spec: {
          type: 'LoadBalancer',
          loadBalancerClass: 'ferrolb.io/ferrolb',
          selector: { app: 'web' },
          ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' as never }],
        },
      },
    });
    const endpoints = (notReady: string[]) =>
      t.backends.map((b) => ({
        addresses: [b.v4],
        nodeName: 'node-1',
        conditions: { ready: !notReady.includes(b.name) },
      }));
    await disc.createNamespacedEndpointSlice({
      namespace: 'web',
      body: {
        metadata: { name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        endpoints: endpoints([]),
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    });
    await waitFor(
      async () =>
        (await core.readNamespacedService({ name: 'web', namespace: 'web' })).status?.loadBalancer
          ?.ingress?.[0]?.ip === VIP4,
      'status',
    );

    const ap = new Applier({ run: t.run });
    await ap.apply(await agentServices(kc));
    const all = await httpBatch(t, VIP4, 80, 30);
    assert.equal(all.errors, 0);
    assert.deepEqual([...tally(all.replies).keys()].sort(), ['b1', 'b2', 'b3']);

    // Now as a running agent: watches → model → data plane, on its own.
    let applied = 0;
    let endpointsApplied = -1;
    const agent = runAgentWatch({
      kubeConfig: kubeConfigAs(emu, AGENT_SA),
      debounceMs: 5,
      onModel: async (m) => {
        const services = toDataplane(m);
        await ap.apply(services);
        applied++;
        endpointsApplied = services[0]?.endpoints.length ?? 0;
      },
    });
    try {
      await agent.ready;
      await waitFor(() => applied > 0, 'first agent apply');
      const before = applied;
      const slice = await disc.readNamespacedEndpointSlice({ name: 'web-abc', namespace: 'web' });
      slice.endpoints = endpoints(['b2']) as never;
      await disc.replaceNamespacedEndpointSlice({ name: 'web-abc', namespace: 'web', body: slice });
      await waitFor(() => applied > before && endpointsApplied === 2, 'agent applied the change');
    } finally {
      await agent.stop();
    }
    const two = await httpBatch(t, VIP4, 80, 30);
    assert.equal(two.errors, 0);
    assert.deepEqual([...tally(two.replies).keys()].sort(), ['b1', 'b3']);
  });
});
