import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allocate, type Allocation } from '../../../src/ipam/allocator.js';
import { buildDesiredState } from '../../../src/model/validate.js';
import { parseIp, rangeContains } from '../../../src/net/ip.js';
import type { DesiredState, RawObject } from '../../../src/model/types.js';
import { poolUsage } from '../../../src/ipam/stats.js';

const pool = (name: string, addresses: string[], extra: Record<string, unknown> = {}): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name },
  spec: { addresses, ...extra },
});
const lb = (
  name: string,
  spec: Record<string, unknown> = {},
  meta: Record<string, unknown> = {},
): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'LoadBalancer',
  metadata: { name, ...meta },
  spec: { ports: [{ port: 80 }], ...spec },
});
function state(...objects: RawObject[]): DesiredState {
  const r = buildDesiredState(objects.map((object) => ({ origin: 'file' as const, object })));
  assert.ok(r.state, JSON.stringify(r.issues));
  return r.state;
}

test('allocates lowest free addresses, deterministically and independent of object order', () => {
  const objs = [pool('p', ['10.0.0.0/30']), lb('b'), lb('a'), lb('c')];
  const r1 = allocate(state(...objs), new Map());
  const r2 = allocate(state(...[...objs].reverse()), new Map());
  assert.deepEqual(r1.allocations.get('a')?.addresses, ['10.0.0.0']);
  assert.deepEqual(r1.allocations.get('b')?.addresses, ['10.0.0.1']);
  assert.deepEqual(
    [...r1.allocations],
    [...r2.allocations].sort((x, y) => x[0].localeCompare(y[0])),
  );
});

test('sticky: a held address survives reordering, new services and pool growth', () => {
  const s1 = state(pool('p', ['10.0.0.0/29']), lb('z'));
  const r1 = allocate(s1, new Map());
  assert.deepEqual(r1.allocations.get('z')?.addresses, ['10.0.0.0']);
  // "a" sorts first and would get .0 on a fresh start; z keeps it.
  const s2 = state(lb('a'), pool('p', ['10.0.0.0/28']), lb('z'));
  const r2 = allocate(s2, r1.allocations);
  assert.deepEqual(r2.allocations.get('z')?.addresses, ['10.0.0.0']);
  assert.deepEqual(r2.allocations.get('a')?.addresses, ['10.0.0.1']);
});

test('an address that left every pool is replaced', () => {
  const prev = new Map<string, Allocation>([['x', { addresses: ['10.9.9.9'], secondaryAddresses: [] }]]);
  const r = allocate(state(pool('p', ['10.0.0.0/30']), lb('x')), prev);
  assert.deepEqual(r.allocations.get('x')?.addresses, ['10.0.0.0']);
});

test('exhaustion leaves later services pending with a reason; release frees', () => {
  const objs = [pool('p', ['10.0.0.0/31']), lb('a'), lb('b'), lb('c')];
  const r = allocate(state(...objs), new Map());
  const c = r.status.get('c');
  assert.equal(c?.phase, 'Pending');
  assert.ok(
    c?.phase === 'Pending' &&
      c.code === 'PoolExhausted' &&
      /no free IPv4 address in IPAddressPool\/p/.test(c.reason),
  );
  assert.equal(r.allocations.has('c'), false);
  // delete a → c gets a's address, b keeps its own.
  const r2 = allocate(state(pool('p', ['10.0.0.0/31']), lb('b'), lb('c')), r.allocations);
  assert.equal(r2.status.get('c')?.phase, 'Allocated');
  assert.deepEqual(r2.allocations.get('c')?.addresses, ['10.0.0.0']);
  assert.deepEqual(r2.allocations.get('b')?.addresses, ['10.0.0.1']);
});

test('requested addresses: honoured, or refused with the holder named', () => {
  const r = allocate(
    state(
      pool('p', ['10.0.0.0/29']),
      lb('a', { addresses: ['10.0.0.5'] }),
      lb('b', { addresses: ['10.0.0.5'] }),
    ),
    new Map(),
  );
  assert.deepEqual(r.allocations.get('a')?.addresses, ['10.0.0.5']);
  const b = r.status.get('b');
  assert.ok(
    b?.phase === 'Pending' && b.code === 'AddressInUse' && /10\.0\.0\.5 is in use by a/.test(b.reason),
    JSON.stringify(b),
  );
});

