// The main ↔ probe thread messages, and the diff that keeps a re-sync O(change).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkTargets, type ProbeTarget } from '../../../src/probes/scheduler.js';
import {
  diffTargets,
  parseFromProbes,
  parseToProbes,
  ProbeProtocolError,
} from '../../../src/probes/thread/protocol.js';
import type { HealthCheckConfig } from '../../../src/probes/types.js';

const check: HealthCheckConfig = {
  type: 'tcp',
  intervalMs: 1000,
  timeoutMs: 50,
  unhealthyThreshold: 2,
  healthyThreshold: 1,
};
const t = (
  service: string,
  endpoint: string,
  c: HealthCheckConfig = check,
  targetPort = 80,
): ProbeTarget => ({
  service,
  endpoint,
  targetPort,
  check: c,
});

describe('probe thread protocol', () => {
  it('patch and change messages round-trip through structured clone', () => {
    const m = { type: 'patch', upsert: [t('a', '10.0.0.1')], remove: ['b|10.0.0.2'] };
    assert.deepEqual(parseToProbes(structuredClone(m)), m);
    const c = {
      type: 'change',
      service: 'a',
      endpoint: '10.0.0.1',
      state: 'inactive',
      reason: 'timeout',
      check: '["tcp",80]',
    };
    assert.deepEqual(parseFromProbes(structuredClone(c)), c);
  });

  it('refuses malformed messages naming the field', () => {
    const bad: [() => unknown, RegExp][] = [
      [
        () => parseToProbes({ type: 'patch', upsert: [{ service: 'a' }], remove: [] }),
        /upsert\[0\]\.endpoint/,
      ],
      [
        () => parseToProbes({ type: 'patch', upsert: [], remove: [1] }),
        /remove: expected an array of target keys/,
      ],
      [() => parseToProbes({ type: 'update' }), /unknown message type "update"/],
      [
        () =>
          parseFromProbes({
            type: 'change',
            service: 'a',
            endpoint: 'e',
            reason: 'r',
            check: 'k',
            state: 'sick',
          }),
        /state: expected active, inactive or unknown, got sick/,
      ],
      [
        () => parseFromProbes({ type: 'change', service: 'a', endpoint: 'e', reason: 'r', state: 'active' }),
        /check: expected a string/,
      ],
      [() => parseFromProbes('x'), /expected an object/],
    ];
    for (const [f, re] of bad)
      assert.throws(f, (e: unknown) => e instanceof ProbeProtocolError && re.test(e.message));
  });

  it('diffTargets sends only what changed; applying the diff reproduces the new set', () => {
    const arb = fc.uniqueArray(
      fc.record({
        s: fc.constantFrom('a', 'b', 'c'),
        e: fc.integer({ min: 1, max: 6 }),
        port: fc.constantFrom(80, 81),
        t: fc.constantFrom(50, 60),
      }),
      { selector: (x) => `${x.s}|${x.e}` },
    );
    fc.assert(
      fc.property(arb, arb, (xs, ys) => {
        const mk = (v: { s: string; e: number; port: number; t: number }[]) =>
          checkTargets(v.map((x) => t(x.s, `10.0.0.${x.e}`, { ...check, timeoutMs: x.t }, x.port)));
        const prev = mk(xs);
        const next = mk(ys);
        const { upsert, remove } = diffTargets(prev, next);
        const applied = new Map(prev);
        for (const k of remove) applied.delete(k);
        for (const u of upsert) applied.set(`${u.service}|${u.endpoint}`, u);
        assert.deepEqual(new Map([...applied].sort()), new Map([...next].sort()));
        // Nothing unchanged is sent.
        for (const u of upsert) {
          const p = prev.get(`${u.service}|${u.endpoint}`);
          assert.ok(!p || JSON.stringify(p) !== JSON.stringify(u));
        }
      }),
    );
  });

  it('the same check object is not compared field by field', () => {
    const prev = checkTargets([t('a', '10.0.0.1')]);
    assert.deepEqual(diffTargets(prev, checkTargets([t('a', '10.0.0.1')])), { upsert: [], remove: [] });
  });
});
