// The whole product in network namespaces: `ferrolb run` inside the LB namespace programs the kernel
// from its config, probes real backends, and ferroctl shows what happens; traffic is real.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { FERROCTL, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import {
  buildLbTopology,
  Hold,
  httpBatch,
  startBackend,
  tally,
  udpBatch,
  VIP4,
  type LbTopo,
} from './support-dataplane/topo.js';
import type { LoadBalancerView } from '../../src/state/views.js';

const skip = e2eSkipReason();
const INTERVAL_MS = 400;
const TIMEOUT_MS = 300;
const UNHEALTHY = 2;

const config = (b: LbTopo['backends']) => `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips}
spec: {addresses: ["10.200.0.10-10.200.0.20", "fd00:200::10-fd00:200::20"]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web}
spec:
  addresses: ["${VIP4}"]
  ports: [{port: 80, protocol: TCP, targetPort: 8080}, {port: 9000, protocol: TCP}]
  mode: fullnat
  snatAddresses: ["10.201.2.1"]   # the LB's own address on the backend network: no route back to the VIP
  algorithm: weighted
  endpoints: [{address: ${b[0]?.v4}, weight: 1}, {address: ${b[1]?.v4}, weight: 1}, {address: ${b[2]?.v4}, weight: 2}]
  healthCheck: {type: http, port: 8080, path: /, interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms, unhealthyThreshold: ${UNHEALTHY}, healthyThreshold: 1}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: dns}
spec:
  addresses: ["10.200.0.11"]
  ports: [{port: 53, protocol: UDP, targetPort: 5353}]
  mode: fullnat
  snatAddresses: ["10.201.2.1"]
  endpoints: [{address: ${b[0]?.v4}}, {address: ${b[1]?.v4}}]
`;

let t: LbTopo;
let topo: Topology;
let dir: { path: string; remove: () => void };
let daemon: Daemon | undefined;
const servers = new Map<string, ChildProcess>();

async function ctl(args: string[]): Promise<string> {
  return nsExec(t.lb, process.execPath, [FERROCTL, '--server', (daemon as Daemon).url, ...args], {
    timeoutMs: 20_000,
  });
}
async function web(): Promise<LoadBalancerView> {
  return JSON.parse(await ctl(['describe', 'lb', 'web', '-o', 'json'])) as LoadBalancerView;
}
const stateOf = (v: LoadBalancerView, addr: string) =>
  v.endpoints.find((e) => e.address === addr && e.servicePort === 80)?.state;

async function start(): Promise<Daemon> {
  return startDaemon(
    ['--config', join(dir.path, 'cfg.yaml'), '--state-dir', dir.path, '--dataplane', 'on', '--probes', 'on'],
    {},
    20_000,
    ['ip', 'netns', 'exec', t.lb],
  );
}

before(async () => {
  if (skip) return;
  topo = new Topology();
  dir = tempDir();
  t = await buildLbTopology(topo, { backends: 3, backendDefaultRoute: false, servers: false });
  for (const b of t.backends) servers.set(b.name, await startBackend(topo, b));
  writeFileSync(join(dir.path, 'cfg.yaml'), config(t.backends));
  daemon = await start();
});

after(async () => {
  if (daemon) await stopDaemon(daemon, 'SIGTERM');
  await topo?.cleanup();
  dir?.remove();
});

