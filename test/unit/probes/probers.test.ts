import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSocket } from 'node:dgram';
import {
  probeHttp,
  probeHttps,
  probePing,
  probeTcp,
  probeUdp,
  statusOk,
  InvalidProbeRequestError,
} from '../../../src/probes/probers/index.js';
import { parsePingRtt, pingArgs, pingVerdict } from '../../../src/probes/probers/ping.js';
import { assertNoLeaks, closeServer, leakable, once } from './support.js';
import { TEST_CERT, TEST_KEY } from './tls-fixture.js';

const FAMILIES = [
  { name: 'IPv4', lo: '127.0.0.1', udp: 'udp4' as const },
  { name: 'IPv6', lo: '::1', udp: 'udp6' as const },
];

/** A port that was just free: bind, read the port, close. Nothing listens on it afterwards. */
async function freeTcpPort(host: string): Promise<number> {
  const s = createTcpServer().listen(0, host);
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await closeServer(s);
  return port;
}

for (const f of FAMILIES) {
  test(`tcp (${f.name}): listening → up with rtt; closed port → refused; no leaks`, async () => {
    const before = leakable();
    const conns: Socket[] = [];
    const srv = createTcpServer((c) => conns.push(c)).listen(0, f.lo);
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    const r = await probeTcp({ address: f.lo, port, timeoutMs: 2000 });
    assert.equal(r.ok, true, r.reason);
    assert.equal(typeof r.rttMs, 'number');
    for (const c of conns) c.destroy();
    await closeServer(srv);
    const d = await probeTcp({ address: f.lo, port, timeoutMs: 2000 });
    assert.deepEqual([d.ok, d.failure], [false, 'refused']);
    await assertNoLeaks(before);
  });

  test(`udp (${f.name}): reply → up; ICMP port unreachable → refused; silence → down or up as configured`, async () => {
    const before = leakable();
    const echo = createSocket(f.udp);
    echo.on('message', (m, rinfo) => echo.send(m, rinfo.port, rinfo.address));
    echo.bind(0, f.lo);
    await once(echo, 'listening');
    const echoPort = echo.address().port;
    const silent = createSocket(f.udp);
    let heard = 0;
    silent.on('message', () => heard++);
    silent.bind(0, f.lo);
    await once(silent, 'listening');
    const silentPort = silent.address().port;

    const r = await probeUdp({ address: f.lo, port: echoPort, timeoutMs: 2000 });
    assert.equal(r.ok, true, r.reason);
    const s1 = await probeUdp({ address: f.lo, port: silentPort, timeoutMs: 150 });
    assert.deepEqual([s1.ok, s1.failure], [false, 'timeout']);
    const s2 = await probeUdp({ address: f.lo, port: silentPort, timeoutMs: 150, udpSilence: 'up' });
    assert.equal(s2.ok, true, s2.reason);
    assert.equal(heard, 2, 'the silent server received both probes');

    echo.close();
    silent.close();
    await once(echo, 'close');
    const c = await probeUdp({ address: f.lo, port: echoPort, timeoutMs: 2000, udpSilence: 'up' });
    assert.deepEqual([c.ok, c.failure], [false, 'refused'], c.reason);
    await assertNoLeaks(before);
  });

  test(`http (${f.name}): status decides; path is sent; refused and hung servers are down`, async () => {
    const before = leakable();
    const paths: string[] = [];
    let status = 200;
    let hang = false;
    const srv: Server = createHttpServer((req, res) => {
      paths.push(req.url ?? '');
      if (hang) return; // never answers: the probe must time out
      res.writeHead(status).end('body');
    }).listen(0, f.lo);
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    const probe = (extra: object = {}) => probeHttp({ address: f.lo, port, timeoutMs: 1000, ...extra });

    assert.equal((await probe({ path: '/healthz' })).ok, true);
    assert.deepEqual(paths, ['/healthz']);
    status = 302;
    assert.equal((await probe()).ok, true, '3xx is healthy by default');
    status = 503;
    const b = await probe();
    assert.deepEqual([b.ok, b.failure], [false, 'bad-status']);
    assert.match(b.reason, /503/);
    assert.equal((await probe({ expectStatus: [503] })).ok, true);
    hang = true;
    const h = await probe({ timeoutMs: 150 });
    assert.deepEqual([h.ok, h.failure], [false, 'timeout']);
    srv.closeAllConnections();
    await closeServer(srv);
    const d = await probe();
    assert.deepEqual([d.ok, d.failure], [false, 'refused']);
    await assertNoLeaks(before);
  });

  test(`https (${f.name}): self-signed certificate is accepted; status decides`, async () => {
    const before = leakable();
    let status = 204;
    const srv = createHttpsServer({ key: TEST_KEY, cert: TEST_CERT }, (_req, res) =>
      res.writeHead(status).end(),
    );
    srv.listen(0, f.lo);
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    const r = await probeHttps({ address: f.lo, port, timeoutMs: 2000 });
    assert.equal(r.ok, true, r.reason);
    status = 404;
    const b = await probeHttps({ address: f.lo, port, timeoutMs: 2000 });
    assert.deepEqual([b.ok, b.failure], [false, 'bad-status']);
    // Plain http against the TLS port is not mistaken for health.
    const p = await probeHttp({ address: f.lo, port, timeoutMs: 1000 });
    assert.equal(p.ok, false);
    srv.closeAllConnections();
    await closeServer(srv);
    await assertNoLeaks(before);
  });

  test(`ping (${f.name}): loopback answers`, async () => {
    const before = leakable();
    const r = await probePing({ address: f.lo, port: 0, timeoutMs: 2000 });
    assert.equal(r.ok, true, r.reason);
    assert.equal(typeof r.rttMs, 'number');
    await assertNoLeaks(before);
  });
}

