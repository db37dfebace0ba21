// What operators alert on, scraped from a real daemon in a network namespace with real backends and
// traffic: the exposition passes `promtool check metrics`, endpoint state and per-endpoint counters
// follow what happens, reloads and kernel writes are counted, and the shipped Grafana dashboard only
// queries families the daemon really exports.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { REPO, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { buildLbTopology, httpBatch, startBackend, VIP4, type LbTopo } from './support-dataplane/topo.js';
import { VERSION } from '../../src/version.js';
import { dashboardQueries, familiesOf, metricNamesIn, sample } from '../support/metrics.js';

const skip = e2eSkipReason();
const METRICS = '127.0.0.1:19112'; // inside the LB namespace only

const config = (b: LbTopo['backends']) => `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips}
spec: {addresses: ["10.200.0.10-10.200.0.20"]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web}
spec:
  addresses: ["${VIP4}"]
  ports: [{port: 80, protocol: TCP, targetPort: 8080}]
  mode: fullnat
  snatAddresses: ["10.201.2.1"]
  endpoints: [{address: ${b[0]?.v4}}, {address: ${b[1]?.v4}}]
  healthCheck: {type: http, port: 8080, path: /, interval: 300ms, timeout: 200ms, unhealthyThreshold: 2, healthyThreshold: 1}
`;

let t: LbTopo;
let topo: Topology;
let dir: { path: string; remove: () => void };
let daemon: Daemon | undefined;
const servers = new Map<string, ChildProcess>();

async function scrape(): Promise<string> {
  return nsExec(t.lb, process.execPath, [
    '-e',
    `fetch('http://${METRICS}/metrics').then(async (r) => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()); })`,
  ]);
}

before(async () => {
  if (skip) return;
  topo = new Topology();
  dir = tempDir();
  t = await buildLbTopology(topo, { backends: 2, backendDefaultRoute: false, servers: false });
  for (const b of t.backends) servers.set(b.name, await startBackend(topo, b));
  writeFileSync(join(dir.path, 'cfg.yaml'), config(t.backends));
  daemon = await startDaemon(
    [
      ...['--config', join(dir.path, 'cfg.yaml'), '--state-dir', dir.path, '--metrics-addr', METRICS],
      ...['--dataplane', 'on', '--probes', 'on'],
    ],
    {},
    20_000,
    ['ip', 'netns', 'exec', t.lb],
  );
});

after(async () => {
  if (daemon) await stopDaemon(daemon, 'SIGTERM');
  for (const p of servers.values()) p.kill('SIGKILL');
  await topo?.cleanup();
  dir?.remove();
});

test('the exposition passes promtool check metrics (names, units, types, help)', { skip }, async () => {
  const text = await scrape();
  const r = await new Promise<{ code: number | null; out: string }>((res) => {
    const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('exit', (code) => res({ code, out }));
    p.stdin.end(text);
  });
  assert.equal(r.code, 0, r.out);
  assert.equal(r.out.trim(), '', `promtool has remarks:\n${r.out}`);
  assert.equal(
    sample(text, 'ferrolb_build_info', { role: 'run', version: VERSION, nodejs: process.versions.node }),
    1,
  );
});

test('endpoint state and per-endpoint traffic follow reality', { skip }, async () => {
  const [b1, b2] = t.backends as [LbTopo['backends'][number], LbTopo['backends'][number]];
  await waitFor('both endpoints up', async () => {
    const m = await scrape();
    return [b1, b2].every((b) => sample(m, 'ferrolb_endpoint_up', { service: 'web', endpoint: b.v4 }) === 1)
      ? true
      : undefined;
  });
  const before = await scrape();
  const r = await httpBatch(t, VIP4, 80, 40);
  assert.equal(r.errors, 0);
  const m = await waitFor('counters moved', async () => {
    const now = await scrape();
    const grew = (name: string, l: Record<string, string>) =>
      (sample(now, name, l) ?? 0) > (sample(before, name, l) ?? 0);
    return grew('ferrolb_service_packets_total', { service: 'web' }) &&
      [b1, b2].every((b) => grew('ferrolb_endpoint_packets_total', { service: 'web', endpoint: b.v4 }))
      ? now
      : undefined;
  });
  assert.ok((sample(m, 'ferrolb_endpoint_bytes_total', { service: 'web', endpoint: b1.v4 }) ?? 0) > 0);

  servers.get(b2.name)?.kill('SIGKILL');
  const down = await waitFor('b2 down in the metrics', async () => {
    const now = await scrape();
    return sample(now, 'ferrolb_endpoint_up', { service: 'web', endpoint: b2.v4 }) === 0 ? now : undefined;
  });
  assert.equal(sample(down, 'ferrolb_endpoint_up', { service: 'web', endpoint: b1.v4 }), 1);
  assert.ok(
    (sample(down, 'ferrolb_probe_verdict_changes_total', { service: 'web', state: 'inactive' }) ?? 0) >= 1,
  );
  assert.ok(
    (sample(down, 'ferrolb_dataplane_apply_duration_seconds_count', {}) ?? 0) >= 2,
    'kernel writes timed',
  );
  assert.equal(sample(down, 'ferrolb_dataplane_apply_errors_total', {}), 0);
});

test('a rejected reload shows in the metrics, the next good one clears it', { skip }, async () => {
  const d = daemon as Daemon;
  const cfg = join(dir.path, 'cfg.yaml');
  const good = readFileSync(cfg, 'utf8');
  writeFileSync(cfg, good.replace('mode: fullnat', 'mode: sideways'));
  d.proc.kill('SIGHUP');
  await waitFor('reload failure counted', async () =>
    sample(await scrape(), 'ferrolb_config_last_reload_successful', {}) === 0 ? true : undefined,
  );
  const failedAt = sample(await scrape(), 'ferrolb_config_last_reload_success_timestamp_seconds', {}) ?? 0;
  writeFileSync(cfg, good);
  d.proc.kill('SIGHUP');
  const ok = await waitFor('reload success', async () => {
    const m = await scrape();
    return sample(m, 'ferrolb_config_last_reload_successful', {}) === 1 ? m : undefined;
  });
  assert.ok((sample(ok, 'ferrolb_config_last_reload_success_timestamp_seconds', {}) ?? 0) > failedAt);
});

test('the Grafana dashboard queries only families the daemon exports', { skip }, async () => {
  const exported = familiesOf(await scrape());
  const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/ferrolb.json'), 'utf8')) as unknown;
  const queries = dashboardQueries(dashboard);
  assert.ok(queries.length >= 10, `${queries.length} queries`);
  const used = new Set(queries.flatMap(metricNamesIn));
  for (const name of used) assert.ok(exported.has(name), `dashboard queries ${name}, which is not exported`);
  // And the families operators alert on are all on the dashboard.
  for (const name of [
    'ferrolb_endpoint_up',
    'ferrolb_bgp_session_up',
    'ferrolb_bfd_session_up',
    'ferrolb_sctp_associations',
  ])
    assert.ok(used.has(name), `${name} missing from the dashboard`);
});
