import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Applier, DataplaneApplyError } from '../../../src/dataplane/applier.js';
import type { Runner, RunResult } from '../../../src/dataplane/exec.js';
import type { DataplaneService } from '../../../src/dataplane/types.js';

const svc: DataplaneService = {
  name: 'web',
  addresses: ['10.200.0.1'],
  ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
  mode: 'default',
  algorithm: 'roundrobin',
  endpoints: [{ address: '10.1.0.1', weight: 1, state: 'active' }],
};

/** A scripted stand-in for nft: records every call, answers from `reply`. */
function fakeRunner(reply: (cmd: string, args: readonly string[]) => Partial<RunResult>) {
  const calls: string[] = [];
  const run: Runner = async (cmd, args) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    return { stdout: '', stderr: '', code: 0, ...reply(cmd, args) };
  };
  return { run, calls };
}

const noTable = { code: 1, stderr: 'Error: No such file or directory; did you mean table ...' };

describe('applier shell (scripted runner)', () => {
  it('cold start: reads the kernel once, applies the whole table, then does nothing for the same state', async () => {
    const { run, calls } = fakeRunner((_cmd, args) => (args[0] === '-j' ? noTable : {}));
    const ap = new Applier({ run, vipInterface: false });
    const r = await ap.apply([svc]);
    assert.ok(r.full && r.statements > 0);
    assert.deepEqual(calls, ['nft -j list table inet ferrolb', 'nft -f -']);
    assert.equal((await ap.apply([svc])).statements, 0);
    assert.equal(calls.length, 2, 'no command for an unchanged state');
  });

  it('a rejected transaction throws a typed error without dumping the script into logs, then re-reads the kernel', async () => {
    let fail = true;
    const { run, calls } = fakeRunner((_cmd, args) =>
      args[0] === '-j' ? noTable : fail ? { code: 1, stderr: 'Error: Could not process rule' } : {},
    );
    const ap = new Applier({ run, vipInterface: false });
    const err = await ap.apply([svc]).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof DataplaneApplyError);
    assert.match(err.message, /Could not process rule/);
    assert.ok(err.script.includes('add table inet ferrolb'));
    assert.ok(!JSON.stringify(err).includes('add table'), 'script is not enumerable');
    fail = false;
    await ap.apply([svc]);
    assert.equal(
      calls.filter((c) => c.startsWith('nft -j list table')).length,
      2,
      'kernel re-read after failure',
    );
  });

  it('an unexpected nft error while reading the table is not mistaken for "no table"', async () => {
    const { run } = fakeRunner(() => ({ code: 1, stderr: 'Error: Operation not permitted' }));
    await assert.rejects(new Applier({ run, vipInterface: false }).observe(), /Operation not permitted/);
  });
});
