// A BGP speaker whose start fails (its port is taken) is retried by the supervisor and comes up once
// the port is free: the failure is not cached. Loopback only; the peer is never reachable.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { BgpShell } from '../../../src/daemon/bgp.js';
import { Supervisor } from '../../../src/daemon/component.js';
import { bgpComponent } from '../../../src/daemon/components.js';
import { Runtime } from '../../../src/daemon/runtime.js';
import { StateStore } from '../../../src/state/persist.js';
import { FakeTimers } from '../probes/fake-timers.js';

test('a BGP speaker that cannot bind is retried with backoff and starts once the port is free', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-bgp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = pino({ level: 'silent' });
  const runtime = new Runtime({ store: new StateStore(dir), log });
  const peer = {
    apiVersion: 'ferrolb.io/v1',
    kind: 'BGPPeer',
    metadata: { name: 'tor' },
    spec: { myASN: 64500, peerASN: 64501, peerAddress: '127.0.0.1', peerPort: 9, routerID: '10.0.0.1' },
  };
  const applied = await runtime.submit({ type: 'apply', objects: [peer] });
  assert.ok(applied.ok, JSON.stringify(applied));

  // Someone else holds the port the speaker wants.
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, () => r()));
  t.after(() => void blocker.close());
  const port = (blocker.address() as { port: number }).port;

  let onError: (err: unknown) => void = () => undefined;
  const shell = new BgpShell({ runtime, log, stateDir: dir, listenPort: port, onError: (e) => onError(e) });
  const timers = new FakeTimers();
  const sup = new Supervisor([bgpComponent(shell, (f) => (onError = f))], { log, timers });
  t.after(() => sup.stop());
  // Each attempt binds a real socket: wait (bounded) until it has settled into `state`.
  const settled = async (state: string) => {
    for (let i = 0; i < 250 && sup.status()[0]!.state !== state; i++)
      await new Promise((r) => setTimeout(r, 20));
    return sup.status()[0]!;
  };
  await sup.start();
  let st = await settled('retrying');
  assert.equal(st.state, 'retrying');
  assert.match(st.error ?? '', /EADDRINUSE/);
  assert.equal(st.retryInMs, 1_000);
  assert.match(sup.notReady() ?? '', /^bgp: retrying/);

  await timers.advance(1_000); // still taken: the delay doubles
  st = await settled('retrying');
  assert.equal(st.state, 'retrying');
  assert.equal(st.failures, 2);
  assert.equal(st.retryInMs, 2_000);

  await new Promise<void>((r) => blocker.close(() => r()));
  await timers.advance(2_000);
  // The start runs on real sockets: let it finish.
  for (let i = 0; i < 100 && sup.status()[0]!.state !== 'running'; i++)
    await new Promise((r) => setTimeout(r, 20));
  st = sup.status()[0]!;
  assert.equal(st.state, 'running', st.error);
  assert.equal(sup.notReady(), undefined);
  assert.equal(shell.status().sessions.length, 1, 'the peer is configured on the running speaker');
  // The speaker really listens on the port now.
  const probe = createServer();
  await assert.rejects(
    new Promise<void>((r, j) => probe.once('error', j).listen(port, () => r())),
    /EADDRINUSE/,
  );
});
