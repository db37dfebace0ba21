// Health probes against real servers in a backend namespace, with the prober (dist/src/probes/run.js)
// running inside a second namespace. Each test kills a server and expects `inactive` within
// unhealthyThreshold × interval + timeout (plus a fixed allowance for process and pipe latency), then
// restarts it and expects `active` again within healthyThreshold × interval + timeout.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { TEST_CERT, TEST_KEY } from '../unit/probes/tls-fixture.js';

const skip = e2eSkipReason();
const RUNNER = fileURLToPath(new URL('../../src/probes/run.js', import.meta.url));

const V4 = '10.231.0.2';
const V6 = 'fd00:231::2';
const PING_V4 = '10.231.0.3';
// Loose enough for a loaded 2-CPU CI machine (a fresh node server's first TLS handshake can take
// 100+ ms there), tight enough that the bounds below still prove "within threshold × interval".
const INTERVAL = 400;
const TIMEOUT = 300;
const UNHEALTHY = 2;
const HEALTHY = 2;
/** Process start, pipe and scheduling latency on a loaded CI machine; generous but bounded. */
const SLACK = 700;
const DOWN_BOUND = UNHEALTHY * INTERVAL + TIMEOUT + SLACK;
const UP_BOUND = HEALTHY * INTERVAL + TIMEOUT + SLACK;

interface Change {
  service: string;
  endpoint: string;
  state: string;
  reason: string;
  at: number;
}

const check = (type: string, extra: object = {}) => ({
  type,
  intervalMs: INTERVAL,
  timeoutMs: TIMEOUT,
  unhealthyThreshold: UNHEALTHY,
  healthyThreshold: HEALTHY,
  ...extra,
});

const TARGETS = [
  ...[V4, V6].map((endpoint) => ({ service: 'tcp', endpoint, targetPort: 7001, check: check('tcp') })),
  ...[V4, V6].map((endpoint) => ({ service: 'udp', endpoint, targetPort: 7002, check: check('udp') })),
  ...[V4, V6].map((endpoint) => ({
    service: 'http',
    endpoint,
    targetPort: 80,
    check: check('http', { port: 7003, path: '/healthz' }),
  })),
  ...[V4, V6].map((endpoint) => ({ service: 'sctp', endpoint, targetPort: 7, check: check('sctp') })),
  { service: 'ping', endpoint: PING_V4, targetPort: 0, check: check('ping') },
  { service: 'ping', endpoint: V6, targetPort: 0, check: check('ping') },
  // Nothing ever listens here: must go unknown → inactive and stay there.
  { service: 'dead', endpoint: V4, targetPort: 7999, check: check('tcp') },
  // The server answers 404 on this path: a wrong status is down.
  { service: 'http404', endpoint: V6, targetPort: 7003, check: check('http', { path: '/nope' }) },
  // A UDP server that never replies: down by default, up when silence is declared healthy.
  { service: 'udp-silent', endpoint: V4, targetPort: 7004, check: check('udp') },
  { service: 'udp-silent-ok', endpoint: V4, targetPort: 7004, check: check('udp', { udpSilence: 'up' }) },
  // TLS with a certificate nobody signed.
  { service: 'https', endpoint: V4, targetPort: 7005, check: check('https') },
];

/** Endpoints that are never healthy, with the reason they must show. */
const EXPECT_DOWN: Record<string, RegExp> = {
  dead: /ECONNREFUSED/,
  http404: /answered 404/,
  'udp-silent': /no reply/,
};

const HTTP_SERVER = `require('node:http').createServer((q, s) => { s.writeHead(q.url === '/healthz' ? 200 : 404); s.end(); }).listen(7003, '::')`;

// The unit tests' throw-away self-signed certificate (no openssl needed); the probe does not verify it.
const HTTPS_SERVER = `require('node:https')
  .createServer({ key: ${JSON.stringify(TEST_KEY)}, cert: ${JSON.stringify(TEST_CERT)} }, (q, s) => s.end('ok'))
  .listen(7005, '0.0.0.0');`;

