import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatPrefix } from '../../../src/bgp/codec/index.js';
import type { BgpAdvertisementSpec } from '../../../src/model/bgp.js';
import { planRoutes, type PoolLabels, type ServiceAnnouncement } from '../../../src/bgp/plan.js';

const adv = (over: Partial<BgpAdvertisementSpec> = {}): BgpAdvertisementSpec => ({
  name: 'adv',
  apiVersion: 'ferrolb.io/v1',
  ipAddressPools: [],
  ipAddressPoolSelectors: [],
  aggregationLength: 32,
  aggregationLengthV6: 128,
  asPathPrepend: 0,
  communities: [],
  largeCommunities: [],
  peers: [],
  nodeSelectors: [],
  ...over,
});

const svc = (name: string, addrs: string[], active = 1, pool = 'p'): ServiceAnnouncement => ({
  service: name,
  addresses: addrs.map((address) => ({ address, pool })),
  activeEndpoints: active,
});

const prefixes = (r: ReturnType<typeof planRoutes>): string[] => r.routes.map((x) => formatPrefix(x.prefix));

describe('bgp announcement planning', () => {
  it('announces allocated addresses with an active endpoint, not the others', () => {
    const r = planRoutes(
      [svc('a', ['192.0.2.1', 'fd00::1']), svc('b', ['192.0.2.2'], 0)],
      [adv({ localPref: 150, communities: [7] })],
    );
    assert.deepEqual(prefixes(r), ['192.0.2.1/32', 'fd00::1/128']);
    assert.equal(r.routes[0]?.localPref, 150);
    assert.deepEqual(r.routes[0]?.communities, [7]);
    assert.ok(r.notes.some((n) => /b: not announced, no active endpoint/.test(n)));
  });

  it('a deleted service (absent from the input) is not announced', () => {
    assert.deepEqual(prefixes(planRoutes([], [adv()])), []);
  });

  it('secondary SCTP addresses are announced with their own attributes', () => {
    const s: ServiceAnnouncement = {
      service: 'sctp',
      activeEndpoints: 2,
      addresses: [
        { address: '192.0.2.10', pool: 'p' },
        {
          address: '192.0.2.11',
          pool: 'p',
          secondary: true,
          attributes: { med: 20, localPref: 50, asPathPrepend: 2 },
        },
      ],
    };
    const r = planRoutes([s], [adv({ med: 10 })]);
    assert.deepEqual(
      r.routes.map((x) => [formatPrefix(x.prefix), x.med, x.localPref, x.asPathPrepend]),
      [
        ['192.0.2.10/32', 10, undefined, undefined],
        ['192.0.2.11/32', 20, 50, 2],
      ],
    );
  });

  it('aggregates to aggregationLength and keeps the aggregate while any member is active', () => {
    const a = adv({ aggregationLength: 24, aggregationLengthV6: 64 });
    const r = planRoutes(
      [svc('a', ['192.0.2.1', 'fd00::5']), svc('b', ['192.0.2.200'], 1), svc('c', ['192.0.2.3'], 0)],
      [a],
    );
    assert.deepEqual(prefixes(r), ['192.0.2.0/24', 'fd00::/64']);
    assert.deepEqual(prefixes(planRoutes([svc('b', ['192.0.2.200'], 0)], [a])), []);
  });

  it('selects advertisements by pool name or pool labels, and restricts to listed peers', () => {
    const advs = [
      adv({ name: 'by-name', ipAddressPools: ['gold'], communities: [1], peers: ['r1'] }),
      adv({
        name: 'by-label',
        ipAddressPoolSelectors: [{ matchLabels: { tier: 'silver' }, matchExpressions: [] }],
        communities: [2],
      }),
    ];
    const pools: PoolLabels[] = [
      { name: 'gold', labels: {} },
      { name: 'silver', labels: { tier: 'silver' } },
      { name: 'bronze', labels: {} },
    ];
    const r = planRoutes(
      [
        svc('g', ['192.0.2.1'], 1, 'gold'),
        svc('s', ['192.0.2.2'], 1, 'silver'),
        svc('b', ['192.0.2.3'], 1, 'bronze'),
      ],
      advs,
      pools,
    );
    assert.deepEqual(
      r.routes.map((x) => [formatPrefix(x.prefix), x.communities, x.peers]),
      [
        ['192.0.2.1/32', [1], ['r1']],
        ['192.0.2.2/32', [2], undefined],
      ],
    );
    assert.ok(r.notes.some((n) => /192\.0\.2\.3 \(pool bronze\) matches no BGPAdvertisement/.test(n)));
  });

  it('merges communities of services sharing an aggregate and reports conflicting scalars', () => {
    const r = planRoutes(
      [svc('a', ['192.0.2.1'], 1, 'x'), svc('b', ['192.0.2.2'], 1, 'y')],
      [
        adv({ name: 'ax', ipAddressPools: ['x'], aggregationLength: 24, localPref: 100, communities: [1] }),
        adv({ name: 'ay', ipAddressPools: ['y'], aggregationLength: 24, localPref: 200, communities: [2] }),
      ],
    );
    assert.equal(r.routes.length, 1);
    assert.deepEqual(r.routes[0]?.communities, [1, 2]);
    assert.equal(r.routes[0]?.localPref, 100);
    assert.ok(r.notes.some((n) => /localPref 200 .* conflicts with 100/.test(n)));
  });

  it('is independent of input order and idempotent', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2 })), {
          maxLength: 20,
        }),
        fc.integer({ min: 24, max: 32 }),
        (list, agg) => {
          const services = list.map(([i, act], k) => svc(`s${k}`, [`192.0.2.${i}`], act));
          const a = [adv({ aggregationLength: agg, communities: [3] })];
          const r1 = planRoutes(services, a);
          const r2 = planRoutes([...services].reverse(), a);
          assert.deepEqual(r1.routes, r2.routes);
          // Every announced prefix covers at least one active address, and every active one is covered.
          for (const [i, act] of list) {
            const covered = r1.routes.some(
              (r) => (0xc0000200n + BigInt(i)) >> BigInt(32 - agg) === r.prefix.addr >> BigInt(32 - agg),
            );
            if (act > 0) assert.ok(covered);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
