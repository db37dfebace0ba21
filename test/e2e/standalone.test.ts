// The standalone daemon as a user runs it: real processes, real files, real HTTP on loopback.
import test from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  api,
  FERROLB,
  ferroctl,
  REPO,
  startDaemon,
  stopDaemon,
  tempDir,
  type Daemon,
  withDaemon as withDaemonOf,
} from '../support/daemon.js';
import type { LoadBalancerView, PoolView } from '../../src/state/views.js';

const EXAMPLE = join(REPO, 'examples/standalone.yaml');

/** Every LoadBalancer's live view (the API; `ferroctl get -o json` prints objects, not views). */
const views = async (url: string) =>
  (await (await fetch(`${url}/api/v1/loadbalancers`)).json()) as { items: LoadBalancerView[] };

const withDaemon = (fn: (d: Daemon, dir: string) => Promise<void>, args = ['--config', EXAMPLE]) =>
  withDaemonOf(args, fn);

test('ferrolb check: valid example passes; a bad file lists every error and exits 1', () => {
  const ok = spawnSync(process.execPath, [FERROLB, 'check', '--config', EXAMPLE], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /valid \(2 pools, 3 load balancers\)/);
  const dir = tempDir();
  try {
    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(
      bad,
      readFileSync(EXAMPLE, 'utf8')
        .replace('10.210.0.0/28', '10.210.0.0/40')
        .replace('port: 53,', 'port: 99999,'),
    );
    const r = spawnSync(process.execPath, [FERROLB, 'check', '--config', bad], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /IPAddressPool\/public: spec\.addresses\[0\]: "10\.210\.0\.0\/40": CIDR prefix length over 32/,
    );
    assert.match(r.stderr, /LoadBalancer\/dns: spec\.ports\[0\]\.port: 99999: must be <= 65535/);
  } finally {
    dir.remove();
  }
});

test('the daemon refuses to start on an invalid file', async () => {
  const dir = tempDir();
  try {
    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, readFileSync(EXAMPLE, 'utf8').replace('pool: public', 'pool: nowhere'));
    await assert.rejects(
      startDaemon(['--config', bad, '--state-dir', dir.path]),
      /exited early[\s\S]*LoadBalancer\/web: spec\.pool: "nowhere": no IPAddressPool/,
    );
  } finally {
    dir.remove();
  }
});

test('ferroctl get lb (table, wide, json, yaml) and get pools', async () => {
  await withDaemon(async (d) => {
    const table = ferroctl(d.url, ['get', 'lb']);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+EXTERNAL IP\s+SECONDARY IPS/);
    assert.match(table.stdout, /dns\s+10\.210\.1\.15\s+-\s+53\/UDP/);
    const wide = ferroctl(d.url, ['get', 'lb', '-o', 'wide']);
    const lines = wide.stdout.trimEnd().split('\n');
    assert.match(
      lines[0] ?? '',
      /EXTERNAL IP\s+SECONDARY IPS\s+SOURCES\s+PORT\s+PROTOCOL\s+SELECT\s+MODE\s+ENDPOINT IP\s+TARGET PORT\s+WEIGHT\s+STATE/,
    );
    const web = lines.findIndex((l) => l.startsWith('web '));
    assert.match(
      lines[web] ?? '',
      /web\s+10\.210\.0\.\d+\s+-\s+any\s+80\s+TCP\s+maglev\s+fullnat\s+10\.201\.2\.2\s+8080\s+1\s+unknown/,
    );
    // Continuation row: service cells blank, endpoint cells filled.
    assert.match(lines[web + 1] ?? '', /^\s+10\.201\.2\.3\s+8080\s+2\s+unknown/);
    const amf = lines.find((l) => l.startsWith('amf-n2'));
    assert.match(amf ?? '', /10\.211\.0\.\d,10\.211\.0\.\d\s+any\s+38412\s+SCTP/);

    const json = JSON.parse(
      ferroctl(d.url, ['describe', 'lb', 'web', '-o', 'json']).stdout,
    ) as LoadBalancerView;
    assert.equal(json.name, 'web');
    assert.equal(json.addresses.length, 1);
    assert.deepEqual(json.secondaryAddresses, []);
    assert.equal(json.mode, 'fullnat');
    assert.equal(json.algorithm, 'maglev');
    assert.deepEqual(json.ports, [{ port: 80, protocol: 'TCP', targetPort: 8080 }]);
    assert.deepEqual(
      json.endpoints.map((e) => [e.address, e.port, e.weight, e.state]),
      [
        ['10.201.2.2', 8080, 1, 'unknown'],
        ['10.201.2.3', 8080, 2, 'unknown'],
      ],
    );
    assert.deepEqual(json.status, { phase: 'Allocated' });
    assert.match(
      ferroctl(d.url, ['describe', 'lb', 'dns', '-o', 'yaml']).stdout,
      /name: dns\n[\s\S]*addresses:\n\s+- 10\.210\.1\.15/,
    );

    const pools = ferroctl(d.url, ['get', 'pools']);
    assert.match(pools.stdout, /public\s+true\s+3\/24\s+0\/16/);
    assert.match(pools.stdout, /sctp-secondary\s+false\s+2\/6\s+-/);
    const missing = ferroctl(d.url, ['get', 'lb', 'nope']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /LoadBalancer\/nope not found \(404 NotFound\)/);
  });
});

