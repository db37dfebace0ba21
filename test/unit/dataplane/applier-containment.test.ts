import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Applier, DataplaneApplyError } from '../../../src/dataplane/applier.js';
import type { Runner } from '../../../src/dataplane/exec.js';
import type { DataplaneService } from '../../../src/dataplane/types.js';

const svc = (name: string, vip: string, over: Partial<DataplaneService> = {}): DataplaneService => ({
  name,
  addresses: [vip],
  ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
  mode: 'default',
  algorithm: 'roundrobin',
  endpoints: [{ address: '10.1.0.1', weight: 1, state: 'active' }],
  ...over,
});
const BAD_TIMEOUT = 99_999_999 * 3600;
const bad = (name: string, vip: string) =>
  svc(name, vip, { algorithm: 'persist', persistTimeoutSeconds: BAD_TIMEOUT });

/** nft stand-in: refuses any transaction declaring the oversized timeout, like the real one. */
function fakeNft() {
  const calls: string[] = [];
  const committed: string[] = [];
  let pid = 1000;
  const run: Runner = async (cmd, args, input) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    if (args[0] === '-j') return { stdout: '', stderr: 'Error: No such file or directory', code: 1 };
    if (cmd === 'nft' && args.includes('-f')) {
      const line = (input ?? '').split('\n').findIndex((l) => l.includes(`timeout ${BAD_TIMEOUT}s`));
      if (line >= 0)
        return {
          stdout: '',
          stderr: `/dev/stdin:${line + 1}:70-82: Error: value too large\n`,
          code: 1,
          pid: ++pid,
        };
      if (!args.includes('-c')) committed.push(input ?? '');
      return { stdout: '', stderr: '', code: 0, pid: ++pid };
    }
    return { stdout: '', stderr: '', code: 0 };
  };
  return { run, calls, committed };
}

describe('failure containment (scripted nft)', () => {
  it('a service nft refuses is isolated by dry runs; everything else is committed in one transaction', async () => {
    const k = fakeNft();
    const ap = new Applier({ run: k.run, vipInterface: false });
    const good = Array.from({ length: 20 }, (_, i) => svc(`good-${i}`, `10.200.0.${i + 1}`));
    const r = await ap.apply([...good.slice(0, 10), bad('bad', '10.200.1.1'), ...good.slice(10)]);
    assert.deepEqual(
      r.failed.map((f) => [f.service, f.kind]),
      [['bad', 'rules']],
    );
    assert.match(r.failed[0]!.reason, /value too large/);
    assert.equal(k.committed.length, 1, 'trials never commit');
    for (let i = 1; i <= 20; i++)
      assert.match(k.committed[0]!, new RegExp(`10\\.200\\.0\\.${i} \\. tcp \\. 80`));
    assert.doesNotMatch(k.committed[0]!, /10\.200\.1\.1/);
    assert.ok(
      k.calls.filter((c) => c === 'nft -c -f -').length <= 4,
      'the service named in the error is tried alone first',
    );
    assert.deepEqual([...ap.failed().keys()], ['bad']);
  });

  it('a failed service is not retried until it changes; later unrelated changes are programmed', async () => {
    const k = fakeNft();
    const ap = new Applier({ run: k.run, vipInterface: false });
    await ap.apply([svc('a', '10.200.0.1'), bad('bad', '10.200.0.2')]);
    const n = k.calls.length;
    const r = await ap.apply([svc('a', '10.200.0.1'), bad('bad', '10.200.0.2'), svc('c', '10.200.0.3')]);
    assert.deepEqual(r.failed, [], 'nothing new failed');
    assert.equal(r.attempts, 0, 'the known failure is left out up front');
    assert.deepEqual(k.calls.slice(n), ['nft -f -']);
    assert.match(k.committed.at(-1)!, /10\.200\.0\.3/);
    // Fixed: retried and programmed, no longer failed.
    const fixed = await ap.apply([svc('a', '10.200.0.1'), svc('bad', '10.200.0.2'), svc('c', '10.200.0.3')]);
    assert.deepEqual(fixed.failed, []);
    assert.equal(ap.failed().size, 0);
    assert.match(k.committed.at(-1)!, /10\.200\.0\.2/);
  });

  it('a changed service the kernel refuses keeps its last good version in the kernel', async () => {
    const k = fakeNft();
    const ap = new Applier({ run: k.run, vipInterface: false });
    await ap.apply([svc('a', '10.200.0.1'), svc('b', '10.200.0.2')]);
    const r = await ap.apply([svc('a', '10.200.0.1'), bad('b', '10.200.0.2')]);
    assert.equal(r.failed[0]?.service, 'b');
    assert.equal(r.statements, 0, 'the last good state is what the kernel already has');
  });

  it('input the compiler refuses (a port another service owns) fails that service only', async () => {
    const k = fakeNft();
    const ap = new Applier({ run: k.run, vipInterface: false });
    const r = await ap.apply([svc('a', '10.200.0.1'), svc('dup', '10.200.0.1'), svc('c', '10.200.0.3')]);
    assert.deepEqual(
      r.failed.map((f) => [f.service, f.kind]),
      [['dup', 'input']],
    );
    assert.match(r.failed[0]!.reason, /already used by service "a"/);
    assert.match(k.committed[0]!, /10\.200\.0\.3/);
  });

  it('a refusal no service explains (even the last good state is refused) still throws, and re-reads', async () => {
    const calls: string[] = [];
    const run: Runner = async (cmd, args) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      if (args[0] === '-j') return { stdout: '', stderr: 'Error: No such file or directory', code: 1 };
      return { stdout: '', stderr: 'Error: Could not process rule: Cannot allocate memory', code: 1 };
    };
    const ap = new Applier({ run, vipInterface: false });
    await assert.rejects(ap.apply([svc('a', '10.200.0.1')]), DataplaneApplyError);
    await assert.rejects(ap.apply([svc('a', '10.200.0.1')]), DataplaneApplyError);
    assert.equal(calls.filter((c) => c.startsWith('nft -j list table')).length, 2);
  });

  it('our own transactions are known by process id (the monitor must not count them as drift)', async () => {
    const k = fakeNft();
    const ap = new Applier({ run: k.run, vipInterface: false });
    await ap.apply([svc('a', '10.200.0.1')]);
    assert.ok(ap.isOwnTransaction(1001));
    assert.ok(!ap.isOwnTransaction(4242));
  });
});
