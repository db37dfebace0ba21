// The controller against the API server emulator over real HTTP with @kubernetes/client-node: the
// scenarios of issue 6 (no root needed). Every wait is bounded; nothing asserts on elapsed time.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
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
import { runController, type Controller, type ControllerOptions } from '../../src/k8s/controller.js';
import { agentModel } from '../../src/k8s/agent.js';
import { ALLOCATED, CONDITION_TYPE } from '../../src/k8s/annotations.js';
import type { KService } from '../../src/k8s/types.js';

let emu: KubeEmulator;
let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;
const running: Controller[] = [];
const NS = 'apps';

const start = (o: Partial<ControllerOptions> = {}): Controller => {
  const c = runController({
    // As deployed: the controller's own ServiceAccount, under the shipped RBAC.
    kubeConfig: kubeConfigAs(emu, CONTROLLER_SA),
    leaderElection: false,
    watch: { stallMs: 3000, backoffInitialMs: 50, backoffMaxMs: 500, absentRetryMs: 500 },
    debounceMs: 5,
    ...o,
  });
  running.push(c);
  return c;
};
const stopAll = async () => {
  while (running.length) await running.pop()?.stop();
};

const pool = async (name: string, addresses: string[], group = 'ferrolb.io') => {
  const version = group === 'ferrolb.io' ? 'v1' : 'v1beta1';
  await custom.createNamespacedCustomObject({
    group,
    version,
    namespace: 'ferrolb-system',
    plural: 'ipaddresspools',
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'IPAddressPool',
      metadata: { name },
      spec: { addresses },
    },
  });
};
const service = (
  name: string,
  o: {
    ann?: Record<string, string>;
    ports?: { port: number; protocol?: string; nodePort?: number }[];
    cls?: string | null;
    type?: string;
  } = {},
) =>
  core.createNamespacedService({
    namespace: NS,
    body: {
      metadata: { name, annotations: o.ann ?? {} },
      spec: {
        type: o.type ?? 'LoadBalancer',
        ...(o.cls === null ? {} : { loadBalancerClass: o.cls ?? 'ferrolb.io/ferrolb' }),
        ports: (o.ports ?? [{ port: 80 }]).map((p) => ({ protocol: 'TCP', ...p })),
        selector: { app: name },
      },
    },
  });
const read = async (name: string) =>
  (await core.readNamespacedService({ name, namespace: NS })) as unknown as KService;
