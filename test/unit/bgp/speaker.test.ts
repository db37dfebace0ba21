// The socket shell over loopback: two ferrolb speakers peer with each other, and a raw TCP "peer"
// sends garbage. No root, no namespaces; waits are bounded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { BgpSpeaker, checkPeerSupported } from '../../../src/bgp/speaker.js';
import {
  MessageFramer,
  decodeMessage,
  encodeMessage,
  parsePrefix,
  type BgpMessage,
} from '../../../src/bgp/codec/index.js';
import { BgpUnsupportedError, type PeerConfig } from '../../../src/bgp/types.js';
import type { AdvertisedRoute } from '../../../src/bgp/ribout.js';

async function until<T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const peer = (over: Partial<PeerConfig>): PeerConfig => ({
  name: 'p',
  peerAddress: '127.0.0.1',
  localAsn: 64512,
  peerAsn: 64512,
  routerId: '10.0.0.1',
  holdTimeSec: 9,
  families: [4],
  connectRetryMs: 100,
  ...over,
});

const toB = { peerAddress: '127.0.0.2', sourceAddress: '127.0.0.1' } as const;

const routes = (n: number, localPref = 200): AdvertisedRoute[] =>
  Array.from({ length: n }, (_, i) => ({
    prefix: parsePrefix(`10.100.${i >> 8}.${i & 0xff}/32`),
    localPref,
    communities: [64512 * 65536 + 7],
  }));

