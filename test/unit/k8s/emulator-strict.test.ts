// The emulator is as strict as a real API server where a client could be wrong: custom resources only
// while their CRD is installed, RBAC over the shipped roles, schema validation, patch types.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type KubeConfig,
} from '@kubernetes/client-node';
import {
  AGENT_SA,
  CONTROLLER_SA,
  kubeConfigAs,
  kubeConfigFor,
  startEmulator,
  waitFor,
  type KubeEmulator,
} from '../../support/kube-emulator/index.js';
import { ferrolbCrds } from '../../support/kube-emulator/crd.js';

interface Status {
  code?: number;
  body?: unknown;
}
const failure = async (p: Promise<unknown>): Promise<{ code: number; status: Record<string, unknown> }> => {
  try {
    await p;
  } catch (e) {
    const err = e as Status;
    const status = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as Record<
      string,
      unknown
    >;
    return { code: err.code ?? 0, status };
  }
  throw new Error('expected the request to fail');
};

const POOLS = { group: 'ferrolb.io', version: 'v1', plural: 'ipaddresspools' } as const;
const pool = (name: string, spec: unknown) => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name },
  spec,
});

describe('kube emulator strictness', () => {
  let emu: KubeEmulator;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  before(async () => {
    ({ emu, kc } = await startEmulator({ crds: [] }));
    custom = kc.makeApiClient(CustomObjectsApi);
  });
  after(() => emu.stop());

  it('serves a custom resource only while its CRD is installed; deleting the CRD ends its watches', async () => {
    const list = () => custom.listCustomObjectForAllNamespaces(POOLS);
    assert.equal((await failure(list())).code, 404);
    const disc = () => fetch(`${emu.url}/apis`, { headers: { authorization: 'Bearer emulator-admin' } });
    assert.ok(!JSON.stringify(await (await disc()).json()).includes('ferrolb.io'));
    for (const crd of ferrolbCrds()) emu.installCrd(crd);
    const crd = (await fetch(
      `${emu.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/ipaddresspools.ferrolb.io`,
      {
        headers: { authorization: 'Bearer emulator-admin' },
      },
    ).then((r) => r.json())) as { status: { conditions: { type: string; status: string }[] } };
    assert.ok(crd.status.conditions.some((c) => c.type === 'Established' && c.status === 'True'));
    const res = (await fetch(`${emu.url}/apis/ferrolb.io/v1`, {
      headers: { authorization: 'Bearer emulator-admin' },
    }).then((r) => r.json())) as { resources: { name: string }[] };
    assert.ok(res.resources.some((r) => r.name === 'ipaddresspools'));
    await custom.createNamespacedCustomObject({
      ...POOLS,
      namespace: 'ferrolb-system',
      body: pool('p', { addresses: ['10.0.0.0/30'] }),
    });
    assert.equal(((await list()) as { items: unknown[] }).items.length, 1);

    const events: string[] = [];
    let ended = false;
    await new Watch(kc).watch(
      '/apis/ferrolb.io/v1/ipaddresspools',
      {},
      (type) => events.push(type),
      () => (ended = true),
    );
    await waitFor(() => emu.activeWatches > 0, 'watch open');
    emu.deleteCrd('ipaddresspools.ferrolb.io');
    await waitFor(() => ended, 'the watch ends with its CRD');
    assert.ok(events.includes('DELETED'), 'its objects were deleted first');
    assert.equal((await failure(list())).code, 404);
    for (const c of ferrolbCrds().filter(
      (x) => (x.metadata as { name: string }).name === 'ipaddresspools.ferrolb.io',
    ))
      emu.installCrd(c);
    assert.equal(
      ((await list()) as { items: unknown[] }).items.length,
      0,
      'objects do not come back with the CRD',
    );
  });

  it('authenticates bearer tokens and authorizes with the shipped RBAC: 401, 403 with the real message', async () => {
    const anon = kubeConfigFor(emu.url, 'no-such-token').makeApiClient(CoreV1Api);
    assert.equal((await failure(anon.listNode())).code, 401);
    const agent = kubeConfigAs(emu, AGENT_SA).makeApiClient(CoreV1Api);
    await agent.listServiceForAllNamespaces(); // granted
    const admin = kc.makeApiClient(CoreV1Api);
    await admin.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } },
    });
    const denied = await failure(
      agent.patchNamespacedService(
        { name: 'web', namespace: 'default', body: { metadata: { labels: { a: 'b' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    assert.equal(denied.code, 403);
    assert.deepEqual(denied.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'services "web" is forbidden: User "system:serviceaccount:ferrolb-system:ferrolb-agent" cannot patch resource "services" in API group "" in the namespace "default"',
      reason: 'Forbidden',
      details: { name: 'web', group: '', kind: 'services' },
      code: 403,
    });
    // resourceNames: the controller may update its own Lease only.
    const r = await fetch(`${emu.url}/apis/coordination.k8s.io/v1/namespaces/ferrolb-system/leases/other`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${emu.tokenFor(CONTROLLER_SA.namespace, CONTROLLER_SA.name)}`,
        'content-type': 'application/json',
      },
      body: '{}',
    });
    assert.equal(r.status, 403);
    const last = emu.authorized.at(-1);
    assert.ok(last, 'the grant of an allowed request is recorded');
    assert.equal(emu.denied.length, 2);
  });

  it('validates custom resources against the CRD schema: pruning, 422 with field paths', async () => {
    const bad = await failure(
      custom.createNamespacedCustomObject({
        ...POOLS,
        namespace: 'ferrolb-system',
        body: pool('bad', { addresses: '10.0.0.0/30', serviceAllocation: { priority: -1 } }),
      }),
    );
    assert.equal(bad.code, 422);
    assert.equal(bad.status.reason, 'Invalid');
    assert.match(String(bad.status.message), /^IPAddressPool\.ferrolb\.io "bad" is invalid: \[/);
    assert.match(
      String(bad.status.message),
      /spec\.addresses: Invalid value: "string": spec\.addresses in body must be of type array: "string"/,
    );
    const causes = (bad.status.details as { causes: { field: string }[] }).causes.map((c) => c.field).sort();
    assert.deepEqual(causes, ['spec.addresses', 'spec.serviceAllocation.priority']);
    const missing = await failure(
      custom.createNamespacedCustomObject({ ...POOLS, namespace: 'ferrolb-system', body: pool('m', {}) }),
    );
    assert.match(String(missing.status.message), /spec\.addresses: Required value/);
    const made = (await custom.createNamespacedCustomObject({
      ...POOLS,
      namespace: 'ferrolb-system',
      body: pool('pruned', { addresses: ['10.0.0.0/30'], bogus: true }),
    })) as { spec: Record<string, unknown> };
    assert.deepEqual(made.spec, { addresses: ['10.0.0.0/30'] }, 'unknown fields are pruned');
    const status = await failure(
      custom.patchNamespacedCustomObjectStatus(
        {
          ...POOLS,
          namespace: 'ferrolb-system',
          name: 'pruned',
          body: { status: { conditions: [{ type: 'Valid' }] } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    assert.match(String(status.status.message), /status\.conditions\[0\]\.status: Required value/);
  });

  it('refuses strategic merge patch on custom resources (415) and accepts it on built-in types', async () => {
    const smp = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
    const r = await failure(
      custom.patchNamespacedCustomObject(
        { ...POOLS, namespace: 'ferrolb-system', name: 'pruned', body: { spec: { autoAssign: false } } },
        smp,
      ),
    );
    assert.equal(r.code, 415);
    assert.equal(r.status.reason, 'UnsupportedMediaType');
    const core = kc.makeApiClient(CoreV1Api);
    await core.patchNamespacedService(
      { name: 'web', namespace: 'default', body: { metadata: { labels: { x: 'y' } } } },
      smp,
    );
  });

  it('validates what a controller writes to a Service status', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const patch = (status: unknown) =>
      core.patchNamespacedServiceStatus({ name: 'web', namespace: 'default', body: { status } }, merge);
    const ip = await failure(patch({ loadBalancer: { ingress: [{ ip: '10.0.0.300' }] } }));
    assert.equal(ip.code, 422);
    assert.match(
      String(ip.status.message),
      /status\.loadBalancer\.ingress\[0\]\.ip: Invalid value: "10\.0\.0\.300"/,
    );
    const cond = await failure(
      patch({ conditions: [{ type: 'ferrolb.io/AddressAllocated', status: 'Yes' }] }),
    );
    assert.match(String(cond.status.message), /status\.conditions\[0\]\.status: Unsupported value: "Yes"/);
    assert.match(String(cond.status.message), /status\.conditions\[0\]\.reason: Required value/);
    assert.match(String(cond.status.message), /status\.conditions\[0\]\.lastTransitionTime: Required value/);
    await patch({
      loadBalancer: { ingress: [{ ip: '10.0.0.1', ipMode: 'VIP' }] },
      conditions: [
        {
          type: 'ferrolb.io/AddressAllocated',
          status: 'True',
          reason: 'Allocated',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    });
  });
});
