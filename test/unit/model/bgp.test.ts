import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseBgpObjects, type RawBgpObject } from '../../../src/model/bgp.js';
import { parseCommunity, formatCommunity } from '../../../src/model/communities.js';
import { peerConfigFromSpec } from '../../../src/bgp/plan.js';

// Objects as MetalLB's documentation shapes them, used unchanged.
const metallb: RawBgpObject[] = [
  {
    apiVersion: 'metallb.io/v1beta2',
    kind: 'BGPPeer',
    metadata: { name: 'tor', namespace: 'metallb-system' },
    spec: {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: '10.0.0.1',
      holdTime: '9s',
      keepaliveTime: '3s',
      bfdProfile: 'fast',
      enableGracefulRestart: true,
      ebgpMultiHop: false,
      nodeSelectors: [{ matchLabels: { rack: 'a' } }],
    },
  },
  {
    apiVersion: 'metallb.io/v1beta1',
    kind: 'BFDProfile',
    metadata: { name: 'fast' },
    spec: { receiveInterval: 100, transmitInterval: 100, detectMultiplier: 5 },
  },
  {
    apiVersion: 'metallb.io/v1beta1',
    kind: 'Community',
    metadata: { name: 'communities' },
    spec: {
      communities: [
        { name: 'vpn-only', value: '1234:1' },
        { name: 'big', value: 'large:4200000000:1:2' },
      ],
    },
  },
  {
    apiVersion: 'metallb.io/v1beta1',
    kind: 'BGPAdvertisement',
    metadata: { name: 'local' },
    spec: {
      ipAddressPools: ['pool-a'],
      aggregationLength: 32,
      aggregationLengthV6: 128,
      localPref: 200,
      communities: ['vpn-only', 'big', '65535:65282', 'large:1:2:3', 'no-export'],
      peers: ['tor'],
    },
  },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ignored' } },
];

describe('bgp config: MetalLB objects accepted unchanged', () => {
  const r = parseBgpObjects(metallb);
  it('has no issues', () => assert.deepEqual(r.issues, []));
  it('BGPPeer fields and defaults', () => {
    const p = r.peers[0];
    assert.equal(p?.myASN, 64500);
    assert.equal(p?.peerASN, 64501);
    assert.equal(p?.holdTimeSec, 9);
    assert.equal(p?.keepaliveSec, 3);
    assert.equal(p?.peerPort, 179);
    assert.equal(p?.enableGracefulRestart, true);
    assert.equal(p?.bfdProfile, 'fast');
  });
  it('BFDProfile intervals (defaults 300 ms × 3 when absent)', () => {
    assert.deepEqual([r.bfdProfiles[0]?.receiveIntervalMs, r.bfdProfiles[0]?.detectMultiplier], [100, 5]);
    const d = parseBgpObjects([
      { apiVersion: 'ferrolb.io/v1', kind: 'BFDProfile', metadata: { name: 'd' }, spec: {} },
    ]);
    assert.deepEqual(
      [
        d.bfdProfiles[0]?.receiveIntervalMs,
        d.bfdProfiles[0]?.transmitIntervalMs,
        d.bfdProfiles[0]?.detectMultiplier,
      ],
      [300, 300, 3],
    );
  });
  it('BGPAdvertisement communities: aliases, standard, large and well-known', () => {
    const a = r.advertisements[0];
    assert.deepEqual(a?.communities, [1234 * 65536 + 1, 0xffffff02, 0xffffff01]);
    assert.deepEqual(a?.largeCommunities, [
      { global: 4200000000, local1: 1, local2: 2 },
      { global: 1, local1: 2, local2: 3 },
    ]);
    assert.equal(a?.localPref, 200);
  });
  it('becomes a speaker PeerConfig with defaults filled in', () => {
    const pc = peerConfigFromSpec(
      r.peers[0] as NonNullable<(typeof r.peers)[0]>,
      { routerId: '10.0.0.9' },
      r.bfdProfiles,
    );
    assert.deepEqual(pc.bfd, { desiredMinTxMs: 100, requiredMinRxMs: 100, detectMult: 5, passive: false });
    assert.equal(pc.routerId, '10.0.0.9');
    assert.deepEqual(pc.gracefulRestart, { restartTimeSec: 120 });
    assert.equal(pc.holdTimeSec, 9);
  });
});

