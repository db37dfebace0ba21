// ferrolb's speaker against a real BIRD2 in network namespaces: IPv4 (iBGP) and IPv6 (eBGP) sessions,
// attributes as BIRD sees them, withdrawal, hold-timer expiry both ways, graceful restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Topology, e2eSkipReason, nsExec, waitFor } from '../support/netns.js';
import { Bird, SpeakerProc, tempDir } from '../fixtures/bgp/e2e-harness.js';
import type { PeerConfig } from '../../src/bgp/types.js';
import type { RouteJson } from '../../src/bgp/cli-run.js';

const skip = e2eSkipReason();

const V4_ROUTE: RouteJson = {
  prefix: '198.51.100.10/32',
  localPref: 300,
  med: 20,
  communities: ['64512:7'],
  largeCommunities: ['64512:1:2'],
};
const V4_PLAIN: RouteJson = { prefix: '198.51.100.11/32' };
const V6_ROUTE: RouteJson = {
  prefix: '2001:db8:5::10/128',
  med: 30,
  communities: ['64512:8'],
  largeCommunities: ['4200000000:5:6'],
  asPathPrepend: 2,
};

describe('bgp e2e: ferrolb speaker ↔ BIRD2', { skip, timeout: 120_000 }, () => {
  const topo = new Topology();
  const dir = tempDir();
  let lb = '';
  let rt = '';
  let bird: Bird;
  let speaker: SpeakerProc;
  const peers: PeerConfig[] = [
    {
      name: 'bird-v4',
      peerAddress: '10.55.0.2',
      localAsn: 64512,
      peerAsn: 64512,
      routerId: '10.55.0.1',
      holdTimeSec: 3,
      families: [4],
      connectRetryMs: 200,
      maxBackoffMs: 2000,
    },
    {
      name: 'bird-v6',
      peerAddress: 'fd55::2',
      localAsn: 64512,
      peerAsn: 64513,
      routerId: '10.55.0.1',
      holdTimeSec: 3,
      families: [6],
      connectRetryMs: 200,
      maxBackoffMs: 2000,
    },
  ];

  before(async () => {
    lb = await topo.addNs('lb');
    rt = await topo.addNs('rt');
    await topo.link(lb, ['10.55.0.1/24', 'fd55::1/64'], rt, ['10.55.0.2/24', 'fd55::2/64']);
    bird = Bird.start(topo, rt, dir.path, {
      routerId: '10.55.0.2',
      asn: 64512,
      sessions: [
        { name: 'ferrolb4', local: '10.55.0.2', neighbor: '10.55.0.1', peerAsn: 64512, holdTime: 3 },
        {
          name: 'ferrolb6',
          local: 'fd55::2',
          localAsn: 64513,
          neighbor: 'fd55::1',
          peerAsn: 64512,
          holdTime: 3,
        },
      ],
    });
    await bird.ready();
    speaker = SpeakerProc.start(topo, lb, {
      peers,
      routes: [V4_ROUTE, V4_PLAIN, V6_ROUTE],
      listen: { port: 179 },
    });
    await speaker.ready;
  });

  after(async () => {
    await topo.cleanup();
    dir.remove();
  });

  it('establishes IPv4 and IPv6 sessions', async () => {
    await waitFor(
      'both sessions established',
      async () =>
        (await speaker.status()).sessions.every((s) => s.state === 'Established') ? true : undefined,
      20_000,
      100,
    );
  });

  it('BIRD shows every address with our next hop and attributes', async () => {
    const routes = await waitFor(
      'routes at BIRD',
      async () => {
        const r = await bird.routes();
        return r.has('198.51.100.10/32') && r.has('198.51.100.11/32') && r.has('2001:db8:5::10/128')
          ? r
          : undefined;
      },
      10_000,
      100,
    );
    const v4 = routes.get('198.51.100.10/32');
    assert.equal(v4?.['BGP.next_hop'], '10.55.0.1');
    assert.equal(v4?.['BGP.local_pref'], '300');
    assert.equal(v4?.['BGP.med'], '20');
    assert.equal(v4?.['BGP.community'], '(64512,7)');
    assert.equal(v4?.['BGP.large_community'], '(64512, 1, 2)');
    assert.equal(v4?.['BGP.as_path'], '', 'iBGP: empty AS path');
    assert.equal(routes.get('198.51.100.11/32')?.['BGP.local_pref'], '100');
    const v6 = routes.get('2001:db8:5::10/128');
    assert.match(v6?.['BGP.next_hop'] ?? '', /^fd55::1\b/);
    assert.equal(v6?.['BGP.as_path'], '64512 64512 64512', 'eBGP: our AS plus two prepends');
    assert.equal(v6?.['BGP.med'], '30');
    assert.equal(v6?.['BGP.community'], '(64512,8)');
    assert.equal(v6?.['BGP.large_community'], '(4200000000, 5, 6)');
    const st = await speaker.status();
    assert.deepEqual(
      st.sessions.map((s) => [s.peer, s.prefixesSent]),
      [
        ['bird-v4', 2],
        ['bird-v6', 1],
      ],
    );
  });

  it('withdraws a removed address (and only that one)', async () => {
    const t0 = Date.now();
    await speaker.setRoutes([V4_ROUTE]);
    const routes = await waitFor(
      'withdrawals at BIRD',
      async () => {
        const r = await bird.routes();
        return !r.has('198.51.100.11/32') && !r.has('2001:db8:5::10/128') ? r : undefined;
      },
      5000,
      10,
    );
    assert.ok(routes.has('198.51.100.10/32'));
    // Informational (polling adds up to ~10 ms + birdc start-up); the benchmark measures precisely.
    process.stdout.write(`# withdraw visible at BIRD after ~${Date.now() - t0} ms\n`);
    await speaker.setRoutes([V4_ROUTE, V4_PLAIN, V6_ROUTE]);
    await waitFor('re-announced', async () => ((await bird.routes()).size >= 3 ? true : undefined), 5000, 50);
  });

  it('answers BIRD’s ROUTE-REFRESH by re-sending the routes', async () => {
    const before = (await speaker.status()).sessions.find((s) => s.peer === 'bird-v4')?.updatesOut ?? 0;
    await nsExec(rt, 'birdc', ['-s', bird.sock, 'reload', 'in', 'ferrolb4']);
    await waitFor(
      'UPDATEs after route refresh',
      async () =>
        ((await speaker.status()).sessions.find((s) => s.peer === 'bird-v4')?.updatesOut ?? 0) > before
          ? true
          : undefined,
      5000,
      50,
    );
    assert.ok((await bird.routes()).has('198.51.100.10/32'));
  });

  it('a silent speaker (SIGSTOP) is dropped by BIRD at the 3 s hold time, and recovers', async () => {
    speaker.signal('SIGSTOP');
    const t0 = Date.now();
    try {
      await waitFor(
        'BIRD drops our routes',
        async () => ((await bird.routes()).size === 0 ? true : undefined),
        8000,
        100,
      );
      const dt = Date.now() - t0;
      assert.ok(dt >= 2000, `dropped after ${dt} ms, before the hold time`);
    } finally {
      speaker.signal('SIGCONT');
    }
    await waitFor(
      'routes back after SIGCONT',
      async () => ((await bird.routes()).size >= 3 ? true : undefined),
      15_000,
      100,
    );
  });

  it('drops a silent peer (BIRD SIGSTOPped) at the hold time with NOTIFICATION 4/0', async () => {
    bird.proc.kill('SIGSTOP');
    try {
      const s = await waitFor(
        'speaker notices hold expiry',
        async () => {
          const st = await speaker.status();
          return st.sessions.every((x) => x.state !== 'Established') ? st : undefined;
        },
        8000,
        100,
      );
      assert.ok(
        s.sessions.every((x) => /hold timer expired/.test(x.lastError ?? '')),
        JSON.stringify(s.sessions.map((x) => x.lastError)),
      );
    } finally {
      bird.proc.kill('SIGCONT');
    }
    await waitFor(
      'sessions re-established',
      async () =>
        (await speaker.status()).sessions.every((x) => x.state === 'Established') ? true : undefined,
      20_000,
      100,
    );
    // BIRD read our NOTIFICATION once it woke up.
    await waitFor(
      'BIRD logs our hold-timer NOTIFICATION',
      () => (/Received: Hold timer expired/.test(bird.log.join('')) ? true : undefined),
      5000,
      100,
    );
  });

  it('SIGKILL without graceful restart: BIRD drops the routes as soon as the kernel closes TCP', async () => {
    const t0 = Date.now();
    speaker.signal('SIGKILL');
    await waitFor('routes gone', async () => ((await bird.routes()).size === 0 ? true : undefined), 5000, 20);
    process.stdout.write(
      `# SIGKILL → routes gone at BIRD after ~${Date.now() - t0} ms (TCP FIN/RST, no BFD)\n`,
    );
  });
});

