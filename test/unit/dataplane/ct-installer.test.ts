import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { CtInstaller, planInstalls } from '../../../src/dataplane/ct-installer.js';
import { flowKey, toRecord, type CtFlow } from '../../../src/dataplane/ct-replica.js';
import type { RunResult } from '../../../src/dataplane/exec.js';

const flow = (sport: number, state = 'ESTABLISHED', timeout = 431999): CtFlow => ({
  family: 'ipv4',
  protocol: 'tcp',
  state,
  timeout,
  assured: state === 'ESTABLISHED',
  unreplied: state === 'SYN_SENT',
  orig: { src: '10.9.0.50', dst: '10.9.0.200', sport, dport: 80 },
  reply: { src: '10.9.0.60', dst: '10.9.0.200', sport: 8080, dport: sport },
});
const rec = (f: CtFlow) => toRecord({ type: 'UPDATE', flow: f });
const del = (f: CtFlow) => toRecord({ type: 'DESTROY', flow: f });

describe('conntrack installs plan', () => {
  it('inserts unknown flows, updates known ones only when forwarding changes, deletes only its own', () => {
    const known = new Map([
      [flowKey(flow(1, 'SYN_SENT')), flow(1, 'SYN_SENT')],
      [flowKey(flow(2)), flow(2)],
    ]);
    const p = planInstalls(
      [rec(flow(1)), rec(flow(2, 'ESTABLISHED', 5)), rec(flow(3, 'SYN_SENT')), rec(flow(3)), del(flow(4))],
      known,
    );
    assert.deepEqual(
      p.inserts.map((f) => f.orig.sport),
      [3],
    );
    assert.equal(p.inserts[0]?.state, 'ESTABLISHED', 'the last record of a key wins');
    assert.deepEqual(
      p.updates.map((f) => f.orig.sport),
      [1],
    );
    assert.equal(p.unchanged, 1, 'a countdown refresh is not applied');
    assert.deepEqual(p.deletes, [], 'flow 4 was never installed here');
    assert.deepEqual(planInstalls([rec(flow(2)), del(flow(2))], known).deletes, [flowKey(flow(2))]);
  });

  it('a late opening record never takes an established flow back', () => {
    const known = new Map([[flowKey(flow(1)), flow(1)]]);
    const p = planInstalls([rec(flow(1, 'SYN_SENT'))], known);
    assert.deepEqual(p.updates, []);
    assert.equal(p.unchanged, 1);
  });

  it('every record ends in exactly one of the plan parts (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ port: fc.integer({ min: 1, max: 20 }), op: fc.constantFrom('est', 'syn', 'del') }),
        ),
        fc.uniqueArray(fc.integer({ min: 1, max: 20 })),
        (ops, had) => {
          const known = new Map(had.map((p) => [flowKey(flow(p)), flow(p)]));
          const recs = ops.map(({ port, op }) =>
            op === 'del' ? del(flow(port)) : rec(flow(port, op === 'est' ? 'ESTABLISHED' : 'SYN_SENT')),
          );
          const p = planInstalls(recs, known);
          const keys = new Set(recs.map((r) => r.key));
          const dropped = [...keys].filter(
            (k) => recs.findLast((r) => r.key === k)?.deleted && !known.has(k),
          );
          assert.equal(
            p.inserts.length + p.updates.length + p.deletes.length + p.unchanged + dropped.length,
            keys.size,
          );
          for (const f of p.inserts) assert.ok(!known.has(flowKey(f)));
        },
      ),
    );
  });

  it('batches inserts into one conntrack -R; a failed batch falls back to one process per flow', async () => {
    const calls: { args: readonly string[]; input?: string }[] = [];
    let failBatch = false;
    const run = (_: string, args: readonly string[]): Promise<RunResult> => {
      // The batch is a private file (conntrack cannot open a socket stdin): read it now.
      const input = args[0] === '-R' ? readFileSync(args[1] as string, 'utf8') : undefined;
      calls.push({ args, input });
      const code = args[0] === '-R' && failBatch ? 1 : 0;
      return Promise.resolve({
        code,
        stdout: '',
        stderr: code ? 'Operation failed: Such conntrack exists' : '',
      });
    };
    const ins = new CtInstaller(run, () => undefined);
    ins.push([1, 2, 3].map((p) => rec(flow(p))));
    await waitIdle(ins);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.args[0], '-R');
    assert.equal(calls[0]?.input?.trim().split('\n').length, 3);
    assert.equal(ins.counters.installed, 3);
    failBatch = true;
    calls.length = 0;
    ins.push([4, 5].map((p) => rec(flow(p))));
    await waitIdle(ins);
    assert.deepEqual(
      calls.map((c) => c.args[0]),
      ['-R', '-I', '-I'],
    );
    assert.equal(ins.counters.installed, 5);
  });
});

describe('conntrack installs: opening flows', () => {
  it('an opening flow waits for its next record and goes in once, established; alone, after the hold', async () => {
    const lines: string[] = [];
    const run = (_: string, args: readonly string[]): Promise<RunResult> => {
      if (args[0] === '-R')
        lines.push(
          ...readFileSync(args[1] as string, 'utf8')
            .trim()
            .split('\n'),
        );
      else lines.push(args.join(' '));
      return Promise.resolve({ code: 0, stdout: '', stderr: '' });
    };
    const ins = new CtInstaller(run, () => undefined, 30);
    ins.push([rec(flow(1, 'SYN_SENT')), rec(flow(2, 'SYN_SENT'))]);
    assert.equal(ins.queued, 2, 'held');
    ins.push([rec(flow(1))]);
    await waitIdle(ins);
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /^-I .*--sport 1 .*--state ESTABLISHED/);
    await new Promise((r) => setTimeout(r, 60));
    await waitIdle(ins);
    assert.equal(lines.length, 2, 'the flow with no follow-up is installed after the hold');
    assert.match(lines[1] ?? '', /--sport 2 .*--state SYN_SENT/);
    assert.equal(ins.counters.updated, 0, 'no one-process update');
    // Events of any installed version are echoes (a trailing SYN_SENT NEW after the update too).
    ins.push([rec(flow(2))]);
    await waitIdle(ins);
    assert.ok(ins.isEcho(flow(2, 'SYN_SENT')) && ins.isEcho(flow(2)));
    assert.ok(!ins.isEcho(flow(2, 'FIN_WAIT')), 'a change this node did not install is news');
    assert.ok(!ins.isEcho(flow(3)));
    ins.stop();
  });
});

async function waitIdle(ins: CtInstaller): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await ins.settled();
}