const SERVERS: Record<string, [string, string[]]> = {
  tcp: ['socat', ['TCP6-LISTEN:7001,fork,reuseaddr,ipv6only=0', 'PIPE']],
  udp: ['socat', ['UDP6-RECVFROM:7002,fork,reuseaddr,ipv6only=0', 'PIPE']],
  http: [process.execPath, ['-e', HTTP_SERVER]],
  sctp: ['/usr/lib/usrsctp/echo_server', []],
  'udp-silent': ['socat', ['-u', 'UDP4-RECV:7004,reuseaddr', 'OPEN:/dev/null,wronly']],
  https: [process.execPath, ['-e', HTTPS_SERVER]],
};

describe('health probes in network namespaces', { skip, timeout: 180_000 }, () => {
  const topo = new Topology();
  let backend = '';
  let prober: ChildProcess | undefined;
  const changes: Change[] = [];
  const servers = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();

  const startServer = (name: string): void => {
    const [cmd, args] = SERVERS[name] ?? ['false', []];
    const p = topo.spawn(backend, cmd, args);
    // Last output of each server, for failure messages.
    const keep = (d: Buffer) => logs.set(name, ((logs.get(name) ?? '') + d.toString()).slice(-500));
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    servers.set(name, p);
  };
  const killServer = async (name: string): Promise<number> => {
    const p = servers.get(name);
    assert.ok(p?.pid, `${name} server started`);
    assert.ok(
      p.exitCode === null && p.signalCode === null,
      `${name} server exited early: ${logs.get(name) ?? ''}`,
    );
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    const at = performance.now();
    await exited;
    return at;
  };
  const allListening = async (): Promise<boolean> => {
    const [tcp, udp, raw] = await Promise.all(
      ['-ltn', '-lun', '-wan'].map((f) => nsExec(backend, 'ss', ['-H', f])),
    );
    return (
      [7001, 7003, 7005].every((p) => new RegExp(`:${p}\\b`).test(tcp ?? '')) &&
      [7002, 7004].every((p) => new RegExp(`:${p}\\b`).test(udp ?? '')) &&
      /:132\b/.test(raw ?? '')
    );
  };
  const stateOf = (service: string, endpoint: string): Change | undefined =>
    changes.filter((c) => c.service === service && c.endpoint === endpoint).at(-1);
  const waitState = (service: string, endpoint: string, state: string, since: number, ms: number) =>
    waitFor(
      `${service} ${endpoint} → ${state}`,
      () => {
        const c = stateOf(service, endpoint);
        return c && c.state === state && c.at >= since ? c : undefined;
      },
      ms,
      10,
    );

  before(async () => {
    const p = await topo.addNs('p');
    backend = await topo.addNs('b');
    await topo.link(p, ['10.231.0.1/24', 'fd00:231::1/64'], backend, [
      `${V4}/24`,
      `${PING_V4}/24`,
      `${V6}/64`,
    ]);
    for (const name of Object.keys(SERVERS)) startServer(name);
    // The first verdict decides, so the servers must listen and both families must be routable
    // (IPv6 neighbour discovery on a fresh veth) before the prober starts.
    await waitFor(
      'IPv6 path',
      () => nsExec(p, 'ping', ['-6', '-c1', '-W0.2', V6]).then(() => true),
      5000,
      50,
    );
    await waitFor('backend servers listening', () => allListening().then((ok) => ok || undefined), 5000, 50);
    prober = topo.spawn(p, process.execPath, [RUNNER]);
    createInterface({ input: prober.stdout! }).on('line', (line) => {
      let m: Change & { event: string };
      try {
        m = JSON.parse(line) as Change & { event: string };
      } catch {
        return void logs.set('runner', line);
      }
      if (m.event === 'change') changes.push({ ...m, at: performance.now() });
    });
    prober.stdin!.write(JSON.stringify({ targets: TARGETS }) + '\n');
  });

  after(async () => {
    if (process.env.PROBES_DEBUG) console.log(changes);
    await topo.cleanup();
  });

  test('every live endpoint becomes active and the dead one inactive', { timeout: 30_000 }, async () => {
    for (const t of TARGETS) {
      const downReason = EXPECT_DOWN[t.service];
      const want = downReason ? 'inactive' : 'active';
      const c = await waitState(t.service, t.endpoint, want, 0, 5000);
      if (downReason) assert.match(c.reason, downReason);
      assert.equal(
        changes.filter((x) => x.service === t.service && x.endpoint === t.endpoint)[0]?.state,
        want,
      );
      assert.ok(c.reason.length > 0);
    }
  });

  for (const name of ['tcp', 'udp', 'http', 'sctp']) {
    test(
      `${name}: killed server → inactive in time; restarted → active again`,
      { timeout: 30_000 },
      async () => {
        for (const ep of [V4, V6]) await waitState(name, ep, 'active', 0, 5000);
        const killedAt = await killServer(name);
        for (const ep of [V4, V6]) {
          const c = await waitState(name, ep, 'inactive', killedAt, DOWN_BOUND + 2000);
          assert.ok(
            c.at - killedAt <= DOWN_BOUND,
            `${name} ${ep} down after ${Math.round(c.at - killedAt)}ms > ${DOWN_BOUND}`,
          );
        }
        startServer(name);
        const restartedAt = performance.now();
        for (const ep of [V4, V6]) {
          const c = await waitState(name, ep, 'active', restartedAt, UP_BOUND + 3000).catch((e: Error) => {
            throw new Error(`${e.message}; server output: ${logs.get(name) ?? '(none)'}`);
          });
          // Up time includes the server's own start (node, usrsctp); bounded more loosely.
          assert.ok(
            c.at - restartedAt <= UP_BOUND + 1000,
            `${name} ${ep} up after ${Math.round(c.at - restartedAt)}ms`,
          );
        }
      },
    );
  }

  test('ping: address removed → inactive; restored → active', { timeout: 30_000 }, async () => {
    await waitState('ping', PING_V4, 'active', 0, 5000);
    const dev = (await nsExec(backend, 'ip', ['-o', 'addr', 'show', 'to', PING_V4])).split(/\s+/)[1] ?? '';
    await nsExec(backend, 'ip', ['addr', 'del', `${PING_V4}/24`, 'dev', dev]);
    const at = performance.now();
    const c = await waitState('ping', PING_V4, 'inactive', at, DOWN_BOUND + 2000);
    assert.ok(c.at - at <= DOWN_BOUND, `ping down after ${Math.round(c.at - at)}ms`);
    await nsExec(backend, 'ip', ['addr', 'add', `${PING_V4}/24`, 'dev', dev]);
    const back = performance.now();
    const u = await waitState('ping', PING_V4, 'active', back, UP_BOUND + 2000);
    assert.ok(u.at - back <= UP_BOUND, `ping up after ${Math.round(u.at - back)}ms`);
    assert.equal(stateOf('ping', V6)?.state, 'active', 'the other ping endpoint was never affected');
  });

  test('no flapping: each live endpoint changed state only when its server did', { timeout: 30_000 }, () => {
    const perEp = new Map<string, string[]>();
    for (const c of changes)
      perEp.set(`${c.service} ${c.endpoint}`, [...(perEp.get(`${c.service} ${c.endpoint}`) ?? []), c.state]);
    for (const name of ['tcp', 'udp', 'http', 'sctp'])
      for (const ep of [V4, V6])
        assert.deepEqual(perEp.get(`${name} ${ep}`), ['active', 'inactive', 'active'], `${name} ${ep}`);
    for (const t of TARGETS.filter(
      (x) => EXPECT_DOWN[x.service] || /^(udp-silent-ok|https)$/.test(x.service),
    ))
      assert.deepEqual(
        perEp.get(`${t.service} ${t.endpoint}`),
        [EXPECT_DOWN[t.service] ? 'inactive' : 'active'],
        t.service,
      );
  });

  test(
    'the runner exits on its own after stdin closes (no dangling timers, sockets or helpers)',
    { timeout: 30_000 },
    async () => {
      assert.ok(prober);
      const exited = new Promise<number | null>((r) => prober!.once('exit', (code) => r(code)));
      prober.stdin!.end();
      const code = await Promise.race([
        exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000)),
      ]);
      assert.equal(code, 0);
    },
  );
});
