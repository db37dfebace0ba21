// The daemon's real components (kernel off): stop disposes of everything start added — runtime
// listeners, the API socket, the locks — so a role can be stopped and started again in one process.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ApiServer } from '../../../src/api/server.js';
import { BgpShell } from '../../../src/shell/bgp.js';
import { Supervisor } from '../../../src/shell/component.js';
import {
  apiComponent,
  bgpComponent,
  dataplaneComponent,
  dataplaneStartTimeoutMs,
  runtimeComponent,
  sctpComponent,
  stateDirLockComponent,
} from '../../../src/roles/components.js';
import { DataplaneShell } from '../../../src/shell/dataplane.js';
import { STATE_LOCK_FILE } from '../../../src/shell/lock.js';
import { Runtime } from '../../../src/shell/runtime.js';
import { SctpShell } from '../../../src/shell/sctp.js';
import { StateStore } from '../../../src/state/persist.js';

test('start adds listeners, binds and locks; stop removes all of it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-comp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = pino({ level: 'silent' });
  const runtime = new Runtime({ store: new StateStore(dir), log });
  const before = runtime.listenerCount('snapshot') + runtime.listenerCount('health');
  let url = '';
  const build = () =>
    new Supervisor(
      [
        stateDirLockComponent(dir),
        runtimeComponent(runtime),
        apiComponent(new ApiServer({ runtime, log }), { host: '127.0.0.1', port: 0 }, (a) => {
          url = `http://127.0.0.1:${a.port}`;
        }),
        dataplaneComponent(
          new DataplaneShell({ runtime, log, kernel: false, probes: false, keepForwarding: false }),
        ),
        sctpComponent(new SctpShell({ runtime, log, kernel: false })),
        bgpComponent(new BgpShell({ runtime, log, stateDir: dir, listenPort: false })),
      ],
      { log },
    );
  for (const round of [1, 2]) {
    const sup = build();
    await sup.start();
    assert.ok(runtime.listenerCount('snapshot') > 0, `round ${round}: shells subscribed`);
    assert.ok(existsSync(join(dir, STATE_LOCK_FILE)));
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    await sup.stop();
    assert.equal(
      runtime.listenerCount('snapshot') + runtime.listenerCount('health'),
      before,
      `round ${round}: no listener left`,
    );
    assert.equal(existsSync(join(dir, STATE_LOCK_FILE)), false, 'lock released');
    await assert.rejects(fetch(`${url}/healthz`), 'the API socket is closed');
  }
});

test('the data plane start bound grows with the services its first apply programs (read at start)', () => {
  assert.equal(dataplaneStartTimeoutMs(0), 60_000);
  assert.equal(dataplaneStartTimeoutMs(50_000), 560_000);
  let n = 0;
  const c = dataplaneComponent({} as never, () => n);
  assert.equal(c.startTimeoutMs, 60_000);
  n = 20_000; // known only once the state component has loaded the config
  assert.equal(c.startTimeoutMs, 260_000);
});
