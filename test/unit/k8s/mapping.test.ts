// Service + EndpointSlices + Nodes → the model's LoadBalancer object, and the pure planner.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildDesiredState } from '../../../src/model/validate.js';
import { claims, DEFAULT_MAPPING, mapService, type MappingConfig } from '../../../src/k8s/mapping.js';
import { mapCustomResources } from '../../../src/k8s/crds.js';
import { emptyMemory, persistedAllocation, plan, type CoreConfig } from '../../../src/k8s/core.js';
import { serviceUpdate } from '../../../src/k8s/status.js';
import { ALLOCATED, CONDITION_TYPE } from '../../../src/k8s/annotations.js';
import type { KEndpointSlice, KNode, KService } from '../../../src/k8s/types.js';

const svc = (
  name: string,
  ann: Record<string, string> = {},
  spec: Partial<NonNullable<KService['spec']>> = {},
): KService => ({
  metadata: { name, namespace: 'ns', annotations: ann, generation: 1 },
  spec: {
    type: 'LoadBalancer',
    loadBalancerClass: 'ferrolb.io/ferrolb',
    ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'web', nodePort: 30080 }],
    selector: { app: name },
    ...spec,
  },
});
const slice = (
  svcName: string,
  eps: { ip: string; node: string; ready?: boolean; serving?: boolean; terminating?: boolean }[],
  port = 8080,
): KEndpointSlice => ({
  metadata: { name: `${svcName}-x`, namespace: 'ns', labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4',
  endpoints: eps.map((e) => ({
    addresses: [e.ip],
    nodeName: e.node,
    conditions: {
      ready: e.ready ?? true,
      serving: e.serving ?? e.ready ?? true,
      terminating: e.terminating ?? false,
    },
  })),
  ports: [{ name: 'http', port, protocol: 'TCP' }],
});
const node = (name: string, ip: string, ready = true): KNode => ({
  metadata: { name },
  status: {
    addresses: [{ type: 'InternalIP', address: ip }],
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
  },
});
const cfg: MappingConfig = { ...DEFAULT_MAPPING };
const spec = (s: KService, slices: KEndpointSlice[] = [], nodes: KNode[] = [], c = cfg) => {
  const m = mapService(s, slices, nodes, c);
  return { m, spec: m.object?.spec as Record<string, unknown> | undefined };
};
const fieldsOf = (s: KService, c = cfg) =>
  mapService(s, [], [], c).issues.map((i) => `${i.field}=${JSON.stringify(i.value)}`);

describe('class filtering', () => {
  it('claims only type LoadBalancer with our class, no-class when default, loxilb when compatible', () => {
    assert.equal(claims(svc('a'), cfg), true);
    assert.equal(claims(svc('a', {}, { type: 'ClusterIP' }), cfg), false);
    assert.equal(claims(svc('a', {}, { loadBalancerClass: 'other/x' }), cfg), false);
    assert.equal(claims(svc('a', {}, { loadBalancerClass: undefined }), cfg), false);
    assert.equal(
      claims(svc('a', {}, { loadBalancerClass: undefined }), { ...cfg, defaultClass: true }),
      true,
    );
    assert.equal(claims(svc('a', {}, { loadBalancerClass: 'loxilb.io/loxilb' }), cfg), false);
    assert.equal(
      claims(svc('a', {}, { loadBalancerClass: 'loxilb.io/loxilb' }), { ...cfg, loxilbCompat: true }),
      true,
    );
    assert.equal(
      claims(svc('a', {}, { loadBalancerClass: 'mine/lb' }), { ...cfg, loadBalancerClass: 'mine/lb' }),
      true,
    );
  });
});

describe('mapService', () => {
  it('maps ports with targetPort resolved from the EndpointSlice, ready endpoints only, sorted and unique', () => {
    const { spec: s } = spec(svc('web'), [
      slice('web', [
        { ip: '10.1.0.3', node: 'n1' },
        { ip: '10.1.0.2', node: 'n2' },
        { ip: '10.1.0.9', node: 'n1', ready: false },
      ]),
    ]);
    assert.deepEqual(s?.ports, [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }]);
    assert.deepEqual(s?.endpoints, [{ address: '10.1.0.2' }, { address: '10.1.0.3' }]);
  });

  it('falls back to serving+terminating endpoints only when none is ready', () => {
    const { spec: s } = spec(svc('web'), [
      slice('web', [
        { ip: '10.1.0.4', node: 'n1', ready: false, serving: true, terminating: true },
        { ip: '10.1.0.5', node: 'n1', ready: false, serving: false },
      ]),
    ]);
    assert.deepEqual(s?.endpoints, [{ address: '10.1.0.4' }]);
  });

  it('ignores slices of other services and namespaces', () => {
    const other = slice('other', [{ ip: '10.9.9.9', node: 'n1' }]);
    const otherNs = {
      ...slice('web', [{ ip: '10.8.8.8', node: 'n1' }]),
      metadata: { name: 'z', namespace: 'elsewhere', labels: { 'kubernetes.io/service-name': 'web' } },
    };
    assert.deepEqual(spec(svc('web'), [other, otherNs]).spec?.endpoints, []);
  });

  it('externalTrafficPolicy Local: announce only nodes with a ready local endpoint; node-port endpoints only those nodes', () => {
    const s = svc('web', { 'ferrolb.io/endpoint-type': 'nodeport' }, { externalTrafficPolicy: 'Local' });
    const { m, spec: sp } = spec(
      s,
      [
        slice('web', [
          { ip: '10.1.0.2', node: 'n2' },
          { ip: '10.1.0.3', node: 'n3', ready: false },
        ]),
      ],
      [node('n1', '192.168.0.1'), node('n2', '192.168.0.2'), node('n3', '192.168.0.3')],
    );
    assert.deepEqual(m.announceNodes, ['n2']);
    assert.deepEqual(sp?.endpoints, [{ address: '192.168.0.2' }]);
    assert.equal(sp?.ports && (sp.ports as { targetPort: number }[])[0]?.targetPort, 30080);
    const meta = m.object?.metadata as { annotations: Record<string, string> };
    assert.equal(meta.annotations['ferrolb.io/announce-nodes'], 'n2');
  });

  it('node-port endpoints use every Ready node under Cluster policy (kube-loxilb default for its class)', () => {
    const s = svc('web', {}, { loadBalancerClass: 'loxilb.io/loxilb' });
    const { m, spec: sp } = spec(s, [], [node('n1', '192.168.0.1'), node('n2', '192.168.0.2', false)]);
    assert.equal(m.announceNodes, undefined);
    assert.deepEqual(sp?.endpoints, [{ address: '192.168.0.1' }]);
  });

  it('reads requested IPs from ferrolb, MetalLB (both prefixes) and spec.loadBalancerIP', () => {
    for (const key of [
      'ferrolb.io/loadBalancerIPs',
      'metallb.io/loadBalancerIPs',
      'metallb.universe.tf/loadBalancerIPs',
    ])
      assert.deepEqual(spec(svc('a', { [key]: '10.0.0.5, fd00::0005' })).spec?.addresses, [
        '10.0.0.5',
        'fd00::5',
      ]);
    assert.deepEqual(spec(svc('a', {}, { loadBalancerIP: '10.0.0.6' })).spec?.addresses, ['10.0.0.6']);
    assert.deepEqual(
      spec(svc('a', { 'metallb.io/loadBalancerIPs': '10.0.0.6' }, { loadBalancerIP: '10.0.0.6' })).m.issues,
      [],
    );
  });

  it('names the annotation and value of every bad input', () => {
    assert.deepEqual(fieldsOf(svc('a', { 'metallb.io/loadBalancerIPs': '10.0.0.300' })), [
      'metadata.annotations["metallb.io/loadBalancerIPs"]="10.0.0.300"',
    ]);
    assert.deepEqual(fieldsOf(svc('a', { 'loxilb.io/lbmode': 'dsr' })), [
      'metadata.annotations["loxilb.io/lbmode"]="dsr"',
    ]);
    assert.deepEqual(fieldsOf(svc('a', { 'loxilb.io/epselect': 'n3' })), [
      'metadata.annotations["loxilb.io/epselect"]="n3"',
    ]);
    assert.deepEqual(fieldsOf(svc('a', { 'loxilb.io/probetype': 'icmpx' })), [
      'metadata.annotations["loxilb.io/probetype"]="icmpx"',
    ]);
    assert.deepEqual(fieldsOf(svc('a', { 'loxilb.io/liveness': 'yes', 'loxilb.io/probeport': '0' })), [
      'metadata.annotations["loxilb.io/probeport"]="0"',
    ]);
    assert.deepEqual(fieldsOf(svc('a', { 'loxilb.io/num-secondary-networks': '2' })), [
      'metadata.annotations["loxilb.io/num-secondary-networks"]="2"',
    ]);
    assert.deepEqual(fieldsOf(svc('a', { 'loxilb.io/secondaryIPs': '10.0.0.1,bogus' })), [
      'metadata.annotations["loxilb.io/secondaryIPs"]="10.0.0.1,bogus"',
    ]);
    assert.deepEqual(
      fieldsOf(svc('a', { 'metallb.io/address-pool': 'a', 'metallb.universe.tf/address-pool': 'b' })),
      ['metadata.annotations["metallb.universe.tf/address-pool"]="b"'],
    );
    assert.deepEqual(
      fieldsOf(svc('a', { 'ferrolb.io/loadBalancerIPs': '10.0.0.1' }, { loadBalancerIP: '10.0.0.2' })),
      ['spec.loadBalancerIP="10.0.0.2"'],
    );
    assert.deepEqual(fieldsOf(svc('a', { 'ferrolb.io/endpoint-type': 'pods' })), [
      'metadata.annotations["ferrolb.io/endpoint-type"]="pods"',
    ]);
    assert.deepEqual(fieldsOf(svc('a', { 'ferrolb.io/health-check-port': '80' })), [
      'metadata.annotations["ferrolb.io/health-check-port"]="80"',
    ]);
    const issue = mapService(svc('a', { 'loxilb.io/lbmode': 'dsr' }), [], [], cfg).issues[0];
    assert.equal(issue?.object, 'Service/ns/a');
    assert.match(issue?.message ?? '', /not supported/);
  });

  it('maps kube-loxilb annotations: lbmode, epselect, liveness/probe, timeout, secondaries', () => {
    const s = svc(
      'sctp',
      {
        'loxilb.io/lbmode': 'fullnat',
        'loxilb.io/epselect': 'persist',
        'loxilb.io/timeout': '30',
        'loxilb.io/liveness': 'yes',
        'loxilb.io/probetype': 'sctp',
        'loxilb.io/probeport': '38412',
        'loxilb.io/secondaryIPs': '10.0.1.10,10.0.2.10',
      },
      { ports: [{ port: 38412, protocol: 'SCTP', targetPort: 38412, nodePort: 31000 }] },
    );
    const { spec: sp } = spec(s);
    assert.equal(sp?.mode, 'fullnat');
    assert.equal(sp?.algorithm, 'persist');
    assert.equal(sp?.persistTimeout, '30s');
    assert.deepEqual(sp?.healthCheck, { type: 'sctp', port: 38412 });
    assert.deepEqual(sp?.secondaryAddresses, ['10.0.1.10', '10.0.2.10']);
    // liveness alone probes with the first port's protocol, as kube-loxilb does
    assert.deepEqual(spec(svc('t', { 'loxilb.io/liveness': 'yes' })).spec?.healthCheck, { type: 'tcp' });
    assert.equal(spec(svc('t', { 'loxilb.io/lbmode': 'onearm' })).spec?.mode, 'fullnat');
    assert.deepEqual(spec(svc('t', { 'loxilb.io/poolSelectSecondary': 'p1, p2' })).spec?.secondaryPools, [
      'p1',
      'p2',
    ]);
    const withPools = { ...cfg, secondaryPools: ['s1', 's2', 's3'] };
    assert.deepEqual(
      spec(svc('t', { 'loxilb.io/num-secondary-networks': '2' }), [], [], withPools).spec?.secondaryPools,
      ['s1', 's2'],
    );
  });

  it('loadBalancerSourceRanges (spec first, then the old annotation) → sourceRanges; bad CIDRs named', () => {
    const ann = {
      'service.beta.kubernetes.io/load-balancer-source-ranges': '198.51.100.0/24, 2001:db8::/32',
    };
    assert.equal(spec(svc('a')).spec?.sourceRanges, undefined);
    assert.deepEqual(spec(svc('a', ann)).spec?.sourceRanges, ['198.51.100.0/24', '2001:db8::/32']);
    assert.deepEqual(spec(svc('a', ann, { loadBalancerSourceRanges: ['192.0.2.7/24'] })).spec?.sourceRanges, [
      '192.0.2.0/24',
    ]);
    assert.deepEqual(fieldsOf(svc('a', {}, { loadBalancerSourceRanges: ['10.0.0.0/8', '10.1.1.1'] })), [
      'spec.loadBalancerSourceRanges[1]="10.1.1.1"',
    ]);
    assert.deepEqual(
      fieldsOf(svc('a', { 'service.beta.kubernetes.io/load-balancer-source-ranges': 'x/8' })),
      ['metadata.annotations["service.beta.kubernetes.io/load-balancer-source-ranges"]="x/8"'],
    );
    // The mapped object passes the model's validation with its ranges.
    const pool = {
      apiVersion: 'ferrolb.io/v1',
      kind: 'IPAddressPool',
      metadata: { name: 'p' },
      spec: { addresses: ['10.0.0.0/24'] },
    };
    const r = buildDesiredState([
      { origin: 'api', object: pool },
      { origin: 'api', object: spec(svc('a', ann)).m.object as never },
    ]);
    assert.deepEqual(r.issues, []);
    assert.deepEqual(r.state?.loadBalancers.get('ns.a')?.sourceRanges, ['198.51.100.0/24', '2001:db8::/32']);
  });

  it('multihomed SCTP through node ports is served with a warning; pod endpoints are not warned about', () => {
    const sctp = {
      loadBalancerClass: 'loxilb.io/loxilb',
      ports: [{ port: 38412, protocol: 'SCTP', targetPort: 38412, nodePort: 31000 }],
    };
    const loxi = { ...cfg, loxilbCompat: true };
    const ann = { 'loxilb.io/secondaryIPs': '10.0.1.10' };
    const warned = mapService(svc('n2', ann, sctp), [], [node('n1', '10.9.0.1')], loxi);
    assert.ok(warned.object);
    assert.deepEqual(
      warned.warnings.map((w) => [w.field, w.value]),
      [['spec.loadBalancerClass', 'loxilb.io/loxilb']],
    );
    assert.match(warned.warnings[0]?.message ?? '', /ferrolb\.io\/endpoint-type: pod/);
    const pods = mapService(svc('n2', { ...ann, 'ferrolb.io/endpoint-type': 'pod' }, sctp), [], [], loxi);
    assert.deepEqual(pods.warnings, []);
    // Single-homed SCTP through node ports is fine.
    assert.deepEqual(mapService(svc('n2', {}, sctp), [], [node('n1', '10.9.0.1')], loxi).warnings, []);
  });

  it('sessionAffinity ClientIP → persist with its timeout; an algorithm annotation wins', () => {
    const sticky = {
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
    };
    const { spec: sp } = spec(svc('a', {}, sticky));
    assert.deepEqual([sp?.algorithm, sp?.persistTimeout], ['persist', '600s']);
    assert.deepEqual(
      [
        spec(svc('a', {}, { sessionAffinity: 'ClientIP' })).spec?.algorithm,
        spec(svc('a', {}, { sessionAffinity: 'ClientIP' })).spec?.persistTimeout,
      ],
      ['persist', undefined],
    );
    assert.equal(spec(svc('a', { 'ferrolb.io/algorithm': 'maglev' }, sticky)).spec?.algorithm, 'maglev');
    assert.equal(spec(svc('a', {}, { sessionAffinity: 'None' })).spec?.algorithm, undefined);
  });

  it('kube-loxilb multihoming manifests as found in the wild map to valid SCTP fullnat load balancers', () => {
    const sctp = {
      ports: [{ port: 55002, protocol: 'SCTP', targetPort: 9999, nodePort: 31002 }],
      loadBalancerClass: 'loxilb.io/loxilb',
    };
    const pools = [
      {
        apiVersion: 'ferrolb.io/v1',
        kind: 'IPAddressPool',
        metadata: { name: 'main' },
        spec: { addresses: ['123.123.123.0/24'] },
      },
      ...['pool2', 'pool3'].map((name, i) => ({
        apiVersion: 'ferrolb.io/v1',
        kind: 'IPAddressPool',
        metadata: { name },
        spec: { addresses: [`124.124.${i}.0/24`] },
      })),
      {
        apiVersion: 'ferrolb.io/v1',
        kind: 'IPAddressPool',
        metadata: { name: 'sec' },
        spec: { addresses: ['1.1.1.0/24', '2.2.2.0/24'] },
      },
    ];
    const c = { ...cfg, loxilbCompat: true, secondaryPools: ['pool2', 'pool3'] };
    const cases: [Record<string, string>, Partial<NonNullable<KService['spec']>>][] = [
      [{ 'loxilb.io/num-secondary-networks': '2' }, {}],
      [
        {
          'loxilb.io/poolSelectSecondary': 'pool2,pool3',
          'loxilb.io/lbmode': 'fullnat',
          'loxilb.io/liveness': 'yes',
        },
        { externalTrafficPolicy: 'Local' },
      ],
      [{ 'loxilb.io/poolSelectSecondary': 'pool2,pool3' }, {}],
      [{ 'loxilb.io/lbmode': 'fullnat', 'loxilb.io/secondaryIPs': '1.1.1.1,2.2.2.2' }, {}],
    ];
    for (const [ann, extra] of cases) {
      const m = mapService(
        svc('sctp-lb1', ann, { ...sctp, ...extra }),
        [],
        [node('n1', '192.168.80.101')],
        c,
      );
      assert.deepEqual(m.issues, [], JSON.stringify(ann));
      const r = buildDesiredState(
        [...pools, m.object!].map((object) => ({ origin: 'api' as const, object })),
      );
      assert.deepEqual(r.issues, [], JSON.stringify(ann));
      const lb = r.state?.loadBalancers.get('ns.sctp-lb1');
      assert.equal(lb?.mode, 'fullnat');
      assert.equal(lb?.ports[0]?.protocol, 'SCTP');
      assert.equal(lb!.secondaryPools.length + lb!.secondaryAddresses.length, 2);
    }
  });

  it('folds traffic policy and selector into the sharing key (MetalLB sharing rules)', () => {
    assert.equal(spec(svc('a', { 'metallb.io/allow-shared-ip': 'k' })).spec?.sharingKey, 'k');
    const local = spec(
      svc(
        'a',
        { 'metallb.io/allow-shared-ip': 'k' },
        { externalTrafficPolicy: 'Local', selector: { b: '2', a: '1' } },
      ),
    ).spec?.sharingKey;
    assert.equal(local, 'k/local/a=1,b=2');
  });

  it('produces objects the model validator accepts for any sane Service (property)', () => {
    const pool = {
      apiVersion: 'ferrolb.io/v1',
      kind: 'IPAddressPool',
      metadata: { name: 'p' },
      spec: { addresses: ['10.0.0.0/24', 'fd00::/120'] },
    };
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom('TCP', 'UDP', 'SCTP'),
        fc.constantFrom('SingleStack', 'PreferDualStack', 'RequireDualStack'),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 254 }), fc.boolean()), { maxLength: 6 }),
        (ports, proto, policy, eps) => {
          const s = svc(
            'p',
            {},
            {
              ports: ports.map((p) => ({ port: p, protocol: proto, targetPort: p })),
              ipFamilyPolicy: policy,
              ipFamilies: policy === 'SingleStack' ? ['IPv4'] : ['IPv4', 'IPv6'],
            },
          );
          const m = mapService(
            s,
            [
              slice(
                'p',
                eps.map(([i, r]) => ({ ip: `10.2.0.${i}`, node: 'n', ready: r })),
              ),
            ],
            [],
            cfg,
          );
          assert.deepEqual(m.issues, []);
          const r = buildDesiredState([
            { origin: 'api', object: pool },
            { origin: 'api', object: m.object! },
          ]);
          assert.deepEqual(r.issues, []);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('custom resources', () => {
  const cr = (group: string, name: string, spec: unknown, kind = 'IPAddressPool') => ({
    apiVersion: `${group}/${group === 'ferrolb.io' ? 'v1' : 'v1beta1'}`,
    kind,
    metadata: { name, namespace: 'sys' },
    spec,
  });
  it('maps ferrolb.io and metallb.io pools; MetalLB only when enabled; other kinds wait in pending', () => {
    const crs = [
      cr('ferrolb.io', 'a', { addresses: ['10.0.0.0/30'] }),
      cr('metallb.io', 'b', { addresses: ['10.0.1.0/30'] }),
      cr('ferrolb.io', 'l2', {}, 'L2Advertisement'),
      // A kind the model does not know yet (MetalLB's status kinds, say) waits in pending.
      cr('ferrolb.io', 'later', {}, 'ServiceL2Status'),
    ];
    const on = mapCustomResources(crs, true);
    assert.deepEqual(
      on.objects.map((o) => `${String(o.apiVersion)} ${(o.metadata as { name: string }).name}`),
      ['ferrolb.io/v1 a', 'ferrolb.io/v1 l2', 'metallb.io/v1beta1 b'],
    );
    assert.deepEqual(
      on.pending.map((o) => o.kind),
      ['ServiceL2Status'],
    );
    assert.equal(mapCustomResources(crs, false).objects.length, 2);
  });
  it('reports one name defined by both groups', () => {
    const r = mapCustomResources(
      [
        cr('ferrolb.io', 'x', { addresses: ['10.0.0.0/30'] }),
        cr('metallb.io', 'x', { addresses: ['10.0.1.0/30'] }),
      ],
      true,
    );
    assert.equal(r.issues[0]?.object, 'IPAddressPool/x');
  });
});

describe('plan and status', () => {
  const core: CoreConfig = { ...DEFAULT_MAPPING, metallbCompat: true };
  const pool = (addresses: string[], name = 'p') => ({
    apiVersion: 'ferrolb.io/v1',
    kind: 'IPAddressPool',
    metadata: { name, namespace: 'sys' },
    spec: { addresses },
  });
  const view = (services: KService[], pools = [pool(['10.0.0.0/30'])]) => ({
    services,
    slices: [],
    nodes: [],
    customObjects: pools,
  });

  it('allocates, goes pending when exhausted, and is deterministic and sticky', () => {
    const p = plan(view([svc('a'), svc('b'), svc('c'), svc('d'), svc('e')]), core, emptyMemory());
    const phases = [...p.outcomes.values()].map((o) => o.phase);
    assert.deepEqual(phases, ['Allocated', 'Allocated', 'Allocated', 'Allocated', 'Pending']);
    // Restart: the API's annotations alone bring back the same addresses, whatever the order.
    const persisted = ['a', 'b', 'c', 'd'].map((n) => {
      const o = p.outcomes.get(`ns/${n}`) as unknown as { allocation: { addresses: string[] } };
      return svc(n, { [ALLOCATED]: o.allocation.addresses.join(',') });
    });
    const again = plan(view([svc('0new'), ...persisted.reverse()]), core, emptyMemory());
    for (const n of ['a', 'b', 'c', 'd'])
      assert.deepEqual(
        (again.outcomes.get(`ns/${n}`) as { allocation: unknown }).allocation,
        (p.outcomes.get(`ns/${n}`) as { allocation: unknown }).allocation,
      );
    assert.equal(again.outcomes.get('ns/0new')?.phase, 'Pending');
  });

  it('adopts MetalLB status IPs and kube-loxilb llb- hostnames as held addresses', () => {
    assert.deepEqual(
      persistedAllocation({ ...svc('m'), status: { loadBalancer: { ingress: [{ ip: '10.0.0.2' }] } } }),
      { addresses: ['10.0.0.2'], secondaryAddresses: [] },
    );
    assert.deepEqual(
      persistedAllocation({
        ...svc('m'),
        status: { loadBalancer: { ingress: [{ hostname: 'llb-10.0.0.3' }] } },
      }),
      { addresses: ['10.0.0.3'], secondaryAddresses: [] },
    );
  });

  it('keeps the last good pools when the pool set turns invalid, and holds when there is none', () => {
    const good = plan(view([svc('a')]), core, emptyMemory());
    const bad = plan(view([svc('a')], [pool(['10.0.0.0/40'])]), core, good.memory);
    assert.equal(bad.hold, false);
    assert.equal(bad.configIssues[0]?.field, 'spec.addresses[0]');
    assert.equal(bad.outcomes.get('ns/a')?.phase, 'Allocated');
    assert.equal(plan(view([svc('a')], [pool(['10.0.0.0/40'])]), core, emptyMemory()).hold, true);
  });

  it('a pool deleted while in use stays in use until its addresses are released', () => {
    const both = [pool(['10.0.0.0/30']), pool(['10.0.1.0/30'], 'q')];
    const first = plan(view([svc('a', { 'ferrolb.io/address-pool': 'q' })], both), core, emptyMemory());
    const held = first.outcomes.get('ns/a') as unknown as { allocation: { addresses: string[] } };
    assert.deepEqual(held.allocation.addresses, ['10.0.1.0']);
    const after = plan(
      view([svc('a', { 'ferrolb.io/address-pool': 'q' })], [pool(['10.0.0.0/30'])]),
      core,
      first.memory,
    );
    assert.equal(after.configIssues[0]?.object, 'IPAddressPool/q');
    assert.match(after.configIssues[0]?.message ?? '', /ns\/a \(10\.0\.1\.0\)/);
    assert.equal(after.outcomes.get('ns/a')?.phase, 'Allocated');
    const released = plan(view([], [pool(['10.0.0.0/30'])]), core, after.memory);
    assert.deepEqual(released.configIssues, []);
    assert.equal(released.state?.pools.has('q'), false);
  });

  it('an invalid Service keeps its addresses (last good mapping, or a stand-in after a restart)', () => {
    const first = plan(view([svc('a')]), core, emptyMemory());
    const ip = (first.outcomes.get('ns/a') as unknown as { allocation: { addresses: string[] } }).allocation
      .addresses[0] as string;
    const broken = svc('a', { [ALLOCATED]: ip, 'loxilb.io/lbmode': 'dsr' });
    for (const memory of [first.memory, emptyMemory()]) {
      const p = plan(view([broken, svc('b')]), core, memory);
      const o = p.outcomes.get('ns/a');
      assert.equal(o?.phase, 'Invalid');
      assert.deepEqual((o as { allocation?: { addresses: string[] } }).allocation?.addresses, [ip]);
      assert.notEqual(
        (p.outcomes.get('ns/b') as unknown as { allocation: { addresses: string[] } }).allocation
          .addresses[0],
        ip,
      );
    }
  });

  it('a request outside every pool is a Service issue from the shared validator', () => {
    const p = plan(view([svc('a', { 'metallb.io/loadBalancerIPs': '192.0.2.1' })]), core, emptyMemory());
    const o = p.outcomes.get('ns/a') as { phase: string; issues: { field: string; value: unknown }[] };
    assert.equal(o.phase, 'Invalid');
    assert.equal(o.issues[0]?.field, 'spec.addresses[0]');
    assert.equal(o.issues[0]?.value, '192.0.2.1');
  });

  it('releases a Service that stops being a LoadBalancer', () => {
    const p = plan(view([svc('a', { [ALLOCATED]: '10.0.0.0' }, { type: 'ClusterIP' })]), core, emptyMemory());
    assert.equal(p.outcomes.get('ns/a')?.phase, 'Released');
  });

  it('something ignored is served with a warning: in the condition message and a Warning event', () => {
    const p = plan(view([svc('a', { 'ferrolb.io/persist-timeout': '30s' })]), core, emptyMemory());
    const o = p.outcomes.get('ns/a');
    assert.equal(o?.phase, 'Allocated');
    const u = serviceUpdate(svc('a'), o as never, 'VIP', 'now');
    assert.equal(u.event?.type, 'Warning');
    assert.equal(u.event?.reason, 'IPAllocated');
    assert.match(
      u.status?.conditions?.[0]?.message ?? '',
      /^assigned 10\.0\.0\.\d from IPAddressPool\/p; warning: Service\/ns\/a: metadata\.annotations\["ferrolb\.io\/persist-timeout"\]: "30s": only used with algorithm "persist"/,
    );
    // Without the annotation: a plain Normal event.
    const clean = plan(view([svc('a')]), core, emptyMemory()).outcomes.get('ns/a');
    assert.equal(serviceUpdate(svc('a'), clean as never, 'VIP', 'now').event?.type, 'Normal');
  });

  it('status: IPs only with ipMode, a condition, one event per change, nothing when in sync', () => {
    const s = svc('a');
    const o = {
      phase: 'Allocated' as const,
      allocation: { addresses: ['10.0.0.1'], secondaryAddresses: ['10.0.1.1'] },
      pool: 'p',
    };
    const u = serviceUpdate(s, o, 'Proxy', '2026-01-01T00:00:00Z');
    assert.deepEqual(u.status?.loadBalancer?.ingress, [
      { ip: '10.0.0.1', ipMode: 'Proxy' },
      { ip: '10.0.1.1', ipMode: 'Proxy' },
    ]);
    assert.equal(u.annotations?.[ALLOCATED], '10.0.0.1');
    assert.equal(u.annotations?.['metallb.io/ip-allocated-from-pool'], 'p');
    assert.equal(u.event?.reason, 'IPAllocated');
    const cond = u.status?.conditions?.find((c) => c.type === CONDITION_TYPE);
    assert.equal(cond?.status, 'True');
    const synced: KService = {
      ...s,
      metadata: { ...s.metadata, annotations: u.annotations! },
      status: u.status!,
    };
    assert.deepEqual(serviceUpdate(synced, o, 'Proxy', '2027-01-01T00:00:00Z'), {});
    const pending = serviceUpdate(
      svc('b'),
      { phase: 'Pending', code: 'PoolExhausted', reason: 'no free IPv4 address in IPAddressPool/p' },
      'VIP',
      'now',
    );
    assert.equal(pending.event?.type, 'Warning');
    assert.equal(pending.status?.conditions?.[0]?.reason, 'PoolExhausted');
    assert.equal(pending.annotations, undefined);
  });
});
