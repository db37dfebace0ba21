// The kernel is the truth: `ferrolb run` in an LB namespace, then someone else changes the kernel
// behind its back (table deleted, `nft flush ruleset`, one element / chain / dispatch rule deleted,
// a VIP removed; our table's rules flushed, a foreign rule inserted ahead of the dispatch, every slot
// map emptied, drift made while the daemon was dead). Each time, traffic through the VIP must work
// again within a bounded wait, without
// any user change, while an established connection to another service keeps working. Then one
// service the kernel refuses next to good ones: the good ones and later changes are programmed.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { FERROCTL, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { buildLbTopology, Hold, httpBatch, VIP4, type LbTopo } from './support-dataplane/topo.js';
import { names, servicePortId } from '../../src/dataplane/compiler/names.js';
import { VIP_ROUTE_PROTO } from '../../src/dataplane/vip.js';
import type { LoadBalancerView } from '../../src/state/views.js';

const skip = e2eSkipReason();
const OTHER = '10.200.0.12';
/** Repair goal is 2 s; the bound leaves room for a loaded CI machine and the client's own start. */
const REPAIR_BOUND_MS = 6000;

const lb = (name: string, vip: string, ports: string, extra = '') => `
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: ${name}}
spec:
  addresses: ["${vip}"]
  ports: [${ports}]
  mode: fullnat
  snatAddresses: ["10.201.2.1"]
  endpoints: [{address: 10.201.2.11}, {address: 10.201.2.12}]${extra}
`;

const config = `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips}
spec: {addresses: ["10.200.0.10-10.200.0.30"]}
${lb('web', VIP4, '{port: 80, protocol: TCP, targetPort: 8080}')}
${lb('other', OTHER, '{port: 9000, protocol: TCP}')}
`;

let t: LbTopo;
let topo: Topology;
let dir: { path: string; remove: () => void };
let daemon: Daemon | undefined;
let hold: Hold;

const inLb = (cmd: string, args: string[]) => nsExec(t.lb, cmd, args, { timeoutMs: 20_000 });
/** GET on the daemon's API from inside the LB namespace (it listens on the namespace's loopback). */
async function get(path: string): Promise<{ status: number; text: string }> {
  const url = new URL(path, (daemon as Daemon).url).href;
  const out = await inLb(process.execPath, [
    '-e',
    `fetch(${JSON.stringify(url)}).then(async (r) => console.log(JSON.stringify({ status: r.status, text: await r.text() })))`,
  ]);
  return JSON.parse(out) as { status: number; text: string };
}
const ctl = (args: string[]) =>
  inLb(process.execPath, [FERROCTL, '--server', (daemon as Daemon).url, ...args]);
const view = async (name: string) =>
  JSON.parse(await ctl(['describe', 'lb', name, '-o', 'json'])) as LoadBalancerView;

const start = () =>
  startDaemon(
    ['--config', join(dir.path, 'cfg.yaml'), '--state-dir', dir.path, '--dataplane', 'on'],
    {},
    20_000,
    ['ip', 'netns', 'exec', t.lb],
  );

async function webWorks(): Promise<boolean> {
  const r = await httpBatch(t, VIP4, 80, 3);
  return r.errors === 0 && r.replies.length === 3;
}

/** Breaks the kernel with `act`, then waits until traffic to `web` works again; returns ms taken. */
async function breakAndRecover(what: string, act: () => Promise<unknown>, works = webWorks): Promise<number> {
  assert.ok(await works(), `${what}: works before`);
  const t0 = Date.now();
  await act();
  await waitFor(
    `${what} repaired`,
    async () => ((await works()) ? true : undefined),
    REPAIR_BOUND_MS,
    100,
  ).catch((e: unknown) => {
    // The daemon's own account of what it saw, for whoever reads the failure.
    process.stderr.write(`${(daemon as Daemon).logs.slice(-40).join('\n')}\n`);
    throw e;
  });
  const ms = Date.now() - t0;
  // The established connection to the other service was never cut.
  assert.match(await hold.ping(), /^b\d /, `${what}: established flow on "other" still works`);
  const ready = await get('/readyz');
  assert.equal(ready.status, 200, `${what}: ready again: ${ready.text}`);
  console.log(`# ${what}: traffic back after ${ms} ms`);
  return ms;
}

