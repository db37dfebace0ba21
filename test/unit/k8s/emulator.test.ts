// The API server emulator, checked with the real client library the controller uses.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  makeInformer,
  Watch,
  type V1Service,
} from '@kubernetes/client-node';
import { startEmulator, waitFor, type KubeEmulator } from '../../support/kube-emulator/index.js';
import type { KubeConfig } from '@kubernetes/client-node';

const svc = (name: string, extra: Partial<V1Service> = {}): V1Service => ({
  metadata: { name, namespace: 'default' },
  spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] },
  ...extra,
});

const codeOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as { code?: number }).code;
  }
};

describe('kube emulator with @kubernetes/client-node', () => {
  let emu: KubeEmulator;
  let kc: KubeConfig;
  let core: CoreV1Api;
  before(async () => {
    ({ emu, kc } = await startEmulator({ bookmarkIntervalMs: 50 }));
    core = kc.makeApiClient(CoreV1Api);
  });
  after(() => emu.stop());

  it('creates, lists, reads, replaces and deletes services with resourceVersions', async () => {
    const created = await core.createNamespacedService({ namespace: 'default', body: svc('crud') });
    assert.ok(created.metadata?.uid);
    const rv1 = Number(created.metadata?.resourceVersion);
    const list = await core.listServiceForAllNamespaces();
    assert.ok(Number(list.metadata?.resourceVersion) >= rv1);
    assert.ok(list.items.some((s) => s.metadata?.name === 'crud'));
    created.metadata!.annotations = { a: 'b' };
    const replaced = await core.replaceNamespacedService({
      name: 'crud',
      namespace: 'default',
      body: created,
    });
    assert.ok(Number(replaced.metadata?.resourceVersion) > rv1);
    assert.equal(
      (await core.readNamespacedService({ name: 'crud', namespace: 'default' })).metadata?.annotations?.a,
      'b',
    );
    assert.equal(
      await codeOf(core.createNamespacedService({ namespace: 'default', body: svc('crud') })),
      409,
    );
    await core.deleteNamespacedService({ name: 'crud', namespace: 'default' });
    assert.equal(await codeOf(core.readNamespacedService({ name: 'crud', namespace: 'default' })), 404);
  });

  it('refuses a write with a stale resourceVersion (409) and accepts one without', async () => {
    const s = await core.createNamespacedService({ namespace: 'default', body: svc('stale') });
    const fresh = structuredClone(s);
    fresh.metadata!.labels = { x: '1' };
    await core.replaceNamespacedService({ name: 'stale', namespace: 'default', body: fresh });
    s.metadata!.labels = { x: '2' };
    assert.equal(
      await codeOf(core.replaceNamespacedService({ name: 'stale', namespace: 'default', body: s })),
      409,
    );
    assert.equal(
      await codeOf(core.replaceNamespacedServiceStatus({ name: 'stale', namespace: 'default', body: s })),
      409,
    );
    delete s.metadata!.resourceVersion;
    const forced = await core.replaceNamespacedService({ name: 'stale', namespace: 'default', body: s });
    assert.equal(forced.metadata?.labels?.x, '2');
  });

  it('keeps status and spec apart (status subresource)', async () => {
    const s = await core.createNamespacedService({
      namespace: 'default',
      body: svc('sub', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.9' }] } } }),
    });
    assert.equal(s.status?.loadBalancer?.ingress, undefined, 'create drops status');
    s.status = { loadBalancer: { ingress: [{ ip: '192.0.2.1', ipMode: 'VIP' }] } };
    s.spec!.ports = [{ port: 81, protocol: 'TCP' }];
    const st = await core.replaceNamespacedServiceStatus({ name: 'sub', namespace: 'default', body: s });
    assert.equal(st.status?.loadBalancer?.ingress?.[0]?.ip, '192.0.2.1');
    assert.equal(st.spec?.ports?.[0]?.port, 80, 'PUT /status leaves spec alone');
    st.status = { loadBalancer: { ingress: [{ ip: '192.0.2.2' }] } };
    const main = await core.replaceNamespacedService({ name: 'sub', namespace: 'default', body: st });
    assert.equal(
      main.status?.loadBalancer?.ingress?.[0]?.ip,
      '192.0.2.1',
      'PUT on the object ignores status',
    );
    st.status = { loadBalancer: { ingress: [{ ip: '192.0.2.2', ipMode: 'Bogus' }] } };
    delete st.metadata!.resourceVersion;
    assert.equal(
      await codeOf(core.replaceNamespacedServiceStatus({ name: 'sub', namespace: 'default', body: st })),
      422,
    );
  });

  it('feeds an informer: add, update, delete', async () => {
    const seen: string[] = [];
    const inf = makeInformer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
    inf.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    inf.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
    inf.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await inf.start();
    try {
      await core.createNamespacedService({ namespace: 'default', body: svc('inf') });
      await core.patchNamespacedService({
        name: 'inf',
        namespace: 'default',
        body: [{ op: 'add', path: '/metadata/labels', value: { p: 'q' } }],
      });
      await core.deleteNamespacedService({ name: 'inf', namespace: 'default' });
      await waitFor(() => seen.includes('delete inf'), 'informer delete');
      assert.deepEqual(
        seen.filter((s) => s.endsWith(' inf')),
        ['add inf', 'update inf', 'delete inf'],
      );
    } finally {
      await inf.stop();
    }
  });

  it('answers a watch from a compacted resourceVersion with 410 Gone; the informer relists', async () => {
    const old = (await core.listServiceForAllNamespaces()).metadata?.resourceVersion as string;
    await core.createNamespacedService({ namespace: 'default', body: svc('after-compact') });
    emu.store.compact();
    const events: { type: string; code?: number }[] = [];
    await new Promise<void>((resolve) => {
      void new Watch(kc).watch(
        '/api/v1/services',
        { resourceVersion: old },
        (type, obj: { code?: number }) => events.push({ type, code: obj.code }),
        () => resolve(),
      );
    });
    assert.deepEqual(events, [{ type: 'ERROR', code: 410 }]);

    // An informer whose watch gets 410 relists and still sees changes.
    const names = new Set<string>();
    const inf = makeInformer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
    inf.on('add', (o) => names.add(o.metadata?.name as string));
    await inf.start();
    try {
      emu.store.compact();
      emu.closeWatches(); // the informer re-watches from its (now compacted) resourceVersion
      await core.createNamespacedService({ namespace: 'default', body: svc('after-gone') });
      await waitFor(() => names.has('after-gone'), 'relist after 410');
    } finally {
      await inf.stop();
    }
  });

  it('sends bookmarks when asked, and can stall or drop watches', async () => {
    const rv = (await core.listServiceForAllNamespaces()).metadata?.resourceVersion as string;
    const types: string[] = [];
    let done = false;
    await new Watch(kc).watch(
      '/api/v1/services',
      { resourceVersion: rv, allowWatchBookmarks: true },
      (type) => types.push(type),
      () => (done = true),
    );
    await waitFor(() => types.includes('BOOKMARK'), 'a bookmark');
    assert.ok(emu.activeWatches >= 1);
    emu.stallWatches();
    types.length = 0;
    await core.createNamespacedService({ namespace: 'default', body: svc('stalled') });
    // A stalled watch stays connected and silent; a fresh watch from the same point sees the event.
    const fresh: string[] = [];
    const ctl = await new Watch(kc).watch(
      '/api/v1/services',
      { resourceVersion: rv },
      (t, o: { metadata?: { name?: string } }) => fresh.push(`${t} ${o.metadata?.name}`),
      () => undefined,
    );
    await waitFor(() => fresh.includes('ADDED stalled'), 'fresh watch event');
    assert.deepEqual(types, []);
    assert.equal(done, false);
    ctl.abort();
    emu.dropWatches();
    await waitFor(() => done, 'done after drop');
  });

  it('survives a restart with data intact; compaction on restart means 410 for old versions', async () => {
    const rv = (await core.listServiceForAllNamespaces()).metadata?.resourceVersion as string;
    await core.createNamespacedService({ namespace: 'default', body: svc('persist') });
    await emu.restart({ compact: true });
    assert.equal(
      (await core.readNamespacedService({ name: 'persist', namespace: 'default' })).metadata?.name,
      'persist',
    );
    await core.createNamespacedService({ namespace: 'default', body: svc('post-restart') });
    const events: number[] = [];
    await new Promise<void>((resolve) => {
      void new Watch(kc).watch(
        '/api/v1/services',
        { resourceVersion: rv },
        (_t, o: { code?: number }) => events.push(o.code ?? 0),
        () => resolve(),
      );
    });
    assert.deepEqual(events, [410]);
  });

  it('serves custom resources (ferrolb.io and metallb.io), EndpointSlices, nodes, events and leases', async () => {
    const co = kc.makeApiClient(CustomObjectsApi);
    await co.createNamespacedCustomObject({
      group: 'ferrolb.io',
      version: 'v1',
      namespace: 'ferrolb-system',
      plural: 'ipaddresspools',
      body: {
        apiVersion: 'ferrolb.io/v1',
        kind: 'IPAddressPool',
        metadata: { name: 'p' },
        spec: { addresses: ['10.0.0.0/30'] },
      },
    });
    await co.createNamespacedCustomObject({
      group: 'metallb.io',
      version: 'v1beta1',
      namespace: 'metallb-system',
      plural: 'ipaddresspools',
      body: {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: 'm' },
        spec: { addresses: ['10.0.1.0/30'] },
      },
    });
    const pools = (await co.listCustomObjectForAllNamespaces({
      group: 'ferrolb.io',
      version: 'v1',
      plural: 'ipaddresspools',
    })) as { items: { metadata: { name: string; namespace: string } }[] };
    assert.deepEqual(
      pools.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`),
      ['ferrolb-system/p'],
    );
    const got = (await co.getNamespacedCustomObject({
      group: 'metallb.io',
      version: 'v1beta1',
      namespace: 'metallb-system',
      plural: 'ipaddresspools',
      name: 'm',
    })) as { kind: string };
    assert.equal(got.kind, 'IPAddressPool');

    const disc = kc.makeApiClient(DiscoveryV1Api);
    await disc.createNamespacedEndpointSlice({
      namespace: 'default',
      body: {
        metadata: { name: 's-1', labels: { 'kubernetes.io/service-name': 's' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: true } }],
      },
    });
    const slices = await disc.listEndpointSliceForAllNamespaces({
      labelSelector: 'kubernetes.io/service-name=s',
    });
    assert.equal(slices.items.length, 1);
    await core.createNode({ body: { metadata: { name: 'n1' } } });
    assert.equal((await core.listNode()).items.length, 1);

    await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { name: 'e1' },
        involvedObject: { kind: 'Service', name: 's' },
        reason: 'R',
        message: 'm',
      },
    });
    await kc.makeApiClient(EventsV1Api).createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { name: 'e2' },
        eventTime: new Date(),
        reason: 'R',
        action: 'A',
        reportingController: 'c',
        reportingInstance: 'i',
      },
    });
    assert.equal((await core.listNamespacedEvent({ namespace: 'default' })).items.length, 1);

    const coord = kc.makeApiClient(CoordinationV1Api);
    const body = {
      metadata: { name: 'l' },
      spec: { holderIdentity: 'a', renewTime: '2026-01-01T00:00:00.000000Z' as unknown as Date },
    };
    await coord.createNamespacedLease({ namespace: 'default', body });
    const bad = { metadata: { name: 'l2' }, spec: { renewTime: new Date() } };
    assert.equal(
      await codeOf(coord.createNamespacedLease({ namespace: 'default', body: bad })),
      400,
      'a JS Date is not a MicroTime',
    );
  });

  it('counts requests and injects errors', async () => {
    const before = emu.requestCount('list services');
    await core.listServiceForAllNamespaces();
    assert.equal(emu.requestCount('list services'), before + 1);
    emu.injectErrors(1, 500);
    assert.equal(await codeOf(core.listServiceForAllNamespaces()), 500);
    await core.listServiceForAllNamespaces();
  });
});
