// The API's own bounds, on a loopback socket: connection cap, idle connections closed, body cap.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ApiServer, type ApiLimits } from '../../../src/api/server.js';
import { Runtime } from '../../../src/shell/runtime.js';
import { StateStore } from '../../../src/state/persist.js';

async function server(t: { after: (f: () => Promise<void> | void) => void }, limits: Partial<ApiLimits>) {
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-api-'));
  const log = pino({ level: 'silent' });
  const api = new ApiServer({ runtime: new Runtime({ store: new StateStore(dir), log }), log, limits });
  const addr = await api.listen('127.0.0.1', 0);
  t.after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { api, port: addr.port, url: `http://127.0.0.1:${addr.port}` };
}

/** Opens a raw connection; resolves once connected, `closed` when the server ends it. */
function open(port: number): Promise<{ sock: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    sock.on('end', () => undefined); // flowing, so the server's FIN is seen
    sock.once('connect', () => resolve({ sock, closed }));
    sock.once('error', reject);
  });
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no ${what} in ${ms} ms`)), ms)),
  ]);

test('connections over maxConnections are closed at once; the held ones keep working', async (t) => {
  const { api, port } = await server(t, { maxConnections: 3 });
  const held = await Promise.all([0, 1, 2].map(() => open(port)));
  // Let the server account for them before the extra ones arrive.
  await new Promise((r) => setTimeout(r, 100));
  const extra = await Promise.all([0, 1, 2, 3, 4].map(() => open(port)));
  await within(Promise.all(extra.map((e) => e.closed)), 5_000, 'close of the extra connections');
  assert.equal(api.droppedConnections, 5);
  // A held connection still gets an answer.
  const reply = new Promise<string>((r) => held[0]!.sock.once('data', (d: Buffer) => r(d.toString())));
  held[0]!.sock.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
  assert.match(await within(reply, 5_000, 'reply'), /^HTTP\/1.1 200/);
  for (const h of held) h.sock.destroy();
});

test('a connection that never sends its headers is closed (idle sockets cannot pin the cap)', async (t) => {
  const { port } = await server(t, { headersTimeoutMs: 300, requestTimeoutMs: 600 });
  const c = await open(port);
  await within(c.closed, 10_000, 'close of the idle connection');
});

test('a body over the cap is refused with 413 (declared, or sent without a length)', async (t) => {
  const { url } = await server(t, { maxBodyBytes: 1024 });
  const big = 'x'.repeat(4096);
  const r1 = await fetch(`${url}/api/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: big,
  });
  assert.equal(r1.status, 413);
  assert.equal(((await r1.json()) as { error: { code: string } }).error.code, 'PayloadTooLarge');
  const r2 = await fetch(`${url}/api/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  assert.equal(r2.status, 413);
  // A small body is read as usual (and refused for what it says, not for its size).
  const r3 = await fetch(`${url}/api/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{',
  });
  assert.equal(r3.status, 400);
});
