// Health is core state: a verdict belongs to (service, endpoint, check). Removing the check returns a
// down endpoint to service at once; a re-created service starts unknown (no traffic) until its first
// verdict, never with the verdict of the service that was deleted. Real probes, real traffic.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { buildLbTopology, httpBatch, tally, type LbTopo } from './support-dataplane/topo.js';

const skip = e2eSkipReason();
const VIP = '10.200.0.10';

let t: LbTopo;
let topo: Topology;
let dir: { path: string; remove: () => void };
let daemon: Daemon | undefined;

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
const states = async () =>
  (
    (await api('GET', '/api/v1/loadbalancers/web')).body as {
      endpoints: { address: string; state: string }[];
    }
  ).endpoints.map((e) => `${e.address}=${e.state}`);
const spec = (healthCheck?: Record<string, unknown>) => ({
  spec: {
    addresses: [VIP],
    ports: [{ port: 80, targetPort: 8080 }],
    endpoints: [{ address: t.backends[0]?.v4 }, { address: t.backends[1]?.v4 }],
    ...(healthCheck ? { healthCheck } : {}),
  },
});

before(async () => {
  if (skip) return;
  topo = new Topology();
  dir = tempDir();
  t = await buildLbTopology(topo, { backends: 2 });
  writeFileSync(
    join(dir.path, 'cfg.yaml'),
    'apiVersion: ferrolb.io/v1\nkind: IPAddressPool\nmetadata: {name: vips}\nspec: {addresses: ["10.200.0.10-10.200.0.20"]}\n',
  );
  daemon = await startDaemon(
    [
      '--config',
      join(dir.path, 'cfg.yaml'),
      '--state-dir',
      dir.path,
      '--dataplane',
      'on',
      '--probes',
      'on',
      '--bgp-port',
      'off',
    ],
    {},
    20_000,
    ['ip', 'netns', 'exec', t.lb],
  );
});

after(async () => {
  if (daemon) await stopDaemon(daemon, 'SIGTERM');
  await topo?.cleanup();
  dir?.remove();
});

test('removing a health check brings a probed-down endpoint back into service', { skip }, async () => {
  // Port 9 answers on neither backend: the check marks both down and traffic stops.
  assert.equal(
    (
      await api(
        'PUT',
        '/api/v1/loadbalancers/web',
        spec({ type: 'tcp', port: 9, interval: '200ms', timeout: '100ms', unhealthyThreshold: 1 }),
      )
    ).status,
    200,
  );
  await waitFor(
    'both down',
    async () => ((await states()).every((s) => s.endsWith('=inactive')) ? true : undefined),
    10_000,
  );
  assert.equal((await httpBatch(t, VIP, 80, 4)).replies.length, 0, 'no endpoint serves');
  // Remove the check: the endpoints are served again at once (no stale "inactive" until restart).
  assert.equal((await api('PUT', '/api/v1/loadbalancers/web', spec())).status, 200);
  assert.deepEqual(
    (await states()).map((s) => s.split('=')[1]),
    ['active', 'active'],
  );
  await waitFor(
    'traffic flows',
    async () => ((await httpBatch(t, VIP, 80, 4)).errors === 0 ? true : undefined),
    10_000,
  );
  assert.deepEqual([...tally((await httpBatch(t, VIP, 80, 40)).replies).keys()].sort(), ['b1', 'b2']);
});

test('a deleted and re-created service starts unknown and its first verdict decides', { skip }, async () => {
  const hc = { type: 'http', port: 8080, path: '/', interval: '30s', timeout: '1s' };
  assert.equal((await api('PUT', '/api/v1/loadbalancers/web', spec(hc))).status, 200);
  await waitFor(
    'both active',
    async () => ((await states()).every((s) => s.endsWith('=active')) ? true : undefined),
    10_000,
  );
  assert.equal((await api('DELETE', '/api/v1/loadbalancers/web')).status, 200);
  // Re-created with a check on a closed port: the old "active" verdict must not carry over, and
  // the first verdict (down) decides.
  const closed = {
    ...hc,
    type: 'tcp',
    port: 9,
    path: undefined,
    interval: '200ms',
    timeout: '100ms',
    unhealthyThreshold: 3,
  };
  delete (closed as { path?: string }).path;
  assert.equal(
    (await api('POST', '/api/v1/loadbalancers', { metadata: { name: 'web' }, ...spec(closed) })).status,
    201,
  );
  const first = await states();
  assert.ok(
    first.every((s) => !s.endsWith('=active')),
    `re-created service shows ${first.join(', ')}`,
  );
  await waitFor(
    'both down after the first verdict',
    async () => ((await states()).every((s) => s.endsWith('=inactive')) ? true : undefined),
    5_000,
  );
  assert.equal((await httpBatch(t, VIP, 80, 4)).replies.length, 0);
});