test('sharing key: same key and disjoint ports share; overlapping ports or other keys do not', () => {
  const s = state(
    pool('p', ['10.0.0.0/30']),
    lb('a', { sharingKey: 'k', ports: [{ port: 80 }] }),
    lb('b', { sharingKey: 'k', ports: [{ port: 443 }] }),
    lb('c', { sharingKey: 'k', ports: [{ port: 80 }] }),
    lb('d', { addresses: ['10.0.0.0'], sharingKey: 'other', ports: [{ port: 22 }] }),
    lb('e', { addresses: ['10.0.0.0'], sharingKey: 'k', ports: [{ port: 53, protocol: 'UDP' }] }),
  );
  const r = allocate(s, new Map());
  // Explicit requests are served before any automatic pick: d and e both ask for .0; d (first by
  // name among the requesters) gets it, e cannot share it (other key), a/b/c auto-assign around it.
  assert.deepEqual(r.allocations.get('d')?.addresses, ['10.0.0.0']);
  const e = r.status.get('e');
  assert.ok(e?.phase === 'Pending' && /in use by d \(sharing needs the same sharingKey/.test(e.reason));
  assert.deepEqual(r.allocations.get('a')?.addresses, ['10.0.0.1']);
  assert.deepEqual(r.allocations.get('b')?.addresses, ['10.0.0.1']);
  assert.deepEqual(r.allocations.get('c')?.addresses, ['10.0.0.2']);
});

test('a shared address stays put when one sharer is re-examined or changes its ports (regression)', () => {
  const p = pool('p', ['10.0.0.0/30']);
  const a = lb('a', { sharingKey: 'k', ports: [{ port: 443 }] });
  const first = state(p, a, lb('e', { sharingKey: 'k', ports: [{ port: 80 }] }));
  const r1 = allocate(first, new Map());
  assert.deepEqual(r1.allocations.get('e')?.addresses, ['10.0.0.0']);
  // The same address table carried into the next run: e is released and claims again, so the ports
  // it held must leave the address with it (they once stayed and pushed e onto .1).
  const run = (s: DesiredState, before: DesiredState, r: ReturnType<typeof allocate>) =>
    allocate(s, r.allocations, { state: before, status: r.status, ...(r.memo ? { memo: r.memo } : {}) });
  const same = state(p, a, lb('e', { sharingKey: 'k', ports: [{ port: 80 }] }));
  // Reuse the first run's pools so the run is incremental (a new pool set means a full run).
  const keepPools = (s: DesiredState): DesiredState => ({ ...s, pools: first.pools });
  const r2 = run(keepPools(same), first, r1);
  assert.deepEqual(r2.allocations.get('e')?.addresses, ['10.0.0.0']);
  const moved = state(p, a, lb('e', { sharingKey: 'k', ports: [{ port: 8080 }] }));
  const r3 = run(keepPools(moved), keepPools(same), r2);
  assert.deepEqual(r3.allocations.get('e')?.addresses, ['10.0.0.0']);
  // Port 80 is free on .0 again: a third sharer asking for it joins.
  const third = state(
    p,
    a,
    lb('e', { sharingKey: 'k', ports: [{ port: 8080 }] }),
    lb('f', { sharingKey: 'k' }),
  );
  const r4 = run(keepPools(third), keepPools(moved), r3);
  assert.deepEqual(r4.allocations.get('f')?.addresses, ['10.0.0.0']);
});

test('dual stack: Require fails without IPv6, Prefer degrades, ipFamilies picks', () => {
  const s = state(
    pool('v4', ['10.0.0.0/30']),
    pool('v6', ['fd00::/126'], { autoAssign: false }),
    lb('req', { ipFamilyPolicy: 'RequireDualStack' }),
    lb('pref', { ipFamilyPolicy: 'PreferDualStack' }),
    lb('six', { pool: 'v6', ipFamilies: ['IPv6'] }),
  );
  const r = allocate(s, new Map());
  const req = r.status.get('req');
  assert.ok(req?.phase === 'Pending' && req.code === 'NoEligiblePool' && /IPv6/.test(req.reason));
  assert.equal(r.status.get('pref')?.phase, 'Allocated');
  assert.deepEqual(r.allocations.get('pref')?.addresses, ['10.0.0.0']);
  assert.deepEqual(r.allocations.get('six')?.addresses, ['fd00::']);
  const both = allocate(
    state(pool('p', ['10.0.0.0/30', 'fd00::/126']), lb('d', { ipFamilyPolicy: 'RequireDualStack' })),
    new Map(),
  );
  assert.deepEqual(both.allocations.get('d')?.addresses, ['10.0.0.0', 'fd00::']);
});

test('secondary addresses come from their pools, never shared, never the primary', () => {
  const sctp = { mode: 'fullnat', ports: [{ port: 38412, protocol: 'SCTP' }] };
  const s = state(
    pool('p', ['10.0.0.0/30']),
    pool('s', ['10.1.0.0/30'], { autoAssign: false }),
    lb('n2', { ...sctp, secondaryPools: ['s', 's', 's'] }),
    lb('n3', { ...sctp, secondaryPools: ['s', 's'] }),
  );
  const r = allocate(s, new Map());
  assert.deepEqual(r.allocations.get('n2')?.secondaryAddresses, ['10.1.0.0', '10.1.0.1', '10.1.0.2']);
  const n3 = r.status.get('n3');
  assert.ok(n3?.phase === 'Pending' && /secondary IPAddressPool\/s/.test(n3.reason));
  assert.equal(r.allocations.has('n3'), false, 'a pending new service holds nothing');
});

test('avoidBuggyIPs skips .0 and .255; pool capacity accounts for it', () => {
  const s = state(pool('p', ['10.0.0.255-10.0.1.1'], { avoidBuggyIPs: true }), lb('a'), lb('b'));
  const r = allocate(s, new Map());
  assert.deepEqual(r.allocations.get('a')?.addresses, ['10.0.1.1']);
  assert.equal(r.status.get('b')?.phase, 'Pending');
  assert.equal(poolUsage(s.pools.values(), r.allocations)[0]?.ipv4.total, 1n);
});

test('serviceAllocation: priority orders pools; namespaces and selectors scope them', () => {
  const s = state(
    pool('low', ['10.0.0.0/30'], { serviceAllocation: { priority: 20 } }),
    pool('high', ['10.1.0.0/30'], { serviceAllocation: { priority: 10, namespaces: ['prod'] } }),
    pool('lab', ['10.2.0.0/30'], {
      serviceAllocation: { priority: 1, serviceSelectors: [{ matchLabels: { tier: 'lab' } }] },
    }),
    lb('a', {}, { namespace: 'prod' }),
    lb('b', {}, { namespace: 'dev' }),
    lb('c', {}, { namespace: 'dev', labels: { tier: 'lab' } }),
  );
  const r = allocate(s, new Map());
  assert.deepEqual(r.allocations.get('a')?.addresses, ['10.1.0.0']);
  assert.deepEqual(r.allocations.get('b')?.addresses, ['10.0.0.0']);
  assert.deepEqual(r.allocations.get('c')?.addresses, ['10.2.0.0']);
});

test('serviceAllocation.namespaceSelectors match the namespace labels the front door supplies', () => {
  const nsLabels = (labels: Record<string, string>) => ({
    annotations: { 'ferrolb.io/namespace-labels': JSON.stringify(labels) },
  });
  const s = state(
    pool('team', ['10.3.0.0/30'], {
      serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { team: 'a' } }] },
    }),
    pool('rest', ['10.4.0.0/30'], { serviceAllocation: { priority: 2 } }),
    lb('a', {}, nsLabels({ team: 'a' })),
    lb('b', {}, nsLabels({ team: 'b' })),
    lb('c'),
  );
  const r = allocate(s, new Map());
  assert.deepEqual(r.allocations.get('a')?.addresses, ['10.3.0.0']);
  assert.deepEqual(r.allocations.get('b')?.addresses, ['10.4.0.0']);
  assert.deepEqual(
    r.allocations.get('c')?.addresses,
    ['10.4.0.1'],
    'no namespace labels: selectors do not match',
  );
});

