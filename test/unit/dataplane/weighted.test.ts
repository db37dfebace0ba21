import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  smoothWeightedOrder,
  normaliseWeights,
  leastConnWeights,
  SelectionError,
} from '../../../src/dataplane/selection/weighted.js';
import { slotPlan } from '../../../src/dataplane/selection/index.js';

const counts = (order: number[], n: number) => {
  const c = new Array<number>(n).fill(0);
  for (const k of order) c[k]!++;
  return c;
};

describe('weighted slot tables', () => {
  it('reduces by the gcd and keeps exact proportions when small', () => {
    assert.deepEqual(normaliseWeights([2, 4, 6]), [1, 2, 3]);
    assert.deepEqual(normaliseWeights([0, 5]), [0, 1]);
    assert.throws(() => normaliseWeights([-1]), SelectionError);
  });

  it('smooth order: each endpoint appears exactly its weight times and never bunches up', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 10 }), (ws) => {
        const norm = normaliseWeights(ws);
        const order = smoothWeightedOrder(ws);
        assert.deepEqual(counts(order, ws.length), norm);
        const total = order.length;
        // Smoothness: between two picks of endpoint i there are at most 2·ceil(total / w_i) steps.
        norm.forEach((w, i) => {
          if (w === 0) return;
          const pos = order.flatMap((k, p) => (k === i ? [p] : []));
          for (let j = 1; j < pos.length; j++) assert.ok(pos[j]! - pos[j - 1]! <= 2 * Math.ceil(total / w));
        });
      }),
    );
  });

  it('caps huge weights to the slot limit while keeping every live endpoint and approximate shares', () => {
    const ws = [1, 100000, 50000];
    const order = smoothWeightedOrder(ws, 1024);
    assert.ok(order.length <= 1024);
    const c = counts(order, 3);
    assert.ok(c[0]! >= 1);
    assert.ok(Math.abs(c[1]! / c[2]! - 2) < 0.05);
  });

  it('leastconn favours the endpoint with fewer connections, in proportion', () => {
    const w = leastConnWeights([
      { weight: 1, connections: 0 },
      { weight: 1, connections: 9 },
      { weight: 1, connections: 3 },
    ]);
    assert.ok(w[0]! > w[2]! && w[2]! > w[1]!);
    assert.ok(Math.abs(w[0]! / w[1]! - 10) < 1);
    assert.deepEqual(leastConnWeights([{ weight: 0, connections: 0 }]), [0]);
  });

  it('slot plans: picker per algorithm; only candidates appear; maglev uses the listed-size ladder', () => {
    const cands = [
      { name: '10.0.0.1', weight: 1 },
      { name: '10.0.0.2', weight: 3 },
    ];
    assert.deepEqual(slotPlan('roundrobin', cands, 2), { picker: 'inc', slots: [0, 1] });
    assert.equal(slotPlan('weighted', cands, 2).slots.length, 4);
    assert.equal(slotPlan('hash', cands, 2).picker, 'jhash');
    const mg = slotPlan('maglev', cands, 5);
    assert.equal(mg.slots.length, 509);
    assert.ok(mg.slots.every((s) => s === 0 || s === 1));
    assert.deepEqual(slotPlan('maglev', [], 3).slots, []);
    assert.deepEqual(slotPlan('weighted', [{ name: 'a', weight: 0 }], 1).slots, []);
  });
});
