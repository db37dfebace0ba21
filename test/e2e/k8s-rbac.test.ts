// Least privilege, checked: the controller and the agent run their scenarios as their own
// ServiceAccounts against the emulator, which enforces the shipped deploy/manifests/rbac.yaml and
// records the rule that allowed each request. Every (verb, resource) the manifest grants must have
// been used (an unused grant fails with its rule), and every rule must be needed: with it removed the
// scenario fails and the emulator has refused a request with 403. A role that gains a use (e.g. agent
// Leases for L2 membership) adds its rule to rbac.yaml and a step to SCENARIO below.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import {
  AGENT_SA,
  CONTROLLER_SA,
  createPool,
  kubeConfigAs,
  rbacManifest,
  startEmulator,
  unusedGrants,
  waitFor,
  type Json,
  type KubeEmulator,
} from '../support/kube-emulator/index.js';
import { ruleAllows, type PolicyRule } from '../support/kube-emulator/rbac.js';
import { runController } from '../../src/k8s/controller.js';
import { runAgentWatch } from '../../src/k8s/agent-watch.js';
import type { AgentModel } from '../../src/k8s/agent.js';
import { SessionStateWriter } from '../../src/k8s/bgpstate-writer.js';
import type { SessionStatus } from '../../src/bgp/types.js';
import { sessionStatus } from '../support/bgp-session.js';

const session = (peer: string, state: SessionStatus['state'], prefixesSent = 0) =>
  sessionStatus(peer, state, { prefixesSent, ...(state === 'Established' ? { uptimeMs: 5_000 } : {}) });
import { L2StatusReporter } from '../../src/k8s/l2status.js';

const FAST = { stallMs: 5000, backoffInitialMs: 50, backoffMaxMs: 300, absentRetryMs: 300 };

/**
 * What the two roles do in a cluster, each step checked by its outcome: allocate from our pool and
 * from MetalLB's (compat), re-read a Service after a 409, record Events, write pool status, hold and
 * release the Lease; the agent sees every allocation. Throws on the first outcome missing after
 * `patienceMs`.
 */
async function scenario(emu: KubeEmulator, admin: KubeConfig, patienceMs: number): Promise<void> {
  const core = admin.makeApiClient(CoreV1Api);
  const custom = admin.makeApiClient(CustomObjectsApi);
  await createPool(admin, 'pub', ['10.30.0.0/30']);
  await custom.createNamespacedCustomObject({
    group: 'metallb.io',
    version: 'v1beta1',
    namespace: 'metallb-system',
    plural: 'ipaddresspools',
    body: {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'mlb' },
      spec: { addresses: ['10.31.0.0/30'] },
    },
  });
  const svc = (name: string, pool: string) =>
    core.createNamespacedService({
      namespace: 'default',
      body: {
        metadata: { name, annotations: { 'ferrolb.io/address-pool': pool } },
        spec: {
          type: 'LoadBalancer',
          loadBalancerClass: 'ferrolb.io/ferrolb',
          ports: [{ port: 80, protocol: 'TCP' }],
        },
      },
    });
  // The controller's first write to "web" meets a conflict: it must re-read the Service (get).
  emu.injectErrors(1, 409, (m, p) => m === 'PATCH' && p.endsWith('/services/web'));
  await svc('web', 'pub');
  await svc('old', 'mlb');
  let model: AgentModel | undefined;
  const agent = runAgentWatch({
    kubeConfig: kubeConfigAs(emu, AGENT_SA),
    config: { metallbCompat: true },
    watch: FAST,
    debounceMs: 5,
    onModel: (m) => void (model = m),
  });
  // The agent's BGPSessionState writer: list, create, patch status, delete.
  let sessions = [session('tor-a', 'Active'), session('tor-b', 'Established', 1)];
  const states = new SessionStateWriter({
    kubeConfig: kubeConfigAs(emu, AGENT_SA),
    node: 'node-1',
    namespace: 'ferrolb-system',
    sessions: () => sessions,
    intervalMs: 50,
    log: () => undefined,
  });
  states.start();
  const controller = runController({
    kubeConfig: kubeConfigAs(emu, CONTROLLER_SA),
    config: { metallbCompat: true },
    leaderElection: {
      namespace: 'ferrolb-system',
      leaseDurationMs: 1500,
      renewDeadlineMs: 1000,
      retryPeriodMs: 200,
    },
    identity: 'rbac-test',
    watch: FAST,
    debounceMs: 5,
  });
  const wait = <T>(what: string, fn: () => T | Promise<T>) => waitFor(fn, what, patienceMs, 25);
  try {
    const ip = async (name: string) =>
      (await core.readNamespacedService({ name, namespace: 'default' })).status?.loadBalancer?.ingress?.[0]
        ?.ip;
    assert.equal(await wait('web allocated', () => ip('web')), '10.30.0.0');
    assert.equal(await wait('old allocated from the MetalLB pool', () => ip('old')), '10.31.0.0');
    await wait(
      'IPAllocated events',
      async () =>
        (await core.listNamespacedEvent({ namespace: 'default' })).items.filter(
          (e) => e.reason === 'IPAllocated',
        ).length === 2,
    );
    await wait('pool status written', async () => {
      const p = (await custom.getNamespacedCustomObject({
        group: 'ferrolb.io',
        version: 'v1',
        namespace: 'ferrolb-system',
        plural: 'ipaddresspools',
        name: 'pub',
      })) as { status?: { assignedIPv4?: number } };
      return p.status?.assignedIPv4 === 1;
    });
    const stateObjects = async () =>
      (
        (await custom.listNamespacedCustomObject({
          group: 'ferrolb.io',
          version: 'v1',
          namespace: 'ferrolb-system',
          plural: 'bgpsessionstates',
        })) as {
          items: { metadata: { name: string }; spec: { peer: string }; status?: Record<string, unknown> }[];
        }
      ).items;
    await wait('BGPSessionState per peer, with status', async () => {
      const items = await stateObjects();
      const st = (peer: string) => items.find((i) => i.spec.peer === peer)?.status;
      return items.length === 2 && st('tor-a')?.sessionState === 'Active' && st('tor-b')?.prefixesSent === 1;
    });
    sessions = [session('tor-a', 'Established', 3)];
    await wait('a session that comes up is patched, a removed peer deleted', async () => {
      const items = await stateObjects();
      return (
        items.length === 1 &&
        items[0]?.metadata.name === 'node-1.tor-a' &&
        items[0].status?.sessionState === 'Established' &&
        items[0].status.prefixesSent === 3 &&
        typeof items[0].status.establishedTime === 'string'
      );
    });
    await wait(
      'the agent serves both',
      () => model?.allocations.has('default.web') && model.allocations.has('default.old'),
    );
    // Layer 2 ownership per Service, as an agent with a Cluster writes it: list (adopt), create +
    // Event, patch, delete.
    const l2 = new L2StatusReporter({
      core: kubeConfigAs(emu, AGENT_SA).makeApiClient(CoreV1Api),
      custom: kubeConfigAs(emu, AGENT_SA).makeApiClient(CustomObjectsApi),
      node: 'lb1',
      log: () => undefined,
    });
    const web = await core.readNamespacedService({ name: 'web', namespace: 'default' });
    const service = { namespace: 'default', name: 'web', uid: web.metadata?.uid as string };
    const want = (interfaces: string[]) =>
      new Map([['default/web', { service, addresses: ['10.30.0.0'], interfaces }]]);
    const l2status = async () =>
      (
        (await custom.listNamespacedCustomObject({
          group: 'ferrolb.io',
          version: 'v1',
          namespace: 'default',
          plural: 'servicel2statuses',
        })) as { items: { status?: { node?: string; interfaces?: { name: string }[] } }[] }
      ).items;
    try {
      void l2.update(want(['eth0']));
      await wait('ServiceL2Status created', async () => (await l2status())[0]?.status?.node === 'lb1');
      await wait('nodeAssigned event', async () =>
        (await core.listNamespacedEvent({ namespace: 'default' })).items.some(
          (e) => e.reason === 'nodeAssigned',
        ),
      );
      void l2.update(want(['eth1']));
      await wait(
        'ServiceL2Status updated',
        async () => (await l2status())[0]?.status?.interfaces?.[0]?.name === 'eth1',
      );
      void l2.update(new Map());
      await wait('ServiceL2Status deleted', async () => (await l2status()).length === 0);
    } finally {
      l2.stop();
    }
    await wait('the lease renewed', async () => {
      const l = await admin
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: 'ferrolb-controller', namespace: 'ferrolb-system' });
      return (
        l.spec?.holderIdentity === 'rbac-test' &&
        Number(l.metadata?.resourceVersion) > 0 &&
        controller.isLeader()
      );
    });
  } finally {
    await controller.stop();
    await agent.stop();
    await states.stop();
  }
  const lease = await admin
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ name: 'ferrolb-controller', namespace: 'ferrolb-system' });
  assert.equal(lease.spec?.holderIdentity, '', 'the lease is released on stop');
}

