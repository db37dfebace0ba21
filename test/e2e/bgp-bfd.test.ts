// BFD between ferrolb and BIRD2 in namespaces: a hung ferrolb (SIGSTOP: no FIN, no packets) is
// detected by BIRD through BFD in well under the 9 s hold time, and a hung BIRD is detected by
// ferrolb's BFD, which takes the BGP session down at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Topology, e2eSkipReason, nsExec, waitFor } from '../support/netns.js';
import { Bird, SpeakerProc, tempDir } from '../fixtures/bgp/e2e-harness.js';
import type { PeerConfig } from '../../src/bgp/types.js';

const skip = e2eSkipReason();

describe('bgp e2e: BFD with BIRD2', { skip, timeout: 120_000 }, () => {
  const topo = new Topology();
  const dir = tempDir();
  let bird: Bird;
  let speaker: SpeakerProc;
  let dev = '';
  const peer: PeerConfig = {
    name: 'bird',
    peerAddress: '10.59.0.2',
    localAsn: 64512,
    peerAsn: 64513,
    routerId: '10.59.0.1',
    holdTimeSec: 9,
    families: [4],
    connectRetryMs: 200,
    maxBackoffMs: 1000,
    bfd: { desiredMinTxMs: 100, requiredMinRxMs: 100, detectMult: 3 },
  };
  const peer6: PeerConfig = { ...peer, name: 'bird6', peerAddress: 'fd59::2', families: [6] };
  const V4 = '192.0.2.77/32';
  const V6 = '2001:db8:77::1/128';

  before(async () => {
    const lb = await topo.addNs('lb');
    const rt = await topo.addNs('rt');
    dev = (await topo.link(lb, ['10.59.0.1/24', 'fd59::1/64'], rt, ['10.59.0.2/24', 'fd59::2/64'])).bDev;
    bird = Bird.start(topo, rt, dir.path, {
      routerId: '10.59.0.2',
      asn: 64513,
      extra:
        'protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }',
      sessions: [
        {
          name: 'ferrolb',
          local: '10.59.0.2',
          neighbor: '10.59.0.1',
          peerAsn: 64512,
          holdTime: 9,
          bfd: true,
        },
        { name: 'ferrolb6', local: 'fd59::2', neighbor: 'fd59::1', peerAsn: 64512, holdTime: 9, bfd: true },
      ],
    });
    await bird.ready();
    speaker = SpeakerProc.start(topo, lb, {
      peers: [peer, peer6],
      routes: [{ prefix: V4 }, { prefix: V6 }],
      listen: { port: 179 },
    });
    await speaker.ready;
  });
  after(async () => {
    await topo.cleanup();
    dir.remove();
  });

  const bfdUp = async (): Promise<void> => {
    await waitFor(
      'BGP established and BFD Up on both sides',
      async () => {
        const ss = (await speaker.status()).sessions;
        const b = await nsExec(bird.ns, 'birdc', ['-s', bird.sock, 'show', 'bfd', 'sessions']);
        const r = await bird.routes();
        return ss.length === 2 &&
          ss.every((s) => s.state === 'Established' && s.bfd === 'Up') &&
          /10\.59\.0\.1\s+\S+\s+Up/.test(b) &&
          /fd59::1\s+\S+\s+Up/.test(b) &&
          r.has(V4) &&
          r.has(V6)
          ? true
          : undefined;
      },
      20_000,
      100,
    );
  };

  it('comes up over IPv4 and IPv6: BGP Established, BFD Up, routes at BIRD', bfdUp);

  it('sends BFD control packets to UDP 3784 with TTL 255 (RFC 5881)', async () => {
    const out = await nsExec(
      bird.ns,
      'tcpdump',
      ['-c', '2', '-n', '-v', '-i', dev, 'udp and dst port 3784 and src host 10.59.0.1'],
      { timeoutMs: 5000 },
    );
    assert.match(out, /ttl 255/);
    assert.doesNotMatch(out, /ttl (?!255)\d+/);
    const sport = Number(/10\.59\.0\.1\.(\d+) > 10\.59\.0\.2\.3784/.exec(out)?.[1]);
    assert.ok(sport >= 49152 && sport <= 65535, `source port ${sport}`);
    const out6 = await nsExec(
      bird.ns,
      'tcpdump',
      ['-c', '2', '-n', '-v', '-i', dev, 'ip6 and udp and dst port 3784 and src host fd59::1'],
      { timeoutMs: 5000 },
    );
    assert.match(out6, /hlim 255/);
    assert.doesNotMatch(out6, /hlim (?!255)\d+/);
  });

  it('a hung ferrolb (SIGSTOP) loses its routes at BIRD within ~1 s, long before the 9 s hold time', async () => {
    speaker.signal('SIGSTOP');
    const t0 = Date.now();
    try {
      await waitFor(
        'routes withdrawn at BIRD',
        async () => {
          const r = await bird.routes();
          return r.has(V4) || r.has(V6) ? undefined : true;
        },
        5000,
        20,
      );
    } finally {
      speaker.signal('SIGCONT');
    }
    const dt = Date.now() - t0;
    process.stdout.write(`# SIGSTOP → route gone at BIRD after ~${dt} ms (BFD 100 ms × 3)\n`);
    assert.ok(dt < 2000, `took ${dt} ms`);
    await bfdUp();
  });

  it('a hung BIRD is detected by our BFD, which takes the BGP session down at once', async () => {
    bird.proc.kill('SIGSTOP');
    const t0 = Date.now();
    try {
      const s = await waitFor(
        'session down',
        async () => {
          const x = (await speaker.status()).sessions;
          return x.every((y) => y.state !== 'Established') ? x : undefined;
        },
        5000,
        20,
      );
      const dt = Date.now() - t0;
      process.stdout.write(`# BIRD SIGSTOP → our session down after ~${dt} ms\n`);
      for (const x of s) assert.match(x.lastError ?? '', /BFD/);
      assert.ok(dt < 2000, `took ${dt} ms`);
    } finally {
      bird.proc.kill('SIGCONT');
    }
    await bfdUp();
  });
});
