// ferrolb's speaker against a real GoBGP in network namespaces: IPv4 and IPv6 sessions, attributes
// as GoBGP decodes them, withdrawal, hold expiry, and two ferrolb instances giving two next hops (ECMP).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Topology, e2eSkipReason, waitFor } from '../support/netns.js';
import { GoBgp, SpeakerProc, tempDir } from '../fixtures/bgp/e2e-harness.js';
import type { PeerConfig } from '../../src/bgp/types.js';
import type { RouteJson } from '../../src/bgp/cli-run.js';

const skip = e2eSkipReason();

describe('bgp e2e: two ferrolb speakers ↔ GoBGP', { skip, timeout: 120_000 }, () => {
  const topo = new Topology();
  const dir = tempDir();
  let gobgp: GoBgp;
  const speakers: SpeakerProc[] = [];
  const V4: RouteJson = {
    prefix: '198.51.100.20/32',
    med: 10,
    communities: ['64512:100'],
    largeCommunities: ['64512:7:8'],
  };
  const V6: RouteJson = { prefix: '2001:db8:7::20/128', med: 11, communities: ['64512:101'] };
  const ONLY_ONE: RouteJson = { prefix: '198.51.100.21/32' };

  const peersFor = (i: number): PeerConfig[] => [
    {
      name: 'gobgp-v4',
      peerAddress: `10.57.${i}.2`,
      localAsn: 64512,
      peerAsn: 64513,
      routerId: `10.57.${i}.1`,
      holdTimeSec: 3,
      families: [4],
      connectRetryMs: 200,
      maxBackoffMs: 2000,
    },
    {
      name: 'gobgp-v6',
      peerAddress: `fd57:${i}::2`,
      localAsn: 64512,
      peerAsn: 64513,
      routerId: `10.57.${i}.1`,
      holdTimeSec: 3,
      families: [6],
      connectRetryMs: 200,
      maxBackoffMs: 2000,
    },
  ];

  before(async () => {
    const rt = await topo.addNs('rt');
    const lbs = [await topo.addNs('lb1'), await topo.addNs('lb2')];
    for (const [i, lb] of lbs.entries())
      await topo.link(lb, [`10.57.${i + 1}.1/24`, `fd57:${i + 1}::1/64`], rt, [
        `10.57.${i + 1}.2/24`,
        `fd57:${i + 1}::2/64`,
      ]);
    gobgp = GoBgp.start(topo, rt, dir.path, {
      asn: 64513,
      routerId: '10.57.0.2',
      neighbors: [1, 2].flatMap((i) => [
        { address: `10.57.${i}.1`, peerAsn: 64512, holdTime: 3, families: ['ipv4-unicast' as const] },
        { address: `fd57:${i}::1`, peerAsn: 64512, holdTime: 3, families: ['ipv6-unicast' as const] },
      ]),
    });
    await gobgp.ready();
    for (const [i, lb] of lbs.entries()) {
      const s = SpeakerProc.start(topo, lb, {
        peers: peersFor(i + 1),
        routes: i === 0 ? [V4, V6, ONLY_ONE] : [V4, V6],
        listen: false,
      });
      await s.ready;
      speakers.push(s);
    }
  });
  after(async () => {
    await topo.cleanup();
    dir.remove();
  });

  it('establishes IPv4 and IPv6 sessions from both instances', async () => {
    for (const s of speakers)
      await waitFor(
        'sessions established',
        async () => ((await s.status()).sessions.every((x) => x.state === 'Established') ? true : undefined),
        20_000,
        100,
      );
  });

  it('GoBGP has each address with both next hops (ECMP) and our attributes', async () => {
    const v4 = await waitFor(
      'IPv4 paths',
      async () => {
        const r = await gobgp.rib('ipv4');
        return (r.get('198.51.100.20/32')?.length ?? 0) === 2 && r.has('198.51.100.21/32') ? r : undefined;
      },
      10_000,
      100,
    );
    const paths = v4.get('198.51.100.20/32') ?? [];
    assert.deepEqual(paths.map((p) => p.nextHop).sort(), ['10.57.1.1', '10.57.2.1']);
    for (const p of paths) {
      assert.deepEqual(p.asPath, [64512]);
      assert.equal(p.med, 10);
      assert.deepEqual(p.communities, [64512 * 65536 + 100]);
      assert.deepEqual(p.largeCommunities, ['64512:7:8']);
      assert.equal(p.localPref, undefined, 'no LOCAL_PREF to an eBGP peer');
    }
    const v6 = await waitFor(
      'IPv6 paths',
      async () => {
        const r = await gobgp.rib('ipv6');
        return (r.get('2001:db8:7::20/128')?.length ?? 0) === 2 ? r : undefined;
      },
      10_000,
      100,
    );
    assert.deepEqual((v6.get('2001:db8:7::20/128') ?? []).map((p) => p.nextHop).sort(), [
      'fd57:1::1',
      'fd57:2::1',
    ]);
    assert.deepEqual(
      (v6.get('2001:db8:7::20/128') ?? []).map((p) => p.med),
      [11, 11],
    );
  });

  it('withdrawing from one instance leaves the other next hop', async () => {
    await speakers[0]?.setRoutes([V6]);
    const r = await waitFor(
      'one path left',
      async () => {
        const x = await gobgp.rib('ipv4');
        return (x.get('198.51.100.20/32')?.length ?? 0) === 1 && !x.has('198.51.100.21/32') ? x : undefined;
      },
      5000,
      20,
    );
    assert.equal(r.get('198.51.100.20/32')?.[0]?.nextHop, '10.57.2.1');
  });

  it('a stopped instance is dropped by GoBGP at the 3 s hold time', async () => {
    const s = speakers[1] as SpeakerProc;
    s.signal('SIGSTOP');
    const t0 = Date.now();
    try {
      await waitFor(
        'path from lb2 gone',
        async () => ((await gobgp.rib('ipv4')).has('198.51.100.20/32') ? undefined : true),
        8000,
        100,
      );
      assert.ok(Date.now() - t0 >= 2000, 'dropped before the hold time');
    } finally {
      s.signal('SIGCONT');
    }
    await waitFor(
      'back after SIGCONT',
      async () => ((await gobgp.rib('ipv4')).has('198.51.100.20/32') ? true : undefined),
      15_000,
      100,
    );
  });
});
