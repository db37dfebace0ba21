import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildDesiredState } from '../../../src/model/validate.js';
import { formatIssue } from '../../../src/model/issues.js';
import type { DesiredState, RawObject } from '../../../src/model/types.js';
import type { Allocation } from '../../../src/ipam/allocator.js';
import {
  L2CandidateIndex,
  l2Candidates,
  type CandidateInput,
  type ClusterNode,
} from '../../../src/l2/candidates.js';

const pool = (name: string, addresses: string[], labels: Record<string, string> = {}): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name, labels },
  spec: { addresses },
});
const l2 = (name: string, spec: Record<string, unknown>, apiVersion = 'metallb.io/v1beta1'): RawObject => ({
  apiVersion,
  kind: 'L2Advertisement',
  metadata: { name, namespace: 'metallb-system' },
  spec,
});
const lb = (
  name: string,
  extra: Record<string, unknown> = {},
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'LoadBalancer',
  metadata: { name, labels, annotations },
  spec: { ports: [{ port: 80 }], ...extra },
});

function state(...objects: RawObject[]): DesiredState {
  const r = buildDesiredState(objects.map((object) => ({ origin: 'file' as const, object })));
  assert.ok(r.state, r.issues.map(formatIssue).join('\n'));
  return r.state;
}
const issuesOf = (...objects: RawObject[]) =>
  buildDesiredState(objects.map((object) => ({ origin: 'file' as const, object }))).issues;

const alloc = (...addresses: string[]): Allocation => ({ addresses, secondaryAddresses: [] });
const nodes: ClusterNode[] = [
  { name: 'lb1', labels: { rack: 'a' } },
  { name: 'lb2', labels: { rack: 'a' } },
  { name: 'lb3', labels: { rack: 'b' } },
];
const input = (
  s: DesiredState,
  allocations: Record<string, Allocation>,
  localNode = 'lb1',
): CandidateInput => ({
  state: s,
  allocations: new Map(Object.entries(allocations)),
  nodes,
  localNode,
});

