// What operators alert on, scraped from a real daemon in a network namespace with real backends and
// traffic: the exposition passes `promtool check metrics`, endpoint state and per-endpoint counters
// follow what happens, reloads and kernel writes are counted, and the shipped Grafana dashboard only
// queries families the daemon really exports.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { e2eSkipReason, nsExec, waitFor } from '../support/netns.js';
import { FERROCTL, REPO, type Daemon } from '../support/daemon.js';
import type { LoadBalancerView } from '../../src/state/views.js';
import { httpBatch, VIP4 } from './support-dataplane/topo.js';
import { ProbedLb } from './support-dataplane/probed.js';
import { VERSION } from '../../src/version.js';
import { dashboardQueries, familiesOf, metricNamesIn, sample } from '../support/metrics.js';

const skip = e2eSkipReason();
const METRICS = '127.0.0.1:19112'; // inside the LB namespace only

let lb: ProbedLb | undefined;
const P = () => lb as ProbedLb;

async function scrape(): Promise<string> {
  return nsExec(P().t.lb, process.execPath, [
    '-e',
    `fetch('http://${METRICS}/metrics').then(async (r) => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()); })`,
  ]);
}

before(async () => {
  if (!skip) lb = await ProbedLb.start({ args: () => ['--metrics-addr', METRICS] });
});

after(async () => {
  await lb?.stop();
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
  const [b1, b2] = [P().backend(0), P().backend(1)];
  await waitFor('both endpoints up', async () => {
    const m = await scrape();
    return [b1, b2].every((b) => sample(m, 'ferrolb_endpoint_up', { service: 'web', endpoint: b.v4 }) === 1)
      ? true
      : undefined;
  });
  const before = await scrape();
  const r = await httpBatch(P().t, VIP4, 80, 40);
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

  P().kill(b2);
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
  // Per-endpoint counters stay per endpoint after the data plane rewrote the service: new flows go
  // to b1 only, so b1's count grows and the dead b2's does not.
  const ep = (m: string, b: typeof b1) =>
    sample(m, 'ferrolb_endpoint_packets_total', { service: 'web', endpoint: b.v4 }) ?? 0;
  const again = await httpBatch(P().t, VIP4, 80, 20);
  assert.equal(again.errors, 0);
  const after = await waitFor('b1 counted', async () => {
    const now = await scrape();
    return ep(now, b1) > ep(down, b1) ? now : undefined;
  });
  assert.equal(ep(after, b2), ep(down, b2), 'the inactive endpoint got no packets counted');
  // The API's view of this one service says the same (it reads the service's counters alone).
  const view = JSON.parse(
    await nsExec(P().t.lb, process.execPath, [
      FERROCTL,
      '--server',
      (P().daemon as Daemon).url,
      'describe',
      'lb',
      'web',
      '-o',
      'json',
    ]),
  ) as LoadBalancerView;
  const viewed = (b: typeof b1) => view.endpoints.find((e) => e.address === b.v4)?.counters?.packets ?? -1;
  assert.ok(viewed(b1) >= ep(after, b1), `get lb web: b1 ${viewed(b1)} packets, metrics ${ep(after, b1)}`);
  assert.equal(viewed(b2), ep(after, b2), `get lb web: b2 ${viewed(b2)} packets, metrics ${ep(after, b2)}`);
});

test('a rejected reload shows in the metrics, the next good one clears it', { skip }, async () => {
  const d = P().daemon as Daemon;
  const cfg = P().config;
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
