// A BGP speaker whose start fails (its port is taken) is not ready, says why, and comes up once the
// port is free: the failure is not cached. Loopback only; the peer is never reachable.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { BgpShell } from '../../../src/shell/bgp.js';
import { Supervisor } from '../../../src/shell/component.js';
import { bgpComponent } from '../../../src/roles/components.js';
import { Runtime } from '../../../src/shell/runtime.js';
import { StateStore } from '../../../src/state/persist.js';

test('a BGP speaker that cannot bind is not ready, is retried, and starts once the port is free', async (t) => {
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

  const shell = new BgpShell({ runtime, log, stateDir: dir, listenPort: port });
  const sup = new Supervisor([bgpComponent(shell)], { log });
  t.after(() => sup.stop());
  // Bounded waits: the speaker thread binds real sockets and retries on its own clock.
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ok(), `${what}: ${sup.notReady() ?? 'ready'}`);
  };
  await sup.start();
  await until('not ready while the port is taken', () => /^bgp: BGP speaker/.test(sup.notReady() ?? ''));
  assert.equal(sup.status()[0]?.state, 'running', 'the component runs; its speaker is retrying');
  assert.match(sup.status()[0]?.notReady ?? '', /retry/);

  await new Promise<void>((r) => blocker.close(() => r()));
  await until('ready once the port is free', () => sup.notReady() === undefined);
  // The speaker thread publishes its status on its own: readiness may come a moment before the peer shows.
  await until('the peer is configured on the running speaker', () => shell.status().sessions.length === 1);
  // The speaker really listens on the port now.
  const probe = createServer();
  const taken = await new Promise<boolean>((r) => {
    probe.once('error', () => r(true));
    probe.listen(port, () => r(false));
  });
  probe.close();
  assert.ok(taken, 'the speaker holds the port');
});
