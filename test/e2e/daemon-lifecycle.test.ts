// The daemon's lifecycle against a real kernel: the locks keep a second instance from touching what
// the first one serves, a failed start leaves nothing behind, and an API flood cannot starve the
// data plane of file descriptors. Every outcome is checked with traffic through the VIPs.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { FERROLB, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { buildLbTopology, httpBatch, VIP4, type LbTopo } from './support-dataplane/topo.js';

const skip = e2eSkipReason();
const VIP_NEW = '10.200.0.12';

const lb = (name: string, vip: string, b: LbTopo['backends']) => `
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: ${name}}
spec:
  addresses: ["${vip}"]
  ports: [{port: 80, protocol: TCP, targetPort: 8080}]
  mode: fullnat
  snatAddresses: ["10.201.2.1"]
  endpoints: [{address: ${b[0]?.v4}}, {address: ${b[1]?.v4}}]
`;
const config = (b: LbTopo['backends'], extra = '') => `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips}
spec: {addresses: ["10.200.0.10-10.200.0.20"]}
${lb('web', VIP4, b)}${extra}`;

let t: LbTopo;
let topo: Topology;
let dir: { path: string; remove: () => void };

before(async () => {
  if (skip) return;
  topo = new Topology();
  dir = tempDir();
  t = await buildLbTopology(topo, { backends: 2, backendDefaultRoute: false });
  writeFileSync(join(dir.path, 'cfg.yaml'), config(t.backends));
});

after(async () => {
  await topo?.cleanup();
  dir?.remove();
});

const inLb = (ns = t.lb) => ['ip', 'netns', 'exec', ns];

function startLb(stateDir: string, extra: string[] = [], prefix = inLb()): Promise<Daemon> {
  return startDaemon(
    [
      '--config',
      join(dir.path, 'cfg.yaml'),
      '--state-dir',
      stateDir,
      '--dataplane',
      'on',
      '--bgp-port',
      'off',
      ...extra,
    ],
    {},
    30_000,
    prefix,
  );
}

/** Runs a ferrolb command to its end (bounded: a hang is a failure). */
function runToEnd(
  prefix: string[],
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number | null; stderr: string; stdout: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const all = [...prefix, process.execPath, FERROLB, ...args];
    const p = spawn(all[0] as string, all.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout, timedOut });
    });
  });
}

/** The kernel's view of the LB namespace: our table (without counter values) and the VIPs. */
async function kernelState(ns = t.lb): Promise<{ table: string; vips: string }> {
  const table = await nsExec(ns, 'nft', ['list', 'table', 'inet', 'ferrolb']).catch(() => '');
  // A VIP is a local route on ferrolb0 (AnyIP) or an address on it, depending on the VIP mode.
  const vips = await Promise.all([
    nsExec(ns, 'ip', ['-4', 'route', 'show', 'table', 'local', 'dev', 'ferrolb0']).catch(() => ''),
    nsExec(ns, 'ip', ['-6', 'route', 'show', 'table', 'local', 'dev', 'ferrolb0']).catch(() => ''),
    nsExec(ns, 'ip', ['-o', 'addr', 'show', 'dev', 'ferrolb0', 'scope', 'global']).catch(() => ''),
  ]);
  return {
    table: table.replace(/packets \d+ bytes \d+/g, 'packets - bytes -'),
    vips: vips
      .join('\n')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.includes('fe80::'))
      .sort()
      .join('\n'),
  };
}

async function trafficWorks(vip: string): Promise<void> {
  const r = await httpBatch(t, vip, 80, 20);
  assert.equal(r.errors, 0, `traffic through ${vip}`);
  assert.equal(r.replies.length, 20);
}

async function httpStatus(ns: string, url: string): Promise<number> {
  const out = await nsExec(ns, process.execPath, [
    '-e',
    `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) }).then((r) => console.log(r.status), () => console.log(0))`,
  ]);
  return Number(out.trim());
}

