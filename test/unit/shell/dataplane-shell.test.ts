import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DataplaneShell } from '../../../src/shell/dataplane.js';
import { Applier } from '../../../src/dataplane/applier.js';
import type { Runner } from '../../../src/dataplane/exec.js';
import type { Runtime } from '../../../src/shell/runtime.js';
import { emptySnapshot } from '../../../src/state/snapshot.js';

/** Just what the shell reads of a Runtime: the snapshot, its event and endpoint health. */
function fakeRuntime(): Runtime {
  const rt = Object.assign(new EventEmitter(), {
    snapshot: emptySnapshot(),
    endpointState: () => undefined,
    setEndpointState: () => undefined,
  });
  return rt as unknown as Runtime;
}

describe('data plane shell: readiness and metrics', () => {
  it('a kernel that refuses even the last good state is reported (readiness) until an apply succeeds', async () => {
    let broken = true;
    const run: Runner = async (_cmd, args) => {
      if (args[0] === '-j') return { stdout: '', stderr: 'Error: No such file or directory', code: 1 };
      if (args.includes('-f') && broken)
        return { stdout: '', stderr: 'Error: Could not process rule: Cannot allocate memory', code: 1 };
      return { stdout: '', stderr: '', code: 0 };
    };
    const shell = new DataplaneShell({
      runtime: fakeRuntime(),
      log: pino({ level: 'silent' }),
      kernel: true,
      probes: false,
      keepForwarding: true,
      applier: new Applier({ run, vipInterface: false }),
      reconcile: false,
    });
    await shell.start();
    assert.match(
      shell.problem() ?? '',
      /kernel does not match and repair is failing: .*Cannot allocate memory/,
    );
    const r = new Registry();
    shell.registerMetrics(r);
    assert.match(await r.metrics(), /ferrolb_dataplane_failed_services\{kind="rules"\} 0/);
    broken = false;
    await shell.whenApplied();
    assert.equal(shell.problem(), undefined);
    await shell.stop();
  });
});