async function repairs(kind: string): Promise<number> {
  const m = (await get('/metrics')).text;
  const line = m
    .split('\n')
    .find((l) => l.startsWith(`ferrolb_dataplane_drift_repairs_total{kind="${kind}"}`));
  return Number(line?.split(' ')[1] ?? 0);
}

before(async () => {
  if (skip) return;
  topo = new Topology();
  dir = tempDir();
  t = await buildLbTopology(topo, { backends: 2, backendDefaultRoute: false });
  writeFileSync(join(dir.path, 'cfg.yaml'), config);
  daemon = await start();
  await waitFor('web serves', async () => ((await webWorks()) ? true : undefined), 10_000, 100);
  hold = await Hold.open(t, OTHER, 9000);
});

after(async () => {
  hold?.proc.kill();
  if (daemon) await stopDaemon(daemon, 'SIGTERM');
  await topo?.cleanup();
  dir?.remove();
});

test('our own applies (nft monitor echoes them) are not counted as drift', { skip }, async () => {
  // A changed service: one endpoint fewer, so our own transaction flushes and rewrites its selection
  // chain (numgen mod 2 → mod 1) and deletes slot elements — deletions the monitor reports.
  writeFileSync(
    join(dir.path, 'own.yaml'),
    lb('other', OTHER, '{port: 9000, protocol: TCP}').replace(
      '[{address: 10.201.2.11}, {address: 10.201.2.12}]',
      '[{address: 10.201.2.11}]',
    ) + lb('own', '10.200.0.16', '{port: 80, protocol: TCP, targetPort: 8080}'),
  );
  await ctl(['apply', '-f', join(dir.path, 'own.yaml')]);
  await waitFor(
    'own serves',
    async () => ((await httpBatch(t, '10.200.0.16', 80, 1)).replies.length === 1 ? true : undefined),
    10_000,
    100,
  );
  await new Promise((r) => setTimeout(r, 1500)); // the monitor's echo has arrived and been judged
  const m = (await get('/metrics')).text;
  assert.doesNotMatch(m, /^ferrolb_dataplane_drift_repairs_total\{/m, 'no drift counted');
  assert.match(await hold.ping(), /^b\d /);
});

test('the ferrolb table deleted: recreated, established flows kept', { skip }, async () => {
  const before = await repairs('table');
  await breakAndRecover('table deleted', () => inLb('nft', ['delete', 'table', 'inet', 'ferrolb']));
  assert.ok((await repairs('table')) > before, 'counted as drift of kind table');
});

test('nft flush ruleset (a firewall reload): everything back', { skip }, async () => {
  await breakAndRecover('flush ruleset', () => inLb('nft', ['flush', 'ruleset']));
});

test('one dispatch map element deleted: re-added', { skip }, async () => {
  const before = await repairs('element');
  await breakAndRecover('element deleted', () =>
    inLb('nft', ['delete', 'element', 'inet', 'ferrolb', 'svc4', `{ ${VIP4} . tcp . 80 }`]),
  );
  assert.ok((await repairs('element')) > before, 'counted as drift of kind element');
});

test('one selection chain deleted (with the element pointing at it): re-created', { skip }, async () => {
  const chain = `s_${servicePortId('web', 'TCP', 80, 4)}`;
  const before = await repairs('chain');
  await breakAndRecover('chain deleted', async () => {
    const script = [
      `delete element inet ferrolb svc4 { ${VIP4} . tcp . 80 }`,
      `flush chain inet ferrolb ${chain}`,
      `delete chain inet ferrolb ${chain}`,
    ].join('\n');
    const r = await t.run('nft', ['-f', '-'], script + '\n');
    assert.equal(r.code, 0, r.stderr);
    // (No check that it is gone: the repair can be back before a listing would run.)
  });
  assert.ok((await repairs('chain')) > before, 'counted as drift of kind chain');
});

test('the dispatch rule deleted: the chain is rewritten', { skip }, async () => {
  const before = await repairs('rule');
  await breakAndRecover('dispatch rule deleted', async () => {
    const listing = await inLb('nft', ['-a', 'list', 'chain', 'inet', 'ferrolb', 'prerouting']);
    const handle = /ip daddr . meta l4proto . th dport vmap @svc4 .*# handle (\d+)/.exec(listing)?.[1];
    assert.ok(handle, listing);
    await inLb('nft', ['delete', 'rule', 'inet', 'ferrolb', 'prerouting', 'handle', handle]);
  });
  assert.ok((await repairs('rule')) > before, 'counted as drift of kind rule');
});

test('a VIP removed from the node: plumbed again (the VIP answers ping)', { skip }, async () => {
  // DNAT happens before routing, so TCP to the VIP can work without it; ICMP echo needs the VIP local.
  const pings = async () =>
    nsExec(t.client, 'ping', ['-c', '1', '-W', '1', VIP4]).then(
      () => true,
      () => false,
    );
  const before = await repairs('vip');
  await breakAndRecover(
    'VIP removed',
    () =>
      inLb('ip', [
        'route',
        'del',
        'local',
        `${VIP4}/32`,
        'dev',
        'ferrolb0',
        'table',
        'local',
        'proto',
        VIP_ROUTE_PROTO,
      ]),
    async () => (await pings()) && (await webWorks()),
  );
  assert.ok((await repairs('vip')) > before, 'counted as drift of kind vip');
});

test('the VIP interface deleted, then set down: back up with every VIP', { skip }, async () => {
  const pings = (vip: string) =>
    nsExec(t.client, 'ping', ['-c', '1', '-W', '1', vip]).then(
      () => true,
      () => false,
    );
  const both = async () => (await pings(VIP4)) && (await pings(OTHER)) && (await webWorks());
  await breakAndRecover('VIP interface deleted', () => inLb('ip', ['link', 'del', 'ferrolb0']), both);
  await breakAndRecover('VIP interface down', () => inLb('ip', ['link', 'set', 'ferrolb0', 'down']), both);
});

/** Pids of the daemon's child processes running `argv0 argv1` (e.g. nft monitor). */
function children(argv: string[]): number[] {
  const pid = (daemon as Daemon).proc.pid!;
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return kids.map(Number).filter((k) => {
    try {
      return (
        readFileSync(`/proc/${k}/cmdline`, 'utf8').split('\0').slice(0, argv.length).join(' ') ===
        argv.join(' ')
      );
    } catch {
      return false;
    }
  });
}

test('the nft monitor dies: it is restarted and its events repair drift again', { skip }, async () => {
  const [old] = children(['nft', 'monitor']);
  assert.ok(old, 'the daemon runs nft monitor');
  process.kill(old, 'SIGKILL'); // our own daemon's child, by pid
  const fresh = await waitFor(
    'monitor restarted',
    () => children(['nft', 'monitor']).find((p) => p !== old),
    5000,
    50,
  );
  assert.ok(fresh);
  // Past the full verification a restart schedules (1 s): the repair below comes from the new
  // monitor's events (the next verification is ≥ 30 s away).
  await new Promise((r) => setTimeout(r, 2500));
  await breakAndRecover('element deleted after a monitor restart', () =>
    inLb('nft', ['delete', 'element', 'inet', 'ferrolb', 'svc4', `{ ${VIP4} . tcp . 80 }`]),
  );
});

test('the forwarding sysctl turned off: turned on again', { skip }, async () => {
  await inLb('sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
  await waitFor(
    'ip_forward back on',
    async () => ((await inLb('sysctl', ['-n', 'net.ipv4.ip_forward'])).trim() === '1' ? true : undefined),
    10_000,
    200,
  );
  assert.ok(await webWorks());
  assert.ok((await repairs('sysctl')) > 0);
});

test('every rule of our table flushed (chains and maps kept): rules back', { skip }, async () => {
  await breakAndRecover('flush table', () => inLb('nft', ['flush', 'table', 'inet', 'ferrolb']));
});

test(
  'a foreign rule inserted ahead of the dispatch (VIP traffic bypasses DNAT): removed',
  { skip },
  async () => {
    await breakAndRecover('foreign rule', () =>
      inLb('nft', [
        'insert',
        'rule',
        'inet',
        'ferrolb',
        'prerouting',
        'ip',
        'daddr',
        VIP4,
        'tcp',
        'dport',
        '80',
        'accept',
      ]),
    );
    const chain = await inLb('nft', ['list', 'chain', 'inet', 'ferrolb', 'prerouting']);
    assert.doesNotMatch(chain, new RegExp(`ip daddr ${VIP4.replace(/\./g, '\\.')} tcp dport 80 accept`));
  },
);

test('every IPv4 TCP slot map emptied: endpoints back', { skip }, async () => {
  // Only the shards some service uses exist.
  const listing = await inLb('nft', ['list', 'maps', 'inet']);
  const shards = [...listing.matchAll(/map (slots4tcp_\d+) /g)].map((m) => m[1] as string);
  assert.ok(shards.length > 0, listing);
  const script = shards.map((m) => `flush map inet ferrolb ${m}`).join('\n') + '\n';
  await breakAndRecover('slot maps flushed', async () => {
    const r = await t.run('nft', ['-f', '-'], script);
    assert.equal(r.code, 0, r.stderr);
  });
});

test(
  'containment: a service the kernel refuses is reported failed; the others and later changes are programmed',
  { skip },
  async () => {
    // 99999999h is more than nft's timeout field holds. If validation refuses it up front (422 naming
    // the field), that is containment too; otherwise the kernel refuses it and only it fails.
    const bad = lb(
      'bad',
      '10.200.0.14',
      '{port: 80, protocol: TCP, targetPort: 8080}',
      '\n  algorithm: persist\n  persistTimeout: 99999999h',
    );
    const later = lb('later', '10.200.0.15', '{port: 80, protocol: TCP, targetPort: 8080}');
    writeFileSync(join(dir.path, 'bad.yaml'), bad);
    writeFileSync(join(dir.path, 'later.yaml'), later);
    const applied = await ctl(['apply', '-f', join(dir.path, 'bad.yaml')]).then(
      () => 'accepted',
      (e: Error) => e.message,
    );
    if (applied === 'accepted') {
      await waitFor(
        'bad reported failed',
        async () => ((await view('bad')).dataplane?.state === 'Failed' ? true : undefined),
        10_000,
        100,
      );
      const v = await view('bad');
      assert.equal(v.dataplane?.kind, 'rules');
      assert.match(v.dataplane?.reason ?? '', /value too large|nft refused/);
      assert.match(await ctl(['get', 'lb', 'bad']), /Failed: /);
      assert.match((await get('/metrics')).text, /ferrolb_dataplane_failed_services\{kind="rules"\} 1/);
    } else assert.match(applied, /persistTimeout/);
    // A later, unrelated change is programmed: traffic to its VIP works.
    await ctl(['apply', '-f', join(dir.path, 'later.yaml')]);
    await waitFor(
      'later serves',
      async () => {
        const r = await httpBatch(t, '10.200.0.15', 80, 3);
        return r.errors === 0 && r.replies.length === 3 ? true : undefined;
      },
      10_000,
      100,
    );
    assert.ok(await webWorks(), 'the existing service still works');
    assert.equal((await view('web')).dataplane, undefined, 'good services are not marked');
    assert.match(await hold.ping(), /^b\d /);
    assert.equal((await get('/readyz')).status, 200, 'one refused service does not make the node unready');
  },
);

test(
  'drift while the daemon was dead (SIGKILL, element deleted, restart): repaired on adoption',
  { skip },
  async () => {
    await stopDaemon(daemon as Daemon, 'SIGKILL');
    daemon = undefined;
    // The kernel keeps forwarding without the daemon.
    assert.ok(await webWorks(), 'forwarding while the daemon is dead');
    await inLb('nft', ['delete', 'element', 'inet', 'ferrolb', names.dispatch(4), `{ ${VIP4} . tcp . 80 }`]);
    assert.equal(await webWorks(), false, 'the deleted element really broke the service');
    daemon = await start();
    await waitFor(
      'web repaired after restart',
      async () => ((await webWorks()) ? true : undefined),
      15_000,
      100,
    );
    assert.match(await hold.ping(), /^b\d /, 'established flow on "other" survived kill, drift and restart');
  },
);
