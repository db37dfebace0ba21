// The daemon keeps serving its last good state when its inputs or its disk fail: a state file that is
// wrong refuses the start (nothing rewritten), an empty file on SIGHUP is refused with traffic and
// objects kept, and a full disk (a small tmpfs) refuses changes until space is back — then recovers.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason, nsExec, sh, Topology, waitFor } from '../support/netns.js';
import { FERROLB, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { buildLbTopology, httpBatch, tally, type LbTopo } from './support-dataplane/topo.js';

const skip = e2eSkipReason();
const VIP = '10.200.0.10';
const EXTRA_VIP = '10.200.0.12';

test('a state file with a duplicate address refuses the start and is left as it was', () => {
  const dir = tempDir();
  try {
    const lb = (name: string) => ({
      origin: 'api',
      object: {
        apiVersion: 'ferrolb.io/v1',
        kind: 'LoadBalancer',
        metadata: { name },
        spec: { ports: [{ port: 80 }] },
      },
    });
    const pool = {
      origin: 'api',
      object: {
        apiVersion: 'ferrolb.io/v1',
        kind: 'IPAddressPool',
        metadata: { name: 'p' },
        spec: { addresses: ['10.0.0.0/30'] },
      },
    };
    const text = JSON.stringify({
      version: 1,
      savedAt: 'then',
      objects: [pool, lb('a'), lb('b')],
      allocations: {
        a: { addresses: ['10.0.0.1'], secondaryAddresses: [] },
        b: { addresses: ['10.0.0.1'], secondaryAddresses: [] },
      },
    });
    writeFileSync(join(dir.path, 'state.json'), text);
    const r = spawnSync(
      process.execPath,
      [
        FERROLB,
        'run',
        '--state-dir',
        dir.path,
        '--api',
        '127.0.0.1:0',
        '--dataplane',
        'off',
        '--probes',
        'off',
        '--bgp-port',
        'off',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /inconsistent; refusing to start rather than move addresses: "b" holds 10\.0\.0\.1 but would get/,
    );
    assert.equal(readFileSync(join(dir.path, 'state.json'), 'utf8'), text, 'not rewritten');
    assert.equal(existsSync(join(dir.path, 'initialised')), false);
  } finally {
    dir.remove();
  }
});

const cfg = (t: LbTopo) => `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips}
spec: {addresses: ["10.200.0.10-10.200.0.20"]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web}
spec:
  addresses: ["${VIP}"]
  ports: [{port: 80, targetPort: 8080}]
  endpoints: [{address: ${t.backends[0]?.v4}}, {address: ${t.backends[1]?.v4}}]
`;

let t: LbTopo;
let topo: Topology;
let dir: { path: string; remove: () => void };
let stateDir: string;
let mounted = false;
let daemon: Daemon | undefined;

/** One API call from inside the LB namespace (where the daemon listens on loopback). */
async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const url = new URL(path, (daemon as Daemon).url).href;
  const init = JSON.stringify({
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const out = await nsExec(t.lb, process.execPath, [
    '-e',
    `fetch(${JSON.stringify(url)}, ${init}).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.json() })))`,
  ]);
  return JSON.parse(out) as { status: number; body: unknown };
}
const start = () =>
  startDaemon(
    [
      '--config',
      join(dir.path, 'cfg.yaml'),
      '--state-dir',
      stateDir,
      '--dataplane',
      'on',
      '--bgp-port',
      'off',
    ],
    {},
    20_000,
    ['ip', 'netns', 'exec', t.lb],
  );
async function served(vip: string): Promise<Map<string, number>> {
  const r = await httpBatch(t, vip, 80, 40);
  assert.equal(r.errors, 0, `traffic to ${vip} fails`);
  return tally(r.replies);
}

before(async () => {
  if (skip) return;
  topo = new Topology();
  dir = tempDir();
  stateDir = join(dir.path, 'state');
  mkdirSync(stateDir);
  // A 256 KiB tmpfs: small enough to fill, big enough for a few state files.
  await sh('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'ferrolb-test', stateDir]);
  mounted = true;
  t = await buildLbTopology(topo, { backends: 2 });
  writeFileSync(join(dir.path, 'cfg.yaml'), cfg(t));
  daemon = await start();
  await waitFor(
    'traffic through the VIP',
    async () => ((await httpBatch(t, VIP, 80, 4)).errors === 0 ? true : undefined),
    10_000,
  );
});

after(async () => {
  if (daemon) await stopDaemon(daemon, 'SIGTERM');
  await topo?.cleanup();
  if (mounted) await sh('umount', [stateDir]).catch(() => sh('umount', ['-l', stateDir]));
  dir?.remove();
});

test('SIGHUP with an empty file is refused: objects and traffic stay', { skip }, async () => {
  assert.deepEqual([...(await served(VIP)).keys()].sort(), ['b1', 'b2']);
  writeFileSync(join(dir.path, 'cfg.yaml'), '# truncated by a bad deploy\n');
  const d = daemon as Daemon;
  const seen = d.logs.length;
  d.proc.kill('SIGHUP');
  await waitFor(
    'reload refused',
    () => d.logs.slice(seen).some((l) => l.includes('reload rejected')) || undefined,
    10_000,
  );
  assert.equal((await api('GET', '/api/v1/loadbalancers/web')).status, 200);
  assert.equal((await api('GET', '/api/v1/pools/vips')).status, 200);
  assert.deepEqual([...(await served(VIP)).keys()].sort(), ['b1', 'b2']);
  writeFileSync(join(dir.path, 'cfg.yaml'), cfg(t));
});

test(
  'a full disk refuses changes (503) and keeps serving; once space is back it recovers',
  { skip },
  async () => {
    const extra = {
      spec: {
        addresses: [EXTRA_VIP],
        ports: [{ port: 80, targetPort: 8080 }],
        endpoints: [{ address: t.backends[1]?.v4 }],
      },
    };
    // Fill the tmpfs (dd stops at ENOSPC).
    spawnSync('dd', ['if=/dev/zero', `of=${join(stateDir, 'filler')}`, 'bs=4k'], { encoding: 'utf8' });
    const refused = await api('PUT', '/api/v1/loadbalancers/extra', extra);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(JSON.stringify(refused.body), /ENOSPC/);
    assert.equal((await api('GET', '/api/v1/loadbalancers/extra')).status, 404, 'not half-applied');
    assert.equal((await api('GET', '/healthz')).status, 200);
    assert.deepEqual([...(await served(VIP)).keys()].sort(), ['b1', 'b2'], 'the last good state serves');
    assert.equal((await httpBatch(t, EXTRA_VIP, 80, 3)).errors, 3, 'the refused service is not programmed');
    assert.deepEqual(
      readdirSync(stateDir).filter((n) => n.endsWith('.tmp')),
      [],
      'no temp file left',
    );

    rmSync(join(stateDir, 'filler'));
    const ok = await api('PUT', '/api/v1/loadbalancers/extra', extra);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    await waitFor(
      'extra VIP serves',
      async () => ((await httpBatch(t, EXTRA_VIP, 80, 4)).errors === 0 ? true : undefined),
      10_000,
    );
    assert.deepEqual([...(await served(EXTRA_VIP)).keys()], ['b2']);

    // What was acknowledged is durable: a restart serves it (and does not need to rewrite the file).
    await stopDaemon(daemon as Daemon, 'SIGTERM');
    const saved = readFileSync(join(stateDir, 'state.json'), 'utf8');
    daemon = await start();
    assert.equal((await api('GET', '/api/v1/loadbalancers/extra')).status, 200);
    assert.equal(
      readFileSync(join(stateDir, 'state.json'), 'utf8'),
      saved,
      'an unchanged state is not rewritten',
    );
    await waitFor(
      'extra VIP serves after restart',
      async () => ((await httpBatch(t, EXTRA_VIP, 80, 4)).errors === 0 ? true : undefined),
      10_000,
    );
  },
);
