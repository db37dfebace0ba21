// The migration guides' examples, run as written: their YAML is read from the Markdown, created in the
// API server emulator, and served by the controller with the flags the guide names. What the prose
// promises (addresses kept, shared, dual stack, annotations, BGP attributes) is asserted here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import {
  CONTROLLER_SA,
  kubeConfigAs,
  startEmulator,
  waitFor,
  type KubeEmulator,
} from '../support/kube-emulator/index.js';
import { yamlExamples } from '../support/docs.js';
import { runController, type Controller } from '../../src/k8s/controller.js';
import { mappingConfig, parseControllerArgs } from '../../src/roles/controller.js';
import { agentModel } from '../../src/k8s/agent.js';
import { ALLOCATED, ALLOCATED_FROM_POOL } from '../../src/k8s/annotations.js';
import { CRD_KINDS } from '../../src/k8s/crds.js';
import type { ClusterView } from '../../src/k8s/core.js';
import { parseIp } from '../../src/net/ip.js';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
};

/** Creates any example object: Services through the core API, our and MetalLB's kinds as custom objects. */
async function create(kc: KubeConfig, o: Obj): Promise<void> {
  const namespace = o.metadata.namespace ?? 'default';
  if (o.kind === 'Service') {
    await kc.makeApiClient(CoreV1Api).createNamespacedService({ namespace, body: o as never });
    return;
  }
  const [group, version] = o.apiVersion.split('/') as [string, string];
  const plural = CRD_KINDS.find((k) => k.kind === o.kind)?.plural;
  assert.ok(plural, `example kind ${o.kind} is not one of ours`);
  await kc
    .makeApiClient(CustomObjectsApi)
    .createNamespacedCustomObject({ group, version, namespace, plural, body: o });
}

/** Everything an agent reads, as the agent's watch would see it. */
async function clusterView(kc: KubeConfig): Promise<ClusterView> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const customObjects: ClusterView['customObjects'][number][] = [];
  for (const group of ['ferrolb.io', 'metallb.io'])
    for (const k of CRD_KINDS) {
      const version = group === 'ferrolb.io' ? 'v1' : k.kind === 'BGPPeer' ? 'v1beta2' : 'v1beta1';
      const list = (await custom.listCustomObjectForAllNamespaces({ group, version, plural: k.plural })) as {
        items: never[];
      };
      customObjects.push(...list.items);
    }
  return {
    services: (await core.listServiceForAllNamespaces()).items as never,
    slices: (await kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces()).items as never,
    nodes: (await core.listNode()).items as never,
    customObjects,
  };
}

describe('docs/migration-metallb.md example', () => {
  let emu: KubeEmulator;
  let kc: KubeConfig;
  let controller: Controller | undefined;
  before(async () => {
    ({ emu, kc } = await startEmulator());
  });
  after(async () => {
    await controller?.stop();
    await emu.stop();
  });

  it('MetalLB configuration and Services work unchanged; the address MetalLB gave stays', async () => {
    const [config, services] = yamlExamples('migration-metallb.md') as [Obj[], Obj[]];
    assert.ok(config && services, 'the guide has a configuration and a Services example');
    assert.ok(
      config.every((o) => o.apiVersion.startsWith('metallb.io/')),
      'MetalLB kinds, unchanged',
    );
    for (const o of [...config, ...services]) await create(kc, o);
    const core = kc.makeApiClient(CoreV1Api);
    // What MetalLB had written before the migration (the guide: "say MetalLB had given api ...").
    await core.patchNamespacedServiceStatus(
      {
        name: 'api',
        namespace: 'apps',
        body: { status: { loadBalancer: { ingress: [{ ip: '192.168.10.20' }] } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

    const opts = parseControllerArgs(['--metallb-compat', '--default-class'], {});
    controller = runController({
      kubeConfig: kubeConfigAs(emu, CONTROLLER_SA),
      leaderElection: false,
      debounceMs: 5,
      config: opts.config,
    });
    const read = (name: string) => core.readNamespacedService({ name, namespace: 'apps' });
    const ingress = async (name: string, n: number) =>
      waitFor(async () => {
        const ips = ((await read(name)).status?.loadBalancer?.ingress ?? []).map((i) => i.ip as string);
        return ips.length === n ? ips : undefined;
      }, `${name} to show ${n} address(es)`);

    assert.deepEqual(await ingress('dns-tcp', 1), ['192.168.10.53']);
    assert.deepEqual(await ingress('dns-udp', 1), ['192.168.10.53']);
    assert.deepEqual(await ingress('api', 1), ['192.168.10.20']);
    assert.equal((await read('api')).metadata?.annotations?.[ALLOCATED], '192.168.10.20');
    const web = await ingress('web', 2);
    const [v4, v6] = web.map(parseIp);
    assert.equal(v4?.family, 4);
    assert.equal(v6?.family, 6);
    assert.match(web[0] as string, /^192\.168\.10\.\d+$/);
    assert.ok(!['192.168.10.0', '192.168.10.255'].includes(web[0] as string), 'avoidBuggyIPs');
    assert.match(web[1] as string, /^fc00:f853:ccd:e799::[0-9a-f]*$/);
    for (const name of ['dns-tcp', 'dns-udp', 'web', 'api'])
      assert.equal((await read(name)).metadata?.annotations?.[ALLOCATED_FROM_POOL], 'production', name);

    // MetalLB's objects are read, never written: their status stays MetalLB's.
    const pool = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: 'metallb.io',
      version: 'v1beta1',
      namespace: 'metallb-system',
      plural: 'ipaddresspools',
      name: 'production',
    })) as { status?: unknown };
    assert.equal(pool.status, undefined);

    // What the agents serve: the same addresses, announced to the guide's peer with its community.
    const m = agentModel(
      await clusterView(kc),
      mappingConfig({ 'metallb-compat': true, 'default-class': true }),
    );
    assert.deepEqual(m.issues, []);
    assert.ok(m.state);
    assert.deepEqual(m.allocations.get('apps.api')?.addresses, ['192.168.10.20']);
    assert.deepEqual(m.allocations.get('apps.web')?.addresses, web);
    const [peer] = m.state.bgp.peers;
    assert.deepEqual([peer?.peerAddress, peer?.myASN, peer?.peerASN], ['10.0.0.1', 64500, 64501]);
    const [adv] = m.state.bgp.advertisements;
    assert.deepEqual(adv?.ipAddressPools, ['production']);
    assert.deepEqual(adv?.communities, [0xffffff02]);
  });
});