describe('bgp config: every error names object, field and value', () => {
  const one = (kind: string, spec: unknown, apiVersion = 'ferrolb.io/v1') =>
    parseBgpObjects([{ apiVersion, kind, metadata: { name: 'x' }, spec }]);
  const peer = { myASN: 1, peerASN: 2, peerAddress: '10.0.0.1' };
  const cases: [string, ReturnType<typeof one>, string, unknown, RegExp][] = [
    [
      'hold time under 3 s',
      one('BGPPeer', { ...peer, holdTime: '2s' }),
      'spec.holdTime',
      '2s',
      /at least 3s/,
    ],
    [
      'keepalive above hold',
      one('BGPPeer', { ...peer, holdTime: '9s', keepaliveTime: '10s' }),
      'spec.keepaliveTime',
      '10s',
      /holdTime/,
    ],
    [
      'bad peer address',
      one('BGPPeer', { ...peer, peerAddress: '10.0.0.300' }),
      'spec.peerAddress',
      '10.0.0.300',
      /IP address/,
    ],
    [
      'missing myASN',
      one('BGPPeer', { peerASN: 2, peerAddress: '10.0.0.1' }),
      'spec.myASN',
      undefined,
      /required/,
    ],
    ['ASN out of range', one('BGPPeer', { ...peer, peerASN: 2 ** 32 }), 'spec.peerASN', 2 ** 32, /integer/],
    [
      'TCP-MD5 password',
      one('BGPPeer', { ...peer, password: 's3cret' }),
      'spec.password',
      '(hidden)',
      /TCP-MD5/,
    ],
    [
      'router id not IPv4',
      one('BGPPeer', { ...peer, routerID: 'fd00::1' }),
      'spec.routerID',
      'fd00::1',
      /IPv4/,
    ],
    ['unknown field', one('BGPPeer', { ...peer, holdtime: '9s' }), 'spec.holdtime', '9s', /unknown field/],
    [
      'ferrolb-only field under metallb.io',
      one('BGPAdvertisement', { med: 5 }, 'metallb.io/v1beta1'),
      'spec.med',
      5,
      /ferrolb.io\/v1/,
    ],
    [
      'bad community',
      one('BGPAdvertisement', { communities: ['65536:1'] }),
      'spec.communities[0]',
      '65536:1',
      /community/,
    ],
    [
      'aggregation length 33',
      one('BGPAdvertisement', { aggregationLength: 33 }),
      'spec.aggregationLength',
      33,
      /0\.\.32/,
    ],
    ['BFD echo mode', one('BFDProfile', { echoMode: true }), 'spec.echoMode', true, /echo/],
    ['BFD multiplier 1', one('BFDProfile', { detectMultiplier: 1 }), 'spec.detectMultiplier', 1, /2\.\.255/],
    [
      'BGPPeer v1beta1 is not the accepted version',
      one('BGPPeer', peer, 'metallb.io/v1beta1'),
      'apiVersion',
      'metallb.io/v1beta1',
      /v1beta2/,
    ],
  ];
  for (const [title, r, field, value, msg] of cases) {
    it(title, () => {
      const i = r.issues.find((x) => x.field === field);
      assert.ok(i, `no issue on ${field}: ${JSON.stringify(r.issues)}`);
      assert.equal(
        i.object,
        field === 'apiVersion'
          ? 'BGPPeer/x'
          : `${['BGPPeer', 'BGPAdvertisement', 'BFDProfile'].find((k) => i.object.startsWith(k))}/x`,
      );
      assert.deepEqual(i.value, value);
      assert.match(i.message, msg);
      assert.equal(
        r.peers.length + r.advertisements.length + r.bfdProfiles.length,
        0,
        'invalid object left out',
      );
    });
  }
  it('dangling references are reported on the referring object', () => {
    const r = parseBgpObjects([
      {
        apiVersion: 'ferrolb.io/v1',
        kind: 'BGPPeer',
        metadata: { name: 'p' },
        spec: { ...peer, bfdProfile: 'nope' },
      },
      {
        apiVersion: 'ferrolb.io/v1',
        kind: 'BGPAdvertisement',
        metadata: { name: 'a' },
        spec: { peers: ['ghost'] },
      },
    ]);
    assert.deepEqual(
      r.issues.map((i) => [i.object, i.field, i.value]),
      [
        ['BGPPeer/p', 'spec.bfdProfile', 'nope'],
        ['BGPAdvertisement/a', 'spec.peers[0]', 'ghost'],
      ],
    );
  });
  it('never throws on arbitrary input, and every issue has an object and a field', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            apiVersion: fc.constantFrom('ferrolb.io/v1', 'metallb.io/v1beta1', 'metallb.io/v1beta2', 'x'),
            kind: fc.constantFrom('BGPPeer', 'BGPAdvertisement', 'BFDProfile', 'Community'),
            metadata: fc.oneof(fc.record({ name: fc.string() }), fc.anything()),
            spec: fc.oneof(
              fc.dictionary(
                fc.constantFrom(
                  'myASN',
                  'peerASN',
                  'peerAddress',
                  'holdTime',
                  'communities',
                  'peers',
                  'receiveInterval',
                  'aggregationLength',
                ),
                fc.anything(),
              ),
              fc.anything(),
            ),
          }),
          { maxLength: 5 },
        ),
        (objs) => {
          const r = parseBgpObjects(objs);
          for (const i of r.issues) {
            assert.ok(i.object.length > 0);
            assert.ok(i.message.length > 0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('bgp communities', () => {
  it('round-trips text forms', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (a, b) => {
        const c = parseCommunity(`${a}:${b}`);
        assert.ok(c);
        assert.equal(formatCommunity(c), `${a}:${b}`);
      }),
    );
    assert.equal(parseCommunity('large:1:2'), undefined);
    assert.equal(parseCommunity('1:2:3'), undefined);
  });
});

