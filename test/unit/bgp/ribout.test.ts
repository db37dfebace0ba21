import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parsePrefix, prefixKey, type OutRoute } from '../../../src/bgp/codec/index.js';
import { buildRibOut, diffRibOut, type AdvertisedRoute, type SessionView } from '../../../src/bgp/ribout.js';

const view = (over: Partial<SessionView> = {}): SessionView => ({
  peerName: 'r1',
  localAsn: 64512,
  peerAsn: 64513,
  families: ['1/1', '2/1'],
  nextHopV4: 0x0a000001n,
  ...over,
});

describe('bgp rib-out', () => {
  it('eBGP: our ASN leads the path, prepends follow, no LOCAL_PREF', () => {
    const r: AdvertisedRoute = {
      prefix: parsePrefix('192.0.2.10'),
      localPref: 300,
      med: 5,
      asPathPrepend: 2,
      communities: [2, 1, 2],
    };
    const out = buildRibOut([r], view()).routes.get('192.0.2.10/32');
    assert.deepEqual(out?.attributes.asPath, [{ type: 'sequence', asns: [64512, 64512, 64512] }]);
    assert.equal(out?.attributes.localPref, undefined);
    assert.equal(out?.attributes.med, 5);
    assert.deepEqual(out?.attributes.communities, [1, 2], 'deduplicated and sorted');
    assert.deepEqual(out?.nextHops, [0x0a000001n]);
  });

  it('iBGP: empty AS path, LOCAL_PREF defaults to 100', () => {
    const out = buildRibOut([{ prefix: parsePrefix('192.0.2.10') }], view({ peerAsn: 64512 })).routes.get(
      '192.0.2.10/32',
    );
    assert.deepEqual(out?.attributes.asPath, []);
    assert.equal(out?.attributes.localPref, 100);
  });

  it('skips (and says why) families not negotiated or without a next hop, and routes for other peers', () => {
    const routes: AdvertisedRoute[] = [
      { prefix: parsePrefix('fd00::1') },
      { prefix: parsePrefix('192.0.2.1'), peers: ['other'] },
      { prefix: parsePrefix('192.0.2.2'), peers: ['r1'] },
    ];
    const plan = buildRibOut(routes, view());
    assert.deepEqual([...plan.routes.keys()], ['192.0.2.2/32']);
    assert.deepEqual(plan.skipped, [{ prefix: 'fd00::1/128', reason: 'no IPv6 next hop on this session' }]);
    const noV6 = buildRibOut(routes, view({ families: ['1/1'], nextHopV6: 1n }));
    assert.match(noV6.skipped[0]?.reason ?? '', /not negotiated/);
  });

  it('an explicit next hop wins over the session address', () => {
    const out = buildRibOut([{ prefix: parsePrefix('fd00::1'), nextHop: 7n }], view()).routes.get(
      'fd00::1/128',
    );
    assert.deepEqual(out?.nextHops, [7n]);
  });

  it('diff: applying announce/withdraw to the sent set yields the desired set', () => {
    const arb = fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 3 })), {
      maxLength: 30,
    });
    fc.assert(
      fc.property(arb, arb, (a, b) => {
        const mk = (xs: [number, number][]): Map<string, OutRoute> =>
          buildRibOut(
            xs.map(([i, m]) => ({ prefix: parsePrefix(`10.0.0.${i}`), med: m })),
            view(),
          ).routes;
        const sent = mk(a);
        const desired = mk(b);
        const { announce, withdraw } = diffRibOut(sent, desired);
        const result = new Map(sent);
        for (const p of withdraw) result.delete(prefixKey(p));
        for (const r of announce) result.set(prefixKey(r.prefix), r);
        assert.deepEqual([...result.keys()].sort(), [...desired.keys()].sort());
        for (const [k, r] of desired) assert.deepEqual(result.get(k)?.attributes, r.attributes);
        // Unchanged routes are never re-sent.
        for (const r of announce)
          assert.notDeepEqual(sent.get(prefixKey(r.prefix))?.attributes, r.attributes);
      }),
      { numRuns: 500 },
    );
  });
});

describe('bgp rib-out: per-session policy (issue 14 #1)', () => {
  it('iBGP: a prepend is never applied (it would be an AS loop); eBGP still gets it', () => {
    const r: AdvertisedRoute = { prefix: parsePrefix('192.0.2.20'), asPathPrepend: 3 };
    const ibgp = buildRibOut([r], view({ peerAsn: 64512 }));
    assert.deepEqual(ibgp.routes.get('192.0.2.20/32')?.attributes.asPath, []);
    const ebgp = buildRibOut([r], view());
    assert.deepEqual(ebgp.routes.get('192.0.2.20/32')?.attributes.asPath, [
      { type: 'sequence', asns: [64512, 64512, 64512, 64512] },
    ]);
  });

  it('a route the peer would refuse is not sent and is reported with the reason', () => {
    const plan = buildRibOut(
      [
        { prefix: parsePrefix('192.0.2.21'), nextHop: 0x0a000002n },
        { prefix: parsePrefix('192.0.2.22'), nextHop: 0n },
        { prefix: parsePrefix('2001:db8::1/128'), nextHop: 0xfe80n << 112n },
        { prefix: parsePrefix('192.0.2.23') },
      ],
      view({ peerAddress: { family: 4, value: 0x0a000002n } }),
    );
    assert.deepEqual([...plan.routes.keys()], ['192.0.2.23/32']);
    assert.deepEqual(
      plan.rejected.map((x) => [x.prefix, x.reason]),
      [
        ['192.0.2.21/32', "next hop is the peer's own address"],
        ['192.0.2.22/32', 'next hop in 0.0.0.0/8'],
        ['2001:db8::1/128', 'next hop is link-local only (RFC 2545 needs a global one)'],
      ],
    );
  });

  it('IPv6 routes over an IPv4 session use the configured IPv6 next hop (issue 14 #9)', () => {
    const r = { prefix: parsePrefix('2001:db8::9/128') };
    const none = buildRibOut([r], view());
    assert.match(none.skipped[0]?.reason ?? '', /no IPv6 next hop/);
    const v6 = buildRibOut([r], view({ nextHopV6: 0x20010db8000000000000000000000042n }));
    assert.deepEqual(v6.routes.get('2001:db8::9/128')?.nextHops, [0x20010db8000000000000000000000042n]);
  });
});