test('probes bring every endpoint to active and traffic follows the weights', { skip }, async () => {
  // Ready: the configuration is in and the kernel table serves it (asked from inside the LB namespace).
  const readyz = await nsExec(t.lb, process.execPath, [
    '-e',
    `fetch(${JSON.stringify(new URL('/readyz', (daemon as Daemon).url).href)}).then(async (r) => console.log(r.status, await r.text()))`,
  ]);
  assert.match(readyz, /^200 \{\s*"status": "ready"\s*\}/);
  await waitFor(
    'all endpoints active',
    async () => ((await web()).endpoints.every((e) => e.state === 'active') ? true : undefined),
    10_000,
  );
  const r = await httpBatch(t, VIP4, 80, 400);
  assert.equal(r.errors, 0);
  assert.equal(r.replies.length, 400);
  const n = tally(r.replies);
  // Weights 1:1:2 → expected 100/100/200; weighted selection is random per flow: allow ±40 %.
  for (const [name, want] of [
    ['b1', 100],
    ['b2', 100],
    ['b3', 200],
  ] as const) {
    const got = n.get(name) ?? 0;
    assert.ok(
      Math.abs(got - want) <= want * 0.4,
      `${name}: ${got} replies, expected about ${want} (${JSON.stringify([...n])})`,
    );
  }
  // fullnat: the backend sees the LB's own address, never the client (and has no route to the VIP).
  assert.ok(
    r.replies.every((x) => x.endsWith(' 10.201.2.1')),
    r.replies[0],
  );
  const wide = await ctl(['get', 'lb', '-o', 'wide']);
  const b3row = wide.split('\n').find((l) => l.includes(t.backends[2]?.v4 ?? '?') && l.includes('8080'));
  // PACKETS and BYTES of this port, bytes with a unit.
  assert.match(b3row ?? '', /active\s+[1-9]\d*\s+\d+(\.\d+)?(B|KiB|MiB)\b/, wide);
  assert.match(wide.split('\n')[0] ?? '', /STATE\s+PACKETS\s+BYTES\s+STATUS/);
});

test('UDP through a fullnat service', { skip }, async () => {
  const r = await udpBatch(t, '10.200.0.11', 53, 50);
  assert.equal(r.errors, 0);
  assert.equal(r.replies.length, 50);
  assert.deepEqual([...tally(r.replies).keys()].sort(), ['b1', 'b2']);
});

test(
  'a killed backend turns inactive within the probe window and gets no new flows; it comes back',
  { skip },
  async () => {
    const b3 = t.backends[2]!;
    const killedAt = Date.now();
    servers.get('b3')?.kill('SIGKILL');
    await waitFor(
      'b3 inactive',
      async () => (stateOf(await web(), b3.v4) === 'inactive' ? true : undefined),
      10_000,
      50,
    );
    const detectMs = Date.now() - killedAt;
    // Bound: unhealthyThreshold × interval + timeout, plus the CLI round trip and scheduling slack.
    assert.ok(detectMs <= UNHEALTHY * INTERVAL_MS + TIMEOUT_MS + 1500, `detected after ${detectMs} ms`);
    const r = await httpBatch(t, VIP4, 80, 200);
    assert.equal(r.errors, 0, 'no failed request once the endpoint is inactive');
    assert.equal(tally(r.replies).get('b3') ?? 0, 0);

    servers.set('b3', await startBackend(topo, b3));
    await waitFor(
      'b3 active again',
      async () => (stateOf(await web(), b3.v4) === 'active' ? true : undefined),
      10_000,
      50,
    );
    const back = await httpBatch(t, VIP4, 80, 200);
    assert.equal(back.errors, 0);
    assert.ok((tally(back.replies).get('b3') ?? 0) > 0, 'b3 receives new flows again');
  },
);

test(
  'SIGKILL of the daemon: established and new connections keep working; restart adopts the table',
  { skip },
  async () => {
    const hold = await Hold.open(t, VIP4, 9000);
    assert.match(await hold.ping(), / p1$/);
    const before = await nsExec(t.lb, 'nft', ['list', 'table', 'inet', 'ferrolb']);
    await stopDaemon(daemon as Daemon, 'SIGKILL');
    daemon = undefined;
    // The kernel keeps forwarding without us.
    assert.match(await hold.ping(), / p2$/);
    const during = await httpBatch(t, VIP4, 80, 50);
    assert.equal(during.errors, 0);
    daemon = await start();
    await waitFor(
      'adoption logged',
      () => (daemon?.logs.some((l) => l.includes('adopting the existing ferrolb table')) ? true : undefined),
      5000,
    );
    await waitFor(
      'all endpoints active again',
      async () => ((await web()).endpoints.every((e) => e.state === 'active') ? true : undefined),
      10_000,
    );
    assert.match(await hold.ping(), / p3$/, 'the established connection survived the restart');
    assert.equal(hold.ended, false);
    const afterRestart = await nsExec(t.lb, 'nft', ['list', 'table', 'inet', 'ferrolb']);
    // Same rules (counters aside): the restart re-adopted rather than rebuilt.
    const strip = (s: string) => s.replace(/packets \d+ bytes \d+/g, '');
    assert.equal(strip(afterRestart), strip(before));
    hold.proc.kill('SIGKILL');
  },
);

