// The controller's plan with its carry-over (re-maps, re-validates and re-allocates only what changed)
// decides exactly what a plan from scratch over the same cluster and the same remembered allocations
// decides, over random sequences of cluster events, including the shell writing its own results
// back and controller restarts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_MAPPING } from '../../../src/k8s/mapping.js';
import {
  emptyMemory,
  plan,
  type ClusterView,
  type CoreConfig,
  type Memory,
  type Plan,
} from '../../../src/k8s/core.js';
import { serviceUpdate } from '../../../src/k8s/status.js';
import {
  type KCustomObject,
  type KEndpointSlice,
  type KNamespace,
  type KNode,
  type KService,
} from '../../../src/k8s/types.js';

const core: CoreConfig = { ...DEFAULT_MAPPING, metallbCompat: true, loxilbCompat: true };
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
const NS = ['x', 'y'];

const svcArb = fc.record({
  ns: fc.constantFrom(...NS),
  name: fc.constantFrom(...NAMES),
  type: fc.constantFrom('LoadBalancer', 'LoadBalancer', 'LoadBalancer', 'ClusterIP'),
  cls: fc.constantFrom('ferrolb.io/ferrolb', 'ferrolb.io/ferrolb', 'loxilb.io/loxilb', 'other'),
  pool: fc.constantFrom(undefined, undefined, 'p', 'q', 'gone'),
  ip: fc.constantFrom(undefined, undefined, undefined, '10.0.0.1', '10.0.0.2', '10.0.1.0', '10.9.9.9', 'bad'),
  share: fc.constantFrom(undefined, undefined, 'k'),
  port: fc.constantFrom(80, 443),
  mode: fc.constantFrom(undefined, undefined, undefined, 'fullnat', 'dsr'),
  held: fc.constantFrom(undefined, undefined, '10.0.0.3', '10.0.1.1'),
  label: fc.constantFrom(undefined, 'web'),
});

type SvcSpec = typeof svcArb extends fc.Arbitrary<infer T> ? T : never;

function makeSvc(s: SvcSpec, gen: number): KService {
  const ann: Record<string, string> = {};
  if (s.pool) ann['ferrolb.io/address-pool'] = s.pool;
  if (s.ip) ann['metallb.io/loadBalancerIPs'] = s.ip;
  if (s.share) ann['metallb.io/allow-shared-ip'] = s.share;
  if (s.mode) ann['loxilb.io/lbmode'] = s.mode;
  if (s.held) ann['ferrolb.io/allocated'] = s.held;
  return {
    metadata: {
      name: s.name,
      namespace: s.ns,
      generation: gen,
      annotations: ann,
      ...(s.label ? { labels: { app: s.label } } : {}),
    },
    spec: {
      type: s.type,
      loadBalancerClass: s.cls,
      ports: [{ port: s.port, protocol: 'TCP', nodePort: 30000 + s.port }],
    },
  };
}

const poolArb = fc.record({
  name: fc.constantFrom('p', 'q', 'r'),
  group: fc.constantFrom('ferrolb.io/v1', 'metallb.io/v1beta1'),
  addresses: fc.constantFrom(
    ['10.0.0.0/30'],
    ['10.0.1.0/31'],
    ['10.0.2.0/30'],
    ['10.0.0.0/40'],
    ['10.0.1.0/30'],
  ),
  nsSel: fc.constantFrom(undefined, undefined, 'a'),
});
type PoolSpec = typeof poolArb extends fc.Arbitrary<infer T> ? T : never;
const makePool = (p: PoolSpec): KCustomObject => ({
  apiVersion: p.group,
  kind: 'IPAddressPool',
  metadata: { name: p.name, namespace: 'sys' },
  spec: {
    addresses: p.addresses,
    ...(p.nsSel ? { serviceAllocation: { namespaceSelectors: [{ matchLabels: { team: p.nsSel } }] } } : {}),
  },
});