describe('bgp config: issue 14 checks', () => {
  const peerObj = (name: string, spec: Record<string, unknown>): RawBgpObject => ({
    apiVersion: 'ferrolb.io/v1',
    kind: 'BGPPeer',
    metadata: { name },
    spec: { myASN: 64512, peerASN: 64513, peerAddress: '10.0.0.2', ...spec },
  });
  const adv = (spec: Record<string, unknown>): RawBgpObject => ({
    apiVersion: 'ferrolb.io/v1',
    kind: 'BGPAdvertisement',
    metadata: { name: 'a' },
    spec,
  });

  it('asPathPrepend toward an iBGP peer is refused naming the field and value', () => {
    const r = parseBgpObjects([
      peerObj('ibgp', { peerASN: 64512 }),
      peerObj('ebgp', { peerAddress: '10.0.0.3' }),
      adv({ asPathPrepend: 2, peers: ['ibgp'] }),
    ]);
    const i = r.issues.find((x) => x.field === 'spec.asPathPrepend');
    assert.equal(i?.object, 'BGPAdvertisement/a');
    assert.equal(i?.value, 2);
    assert.match(i?.message ?? '', /BGPPeer\/ibgp is iBGP.*AS loop/);
  });

  it('…and when every peer is iBGP; with an eBGP peer among them it is accepted (eBGP only)', () => {
    const onlyIbgp = parseBgpObjects([peerObj('ibgp', { peerASN: 64512 }), adv({ asPathPrepend: 1 })]);
    assert.match(onlyIbgp.issues[0]?.message ?? '', /every BGPPeer is iBGP/);
    const mixed = parseBgpObjects([
      peerObj('ibgp', { peerASN: 64512 }),
      peerObj('ebgp', { peerAddress: '10.0.0.3' }),
      adv({ asPathPrepend: 1 }),
    ]);
    assert.deepEqual(mixed.issues, []);
  });

  it('routerID 0.0.0.0 or equal to peerAddress is refused; a shared routerID is warned about', () => {
    const zero = parseBgpObjects([peerObj('p', { routerID: '0.0.0.0' })]);
    assert.deepEqual(
      zero.issues.map((i) => [i.field, i.value]),
      [['spec.routerID', '0.0.0.0']],
    );
    const clash = parseBgpObjects([peerObj('p', { routerID: '10.0.0.2' })]);
    assert.match(clash.issues[0]?.message ?? '', /clashes with peerAddress/);
    const shared = parseBgpObjects([peerObj('p', { routerID: '10.0.0.1' })]);
    assert.deepEqual(shared.issues, []);
    assert.match(shared.warnings[0]?.message ?? '', /share this BGP identifier/);
  });

  it('nextHopV6 / nextHopV4 per peer (ferrolb.io/v1), checked by family, reach the session config', () => {
    const r = parseBgpObjects([peerObj('p', { nextHopV6: '2001:db8::1', nextHopV4: '10.0.0.1' })]);
    assert.deepEqual(r.issues, []);
    const spec = r.peers[0];
    assert.ok(spec);
    const pc = peerConfigFromSpec(spec, { routerId: '10.0.0.1', nextHopV6: '2001:db8::ff' });
    assert.equal(pc.nextHopV6, '2001:db8::1', "the peer's own wins over the node default");
    assert.equal(pc.nextHopV4, '10.0.0.1');
    const bad = parseBgpObjects([
      peerObj('p', { nextHopV6: '10.0.0.1' }),
      peerObj('q', { peerAddress: '10.0.0.3', nextHopV6: 'fe80::1' }),
    ]);
    assert.deepEqual(
      bad.issues.map((i) => [i.object, i.field, i.value]),
      [
        ['BGPPeer/p', 'spec.nextHopV6', '10.0.0.1'],
        ['BGPPeer/q', 'spec.nextHopV6', 'fe80::1'],
      ],
    );
    const metallb = parseBgpObjects([
      { ...peerObj('m', { nextHopV6: '2001:db8::1' }), apiVersion: 'metallb.io/v1beta2' },
    ]);
    assert.match(metallb.issues[0]?.message ?? '', /only available in ferrolb.io\/v1/);
  });
});