test(
  'an API change reaches the kernel: a new service serves at once, a deleted one stops',
  { skip },
  async () => {
    const f = join(dir.path, 'extra.yaml');
    writeFileSync(
      f,
      `apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: extra}\nspec: {addresses: ["10.200.0.12"], mode: fullnat, snatAddresses: ["10.201.2.1"], ports: [{port: 8080}], endpoints: [{address: ${t.backends[0]?.v4}}]}\n`,
    );
    await nsExec(t.lb, process.execPath, [FERROCTL, '--server', (daemon as Daemon).url, 'apply', '-f', f]);
    const r = await waitFor(
      'extra serves',
      async () => {
        const b = await httpBatch(t, '10.200.0.12', 8080, 5);
        return b.errors === 0 ? b : undefined;
      },
      10_000,
      100,
    );
    assert.deepEqual([...tally(r.replies).keys()], ['b1']);
    await ctl(['delete', 'lb', 'extra']);
    await waitFor(
      'extra gone from the kernel',
      async () => {
        const out = await nsExec(t.lb, 'nft', ['list', 'table', 'inet', 'ferrolb']);
        return out.includes('10.200.0.12') ? undefined : true;
      },
      5000,
    );
  },
);

test(
  'sourceRanges: a client outside them is dropped (and counted), a live change lets it in',
  { skip },
  async () => {
    const f = join(dir.path, 'guarded.yaml');
    const apply = async (ranges: string[]) => {
      writeFileSync(
        f,
        `apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: guarded}\nspec: {addresses: ["10.200.0.13"], mode: fullnat, snatAddresses: ["10.201.2.1"], ports: [{port: 8080}], sourceRanges: ${JSON.stringify(ranges)}, endpoints: [{address: ${t.backends[0]?.v4}}]}\n`,
      );
      await ctl(['apply', '-f', f]);
    };
    const metric = async () => {
      const text = await nsExec(t.lb, process.execPath, [
        '-e',
        `fetch(${JSON.stringify(new URL('/metrics', (daemon as Daemon).url).href)}).then(async (r) => console.log(await r.text()))`,
      ]);
      return Number(
        /ferrolb_source_range_dropped_packets_total\{family="ipv4"\} (\d+)/.exec(text)?.[1] ?? NaN,
      );
    };
    // The client (10.201.1.2) is outside the range: nothing gets through, and the drops are counted.
    await apply(['192.0.2.0/24']);
    await waitFor('guarded in the kernel', async () =>
      (await nsExec(t.lb, 'nft', ['list', 'table', 'inet', 'ferrolb'])).includes('10.200.0.13')
        ? true
        : undefined,
    );
    const before = await metric();
    const refused = await httpBatch(t, '10.200.0.13', 8080, 2);
    assert.equal(refused.replies.length, 0);
    assert.ok((await metric()) > before, 'drops counted');
    assert.match(
      await ctl(['get', 'lb', 'guarded', '-o', 'wide']),
      /guarded\s+10\.200\.0\.13\s+-\s+192\.0\.2\.0\/24\s+8080/,
    );

    // Its range added live: served.
    await apply(['192.0.2.0/24', '10.201.1.0/24']);
    const r = await waitFor(
      'guarded serves the client',
      async () => {
        const b = await httpBatch(t, '10.200.0.13', 8080, 3);
        return b.errors === 0 ? b : undefined;
      },
      15_000,
      100,
    );
    assert.deepEqual([...tally(r.replies).keys()], ['b1']);
    await ctl(['delete', 'lb', 'guarded']);
  },
);
