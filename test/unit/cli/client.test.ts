import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient, ApiClientError } from '../../../src/cli/client.js';

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