describe('L2Advertisement validation', () => {
  it('accepts MetalLB objects unchanged and names field and value of each problem', () => {
    const s = state(
      pool('p', ['10.0.0.0/24']),
      l2('all', {}),
      l2('some', {
        ipAddressPools: ['p'],
        interfaces: ['eth0'],
        nodeSelectors: [{ matchLabels: { rack: 'a' } }],
      }),
    );
    assert.equal(s.l2?.length, 2);
    const bad = issuesOf(
      pool('p', ['10.0.0.0/24']),
      l2('x', {
        ipAddressPools: ['nope'],
        interfaces: ['lo', 'averyveryverylongname', 'a/b', 'ferrolb0'],
        bogus: 1,
      }),
    ).map(formatIssue);
    const want = [
      /L2Advertisement\/x: spec\.ipAddressPools\[0\]: "nope": no IPAddressPool/,
      /spec\.interfaces\[0\]: "lo": loopback/,
      /spec\.interfaces\[1\]: "averyveryverylongname": longer than 15 bytes/,
      /spec\.interfaces\[2\]: "a\/b"/,
      /spec\.interfaces\[3\]: "ferrolb0"/,
      /spec\.bogus: 1: unknown field/,
    ];
    for (const w of want)
      assert.ok(
        bad.some((b) => w.test(b)),
        `${w} in\n${bad.join('\n')}`,
      );
    assert.match(
      issuesOf(pool('p', ['10.0.0.0/24']), { ...l2('v', {}), apiVersion: 'metallb.io/v9' })
        .map(formatIssue)
        .join(),
      /apiVersion: "metallb.io\/v9": must be one of/,
    );
  });

  it('refuses an L2 pool that holds a BGP peering address (contradicting L2 and BGP settings)', () => {
    const peer: RawObject = {
      apiVersion: 'metallb.io/v1beta2',
      kind: 'BGPPeer',
      metadata: { name: 'tor' },
      spec: { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.1' },
    };
    const bad = issuesOf(pool('p', ['10.0.0.0/24']), peer, l2('x', { ipAddressPools: ['p'] })).map(
      formatIssue,
    );
    assert.equal(bad.length, 1, bad.join('\n'));
    assert.match(
      bad[0]!,
      /L2Advertisement\/x: spec\.ipAddressPools\[0\]: "p": pool holds 10\.0\.0\.1 \(BGPPeer\/tor peerAddress\)/,
    );
    // BGP and L2 for the same pool is fine when they do not collide.
    state(pool('p', ['10.9.0.0/24']), peer, l2('x', { ipAddressPools: ['p'] }));
  });
});

describe('L2 candidates', () => {
  it('no L2Advertisement: no candidates; an empty one covers every pool and every node', () => {
    assert.equal(
      l2Candidates(input(state(pool('p', ['10.0.0.0/24']), lb('a')), { a: alloc('10.0.0.5') })).size,
      0,
    );
    const c = l2Candidates(
      input(state(pool('p', ['10.0.0.0/24']), l2('all', {}), lb('a')), { a: alloc('10.0.0.5') }),
    );
    assert.deepEqual(
      [...c.values()],
      [{ address: '10.0.0.5', nodes: ['lb1', 'lb2', 'lb3'], interfaces: [] }],
    );
  });

  it('pool names and selectors, node selectors, interfaces per local node, service selectors', () => {
    const s = state(
      pool('a', ['10.0.0.0/24']),
      pool('b', ['10.1.0.0/24'], { tier: 'gold' }),
      pool('c', ['fd00::/120']),
      l2('ra', {
        ipAddressPools: ['a'],
        nodeSelectors: [{ matchLabels: { rack: 'a' } }],
        interfaces: ['eth1'],
      }),
      l2('rb', {
        ipAddressPools: ['a'],
        nodeSelectors: [{ matchLabels: { rack: 'b' } }],
        interfaces: ['eth2'],
      }),
      l2('gold', {
        ipAddressPoolSelectors: [{ matchLabels: { tier: 'gold' } }],
        interfaces: ['eth1', 'eth0'],
      }),
      l2('web', { ipAddressPools: ['c'], serviceSelectors: [{ matchLabels: { app: 'web' } }] }),
      lb('x'),
      lb('y'),
      lb('w', {}, { app: 'web' }),
      lb('v', {}, { app: 'db' }),
    );
    const allocs = { x: alloc('10.0.0.5'), y: alloc('10.1.0.7'), w: alloc('fd00::5'), v: alloc('fd00::6') };
    const on1 = l2Candidates(input(s, allocs, 'lb1'));
    const on3 = l2Candidates(input(s, allocs, 'lb3'));
    assert.deepEqual(on1.get('10.0.0.5'), {
      address: '10.0.0.5',
      nodes: ['lb1', 'lb2', 'lb3'],
      interfaces: ['eth1'],
    });
    assert.deepEqual(on3.get('10.0.0.5'), {
      address: '10.0.0.5',
      nodes: ['lb1', 'lb2', 'lb3'],
      interfaces: ['eth2'],
    });
    assert.deepEqual(on1.get('10.1.0.7')?.interfaces, ['eth0', 'eth1']);
    assert.deepEqual(on1.get('fd00::5')?.nodes, ['lb1', 'lb2', 'lb3']);
    assert.equal(on1.has('fd00::6'), false, 'serviceSelectors exclude v');
    // Same nodes on every node: the election's input agrees everywhere.
    for (const [a, c] of on1) assert.deepEqual(on3.get(a)?.nodes, c.nodes);
  });

  it('externalTrafficPolicy Local narrows nodes; a shared address needs nodes eligible for all its services', () => {
    const s = state(
      pool('p', ['10.0.0.0/24']),
      l2('all', {}),
      lb('a', { sharingKey: 'k' }, {}, { 'ferrolb.io/announce-nodes': 'lb2,lb3' }),
      lb('b', { sharingKey: 'k', ports: [{ port: 81 }] }, {}, { 'ferrolb.io/announce-nodes': 'lb3,lb1' }),
      lb('c', {}, {}, { 'ferrolb.io/announce-nodes': '' }),
    );
    const c = l2Candidates(input(s, { a: alloc('10.0.0.5'), b: alloc('10.0.0.5'), c: alloc('10.0.0.6') }));
    assert.deepEqual(c.get('10.0.0.5')?.nodes, ['lb3']);
    assert.deepEqual(c.get('10.0.0.6')?.nodes, [], 'no local endpoint anywhere: candidate, owned by nobody');
  });

  it('addresses outside every pool, and secondary addresses', () => {
    const s = state(pool('p', ['10.0.0.0/24']), l2('all', {}), lb('a'));
    const c = l2Candidates(
      input(s, { a: { addresses: ['10.0.0.5', '10.9.9.9'], secondaryAddresses: ['10.0.0.6'] } }),
    );
    assert.deepEqual([...c.keys()].sort(), ['10.0.0.5', '10.0.0.6']);
  });

  it('the index gives the same set as a fresh derivation after any sequence of changes, and a minimal delta', () => {
    const base = [pool('p', ['10.0.0.0/28']), pool('q', ['10.1.0.0/28'], { t: 'x' })];
    const ads = [
      [l2('all', {})],
      [l2('p', { ipAddressPools: ['p'], interfaces: ['e1'] })],
      [
        l2('sel', {
          ipAddressPoolSelectors: [{ matchLabels: { t: 'x' } }],
          nodeSelectors: [{ matchLabels: { rack: 'b' } }],
        }),
      ],
      [],
    ];
    const step = fc.record({
      ads: fc.integer({ min: 0, max: ads.length - 1 }),
      services: fc.dictionary(
        fc.constantFrom('s1', 's2', 's3', 's4'),
        fc.record({
          addr: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.1.0.1', '10.1.0.2'),
          nodes: fc.option(fc.subarray(['lb1', 'lb2', 'lb3']), { nil: undefined }),
        }),
      ),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 6 }), (steps) => {
        const index = new L2CandidateIndex();
        let prev = new Map<string, unknown>();
        const adStates = ads.map((a) => state(...base, ...a));
        for (const st of steps) {
          // Services are rebuilt per step, but keep object identity when unchanged (as snapshots do).
          const svcObjects = Object.entries(st.services).map(([n, v]) =>
            lb(
              n,
              { sharingKey: 'k', ports: [{ port: 80 + Number(n.slice(1)) }] },
              {},
              v.nodes ? { 'ferrolb.io/announce-nodes': v.nodes.join(',') } : {},
            ),
          );
          const full = state(...base, ...ads[st.ads]!, ...svcObjects);
          const s: DesiredState = { ...full, pools: adStates[st.ads]!.pools, l2: adStates[st.ads]!.l2 };
          const allocations = Object.fromEntries(
            Object.entries(st.services).map(([n, v]) => [n, alloc(v.addr)]),
          );
          const inp = input(s, allocations);
          const delta = index.apply(inp);
          const want = l2Candidates(inp);
          assert.deepEqual(new Map(index.candidates), want);
          // The delta turns prev into want, and names only what changed.
          const got = new Map(prev);
          for (const r of delta.remove) got.delete(r);
          for (const u of delta.upsert) got.set(u.address, u);
          assert.deepEqual(got, want);
          for (const u of delta.upsert) assert.notDeepEqual(prev.get(u.address), u);
          prev = new Map(want);
        }
      }),
      { numRuns: 150 },
    );
  });
});