describe('bgp speaker over loopback', () => {
  it('logs a peer it cannot reach (first failure, then at powers of two), not only in status', async () => {
    // A port nobody listens on: bind one, close it, connect there.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closed = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const lines: string[] = [];
    const a = new BgpSpeaker({ listen: false, log: (m) => lines.push(m) });
    try {
      a.setPeers([peer({ name: 'gone', peerPort: closed, connectRetryMs: 20 })]);
      await until('three failures', () =>
        (a.status().sessions[0]?.connectFailures ?? 0) >= 3 ? true : undefined,
      );
      const failed = lines.filter((l) => l.includes('cannot connect'));
      assert.match(
        failed[0] ?? '',
        new RegExp(
          `session gone: cannot connect to 127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED.*1 failed in a row`,
        ),
      );
      assert.ok(failed.length < (a.status().sessions[0]?.connectFailures ?? 0), 'not a line per retry');
    } finally {
      await a.close();
    }
  });
  it('announces, updates and withdraws routes between two speakers; status reflects both sides', async () => {
    // Two loopback addresses: a next hop equal to the peer's own address is never sent.
    const b = new BgpSpeaker({ listen: { port: 0, host: '127.0.0.2' } });
    const port = (await b.start()) as number;
    const a = new BgpSpeaker({ listen: false });
    try {
      b.setPeers([peer({ name: 'to-a', routerId: '10.0.0.2', passive: true })]);
      a.setPeers([peer({ name: 'to-b', peerPort: port, ...toB })]);
      a.setRoutes(routes(500));
      const est = await until('established', () =>
        a.status().sessions[0]?.state === 'Established' ? true : undefined,
      );
      assert.ok(est);
      await until('500 prefixes at b', () =>
        b.status().sessions[0]?.prefixesReceived === 500 ? true : undefined,
      );
      const sa = a.status();
      assert.equal(sa.sessions[0]?.prefixesSent, 500);
      // 500 /32s with one attribute set fit in one UPDATE (+ End-of-RIB).
      assert.ok((sa.sessions[0]?.updatesOut ?? 0) <= 3, `updatesOut ${sa.sessions[0]?.updatesOut}`);
      assert.equal(sa.routes[0]?.localPref, 200);
      assert.deepEqual(sa.routes[0]?.communities, ['64512:7']);
      assert.equal(sa.routes[0]?.nextHop, '127.0.0.1');

      const before = a.status().sessions[0]?.updatesOut ?? 0;
      a.setRoutes(routes(500)); // same set: nothing to send
      a.setRoutes(routes(100));
      await until('100 prefixes at b', () =>
        b.status().sessions[0]?.prefixesReceived === 100 ? true : undefined,
      );
      assert.equal(
        (a.status().sessions[0]?.updatesOut ?? 0) - before,
        1,
        'one withdraw UPDATE for 400 prefixes',
      );
      a.setRoutes([]);
      await until('0 prefixes at b', () =>
        b.status().sessions[0]?.prefixesReceived === 0 ? true : undefined,
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('counts received routes in bounded memory and skips a route too big for one UPDATE', async () => {
    // Two loopback addresses: a next hop equal to the peer's own address is never sent.
    const b = new BgpSpeaker({ listen: { port: 0, host: '127.0.0.2' } });
    const port = (await b.start()) as number;
    const a = new BgpSpeaker({ listen: false });
    try {
      b.setPeers([peer({ name: 'to-a', routerId: '10.0.0.2', passive: true, maxReceivedPrefixes: 50 })]);
      a.setPeers([peer({ name: 'to-b', peerPort: port, ...toB })]);
      const huge: AdvertisedRoute = {
        prefix: parsePrefix('10.200.0.1/32'),
        communities: Array.from({ length: 1100 }, (_, i) => i),
      };
      a.setRoutes([...routes(120), huge]);
      await until('b saw the routes', () => (b.status().sessions[0]?.receivedTruncated ? true : undefined));
      const sb = b.status().sessions[0];
      assert.equal(sb?.prefixesReceived, 50, 'tracking stops at the limit');
      const sa = a.status().sessions[0];
      assert.equal(sa?.prefixesSent, 120);
      assert.deepEqual(sa?.skipped, [
        { prefix: '10.200.0.1/32', reason: 'attributes do not fit in one 4096-byte UPDATE' },
      ]);
      assert.equal(sa?.state, 'Established');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('answers garbage with NOTIFICATION 1/1 and keeps retrying (backoff itself is tested in fsm.test)', async () => {
    const got: BgpMessage[] = [];
    const connects: number[] = [];
    const server = net.createServer((s) => {
      connects.push(Date.now());
      const framer = new MessageFramer();
      s.on('data', (d) => {
        try {
          for (const m of framer.push(d)) got.push(decodeMessage(m));
        } catch {
          /* not our concern here */
        }
      });
      s.on('error', () => undefined);
      s.write(Buffer.alloc(40, 0x42)); // not a BGP marker
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const a = new BgpSpeaker({ listen: false });
    try {
      a.setPeers([peer({ name: 'junk', peerPort: port, connectRetryMs: 50, maxBackoffMs: 400 })]);
      await until('4 connection attempts', () => (connects.length >= 4 ? true : undefined), 8000);
      const n = got.find((m) => m.type === 'notification');
      assert.ok(n && n.type === 'notification');
      assert.deepEqual([n.code, n.subcode], [1, 1]);
      const s = a.status().sessions[0];
      assert.ok((s?.connectFailures ?? 0) >= 3);
      assert.match(s?.lastError ?? '', /marker/);
    } finally {
      await a.close();
      server.close();
    }
  });

  it('claims a graceful restart (R bit) only on the first session after a restart', async () => {
    const rBits: boolean[] = [];
    const server = net.createServer((s) => {
      const framer = new MessageFramer();
      s.on('error', () => undefined);
      s.on('data', (d) => {
        for (const raw of framer.push(d)) {
          const m = decodeMessage(raw);
          if (m.type === 'open') {
            const gr = m.capabilities.find((c) => c.kind === 'graceful-restart');
            rBits.push(gr?.kind === 'graceful-restart' && gr.restarting);
            const reply: BgpMessage = {
              ...m,
              asn: 64512,
              bgpId: 0x0a000063,
              capabilities: m.capabilities.filter((c) => c.kind !== 'four-octet-as'),
            };
            s.write(Buffer.concat([encodeMessage(reply), encodeMessage({ type: 'keepalive' })]));
          } else if (m.type === 'keepalive' && rBits.length === 1) s.destroy(); // first session: drop it once up
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const a = new BgpSpeaker({ listen: false, restarting: true });
    try {
      a.setPeers([peer({ name: 'gr', peerPort: port, gracefulRestart: { restartTimeSec: 60 } })]);
      await until('two sessions', () => (rBits.length >= 2 ? true : undefined), 8000);
      assert.deepEqual(rBits.slice(0, 2), [true, false]);
    } finally {
      await a.close();
      server.close();
    }
  });

  it('UPDATE in OpenConfirm gets NOTIFICATION 5/2, not a decode error of its 4-octet AS path (issue 14 #7)', async () => {
    const got: BgpMessage[] = [];
    const server = net.createServer((s) => {
      const framer = new MessageFramer();
      s.on('error', () => undefined);
      s.on('data', (d) => {
        for (const raw of framer.push(d)) {
          const m = decodeMessage(raw);
          got.push(m);
          if (m.type !== 'open') continue;
          const reply: BgpMessage = { ...m, asn: 64512, bgpId: 0x0a000063 };
          // Skip the KEEPALIVE: send an UPDATE whose AS_PATH needs the 4-octet AS the session has not
          // reached yet (it only applies once Established).
          const update: BgpMessage = {
            type: 'update',
            withdrawn: [],
            attributes: {
              origin: 'igp',
              asPath: [{ type: 'sequence', asns: [4200000001] }],
              nextHop: 0x0a000063n,
            },
            nlri: [parsePrefix('192.0.2.77/32')],
          };
          s.write(
            Buffer.concat([
              encodeMessage(reply),
              encodeMessage(update, { fourOctetAs: true, addPath: () => false }),
            ]),
          );
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const a = new BgpSpeaker({ listen: false });
    try {
      a.setPeers([peer({ name: 'early', peerPort: port, connectRetryMs: 5000 })]);
      const n = await until('a NOTIFICATION', () => got.find((m) => m.type === 'notification'));
      assert.ok(n.type === 'notification');
      assert.deepEqual([n.code, n.subcode], [5, 2]);
      assert.match(a.status().sessions[0]?.lastError ?? '', /unexpected UPDATE in OpenConfirm/);
    } finally {
      await a.close();
      server.close();
    }
  });

  it('a session resets only for its own BGP settings: routes, other peers, next hops and BFD apply live', async () => {
    const b = new BgpSpeaker({ listen: { port: 0, host: '127.0.0.2' } });
    const port = (await b.start()) as number;
    const logs: string[] = [];
    const a = new BgpSpeaker({ listen: false, log: (m) => logs.push(m) });
    const downs = () => logs.filter((l) => /session to-b down/.test(l)).length;
    const base = peer({ name: 'to-b', peerPort: port, ...toB, families: [4, 6] });
    try {
      b.setPeers([
        peer({ name: 'to-a', routerId: '10.0.0.2', passive: true, families: [4, 6] }),
        peer({ name: 'to-a2', peerAddress: '127.0.0.3', routerId: '10.0.0.2', passive: true }),
      ]);
      a.setPeers([base]);
      a.setRoutes(routes(3));
      await until('established', () => (a.status().sessions[0]?.state === 'Established' ? true : undefined));
      const established = () => logs.filter((l) => /session to-b established/.test(l)).length;
      // Services change.
      a.setRoutes(routes(5));
      await until('5 at b', () => (b.status().sessions[0]?.prefixesReceived === 5 ? true : undefined));
      // Another peer comes, changes and goes.
      const other = peer({
        name: 'to-b2',
        peerPort: port,
        peerAddress: '127.0.0.2',
        sourceAddress: '127.0.0.3',
      });
      a.setPeers([base, other]);
      await until('second session', () =>
        a.status().sessions.find((x) => x.peer === 'to-b2')?.state === 'Established' ? true : undefined,
      );
      a.setPeers([base, { ...other, holdTimeSec: 30 }]);
      // A next hop (IPv6 over this IPv4 session) and BFD timers on this very peer.
      a.setPeers([{ ...base, nextHopV6: '2001:db8::7' }]);
      a.setRoutes([...routes(5), { prefix: parsePrefix('2001:db8:1::1/128') }]);
      await until('IPv6 route at b', () =>
        b.status().sessions[0]?.prefixesReceived === 6 ? true : undefined,
      );
      a.setPeers([
        {
          ...base,
          nextHopV6: '2001:db8::7',
          bfd: { desiredMinTxMs: 300, requiredMinRxMs: 300, detectMult: 3 },
        },
      ]);
      a.setPeers([
        {
          ...base,
          nextHopV6: '2001:db8::7',
          bfd: { desiredMinTxMs: 900, requiredMinRxMs: 900, detectMult: 5 },
        },
      ]);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(downs(), 0, logs.join('\n'));
      assert.equal(established(), 1);
      const st = a.status();
      const v6 = st.routes.find((r) => r.prefix === '2001:db8:1::1/128');
      assert.deepEqual(v6?.nextHops, [{ peer: 'to-b', nextHop: '2001:db8::7' }]);
      // Its own setting (hold time) does restart it.
      a.setPeers([{ ...base, holdTimeSec: 12 }]);
      await until('re-established', () => (established() === 2 ? true : undefined));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('status lists each session its own next hop (issue 14 #8)', async () => {
    const b = new BgpSpeaker({ listen: { port: 0, host: '127.0.0.2' } });
    const port = (await b.start()) as number;
    const a = new BgpSpeaker({ listen: false });
    try {
      b.setPeers([
        peer({ name: 'to-a', routerId: '10.0.0.2', passive: true }),
        peer({ name: 'to-a2', peerAddress: '127.0.0.3', routerId: '10.0.0.2', passive: true }),
      ]);
      a.setPeers([
        peer({ name: 'one', peerPort: port, ...toB }),
        peer({ name: 'two', peerPort: port, peerAddress: '127.0.0.2', sourceAddress: '127.0.0.3' }),
      ]);
      a.setRoutes(routes(1));
      const r = await until('sent on both sessions', () => {
        const x = a.status().routes[0];
        return x?.peers.length === 2 ? x : undefined;
      });
      assert.deepEqual(
        [...r.nextHops].sort((x, y) => x.peer.localeCompare(y.peer)),
        [
          { peer: 'one', nextHop: '127.0.0.1' },
          { peer: 'two', nextHop: '127.0.0.3' },
        ],
      );
      assert.equal(r.nextHop, undefined, 'no single next hop when the sessions differ');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses a TCP-MD5 password with a clear, typed error', () => {
    assert.throws(
      () => checkPeerSupported({ ...peer({}), password: 'secret' }),
      (e: unknown) => e instanceof BgpUnsupportedError && e.field === 'password' && /TCP-MD5/.test(e.message),
    );
  });
});