test('REST API: create, replace, delete; invalid bodies rejected with field and value; state kept', async () => {
  await withDaemon(async (d) => {
    const body = {
      metadata: { name: 'api-lb' },
      spec: { ports: [{ port: 8443 }], endpoints: [{ address: '10.201.2.9' }] },
    };
    const created = await api<LoadBalancerView>(d.url, 'POST', '/api/v1/loadbalancers', body);
    assert.equal(created.status, 201);
    assert.equal(created.body.status.phase, 'Allocated');
    const addr = created.body.addresses[0];
    assert.equal((await api(d.url, 'POST', '/api/v1/loadbalancers', body)).status, 409);

    const bad = await api<{
      error: { code: string; issues: { object: string; field: string; value: unknown }[] };
    }>(d.url, 'PUT', '/api/v1/loadbalancers/api-lb', { spec: { ports: [{ port: 70000 }], pool: 'ghost' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.code, 'Invalid');
    assert.deepEqual(bad.body.error.issues[0], {
      object: 'LoadBalancer/api-lb',
      field: 'spec.ports[0].port',
      value: 70000,
      message: 'must be <= 65535',
    });
    const ghost = await api<{ error: { issues: { field: string; value: unknown; message: string }[] } }>(
      d.url,
      'PUT',
      '/api/v1/loadbalancers/api-lb',
      { spec: { ports: [{ port: 80 }], pool: 'ghost' } },
    );
    assert.equal(ghost.status, 422);
    assert.deepEqual(
      ghost.body.error.issues.map((i) => [i.field, i.value]),
      [['spec.pool', 'ghost']],
    );
    // The last good version still serves.
    const still = await api<LoadBalancerView>(d.url, 'GET', '/api/v1/loadbalancers/api-lb');
    assert.deepEqual(still.body.ports, [{ port: 8443, protocol: 'TCP', targetPort: 8443 }]);
    assert.equal(still.body.addresses[0], addr);

    const replaced = await api<LoadBalancerView>(d.url, 'PUT', '/api/v1/loadbalancers/api-lb', {
      spec: { ports: [{ port: 9000, protocol: 'UDP' }] },
    });
    assert.equal(replaced.status, 200);
    assert.equal(replaced.body.addresses[0], addr, 'replacing a service keeps its address');

    assert.equal(
      (await api(d.url, 'DELETE', '/api/v1/pools/public')).status,
      409,
      'a pool in use cannot be deleted',
    );
    assert.equal((await api(d.url, 'DELETE', '/api/v1/loadbalancers/api-lb')).status, 200);
    assert.equal((await api(d.url, 'GET', '/api/v1/loadbalancers/api-lb')).status, 404);
    const yaml = await api<{ error: { code: string } }>(d.url, 'POST', '/api/v1/apply', 'kind: [unclosed');
    assert.equal(yaml.status, 400);
    const pools = await api<{ items: PoolView[] }>(d.url, 'GET', '/api/v1/pools');
    assert.equal(pools.body.items.find((p) => p.name === 'public')?.ipv4.used, '3');
    assert.equal((await api(d.url, 'GET', '/healthz')).status, 200);
    assert.equal((await api(d.url, 'GET', '/readyz')).status, 200);
    const metrics = await (await fetch(new URL('/metrics', d.url))).text();
    assert.match(metrics, /ferrolb_services\{phase="Allocated"\} 3/);
    assert.match(metrics, /ferrolb_pool_addresses\{pool="public",family="ipv4",state="used"\} 3/);
  });
});

test('exhaustion leaves a service pending with a reason visible in the CLI; freeing recovers it', async () => {
  await withDaemon(async (d) => {
    const dir = tempDir();
    try {
      const f = join(dir.path, 'more.yaml');
      const many = Array.from(
        { length: 25 },
        (_, i) =>
          `---\napiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: fill-${String(i).padStart(2, '0')}}\nspec: {pool: public, ports: [{port: 80}]}\n`,
      ).join('');
      writeFileSync(f, many);
      const r = ferroctl(d.url, ['apply', '-f', f]);
      assert.equal(r.status, 0, r.stderr);
      const out = ferroctl(d.url, ['get', 'lb']).stdout;
      // 27 IPv4 addresses, 3 used by the example: 24 fill services get one, one stays pending.
      assert.match(
        out,
        /fill-24\s+-\s+-\s+80\/TCP[^\n]*Pending: no free IPv4 address in IPAddressPool\/public/,
      );
      assert.equal(ferroctl(d.url, ['delete', 'lb', 'fill-00']).status, 0);
      const after = JSON.parse(
        ferroctl(d.url, ['describe', 'lb', 'fill-24', '-o', 'json']).stdout,
      ) as LoadBalancerView;
      assert.equal(after.status.phase, 'Allocated');
    } finally {
      dir.remove();
    }
  });
});

test('SIGHUP: an invalid file keeps the last good state; a valid one applies; restart keeps addresses', async () => {
  const dir = tempDir();
  const cfg = join(dir.path, 'cfg.yaml');
  copyFileSync(EXAMPLE, cfg);
  let d = await startDaemon(['--config', cfg, '--state-dir', dir.path]);
  try {
    const before = (await views(d.url)) as {
      items: LoadBalancerView[];
    };
    writeFileSync(
      cfg,
      readFileSync(EXAMPLE, 'utf8').replace('"10.210.1.10-10.210.1.20"', '"10.210.1.20-10.210.1.10"'),
    );
    d.proc.kill('SIGHUP');
    await waitForLog(d, /reload rejected/);
    assert.ok(d.logs.some((l) => l.includes('10.210.1.20-10.210.1.10') && l.includes('inverted range')));
    assert.deepEqual(await views(d.url), before);

    // Reordered documents plus a new service: nobody moves.
    const docs = readFileSync(EXAMPLE, 'utf8').split(/^---$/m).reverse();
    docs.push(
      'apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: aaa-new}\nspec: {pool: public, ports: [{port: 25}]}\n',
    );
    writeFileSync(cfg, docs.join('\n---\n'));
    d.proc.kill('SIGHUP');
    await waitForLog(d, /config reloaded/);
    const after = (await views(d.url)) as {
      items: LoadBalancerView[];
    };
    for (const lb of before.items)
      assert.deepEqual(after.items.find((x) => x.name === lb.name)?.addresses, lb.addresses, lb.name);

    assert.deepEqual(await stopDaemon(d), { code: 0, signal: null }, 'SIGTERM is a clean exit');
    d = await startDaemon(['--config', cfg, '--state-dir', dir.path]);
    const restarted = (await views(d.url)) as {
      items: LoadBalancerView[];
    };
    assert.deepEqual(
      restarted.items.map((x) => [x.name, x.addresses, x.secondaryAddresses]),
      after.items.map((x) => [x.name, x.addresses, x.secondaryAddresses]),
    );
  } finally {
    await stopDaemon(d, 'SIGKILL');
    dir.remove();
  }
});

test('SIGKILL mid-update loses and duplicates no acknowledged allocation', async () => {
  const dir = tempDir();
  let d = await startDaemon(['--config', EXAMPLE, '--state-dir', dir.path]);
  try {
    await api(d.url, 'PUT', '/api/v1/pools/big', { spec: { addresses: ['10.100.0.0/16'] } });
    const acked = new Map<string, string>();
    let next = 0;
    let killed = false;
    // Eight writers keep creates in flight; the daemon is killed after 60 acknowledgements, with
    // requests still on the wire. Bounded: at most 2000 requests.
    const writer = async () => {
      while (!killed && next < 2000) {
        const name = `k${next++}`;
        const r = await api<LoadBalancerView>(d.url, 'POST', '/api/v1/loadbalancers', {
          metadata: { name },
          spec: { pool: 'big', ports: [{ port: 80 }] },
        }).catch(() => undefined);
        if (r?.status === 201) acked.set(name, r.body.addresses[0] as string);
        if (acked.size >= 60 && !killed) {
          killed = true;
          d.proc.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, writer));
    assert.equal((await d.exited).signal, 'SIGKILL');
    assert.ok(acked.size > 0, 'some creates were acknowledged before the kill');

    d = await startDaemon(['--config', EXAMPLE, '--state-dir', dir.path]);
    const items = (await api<{ items: LoadBalancerView[] }>(d.url, 'GET', '/api/v1/loadbalancers')).body
      .items;
    const byName = new Map(items.map((x) => [x.name, x]));
    for (const [name, addr] of acked)
      assert.deepEqual(byName.get(name)?.addresses, [addr], `${name} lost or moved`);
    const all = items.flatMap((x) => [...x.addresses, ...x.secondaryAddresses]);
    assert.equal(new Set(all).size, all.length, 'no address is held twice');
  } finally {
    await stopDaemon(d, 'SIGKILL');
    dir.remove();
  }
});

test('bearer token: required when configured', async () => {
  const dir = tempDir();
  const tokenFile = join(dir.path, 'token');
  writeFileSync(tokenFile, 's3cret\n');
  await withDaemon(
    async (d) => {
      assert.equal((await api(d.url, 'GET', '/api/v1/loadbalancers')).status, 401);
      assert.equal(
        (await api(d.url, 'GET', '/api/v1/loadbalancers', undefined, { authorization: 'Bearer nope!!' }))
          .status,
        401,
      );
      assert.equal(
        (await api(d.url, 'GET', '/api/v1/loadbalancers', undefined, { authorization: 'Bearer s3cret' }))
          .status,
        200,
      );
      assert.equal(ferroctl(d.url, ['--token', 's3cret', 'get', 'pools']).status, 0);
      assert.match(ferroctl(d.url, ['get', 'pools']).stderr, /401 Unauthorized/);
    },
    ['--config', EXAMPLE, '--api-token-file', tokenFile],
  );
  dir.remove();
});

async function waitForLog(d: Daemon, re: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (d.logs.some((l) => re.test(l))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no log line matching ${re} within ${timeoutMs} ms:\n${d.logs.join('\n')}`);
}