const eventArb = fc.oneof(
  { weight: 6, arbitrary: svcArb.map((s) => ({ t: 'svc' as const, s })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ ns: fc.constantFrom(...NS), name: fc.constantFrom(...NAMES) })
      .map((k) => ({ t: 'delsvc' as const, ...k })),
  },
  { weight: 2, arbitrary: poolArb.map((p) => ({ t: 'pool' as const, p })) },
  { weight: 1, arbitrary: fc.constantFrom('p', 'q', 'r').map((name) => ({ t: 'delpool' as const, name })) },
  {
    weight: 2,
    arbitrary: fc
      .record({
        ns: fc.constantFrom(...NS),
        name: fc.constantFrom(...NAMES),
        ip: fc.constantFrom('192.168.0.1', '192.168.0.2'),
        ready: fc.boolean(),
      })
      .map((e) => ({ t: 'slice' as const, ...e })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ ns: fc.constantFrom(...NS), team: fc.constantFrom(undefined, 'a', 'b') })
      .map((e) => ({ t: 'ns' as const, ...e })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ ip: fc.constantFrom('172.16.0.1', '172.16.0.2'), ready: fc.boolean() })
      .map((e) => ({ t: 'node' as const, ...e })),
  },
  { weight: 4, arbitrary: fc.constant({ t: 'writeback' as const }) },
  { weight: 1, arbitrary: fc.nat(1000).map((n) => ({ t: 'poolstatus' as const, n })) },
  { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'relist' as const }) },
);
type Event = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

/** The cluster as maps of objects: an event replaces only the objects it touches (new identity). */
class Cluster {
  services = new Map<string, KService>();
  slices = new Map<string, KEndpointSlice>();
  pools = new Map<string, KCustomObject>();
  namespaces = new Map<string, KNamespace>(NS.map((n) => [n, { metadata: { name: n } }]));
  nodes: KNode[] = [];
  gen = 1;
  view(): ClusterView {
    return {
      services: [...this.services.values()],
      slices: [...this.slices.values()],
      nodes: [...this.nodes],
      namespaces: [...this.namespaces.values()],
      customObjects: [...this.pools.values()],
    };
  }
  apply(e: Event, last: Plan | undefined): void {
    switch (e.t) {
      case 'svc':
        this.services.set(`${e.s.ns}/${e.s.name}`, makeSvc(e.s, this.gen++));
        break;
      case 'delsvc':
        this.services.delete(`${e.ns}/${e.name}`);
        break;
      case 'pool':
        this.pools.set(`${e.p.group}/${e.p.name}`, makePool(e.p));
        break;
      case 'delpool':
        for (const k of this.pools.keys()) if (k.endsWith(`/${e.name}`)) this.pools.delete(k);
        break;
      case 'slice':
        this.slices.set(`${e.ns}/${e.name}`, {
          metadata: {
            name: `${e.name}-1`,
            namespace: e.ns,
            labels: { 'kubernetes.io/service-name': e.name },
          },
          addressType: 'IPv4',
          endpoints: [{ addresses: [e.ip], nodeName: 'n1', conditions: { ready: e.ready } }],
          ports: [{ port: 8080, protocol: 'TCP' }],
        });
        break;
      case 'ns':
        this.namespaces.set(e.ns, {
          metadata: { name: e.ns, ...(e.team ? { labels: { team: e.team } } : {}) },
        });
        break;
      case 'node':
        this.nodes = [
          {
            metadata: { name: 'n1' },
            status: {
              addresses: [{ type: 'InternalIP', address: e.ip }],
              conditions: [{ type: 'Ready', status: e.ready ? 'True' : 'False' }],
            },
          },
        ];
        break;
      case 'writeback':
        // What the shell does with a plan: write annotations and status, which the watch echoes back.
        if (!last || last.hold) break;
        for (const [key, outcome] of last.outcomes) {
          const svc = this.services.get(key);
          if (!svc) continue;
          const u = serviceUpdate(svc, outcome, 'VIP', '2026-01-01T00:00:00Z');
          if (!u.annotations && !u.status) continue;
          this.services.set(key, {
            ...svc,
            metadata: { ...svc.metadata, ...(u.annotations ? { annotations: u.annotations } : {}) },
            ...(u.status ? { status: u.status } : {}),
          });
        }
        break;
      case 'relist':
        // A relist hands out equal objects with new identities.
        for (const m of [this.services, this.slices, this.pools, this.namespaces])
          for (const [k, v] of m) (m as Map<string, unknown>).set(k, structuredClone(v));
        this.nodes = this.nodes.map((n) => structuredClone(n));
        break;
      case 'poolstatus':
        // Our own status write on a pool (counters): not planner input.
        for (const [k, v] of this.pools) this.pools.set(k, { ...v, status: { assignedIPv4: e.n } });
        break;
      case 'restart':
        break;
    }
  }
}

