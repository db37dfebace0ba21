// The persistent map behaves as a Map (same entries, size, lookups) after any sequence of edits, and
// editing a version never changes an older one (the snapshots share them).
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PMap } from '../../../src/state/pmap.js';

const op = fc.oneof(
  fc.record({ k: fc.integer({ min: 0, max: 40 }), v: fc.integer() }),
  fc.record({ k: fc.integer({ min: 0, max: 40 }), v: fc.constant(undefined) }),
);
// Batches of edits, some large enough to flatten (MIN_FLATTEN 256 with a 0..40 key space is never
// reached by size, so a second arbitrary uses many distinct keys).
const batch = fc.oneof(
  fc.array(op, { maxLength: 12 }),
  fc.array(
    fc.record({ k: fc.integer({ min: 0, max: 5000 }), v: fc.option(fc.integer(), { nil: undefined }) }),
    { minLength: 200, maxLength: 600 },
  ),
);

const contents = (m: ReadonlyMap<number, number>) => [...m].sort((a, b) => a[0] - b[0]);

test('property: a PMap after any edits equals a Map after the same edits; older versions stay as they were', () => {
  fc.assert(
    fc.property(fc.array(batch, { minLength: 1, maxLength: 10 }), (batches) => {
      let p = PMap.empty<number, number>();
      const model = new Map<number, number>();
      const history: [PMap<number, number>, [number, number][]][] = [];
      for (const b of batches) {
        const d = p.edit();
        for (const { k, v } of b) {
          if (v === undefined) assert.equal(d.delete(k), model.delete(k));
          else {
            d.set(k, v);
            model.set(k, v);
          }
          assert.equal(d.size, model.size);
          assert.equal(d.get(k), model.get(k));
        }
        p = d.done();
        history.push([p, contents(model)]);
        assert.equal(p.size, model.size);
        assert.deepEqual(contents(p), contents(model));
        for (const k of [0, 1, 7, 40, 4999]) {
          assert.equal(p.get(k), model.get(k));
          assert.equal(p.has(k), model.has(k));
        }
        assert.equal([...p.keys()].length, model.size);
        assert.equal(new Set(p.keys()).size, model.size, 'no key twice');
      }
      for (const [v, c] of history) assert.deepEqual(contents(v), c, 'an older version is unchanged');
    }),
    { numRuns: 200 },
  );
});

test('PMap.of takes a Map without copying and a PMap as it is', () => {
  const m = new Map([[1, 'a']]);
  const p = PMap.of(m);
  assert.equal(p.get(1), 'a');
  assert.equal(PMap.of(p), p);
  const q = p.with([
    [2, 'b'],
    [1, undefined],
  ]);
  assert.deepEqual([...q], [[2, 'b']]);
  assert.deepEqual([...p], [[1, 'a']]);
  assert.deepEqual([...m], [[1, 'a']], 'the base is never written');
});