const RULES = rbacManifest().flatMap((o) =>
  o.kind === 'ClusterRole' || o.kind === 'Role'
    ? ((o.rules ?? []) as PolicyRule[]).map((rule, i) => ({ role: o, rule, i }))
    : [],
);
const label = (o: Json, i: number) => `${String(o.kind)}/${String((o.metadata as Json).name)} rule #${i}`;

describe('least-privilege RBAC (deploy/manifests/rbac.yaml)', { timeout: 180_000 }, () => {
  it('the controller and agent scenarios use every grant of the shipped RBAC', async () => {
    const { emu, kc } = await startEmulator({ bookmarkIntervalMs: 200 });
    try {
      await scenario(emu, kc, 10_000);
      assert.deepEqual(
        emu.denied.map((d) => d.message),
        [],
        'nothing was refused',
      );
      assert.deepEqual(unusedGrants(rbacManifest(), emu.authorized), [], 'granted but never used');
    } finally {
      await emu.stop();
    }
  });

  for (const { role, rule, i } of RULES)
    it(`without ${label(role, i)} the scenario fails with 403`, async () => {
      const { emu, kc } = await startEmulator({ bookmarkIntervalMs: 200 });
      try {
        const meta = role.metadata as Json;
        const t = emu.resource(
          'rbac.authorization.k8s.io',
          'v1',
          role.kind === 'Role' ? 'roles' : 'clusterroles',
        );
        assert.ok(t);
        const ns = role.kind === 'Role' ? String(meta.namespace) : '';
        const cur = emu.store.get(t, ns, String(meta.name));
        emu.store.replace(t, ns, String(meta.name), {
          ...cur,
          rules: (cur.rules as PolicyRule[]).filter((_, j) => j !== i),
        });
        await assert.rejects(scenario(emu, kc, 2_500), `the scenario passed without ${label(role, i)}`);
        assert.ok(
          emu.denied.some((d) => ruleAllows(rule, d.attrs)),
          `no request this rule allows was refused; refused: ${emu.denied.map((d) => d.message).join('; ')}`,
        );
      } finally {
        await emu.stop();
      }
    });
});