test('a closed tcp port is refused quickly, far below the timeout', async () => {
  // Refusal must not wait for the deadline (that would delay marking endpoints down).
  const port = await freeTcpPort('127.0.0.1');
  const r = await probeTcp({ address: '127.0.0.1', port, timeoutMs: 60_000 });
  assert.equal(r.failure, 'refused');
});

test('an aborted probe resolves as aborted and releases its socket', async () => {
  const before = leakable();
  const srv = createHttpServer(() => undefined).listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  const ac = new AbortController();
  const p = probeHttp({ address: '127.0.0.1', port, timeoutMs: 60_000, signal: ac.signal });
  setImmediate(() => ac.abort());
  const r = await p;
  assert.deepEqual([r.ok, r.failure], [false, 'aborted']);
  const pre = new AbortController();
  pre.abort();
  assert.equal(
    (await probeTcp({ address: '127.0.0.1', port, timeoutMs: 1000, signal: pre.signal })).failure,
    'aborted',
  );
  srv.closeAllConnections();
  await closeServer(srv);
  await assertNoLeaks(before);
});

test('ping: a missing binary is unsupported, not up', async () => {
  const r = await probePing({ address: '127.0.0.1', port: 0, timeoutMs: 1000 }, '/nonexistent/ping');
  assert.deepEqual([r.ok, r.failure], [false, 'unsupported']);
});

test('ping: arguments and rtt parsing', () => {
  assert.deepEqual(pingArgs('10.0.0.1', 1500), ['-4', '-n', '-c', '1', '-W', '1.500', '10.0.0.1']);
  assert.deepEqual(pingArgs('fd00::1', 250), ['-6', '-n', '-c', '1', '-W', '0.250', 'fd00::1']);
  assert.equal(parsePingRtt('64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms'), 0.045);
  assert.equal(parsePingRtt('1 packets transmitted, 0 received'), undefined);
});

test('ping: exit status and output decide the failure kind', () => {
  const req = { address: '10.0.0.9', timeoutMs: 500 };
  assert.equal(pingVerdict(0, '64 bytes from 10.0.0.9', req), undefined);
  assert.equal(pingVerdict(1, '1 packets transmitted, 0 received', req)?.failure, 'timeout');
  assert.equal(
    pingVerdict(1, 'From 10.0.0.1 icmp_seq=1 Destination Host Unreachable', req)?.failure,
    'unreachable',
  );
  assert.equal(pingVerdict(2, 'ping: socket: Operation not permitted', req)?.failure, 'unsupported');
  assert.equal(pingVerdict(2, 'ping: connect: Network is unreachable', req)?.failure, 'error');
});

test('status check: default 200-399, explicit list replaces it', () => {
  assert.deepEqual(
    [199, 200, 399, 400].map((s) => statusOk(s)),
    [false, true, true, false],
  );
  assert.deepEqual(
    [200, 418].map((s) => statusOk(s, [418])),
    [false, true],
  );
  assert.equal(statusOk(200, []), true, 'an empty list means the default');
});

test('invalid requests are typed errors, thrown before any I/O', () => {
  assert.throws(
    () => probeTcp({ address: 'example.com', port: 80, timeoutMs: 100 }),
    InvalidProbeRequestError,
  );
  assert.throws(() => probeUdp({ address: '127.0.0.1', port: 0, timeoutMs: 100 }), InvalidProbeRequestError);
  assert.throws(() => probeHttp({ address: '::1', port: 80, timeoutMs: 0 }), InvalidProbeRequestError);
});