const ips = async (name: string) => ((await read(name)).status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
const ipsOf = (name: string, n = 1, timeoutMs?: number) =>
  waitFor(
    async () => ((await ips(name)).length >= n ? await ips(name) : undefined),
    `${name} to get ${n} address(es)`,
    timeoutMs,
  );
const condition = async (name: string) =>
  (await read(name)).status?.conditions?.find((c) => c.type === CONDITION_TYPE);
const events = async (name: string) =>
  (await core.listNamespacedEvent({ namespace: NS })).items
    .filter((e) => e.involvedObject.name === name)
    .map((e) => e.reason);
const del = (name: string) => core.deleteNamespacedService({ name, namespace: NS });
const clean = async () => {
  await stopAll();
  for (const s of (await core.listNamespacedService({ namespace: NS })).items)
    await del(s.metadata?.name as string);
  const list = (await custom.listCustomObjectForAllNamespaces({
    group: 'ferrolb.io',
    version: 'v1',
    plural: 'ipaddresspools',
  })) as { items: { metadata: { name: string } }[] };
  for (const p of list.items)
    await custom.deleteNamespacedCustomObject({
      group: 'ferrolb.io',
      version: 'v1',
      namespace: 'ferrolb-system',
      plural: 'ipaddresspools',
      name: p.metadata.name,
    });
};

describe('k8s controller against the API server emulator', () => {
  before(async () => {
    ({ emu, kc } = await startEmulator({ bookmarkIntervalMs: 200 }));
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
  });
  afterEach(clean);
  after(async () => {
    await stopAll();
    await emu.stop();
  });

  it('create, update, delete, type change: status IPs, annotations, condition and events', async () => {
    await pool('public', ['10.10.0.0/30']);
    start();
    await service('web');
    assert.deepEqual(await ipsOf('web'), ['10.10.0.0']);
    const s = await read('web');
    assert.equal(s.metadata.annotations?.[ALLOCATED], '10.10.0.0');
    assert.equal(s.metadata.annotations?.['metallb.io/ip-allocated-from-pool'], 'public');
    assert.equal(s.status?.loadBalancer?.ingress?.[0]?.hostname, undefined, 'IPs only, never hostnames');
    assert.equal(s.status?.loadBalancer?.ingress?.[0]?.ipMode, 'VIP');
    assert.equal((await condition('web'))?.status, 'True');
    await waitFor(async () => (await events('web')).includes('IPAllocated'), 'IPAllocated event');

    // Ask for a specific address: it moves there (the user asked), and only then.
    await core.patchNamespacedService({
      name: 'web',
      namespace: NS,
      body: [{ op: 'add', path: '/metadata/annotations/metallb.io~1loadBalancerIPs', value: '10.10.0.2' }],
    });
    await waitFor(async () => (await ips('web'))[0] === '10.10.0.2', 'requested address');

    // Type change releases: status cleared, our annotations removed, address reusable.
    await core.patchNamespacedService({
      name: 'web',
      namespace: NS,
      body: [{ op: 'replace', path: '/spec/type', value: 'ClusterIP' }],
    });
    await waitFor(
      async () =>
        (await read('web')).metadata.annotations?.[ALLOCATED] === undefined &&
        (await ips('web')).length === 0,
      'release on type change',
    );
    await waitFor(async () => (await events('web')).includes('IPReleased'), 'IPReleased event');
    await service('other', { ann: { 'metallb.io/loadBalancerIPs': '10.10.0.2' } });
    assert.deepEqual(await ipsOf('other'), ['10.10.0.2']);
    await del('other');
    await service('third', { ann: { 'ferrolb.io/loadBalancerIPs': '10.10.0.2' } });
    assert.deepEqual(await ipsOf('third'), ['10.10.0.2'], 'freed on delete');
  });

  it('retries a write that hits a conflict (409) from a fresh read', async () => {
    await pool('public', ['10.10.10.0/30']);
    const c = start();
    await c.ready;
    emu.injectErrors(2, 409, (m, p) => m === 'PATCH' && p.endsWith('/services/conflicted'));
    await service('conflicted');
    assert.deepEqual(await ipsOf('conflicted'), ['10.10.10.0']);
    assert.ok(c.metrics.writeConflicts >= 2);
  });

  it('dual stack: RequireDualStack gets one address per family; PreferDualStack settles for one', async () => {
    await pool('v4', ['10.10.12.0/31']);
    await pool('v6', ['fd00:10:12::/127']);
    start();
    await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'ds' },
        spec: {
          type: 'LoadBalancer',
          loadBalancerClass: 'ferrolb.io/ferrolb',
          ipFamilyPolicy: 'RequireDualStack',
          ipFamilies: ['IPv6', 'IPv4'],
          ports: [{ port: 443, protocol: 'TCP' }],
        },
      },
    });
    assert.deepEqual(await ipsOf('ds', 2), ['10.10.12.0', 'fd00:10:12::']);
    // Deleting a pool in use does not take addresses away: it stays in use until they are released.
    await custom.deleteNamespacedCustomObject({
      group: 'ferrolb.io',
      version: 'v1',
      namespace: 'ferrolb-system',
      plural: 'ipaddresspools',
      name: 'v6',
    });
    await waitFor(() => running[0]?.metrics.configInvalid, 'deleted-in-use reported');
    assert.deepEqual(await ips('ds'), ['10.10.12.0', 'fd00:10:12::']);
    await del('ds');
    await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'prefer' },
        spec: {
          type: 'LoadBalancer',
          loadBalancerClass: 'ferrolb.io/ferrolb',
          ipFamilyPolicy: 'PreferDualStack',
          ipFamilies: ['IPv4', 'IPv6'],
          ports: [{ port: 443, protocol: 'TCP' }],
        },
      },
    });
    assert.deepEqual(await ipsOf('prefer'), ['10.10.12.0']);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      await ips('prefer'),
      ['10.10.12.0'],
      'no IPv6: the deleted pool is gone once nobody holds it',
    );
  });

  it('shares one address between services with the same key and disjoint ports', async () => {
    await pool('public', ['10.10.1.0/30']);
    start();
    await service('dns-tcp', {
      ann: { 'metallb.io/allow-shared-ip': 'dns' },
      ports: [{ port: 53, protocol: 'TCP' }],
    });
    await service('dns-udp', {
      ann: { 'metallb.universe.tf/allow-shared-ip': 'dns' },
      ports: [{ port: 53, protocol: 'UDP' }],
    });
    const [a, b] = [await ipsOf('dns-tcp'), await ipsOf('dns-udp')];
    assert.deepEqual(a, b);
  });

  it('namespaceSelectors: a pool serves only namespaces whose labels match', async () => {
    const poolWith = (name: string, addresses: string[], serviceAllocation: Record<string, unknown>) =>
      custom.createNamespacedCustomObject({
        group: 'ferrolb.io',
        version: 'v1',
        namespace: 'ferrolb-system',
        plural: 'ipaddresspools',
        body: {
          apiVersion: 'ferrolb.io/v1',
          kind: 'IPAddressPool',
          metadata: { name },
          spec: { addresses, serviceAllocation },
        },
      });
    await poolWith('team-a', ['10.10.20.0/30'], {
      priority: 1,
      namespaceSelectors: [{ matchLabels: { team: 'a' } }],
    });
    await poolWith('general', ['10.10.21.0/30'], { priority: 10 });
    const labelNs = (name: string, team: string) =>
      core
        .createNamespace({ body: { metadata: { name, labels: { team } } } })
        .catch(() =>
          core.patchNamespace(
            { name, body: { metadata: { labels: { team } } } },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          ),
        );
    // Labels are in place before the controller starts, so no watch timing is involved.
    await labelNs(NS, 'a');
    await labelNs('other', 'b');
    start();
    await service('team-a-svc');
    assert.deepEqual(await ipsOf('team-a-svc'), ['10.10.20.0'], 'team a: its own pool first');
    await core.createNamespacedService({
      namespace: 'other',
      body: {
        metadata: { name: 'not-team-a' },
        spec: {
          type: 'LoadBalancer',
          loadBalancerClass: 'ferrolb.io/ferrolb',
          ports: [{ port: 80, protocol: 'TCP' }],
        },
      },
    });
    const other = await waitFor(async () => {
      const s = (await core.readNamespacedService({
        name: 'not-team-a',
        namespace: 'other',
      })) as unknown as KService;
      return s.status?.loadBalancer?.ingress?.[0]?.ip;
    }, 'not-team-a to get an address');
    assert.equal(other, '10.10.21.0', 'team b: the general pool');
    await core.deleteNamespacedService({ name: 'not-team-a', namespace: 'other' });
    await labelNs(NS, 'none');
  });

  it('pool exhaustion: Pending with reason (condition + Warning event), recovery when an address frees', async () => {
    await pool('tiny', ['10.10.2.0/31']);
    start();
    await service('a');
    await ipsOf('a');
    await service('b');
    await ipsOf('b');
    await service('c');
    const cond = await waitFor(
      async () => ((await condition('c'))?.reason === 'PoolExhausted' ? await condition('c') : undefined),
      'pending condition',
    );
    assert.equal(cond.status, 'False');
    assert.match(cond.message, /no free IPv4 address in IPAddressPool\/tiny/);
    await waitFor(async () => (await events('c')).includes('AllocationPending'), 'pending event');
    assert.deepEqual(await ips('c'), []);
    const counters = await waitFor(async () => {
      const o = (await custom.getNamespacedCustomObject({
        group: 'ferrolb.io',
        version: 'v1',
        namespace: 'ferrolb-system',
        plural: 'ipaddresspools',
        name: 'tiny',
      })) as { status?: { assignedIPv4?: number; availableIPv4?: number } };
      return o.status?.assignedIPv4 === 2 ? o.status : undefined;
    }, 'pool counters');
    assert.equal(counters.availableIPv4, 0);
    const freed = (await ips('a'))[0];
    await del('a');
    assert.deepEqual(await ipsOf('c'), [freed]);
    assert.equal((await condition('c'))?.status, 'True');
  });

  it('a bad annotation: condition and event name the annotation and value; fixing it allocates', async () => {
    await pool('public', ['10.10.3.0/30']);
    start();
    await service('bad', { ann: { 'loxilb.io/lbmode': 'dsr' } });
    const cond = await waitFor(
      async () =>
        (await condition('bad'))?.reason === 'InvalidConfiguration' ? await condition('bad') : undefined,
      'invalid condition',
    );
    assert.match(cond.message, /metadata\.annotations\["loxilb\.io\/lbmode"\]: "dsr"/);
    await waitFor(async () => (await events('bad')).includes('InvalidConfiguration'), 'invalid event');
    await core.patchNamespacedService({
      name: 'bad',
      namespace: NS,
      body: [{ op: 'replace', path: '/metadata/annotations/loxilb.io~1lbmode', value: 'fullnat' }],
    });
    assert.deepEqual(await ipsOf('bad'), ['10.10.3.0']);
    assert.equal(
      (await read('bad')).status?.loadBalancer?.ingress?.[0]?.ipMode,
      'Proxy',
      'fullnat is a proxy in the path',
    );
  });

  it('an invalid pool set keeps the last good one and says so on the resource', async () => {
    await pool('public', ['10.10.4.0/30']);
    const c = start();
    await service('keep');
    const ip = await ipsOf('keep');
    await pool('broken', ['10.10.4.0/40']);
    await waitFor(() => c.metrics.configInvalid > 0, 'config invalid metric');
    const evs = (await core.listNamespacedEvent({ namespace: 'ferrolb-system' })).items.filter(
      (e) => e.involvedObject.name === 'broken',
    );
    assert.match(evs[0]?.message ?? '', /spec\.addresses\[0\]: "10\.10\.4\.0\/40"/);
    const cond = await waitFor(async () => {
      const o = (await custom.getNamespacedCustomObject({
        group: 'ferrolb.io',
        version: 'v1',
        namespace: 'ferrolb-system',
        plural: 'ipaddresspools',
        name: 'broken',
      })) as { status?: { conditions?: { type: string; status: string; message: string }[] } };
      return o.status?.conditions?.find((c) => c.type === 'Valid' && c.status === 'False');
    }, 'Valid=False on the pool');
    assert.match(cond.message, /CIDR prefix length/);
    await service('new-one');
    assert.equal((await ipsOf('new-one')).length, 1, 'last good pools still allocate');
    assert.deepEqual(await ips('keep'), ip);
    await custom.deleteNamespacedCustomObject({
      group: 'ferrolb.io',
      version: 'v1',
      namespace: 'ferrolb-system',
      plural: 'ipaddresspools',
      name: 'broken',
    });
  });

  it('a controller restart keeps every address, even with a new service that sorts first', async () => {
    await pool('public', ['10.10.5.0/28']);
    let c = start();
    const names = Array.from({ length: 8 }, (_, i) => `svc-${i}`);
    for (const n of names) await service(n);
    const before = new Map<string, string[]>();
    for (const n of names) before.set(n, (await ipsOf(n)) as string[]);
    await c.stop();
    running.pop();
    await del('svc-3'); // frees one address while the controller is down
    await service('aaa-first');
    c = start();
    await c.ready;
    const got = await ipsOf('aaa-first');
    for (const n of names.filter((x) => x !== 'svc-3'))
      assert.deepEqual(await ips(n), before.get(n), `${n} kept its address`);
    assert.deepEqual(got, before.get('svc-3'), 'the new service gets the freed address, not anyone else’s');
  });

  it('a controller stopped part-way through a cold start: the next one keeps every recorded address, no duplicates', async () => {
    await pool('public', ['10.10.13.0/24']);
    const names = Array.from({ length: 60 }, (_, i) => `cold-${String(i).padStart(2, '0')}`);
    for (const n of names) await service(n);
    const c = start({ writeConcurrency: 2 });
    await waitFor(
      async () =>
        (await core.listNamespacedService({ namespace: NS })).items.filter(
          (x) => x.status?.loadBalancer?.ingress?.length,
        ).length >= 10,
      'some written',
    );
    await c.stop();
    running.splice(running.indexOf(c), 1);
    const partial = new Map<string, string>();
    for (const s of (await core.listNamespacedService({ namespace: NS })).items) {
      const a = s.metadata?.annotations?.[ALLOCATED];
      if (a) partial.set(s.metadata?.name as string, a);
    }
    assert.ok(partial.size > 0 && partial.size < names.length, `stopped part-way (${partial.size} recorded)`);
    await service('aaa-newcomer'); // sorts first: would take 10.10.13.0 if recorded addresses were ignored
    start();
    for (const n of names) await ipsOf(n);
    const all = await Promise.all([...names, 'aaa-newcomer'].map(async (n) => (await ipsOf(n))[0]));
    assert.equal(new Set(all).size, names.length + 1, 'no address handed out twice');
    for (const [n, a] of partial) assert.deepEqual(await ips(n), [a], `${n} kept ${a}`);
  });

  it('recovers from watch expiry (410), dropped watches, silent stalls and an API server restart', async () => {
    await pool('public', ['10.10.6.0/28']);
    const c = start({
      watch: { stallMs: 1500, backoffInitialMs: 50, backoffMaxMs: 300, absentRetryMs: 300 },
    });
    await c.ready;
    await service('s0');
    await ipsOf('s0');
    // Expiry: history compacted, watches end; re-watching from their resourceVersion gets 410 → relist.
    emu.store.compact();
    emu.closeWatches();
    await service('s1');
    await ipsOf('s1');
    // Dropped connections.
    emu.dropWatches();
    await service('s2');
    await ipsOf('s2');
    // Silent stall: connections open, nothing sent — only the watchdog notices.
    const relists = emu.requestCount('list services');
    emu.stallWatches();
    await service('s3');
    await ipsOf('s3');
    assert.ok(emu.requestCount('list services') > relists, 'the watchdog relisted');
    // API server restart with an empty watch cache.
    await emu.restart({ compact: true, downMs: 100 });
    await service('s4');
    await ipsOf('s4');
    const all = await Promise.all(['s0', 's1', 's2', 's3', 's4'].map(async (n) => (await ips(n))[0]));
    assert.equal(new Set(all).size, 5, 'no duplicate addresses');
  });

  it('leader election: one writer; failover on release and on expiry', async () => {
    await pool('public', ['10.10.7.0/28']);
    const le = {
      namespace: 'ferrolb-system',
      leaseDurationMs: 1500,
      renewDeadlineMs: 1000,
      retryPeriodMs: 200,
    };
    const a = start({ leaderElection: le, identity: 'a' });
    await waitFor(() => a.isLeader(), 'a leads');
    const b = start({ leaderElection: le, identity: 'b' });
    await b.ready;
    await service('l1');
    await ipsOf('l1');
    assert.equal(b.isLeader(), false);
    assert.equal(b.metrics.apiWrites, 0, 'the follower writes nothing');
    await a.stop(); // releases the lease
    running.splice(running.indexOf(a), 1);
    await waitFor(() => b.isLeader(), 'b takes over');
    await service('l2');
    await ipsOf('l2');
    // Expiry: the leader loses the API (injected errors on lease writes) and must step down.
    emu.injectErrors(1000, 503, (m, p) => p.includes('/leases/') && m === 'PUT');
    await waitFor(() => !b.isLeader(), 'b steps down after its renew deadline');
    emu.clearInjectedErrors();
  });

  it('a kube-loxilb SCTP multihoming Service becomes a multihomed SCTP LoadBalancer in the agent model', async () => {
    await pool('primary', ['10.10.8.0/29']);
    await pool('secondary', ['10.10.9.0/29']);
    const loxilbAnn = {
      'loxilb.io/lbmode': 'fullnat',
      'loxilb.io/liveness': 'yes',
      'loxilb.io/probetype': 'sctp',
      'loxilb.io/probeport': '38412',
      'loxilb.io/secondaryIPs': '10.10.9.1,10.10.9.2',
    };
    const c = start({ config: { loxilbCompat: true } });
    await service('amf', {
      cls: 'loxilb.io/loxilb',
      ann: loxilbAnn,
      ports: [{ port: 38412, protocol: 'SCTP', nodePort: 31412 }],
    });
    await core
      .createNode({
        body: {
          metadata: { name: 'n1' },
          status: {
            addresses: [{ type: 'InternalIP', address: '192.168.50.11' }],
            conditions: [{ type: 'Ready', status: 'True' }],
          },
        },
      })
      .catch(() => undefined);
    const got = await ipsOf('amf', 3);
    assert.deepEqual(got, ['10.10.8.0', '10.10.9.1', '10.10.9.2']);
    await c.idle();
    const view = {
      services: [await read('amf')],
      slices: [],
      nodes: (await core.listNode()).items as never,
      customObjects: (
        (await custom.listCustomObjectForAllNamespaces({
          group: 'ferrolb.io',
          version: 'v1',
          plural: 'ipaddresspools',
        })) as { items: never[] }
      ).items,
    };
    const model = agentModel(view, {
      loadBalancerClass: 'ferrolb.io/ferrolb',
      defaultClass: false,
      loxilbCompat: true,
      secondaryPools: [],
      metallbCompat: false,
    });
    const lb = model.state?.loadBalancers.get(`${NS}.amf`);
    assert.equal(lb?.mode, 'fullnat');
    assert.deepEqual(lb?.ports, [{ port: 38412, protocol: 'SCTP', targetPort: 31412 }]);
    assert.deepEqual(lb?.secondaryAddresses, ['10.10.9.1', '10.10.9.2']);
    assert.deepEqual(lb?.healthCheck.type, 'sctp');
    assert.deepEqual(model.allocations.get(`${NS}.amf`), {
      addresses: ['10.10.8.0'],
      secondaryAddresses: ['10.10.9.1', '10.10.9.2'],
    });
    await c.stop();
    running.pop();

    // The same manifest with only the class changed works without the compatibility flag; a replica
    // without the flag leaves the loxilb-class Service alone and never hands out its addresses.
    start();
    await service('amf2', {
      ann: { ...loxilbAnn, 'loxilb.io/secondaryIPs': '10.10.9.3,10.10.9.4' },
      ports: [{ port: 38412, protocol: 'SCTP', nodePort: 31413 }],
    });
    assert.deepEqual(await ipsOf('amf2', 3), ['10.10.8.1', '10.10.9.3', '10.10.9.4']);
    assert.deepEqual(await ips('amf'), got, 'untouched');
  });

  it('`ferrolb controller` as a process: kubeconfig file, leader election, SIGTERM releases the Lease', async () => {
    await pool('public', ['10.10.11.0/30']);
    const dir = mkdtempSync(join(tmpdir(), 'ferrolb-k8s-'));
    try {
      const cfgFile = join(dir, 'kubeconfig');
      writeFileSync(
        cfgFile,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters: [{name: emu, cluster: {server: "' + emu.url + '", insecure-skip-tls-verify: true}}]',
          `users: [{name: u, user: {token: "${emu.tokenFor(CONTROLLER_SA.namespace, CONTROLLER_SA.name)}"}}]`,
          'contexts: [{name: c, context: {cluster: emu, user: u}}]',
          'current-context: c',
        ].join('\n'),
      );
      const script = join(dir, 'run.mjs');
      const cli = new URL('../../src/roles/controller.js', import.meta.url).href;
      writeFileSync(
        script,
        `import { controllerMain } from '${cli}';\nprocess.exitCode = await controllerMain(process.argv.slice(2));\n`,
      );
      const child = spawn(
        process.execPath,
        [
          script,
          '--kubeconfig',
          cfgFile,
          '--leader-elect',
          '--lease-namespace',
          'ferrolb-system',
          '--identity',
          'proc',
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, FERROLB_LOG_LEVEL: 'warn' },
        },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        await service('via-process');
        // A new process loads the client library first (seconds on a loaded machine): a looser bound.
        assert.deepEqual(await ipsOf('via-process', 1, 30_000), ['10.10.11.0']);
        const coord = kc.makeApiClient(CoordinationV1Api);
        const lease = await coord.readNamespacedLease({
          name: 'ferrolb-controller',
          namespace: 'ferrolb-system',
        });
        assert.equal(lease.spec?.holderIdentity, 'proc');
        child.kill('SIGTERM');
        assert.equal(await exited, 0, stderr);
        const after = await coord.readNamespacedLease({
          name: 'ferrolb-controller',
          namespace: 'ferrolb-system',
        });
        assert.equal(after.spec?.holderIdentity, '', 'released on shutdown');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