// --- properties ---------------------------------------------------------------------------------

const arbScenario = fc.record({
  poolSize: fc.integer({ min: 1, max: 40 }),
  services: fc.uniqueArray(
    fc.record({
      name: fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/),
      key: fc.option(fc.constantFrom('k1', 'k2'), { nil: undefined }),
      port: fc.constantFrom(80, 443, 53),
    }),
    { selector: (s) => s.name, maxLength: 50 },
  ),
  seed: fc.integer(),
});

function scenarioState(
  poolSize: number,
  services: { name: string; key: string | undefined; port: number }[],
): DesiredState {
  return state(
    pool('p', [`10.0.0.1-10.0.0.${poolSize}`]),
    ...services.map((s) =>
      lb(s.name, { ports: [{ port: s.port }], ...(s.key ? { sharingKey: s.key } : {}) }),
    ),
  );
}

function checkInvariants(s: DesiredState, allocs: ReadonlyMap<string, Allocation>): void {
  const p = s.pools.get('p');
  const owners = new Map<string, string[]>();
  for (const [name, a] of allocs) {
    for (const addr of a.addresses) {
      assert.ok(
        p?.ranges.some((r) => rangeContains(r, parseIp(addr))),
        `${addr} left its pool`,
      );
      owners.set(addr, [...(owners.get(addr) ?? []), name]);
    }
  }
  for (const [addr, names] of owners) {
    if (names.length === 1) continue;
    // Only services with one sharing key and pairwise distinct ports may share.
    const specs = names.map((n) => s.loadBalancers.get(n));
    const keys = new Set(specs.map((x) => x?.sharingKey));
    assert.equal(keys.size, 1, `${addr} shared across keys ${[...keys].join()}`);
    assert.notEqual([...keys][0], undefined, `${addr} shared without a key`);
    const ports = specs.flatMap((x) => x?.ports.map((q) => `${q.protocol}/${q.port}`) ?? []);
    assert.equal(new Set(ports).size, ports.length, `${addr} shared with overlapping ports`);
  }
}