describe('bgp e2e: graceful restart with BIRD2', { skip, timeout: 120_000 }, () => {
  const topo = new Topology();
  const dir = tempDir();
  let lb = '';
  let bird: Bird;
  const peer: PeerConfig = {
    name: 'bird',
    peerAddress: '10.56.0.2',
    localAsn: 64512,
    peerAsn: 64513,
    routerId: '10.56.0.1',
    holdTimeSec: 9,
    families: [4],
    connectRetryMs: 200,
    maxBackoffMs: 1000,
    gracefulRestart: { restartTimeSec: 30 },
  };
  const A: RouteJson = { prefix: '203.0.113.1/32' };
  const B: RouteJson = { prefix: '203.0.113.2/32' };
  const C: RouteJson = { prefix: '203.0.113.3/32' };

  before(async () => {
    lb = await topo.addNs('lb');
    const rt = await topo.addNs('rt');
    await topo.link(lb, ['10.56.0.1/24'], rt, ['10.56.0.2/24']);
    bird = Bird.start(topo, rt, dir.path, {
      routerId: '10.56.0.2',
      asn: 64513,
      sessions: [
        { name: 'ferrolb', local: '10.56.0.2', neighbor: '10.56.0.1', peerAsn: 64512, holdTime: 9, gr: true },
      ],
    });
    await bird.ready();
  });
  after(async () => {
    await topo.cleanup();
    dir.remove();
  });

  it('keeps our routes through a SIGKILL and restart, then converges to the new set after End-of-RIB', async () => {
    const first = SpeakerProc.start(topo, lb, { peers: [peer], routes: [A, B], listen: { port: 179 } });
    await first.ready;
    await waitFor(
      'A and B at BIRD',
      async () => ((await bird.routes()).size === 2 ? true : undefined),
      15_000,
      100,
    );
    first.signal('SIGKILL');
    // For two seconds after the crash the routes must stay (BIRD holds them as stale).
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      const r = await bird.routes();
      assert.ok(r.has('203.0.113.1/32') && r.has('203.0.113.2/32'), 'routes lost during graceful restart');
      await new Promise((res) => setTimeout(res, 200));
    }
    const t0 = Date.now();
    const second = SpeakerProc.start(topo, lb, {
      peers: [peer],
      routes: [A, C],
      listen: { port: 179 },
      restarting: true,
    });
    await second.ready;
    const r = await waitFor(
      'BIRD converged to A and C',
      async () => {
        const x = await bird.routes();
        return x.has('203.0.113.1/32') && x.has('203.0.113.3/32') && !x.has('203.0.113.2/32') ? x : undefined;
      },
      20_000,
      50,
    );
    assert.equal(r.size, 2);
    process.stdout.write(
      `# restarted speaker re-announced and BIRD flushed stale routes after ~${Date.now() - t0} ms\n`,
    );
  });
});

