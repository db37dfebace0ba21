// Paged listings: GET /loadbalancers?limit=&continue= (pure paging and the real API on loopback), and
// ferroctl printing page by page exactly what one unpaged listing prints.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ApiServer } from '../../../src/api/server.js';
import { Runtime } from '../../../src/shell/runtime.js';
import { StateStore } from '../../../src/state/persist.js';
import { ContinueTokenError, pageOf } from '../../../src/state/views.js';
import { ferroctl } from '../../../src/cli/main.js';
import { TableStream, renderTable } from '../../../src/cli/table.js';

const collator = new Intl.Collator();

test('pages in listing order cover every name once, also when names come and go between pages', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/), { maxLength: 40 }),
      fc.integer({ min: 1, max: 7 }),
      fc.array(fc.tuple(fc.boolean(), fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/)), { maxLength: 5 }),
      (initial, limit, churn) => {
        let names = [...initial].sort(collator.compare);
        const always = new Set(initial);
        const seen: string[] = [];
        let token: string | undefined;
        let round = 0;
        for (;;) {
          const p = pageOf(names, limit, token);
          assert.ok(p.names.length <= limit);
          seen.push(...p.names);
          // Between pages another client adds or deletes a name.
          const c = churn[round++];
          if (c) {
            const [add, n] = c;
            always.delete(n);
            names = (add ? [...new Set([...names, n])] : names.filter((x) => x !== n)).sort(collator.compare);
          }
          if (!p.continue) break;
          token = p.continue;
        }
        assert.equal(new Set(seen).size, seen.length, 'nothing listed twice');
        for (const n of always) assert.ok(seen.includes(n), `${n} (present throughout) was listed`);
        assert.deepEqual(seen, [...seen].sort(collator.compare), 'in order');
      },
    ),
  );
  assert.throws(() => pageOf(['a'], 1, 'not-a-token!'), ContinueTokenError);
  const last = pageOf(['a', 'b'], 2);
  assert.equal(last.continue, undefined);
  assert.equal(last.remainingItemCount, 0);
});

test('a streamed table equals the one-piece table when the first page holds the widest cells', () => {
  const rows = [
    ['svc-10', '10.0.0.10'],
    ['svc-2', '10.0.0.2'],
    ['svc-3', '10.0.0.3'],
  ];
  const t = new TableStream(['NAME', 'IP']);
  assert.equal(t.write(rows.slice(0, 1)) + t.write(rows.slice(1)), renderTable(['NAME', 'IP'], rows));
});

async function daemonApi(t: { after: (f: () => Promise<void> | void) => void }, services: number) {
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-paging-'));
  const log = pino({ level: 'silent' });
  const runtime = new Runtime({ store: new StateStore(dir), log });
  await runtime.start();
  const objects = [
    {
      apiVersion: 'ferrolb.io/v1',
      kind: 'IPAddressPool',
      metadata: { name: 'p' },
      spec: { addresses: ['10.70.0.0/24'] },
    },
    ...Array.from({ length: services }, (_, i) => ({
      apiVersion: 'ferrolb.io/v1',
      kind: 'LoadBalancer',
      metadata: { name: `svc-${i}` },
      spec: {
        ports: [{ port: 80 }],
        endpoints: [{ address: `10.71.0.${i + 1}` }, { address: `10.71.1.${i + 1}` }],
      },
    })),
  ];
  const r = await runtime.submit({ type: 'apply', objects });
  assert.ok(r.ok);
  const api = new ApiServer({ runtime, log });
  const addr = await api.listen('127.0.0.1', 0);
  t.after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return `http://127.0.0.1:${addr.port}`;
}

test('GET ?limit=&continue= pages the listing; bad parameters are a 400 naming them', async (t) => {
  const url = await daemonApi(t, 25);
  const all = (await (await fetch(`${url}/api/v1/loadbalancers`)).json()) as { items: { name: string }[] };
  assert.equal(all.items.length, 25);
  const names: string[] = [];
  let next = `${url}/api/v1/loadbalancers?limit=10`;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 5);
    const body = (await (await fetch(next)).json()) as {
      items: { name: string }[];
      metadata: { continue?: string; remainingItemCount: number };
    };
    names.push(...body.items.map((i) => i.name));
    assert.equal(body.metadata.remainingItemCount, 25 - names.length);
    if (!body.metadata.continue) break;
    next = `${url}/api/v1/loadbalancers?limit=10&continue=${encodeURIComponent(body.metadata.continue)}`;
  }
  assert.deepEqual(
    names,
    all.items.map((i) => i.name),
  );
  for (const [q, re] of [
    ['limit=0', /limit/],
    ['limit=x', /limit/],
    ['limit=10001', /limit/],
    ['continue=abc', /continue needs limit/],
    ['limit=5&continue=%21%21', /continue/],
  ] as const) {
    const res = await fetch(`${url}/api/v1/loadbalancers?${q}`);
    assert.equal(res.status, 400, q);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, re);
  }
});

test('ferroctl get lb prints page by page the same text as one request (table, wide, json, yaml)', async (t) => {
  const url = await daemonApi(t, 23);
  for (const o of [[], ['-o', 'wide'], ['-o', 'json'], ['-o', 'yaml']]) {
    const run = async (chunk: string) => {
      let text = '';
      const code = await ferroctl(['--server', url, 'get', 'lb', ...o, '--chunk-size', chunk], (s) => {
        text += s;
      });
      assert.equal(code, 0);
      return text;
    };
    const whole = await run('0');
    assert.ok(whole.includes('svc-22'), o.join(' '));
    assert.equal(await run('5'), whole, `paged ${o.join(' ')}`);
    assert.equal(await run('500'), whole);
  }
  await assert.rejects(
    ferroctl(['--server', url, 'get', 'lb', '--chunk-size', '-1'], () => undefined),
    /chunk-size/,
  );
});