const strip = (m: Memory): Memory => ({
  ...(m.pools ? { pools: m.pools } : {}),
  services: m.services,
  allocations: m.allocations,
});
const plain = (x: unknown): unknown =>
  x === undefined
    ? undefined
    : (JSON.parse(JSON.stringify(x, (_k, v: unknown) => (v instanceof Map ? [...v] : v))) as unknown);
const decisions = (p: Plan) => ({
  hold: p.hold,
  outcomes: plain([...p.outcomes].sort(([a], [b]) => a.localeCompare(b))),
  allocations: plain([...p.allocations].sort(([a], [b]) => a.localeCompare(b))),
  configIssues: plain(p.configIssues),
  lbs: p.state ? plain([...p.state.loadBalancers.keys()].sort()) : undefined,
  remembered: plain([...p.memory.services].sort(([a], [b]) => a.localeCompare(b))),
  pools: plain(p.memory.pools),
});

describe('incremental plan', () => {
  it('equals a plan from scratch over random event sequences', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 40 }), (events) => {
        const cluster = new Cluster();
        cluster.apply(
          {
            t: 'pool',
            p: { name: 'p', group: 'ferrolb.io/v1', addresses: ['10.0.0.0/30'], nsSel: undefined },
          },
          undefined,
        );
        // Each chain runs on its own (the model's validation memo keeps one pool set at a time, so
        // interleaving them would defeat the incremental path this test is about).
        const views: ClusterView[] = [];
        const restarts: boolean[] = [];
        let inc: Memory = emptyMemory();
        let last: Plan | undefined;
        const seen: ReturnType<typeof decisions>[] = [];
        for (const e of events) {
          if (e.t === 'restart') inc = emptyMemory();
          cluster.apply(e, last);
          const view = cluster.view();
          views.push(view);
          restarts.push(e.t === 'restart');
          last = plan(view, core, inc);
          inc = last.memory;
          seen.push(decisions(last));
        }
        let full: Memory = emptyMemory();
        views.forEach((view, i) => {
          if (restarts[i]) full = emptyMemory();
          const b = plan(view, core, strip(full));
          assert.deepEqual(seen[i], decisions(b), `after ${JSON.stringify(events[i])}`);
          full = b.memory;
        });
      }),
      { numRuns: 300 },
    );
  });

  it('keeps unchanged Services by identity: same mapping, same outcome object', () => {
    const cluster = new Cluster();
    cluster.apply(
      { t: 'pool', p: { name: 'p', group: 'ferrolb.io/v1', addresses: ['10.0.2.0/30'], nsSel: undefined } },
      undefined,
    );
    for (const name of ['a', 'b'])
      cluster.apply(
        {
          t: 'svc',
          s: {
            ns: 'x',
            name,
            type: 'LoadBalancer',
            cls: 'ferrolb.io/ferrolb',
            pool: undefined,
            ip: undefined,
            share: undefined,
            port: 80,
            mode: undefined,
            held: undefined,
            label: undefined,
          },
        },
        undefined,
      );
    const first = plan(cluster.view(), core, emptyMemory());
    cluster.apply(
      {
        t: 'svc',
        s: {
          ns: 'x',
          name: 'c',
          type: 'LoadBalancer',
          cls: 'ferrolb.io/ferrolb',
          pool: undefined,
          ip: undefined,
          share: undefined,
          port: 80,
          mode: undefined,
          held: undefined,
          label: undefined,
        },
      },
      undefined,
    );
    const second = plan(cluster.view(), core, first.memory);
    assert.equal(second.outcomes.get('x/a'), first.outcomes.get('x/a'));
    assert.equal(second.memory.services.get('x/b'), first.memory.services.get('x/b'));
    assert.equal(second.outcomes.get('x/c')?.phase, 'Allocated');
  });
});