test('property: allocations never overlap (except legal sharing) and never leave their pool', () => {
  fc.assert(
    fc.property(arbScenario, ({ poolSize, services }) => {
      const s = scenarioState(poolSize, services);
      const r = allocate(s, new Map());
      checkInvariants(s, r.allocations);
      // Unshared services beyond the pool size must be pending, never crash.
      for (const name of s.loadBalancers.keys()) assert.ok(r.status.has(name));
    }),
    { numRuns: 300 },
  );
});

test('property: a restart with reordered objects and the persisted allocations moves nothing', () => {
  fc.assert(
    fc.property(arbScenario, ({ poolSize, services, seed }) => {
      const r1 = allocate(scenarioState(poolSize, services), new Map());
      // Restart: same objects in another order, allocations from disk (JSON round trip).
      const shuffled = [...services].sort(
        (a, b) => ((a.name.charCodeAt(0) * seed) % 7) - ((b.name.charCodeAt(0) * seed) % 7),
      );
      const persisted = new Map(
        Object.entries(
          JSON.parse(JSON.stringify(Object.fromEntries(r1.allocations))) as Record<string, Allocation>,
        ),
      );
      const r2 = allocate(scenarioState(poolSize, shuffled), persisted);
      for (const [name, a] of r1.allocations) assert.deepEqual(r2.allocations.get(name), a, `${name} moved`);
    }),
    { numRuns: 300 },
  );
});

test('property: removing services never moves the others', () => {
  fc.assert(
    fc.property(arbScenario, fc.integer({ min: 0, max: 49 }), ({ poolSize, services }, drop) => {
      const r1 = allocate(scenarioState(poolSize, services), new Map());
      const fewer = services.filter((_, i) => i !== drop);
      const r2 = allocate(scenarioState(poolSize, fewer), r1.allocations);
      for (const s of fewer) {
        const before = r1.allocations.get(s.name);
        if (before && r1.status.get(s.name)?.phase === 'Allocated')
          assert.deepEqual(r2.allocations.get(s.name), before);
      }
      checkInvariants(scenarioState(poolSize, fewer), r2.allocations);
    }),
    { numRuns: 300 },
  );
});
