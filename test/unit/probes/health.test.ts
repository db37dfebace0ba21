import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkThresholds,
  initialHealth,
  InvalidThresholdError,
  observe,
  type HealthRecord,
  type Thresholds,
  type Transition,
} from '../../../src/probes/health.js';

const ok = { ok: true, reason: 'connected' };
const bad = { ok: false, reason: 'refused' };

function run(t: Thresholds, verdicts: boolean[]): { states: string[]; events: Transition[] } {
  let rec: HealthRecord = initialHealth();
  const states: string[] = [];
  const events: Transition[] = [];
  for (const v of verdicts) {
    const step = observe(rec, v ? ok : bad, t);
    rec = step.record;
    states.push(rec.state);
    if (step.transition) events.push(step.transition);
  }
  return { states, events };
}

test('the first verdict decides unknown → active / inactive', () => {
  const t = { healthyThreshold: 3, unhealthyThreshold: 3 };
  assert.deepEqual(observe(initialHealth(), ok, t).transition, {
    from: 'unknown',
    to: 'active',
    reason: 'connected',
  });
  assert.deepEqual(observe(initialHealth(), bad, t).transition, {
    from: 'unknown',
    to: 'inactive',
    reason: 'refused',
  });
});

test('active turns inactive only after unhealthyThreshold consecutive failures', () => {
  const t = { healthyThreshold: 1, unhealthyThreshold: 3 };
  assert.deepEqual(run(t, [true, false, false, true, false, false, false]).states, [
    'active',
    'active',
    'active',
    'active',
    'active',
    'active',
    'inactive',
  ]);
});

test('inactive turns active only after healthyThreshold consecutive successes', () => {
  const t = { healthyThreshold: 2, unhealthyThreshold: 1 };
  const r = run(t, [false, true, false, true, true, true]);
  assert.deepEqual(r.states, ['inactive', 'inactive', 'inactive', 'inactive', 'active', 'active']);
  assert.deepEqual(
    r.events.map((e) => `${e.from}>${e.to}`),
    ['unknown>inactive', 'inactive>active'],
  );
});

test('the record keeps the latest reason even without a transition', () => {
  const t = { healthyThreshold: 1, unhealthyThreshold: 2 };
  const s1 = observe(initialHealth(), ok, t);
  const s2 = observe(s1.record, { ok: false, reason: 'timeout after 100ms' }, t);
  assert.equal(s2.transition, undefined);
  assert.equal(s2.record.reason, 'timeout after 100ms');
  assert.equal(s2.record.state, 'active');
});

test('thresholds must be integers ≥ 1', () => {
  assert.throws(() => checkThresholds({ healthyThreshold: 0, unhealthyThreshold: 1 }), InvalidThresholdError);
  assert.throws(
    () => checkThresholds({ healthyThreshold: 1, unhealthyThreshold: 1.5 }),
    InvalidThresholdError,
  );
  checkThresholds({ healthyThreshold: 1, unhealthyThreshold: 100 });
});

const thresholds = fc.record({
  healthyThreshold: fc.integer({ min: 1, max: 6 }),
  unhealthyThreshold: fc.integer({ min: 1, max: 6 }),
});
const verdicts = fc.array(fc.boolean(), { minLength: 1, maxLength: 60 });

test('property: never unknown after the first verdict; events are exactly the state changes', () => {
  fc.assert(
    fc.property(thresholds, verdicts, (t, vs) => {
      const { states, events } = run(t, vs);
      assert.ok(states.every((s) => s !== 'unknown'));
      const changes: string[] = [];
      let prev = 'unknown';
      for (const s of states) {
        if (s !== prev) changes.push(`${prev}>${s}`);
        prev = s;
      }
      assert.deepEqual(
        events.map((e) => `${e.from}>${e.to}`),
        changes,
      );
    }),
    { numRuns: 500 },
  );
});

test('property: a state change after the first verdict is backed by a full streak of agreeing verdicts', () => {
  fc.assert(
    fc.property(thresholds, verdicts, (t, vs) => {
      const { states } = run(t, vs);
      for (let i = 1; i < vs.length; i++) {
        if (states[i] === states[i - 1]) continue;
        const need = states[i] === 'active' ? t.healthyThreshold : t.unhealthyThreshold;
        const want = states[i] === 'active';
        // The last `need` verdicts all agree with the new state, and they all came after the last
        // verdict that agreed with the old one (no change without the full streak).
        assert.ok(i + 1 >= need);
        for (let k = i + 1 - need; k <= i; k++) assert.equal(vs[k], want);
      }
    }),
    { numRuns: 500 },
  );
});

test('property: a long enough run of one verdict always reaches the matching state', () => {
  fc.assert(
    fc.property(thresholds, verdicts, fc.boolean(), (t, vs, final) => {
      const tail = Array<boolean>(Math.max(t.healthyThreshold, t.unhealthyThreshold)).fill(final);
      const { states } = run(t, [...vs, ...tail]);
      assert.equal(states.at(-1), final ? 'active' : 'inactive');
    }),
    { numRuns: 300 },
  );
});

test('property: with both thresholds 1 the state is the last verdict', () => {
  fc.assert(
    fc.property(verdicts, (vs) => {
      const { states } = run({ healthyThreshold: 1, unhealthyThreshold: 1 }, vs);
      vs.forEach((v, i) => assert.equal(states[i], v ? 'active' : 'inactive'));
    }),
  );
});
