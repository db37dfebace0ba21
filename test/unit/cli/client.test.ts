import test, { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient, ApiClientError, ServerAddressError, serverUrl } from '../../../src/cli/client.js';
import { runToExit } from '../../support/exit.js';

describe('API client errors', () => {
  it('a server that accepts but does not answer in time is reported as a timeout, not as unreachable', async () => {
    const held: ServerResponse[] = [];
    const server = createServer((_req, res) => void held.push(res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const err = await new ApiClient(url, undefined, 200).request('GET', '/api/v1/loadbalancers').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ApiClientError);
      assert.equal(err.code, 'Timeout');
      assert.match(err.describe(), /did not answer GET \/api\/v1\/loadbalancers within 0\.2 s/);
    } finally {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('nothing listening is still "cannot reach"', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    const err = await new ApiClient(`http://127.0.0.1:${port}`).request('GET', '/api/v1/loadbalancers').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApiClientError);
    assert.equal(err.code, 'Unreachable');
  });
});

test('--server takes a URL or HOST:PORT (as ferrolb run --api does); anything else names the value', () => {
  assert.equal(serverUrl('http://127.0.0.1:11111'), 'http://127.0.0.1:11111/');
  assert.equal(serverUrl('https://lb.example:8443/'), 'https://lb.example:8443/');
  assert.equal(serverUrl('127.0.0.1:11111'), 'http://127.0.0.1:11111/');
  assert.equal(serverUrl('[::1]:11111'), 'http://[::1]:11111/');
  assert.equal(serverUrl(' localhost:11111 '), 'http://localhost:11111/');
  for (const bad of ['ftp://x:1', 'http://', 'a b:1', '[::1:11111'])
    assert.throws(
      () => serverUrl(bad, '$FERROLB_API'),
      (e: unknown) =>
        e instanceof ServerAddressError && e.value === bad && e.message.startsWith('$FERROLB_API: '),
      bad,
    );
});

test('ferroctl --server HOST:PORT reaches the address (no "Invalid URL"); a bad one exits 2', async () => {
  const r = await runToExit('ferroctl', ['--server', '127.0.0.1:9', 'get', 'lb']);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /cannot reach ferrolb API at http:\/\/127\.0\.0\.1:9\//);
  const bad = await runToExit('ferroctl', ['--server', 'a b:1', 'get', 'lb']);
  assert.equal(bad.code, 2, bad.err);
  assert.match(bad.err, /--server: "a b:1" is not an API address/);
});