describe('bgp e2e: ADD-PATH (send) with BIRD2', { skip, timeout: 60_000 }, () => {
  const topo = new Topology();
  const dir = tempDir();

  after(async () => {
    await topo.cleanup();
    dir.remove();
  });

  it('negotiates ADD-PATH and BIRD decodes our path identifiers', async () => {
    const lb = await topo.addNs('lb');
    const rt = await topo.addNs('rt');
    await topo.link(lb, ['10.62.0.1/24', 'fd62::1/64'], rt, ['10.62.0.2/24', 'fd62::2/64']);
    const bird = Bird.start(topo, rt, dir.path, {
      routerId: '10.62.0.2',
      asn: 64513,
      sessions: [
        {
          name: 'ferrolb',
          local: '10.62.0.2',
          neighbor: '10.62.0.1',
          peerAsn: 64512,
          holdTime: 9,
          addPathRx: true,
        },
      ],
    });
    await bird.ready();
    const peer: PeerConfig = {
      name: 'bird',
      peerAddress: '10.62.0.2',
      localAsn: 64512,
      peerAsn: 64513,
      routerId: '10.62.0.1',
      holdTimeSec: 9,
      families: [4],
      addPathSend: true,
      connectRetryMs: 200,
    };
    const s = SpeakerProc.start(topo, lb, {
      peers: [peer],
      routes: [{ prefix: '192.0.2.50/32', med: 3 }, { prefix: '192.0.2.51/32' }],
      listen: { port: 179 },
    });
    await s.ready;
    const r = await waitFor(
      'routes at BIRD',
      async () => {
        const x = await bird.routes();
        return x.has('192.0.2.50/32') && x.has('192.0.2.51/32') ? x : undefined;
      },
      15_000,
      100,
    );
    assert.equal(r.get('192.0.2.50/32')?.['BGP.med'], '3');
    const proto = await nsExec(rt, 'birdc', ['-s', bird.sock, 'show', 'protocols', 'all', 'ferrolb']);
    // Our OPEN offered to send extra paths for IPv4; BIRD asked to receive them, so every NLRI we sent
    // carried a path identifier, and BIRD imported both routes from those messages.
    assert.match(proto, /Neighbor capabilities[\s\S]*ADD-PATH\s+RX:\s*\n\s+TX: ipv4/);
    assert.match(proto, /Local capabilities[\s\S]*ADD-PATH\s+RX: ipv4/);
    assert.match(proto, /Routes:\s+2 imported/);
  });
});
