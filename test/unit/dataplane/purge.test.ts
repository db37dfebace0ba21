import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compile } from '../../../src/dataplane/compiler/compile.js';
import { refusedFlows, tightened } from '../../../src/dataplane/compiler/purge.js';
import type { ConntrackEntry } from '../../../src/dataplane/conntrack.js';
import type { DataplaneService } from '../../../src/dataplane/types.js';
import { parseRange, rangeContains, tryParseIp } from '../../../src/net/ip.js';

const svc = (name: string, vip: string, sourceRanges?: string[]): DataplaneService => ({
  name,
  addresses: [vip],
  ports: [
    { port: 80, protocol: 'TCP', targetPort: 8080 },
    { port: 53, protocol: 'UDP', targetPort: 53 },
  ],
  mode: 'default',
  algorithm: 'roundrobin',
  endpoints: [{ address: vip.includes(':') ? 'fd00:1::1' : '10.1.0.1', weight: 1, state: 'active' }],
  sourceRanges,
});
const state = (...s: DataplaneService[]) => compile(s).state;
const flow = (src: string, dst: string, protocol = 'tcp', dport = 80): ConntrackEntry => ({
  protocol,
  state: 'ESTABLISHED',
  origSrc: src,
  origDst: dst,
  origDport: dport,
  replySrc: '10.1.0.1',
});

describe('source ranges: purging the established flows a change refuses', () => {
  it('tightened: a newly restricted port or an allowed range gone; widening or opening is not', () => {
    const open = state(svc('a', '10.200.0.1'));
    const narrow = state(svc('a', '10.200.0.1', ['10.201.1.0/24']));
    const wide = state(svc('a', '10.200.0.1', ['10.201.0.0/16']));
    assert.equal(tightened(open, narrow), true, 'restricted now');
    assert.equal(tightened(undefined, narrow), true, 'cold start with ranges');
    assert.equal(tightened(wide, narrow), true, 'a range went');
    assert.equal(tightened(narrow, narrow), false);
    assert.equal(tightened(narrow, open), false, 'opened');
    assert.equal(tightened(undefined, open), false);
    assert.equal(
      tightened(open, state(svc('a', '10.200.0.1', ['0.0.0.0/0']))),
      false,
      'a /0 of the VIP’s family',
    );
    assert.equal(tightened(narrow, wide), false, 'replaced by a wider range');
    const merged = state(svc('a', '10.200.0.1', ['10.201.1.0/24', '10.201.0.0/24']));
    assert.equal(tightened(narrow, merged), false, 'merged with an adjacent one (its element is gone)');
    assert.equal(tightened(merged, narrow), true);
    assert.deepEqual(refusedFlows([flow('10.201.1.9', '10.200.0.1')], wide), []);
    const v6 = state(svc('b', 'fd00:200::1', ['fd01:1::/64']));
    assert.equal(tightened(state(svc('b', 'fd00:200::1', ['fd01::/16'])), v6), true, 'IPv6 too');
  });

  it('refusedFlows: only flows to restricted ports from outside their ranges, one per (client, port)', () => {
    const next = state(
      svc('a', '10.200.0.1', ['10.201.1.0/24', 'fd01:1::/64']),
      svc('b', '10.200.0.2'),
      svc('c', 'fd00:200::3', ['fd01:1::/64']),
    );
    const got = refusedFlows(
      [
        flow('10.201.1.9', '10.200.0.1'), // inside
        flow('10.201.2.9', '10.200.0.1'), // outside
        flow('10.201.2.9', '10.200.0.1'), // the same client and port again: one delete
        flow('10.201.2.9', '10.200.0.1', 'udp', 53), // outside, other port
        flow('10.201.2.9', '10.200.0.1', 'tcp', 81), // not a service port
        flow('10.201.2.9', '10.200.0.2'), // unrestricted service
        flow('fd01:1::9', 'fd00:200::3'), // inside (IPv6)
        flow('fd01:2::9', 'fd00:200::3'), // outside (IPv6)
      ],
      next,
    );
    assert.deepEqual(got, [
      { protocol: 'tcp', src: '10.201.2.9', dst: '10.200.0.1', dport: 80 },
      { protocol: 'udp', src: '10.201.2.9', dst: '10.200.0.1', dport: 53 },
      { protocol: 'tcp', src: 'fd01:2::9', dst: 'fd00:200::3', dport: 80 },
    ]);
  });

  it('property: tightened ⇔ some address allowed before is refused now (exhaustive over a small universe)', () => {
    const POOL = [
      '10.201.1.0/24',
      '10.201.1.128/25',
      '10.201.0.0/23',
      '10.201.1.7/32',
      '10.201.0.0/24',
      '0.0.0.0/0',
    ];
    const universe = [
      ...Array.from({ length: 512 }, (_, h) => `10.201.${h >> 8}.${h & 255}`),
      '10.200.0.0',
      '11.0.0.0',
    ];
    const allows = (ranges: string[] | undefined, a: string) =>
      !ranges?.length || ranges.some((r) => rangeContains(parseRange(r), tryParseIp(a)!));
    const rangesArb = fc.option(fc.subarray(POOL), { nil: undefined });
    fc.assert(
      fc.property(rangesArb, rangesArb, (p, n) => {
        const expected = universe.some((a) => allows(p, a) && !allows(n, a));
        assert.equal(tightened(state(svc('a', '10.200.0.1', p)), state(svc('a', '10.200.0.1', n))), expected);
      }),
      { numRuns: 300 },
    );
  });

  it('property: a flow is purged exactly when its client is outside every range of a restricted service', () => {
    const POOL = ['10.201.1.0/24', '10.201.1.128/25', '10.201.0.0/16', '10.201.1.7/32', '0.0.0.0/0'];
    fc.assert(
      fc.property(
        fc.subarray(POOL),
        fc.array(fc.integer({ min: 0, max: 511 }), { maxLength: 20 }),
        (ranges, hosts) => {
          const next = state(svc('a', '10.200.0.1', ranges));
          const clients = hosts.map((h) => `10.201.${h >> 8}.${h & 255}`);
          const purged = new Set(
            refusedFlows(
              clients.map((c) => flow(c, '10.200.0.1')),
              next,
            ).map((f) => f.src),
          );
          for (const c of clients) {
            const inside = ranges.some((r) => rangeContains(parseRange(r), tryParseIp(c)!));
            // No ranges at all: the service is open and nothing is ever purged.
            assert.equal(purged.has(c), ranges.length > 0 && !inside, `${c} with ${ranges.join(',')}`);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
