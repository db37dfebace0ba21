// The REST API answers bad input with 4xx and the reason, never 500: parser failures, bad
// %-encoding, null bodies, deep nesting, alias bombs; invariants of the core map to 409.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ApiServer } from '../../../src/api/server.js';
import { Runtime } from '../../../src/shell/runtime.js';
import { StateStore } from '../../../src/state/persist.js';

let dir: string;
let server: ApiServer;
let base: string;
const log = pino({ level: 'silent' });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferrolb-api-'));
  const runtime = new Runtime({ store: new StateStore(dir), log });
  await runtime.start();
  server = new ApiServer({ runtime, log });
  const a = await server.listen('127.0.0.1', 0);
  base = `http://127.0.0.1:${a.port}`;
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: string, type = 'application/json') {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': type },
    ...(body !== undefined ? { body } : {}),
  });
  return {
    status: r.status,
    body: (await r.json()) as { error?: { message: string; issues?: { message: string }[] } },
  };
}
const text = (b: { error?: { message: string; issues?: { message: string }[] } }) =>
  `${b.error?.message ?? ''} ${(b.error?.issues ?? []).map((i) => i.message).join(' | ')}`;

test('bad %-encoding in the path is a 400', async () => {
  const r = await call('GET', '/api/v1/loadbalancers/%E0%A4%A');
  assert.equal(r.status, 400);
  assert.match(text(r.body), /bad %-encoding/);
});

test('a null body is 400 for one object and 422 for an apply', async () => {
  assert.equal((await call('PUT', '/api/v1/loadbalancers/x', 'null')).status, 400);
  const r = await call('POST', '/api/v1/apply', 'null');
  assert.equal(r.status, 422);
  assert.match(text(r.body), /must be an object/);
});

test('100k-deep JSON and a YAML alias bomb are refused with the reason', async () => {
  const deep = `{"spec":{"ports":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
  const r = await call('PUT', '/api/v1/loadbalancers/x', deep);
  assert.equal(r.status, 422);
  assert.match(text(r.body), /nested deeper than 32 levels/);
  const bomb = [
    'a: &a ["x","x","x","x","x","x","x","x","x"]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    'f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
  ].join('\n');
  const y = await call('POST', '/api/v1/apply', bomb, 'application/yaml');
  assert.equal(y.status, 400);
  assert.match(text(y.body), /alias/i);
});

test('deleting a pool in use is a 409 naming the holders', async () => {
  const pool = JSON.stringify({ spec: { addresses: ['192.0.2.0/28'] } });
  assert.equal((await call('PUT', '/api/v1/pools/p', pool)).status, 200);
  assert.equal(
    (await call('PUT', '/api/v1/loadbalancers/web', JSON.stringify({ spec: { ports: [{ port: 80 }] } })))
      .status,
    200,
  );
  const r = await call('DELETE', '/api/v1/pools/p');
  assert.equal(r.status, 409);
  assert.match(text(r.body), /still in use by 1 LoadBalancer\(s\): web \(192\.0\.2\.0\)/);
  assert.equal((await call('DELETE', '/api/v1/loadbalancers/web')).status, 200);
  assert.equal((await call('DELETE', '/api/v1/pools/p')).status, 200);
});