test(
  'a second ferrolb in the same namespace refuses and leaves the first one serving',
  { skip },
  async () => {
    const first = await startLb(join(dir.path, 'a'));
    try {
      await waitFor('traffic through the VIP', () => trafficWorks(VIP4).then(() => true), 15_000, 200);
      const before = await kernelState();
      assert.match(before.table, /table inet ferrolb/);
      assert.match(before.vips, new RegExp(VIP4.replace(/\./g, '\\.')));

      // Another state dir and API port, another LB: unlocked, it would reprogram the table.
      const other = join(dir.path, 'other.yaml');
      writeFileSync(other, config(t.backends, lb('intruder', '10.200.0.15', t.backends)));
      const second = await runToEnd(inLb(), [
        'run',
        '--config',
        other,
        '--state-dir',
        join(dir.path, 'b'),
        '--api',
        '127.0.0.1:0',
        '--dataplane',
        'on',
        '--probes',
        'off',
        '--bgp-port',
        'off',
      ]);
      assert.equal(second.timedOut, false, 'the second instance exits');
      assert.equal(second.code, 1, second.stderr);
      assert.match(
        second.stderr,
        new RegExp(`kernel table "ferrolb" .*in use by another ferrolb \\(PID ${first.proc.pid}\\)`),
      );

      assert.deepEqual(await kernelState(), before, "the first one's table and VIPs are untouched");
      await trafficWorks(VIP4);
      assert.equal(await httpStatus(t.lb, new URL('/readyz', first.url).href), 200);

      // The same state directory, even without the data plane: refused, naming the holder.
      const stateBefore = readFileSync(join(dir.path, 'a', 'state.json'), 'utf8');
      const third = await runToEnd(
        [],
        [
          'run',
          '--state-dir',
          join(dir.path, 'a'),
          '--api',
          '127.0.0.1:0',
          '--dataplane',
          'off',
          '--probes',
          'off',
        ],
      );
      assert.equal(third.code, 1, third.stderr);
      assert.match(
        third.stderr,
        new RegExp(`state directory .* in use by another ferrolb \\(PID ${first.proc.pid}\\)`),
      );
      assert.equal(readFileSync(join(dir.path, 'a', 'state.json'), 'utf8'), stateBefore);
      await trafficWorks(VIP4);
    } finally {
      await stopDaemon(first);
    }
    assert.deepEqual(await kernelState(), { table: '', vips: '' }, 'a clean stop removes table and VIPs');
  },
);

test('API port taken: the daemon exits non-zero at once and leaves no table or VIP', { skip }, async () => {
  const ns = await topo.addNs('x');
  const holder = topo.spawn(ns, process.execPath, [
    '-e',
    "require('net').createServer().listen(18555, '127.0.0.1', () => console.log('ready'))",
  ]);
  await new Promise<void>((r) => holder.stdout?.once('data', () => r()));
  const r = await runToEnd(
    inLb(ns),
    [
      'run',
      '--config',
      join(dir.path, 'cfg.yaml'),
      '--state-dir',
      join(dir.path, 'x'),
      '--api',
      '127.0.0.1:18555',
    ],
    30_000,
  );
  assert.equal(r.timedOut, false, 'it does not hang');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /api failed to start: listen EADDRINUSE/);
  assert.deepEqual(await kernelState(ns), { table: '', vips: '' }, 'the kernel was never touched');
  holder.kill('SIGKILL');
});

// Opens `count` idle connections to the API and reopens each one the server closes (after 300 ms),
// for at most `seconds`; prints the number of connection attempts once a second.
const FLOOD = `
const net = require('net');
const [port, count, seconds] = process.argv.slice(1).map(Number);
const end = Date.now() + seconds * 1000;
let attempts = 0;
const one = () => {
  if (Date.now() > end) return;
  attempts++;
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  s.on('data', () => undefined);
  s.on('close', () => setTimeout(one, 300));
};
for (let i = 0; i < count; i++) one();
setInterval(() => console.log(attempts), 1000);
setTimeout(() => process.exit(0), seconds * 1000 + 500);
`;

test(
  'an API connection flood under a low fd limit: the daemon lives and still programs changes',
  { skip },
  async () => {
    writeFileSync(join(dir.path, 'cfg.yaml'), config(t.backends));
    const d = await startLb(join(dir.path, 'fd'), [], [...inLb(), 'prlimit', '--nofile=256:256']);
    let flood: ReturnType<Topology['spawn']> | undefined;
    try {
      await waitFor('traffic through the VIP', () => trafficWorks(VIP4).then(() => true), 15_000, 200);
      const port = new URL(d.url).port;
      // More idle connections than the cap (a quarter of 256) and than the fd limit itself.
      flood = topo.spawn(t.lb, process.execPath, ['-e', FLOOD, port, '600', '60']);
      let attempts = 0;
      flood.stdout?.on('data', (b: Buffer) => (attempts = Number(b.toString().trim().split('\n').pop())));
      await waitFor(
        'the flood to reach 600 connections',
        () => (attempts >= 600 ? true : undefined),
        20_000,
        100,
      );

      // While the flood holds the API: a change through SIGHUP is programmed into the kernel.
      writeFileSync(join(dir.path, 'cfg.yaml'), config(t.backends, lb('web2', VIP_NEW, t.backends)));
      d.proc.kill('SIGHUP');
      await waitFor(
        'traffic through the new VIP',
        () => trafficWorks(VIP_NEW).then(() => true),
        30_000,
        250,
      ).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\ndaemon log:\n${d.logs.slice(-15).join('\n')}`);
      });
      assert.equal(d.proc.exitCode, null, 'the daemon is alive');
      await trafficWorks(VIP4);

      flood.kill('SIGKILL');
      await waitFor(
        '/healthz once the flood is gone',
        async () => ((await httpStatus(t.lb, new URL('/healthz', d.url).href)) === 200 ? true : undefined),
        20_000,
        250,
      );
      assert.equal(d.proc.exitCode, null, 'the daemon is still alive');
      assert.ok(
        d.logs.some((l) => l.includes('connection limit reached')),
        'the cap was what held the flood off',
      );
    } finally {
      flood?.kill('SIGKILL');
      await stopDaemon(d);
    }
  },
);
