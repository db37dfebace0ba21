// The journal record written from a snapshot's change set equals the one a comparison of every object
// and allocation gives, after any sequence of API changes (what makes a PUT's save O(change)).
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { delta } from '../../../src/state/journal.js';
import { emptySnapshot, transition, type Change, type Snapshot } from '../../../src/state/snapshot.js';
import type { RawObject } from '../../../src/model/types.js';

const pool: RawObject = {
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name: 'p' },
  spec: { addresses: ['10.0.0.0/30'], avoidBuggyIPs: false },
};
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc
    .record({
      name: fc.constantFrom(...NAMES),
      port: fc.constantFrom(80, 81),
      want: fc.option(fc.constantFrom(1, 2)),
    })
    .map(({ name, port, want }) => ({
      type: 'apply' as const,
      objects: [
        {
          apiVersion: 'ferrolb.io/v1',
          kind: 'LoadBalancer',
          metadata: { name },
          spec: { ports: [{ port }], ...(want !== null ? { addresses: [`10.0.0.${want}`] } : {}) },
        },
      ],
    })),
  fc.constantFrom(...NAMES).map((name) => ({ type: 'delete' as const, kind: 'LoadBalancer', name })),
);

const durable = (s: Snapshot) => ({ index: s.state.objects, allocations: s.allocations });
const norm = (r: ReturnType<typeof delta>) => ({
  ...r,
  set: r.set.map((o) => JSON.stringify(o)).sort(),
  del: [...r.del].sort(),
  alloc: Object.fromEntries(Object.entries(r.alloc).sort(([a], [b]) => a.localeCompare(b))),
});

test('property: the delta from the change set equals the delta from comparing everything', () => {
  fc.assert(
    fc.property(fc.array(changeArb, { minLength: 1, maxLength: 20 }), (changes) => {
      const first = transition(emptySnapshot(), { type: 'apply', objects: [pool] });
      assert.ok(first.ok);
      let snap = first.next;
      let hinted = 0;
      for (const c of changes) {
        const t = transition(snap, c);
        if (!t.ok || !t.changed) continue;
        const ch = t.next.changes;
        if (ch) {
          assert.equal(ch.since, snap.generation);
          hinted++;
          assert.deepEqual(
            norm(delta(durable(snap), durable(t.next), 7, ch)),
            norm(delta(durable(snap), durable(t.next), 7)),
          );
        }
        snap = t.next;
      }
      return hinted >= 0;
    }),
    { numRuns: 200 },
  );
});
