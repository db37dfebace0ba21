import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  maglevTable,
  maglevSizeFor,
  MAGLEV_SIZES,
  isPrime,
  MaglevError,
} from '../../../src/dataplane/selection/maglev.js';

const backends = (n: number, weight = 1) =>
  Array.from({ length: n }, (_, i) => ({ name: `10.0.${i >> 8}.${i & 255}`, weight }));

const shares = (table: Int32Array, n: number): number[] => {
  const c = new Array<number>(n).fill(0);
  for (const k of table) c[k]!++;
  return c.map((x) => x / table.length);
};

/** Fraction of slots whose owner changed although the owner was not the removed backend. */
function disruption(n: number, m: number, removed: number) {
  const all = backends(n);
  const before = maglevTable(all, m);
  const rest = all.filter((_, i) => i !== removed);
  const after = maglevTable(rest, m);
  let unrelated = 0;
  let moved = 0;
  for (let s = 0; s < m; s++) {
    const oldName = all[before[s]!]!.name;
    const newName = rest[after[s]!]!.name;
    if (oldName !== newName) {
      moved++;
      if (before[s] !== removed) unrelated++;
    }
  }
  return { moved: moved / m, unrelated: unrelated / m };
}

describe('maglev', () => {
  it('sizes come from a ladder of primes and do not change with small endpoint-count changes', () => {
    for (const p of MAGLEV_SIZES) assert.ok(isPrime(p), `${p} prime`);
    assert.equal(maglevSizeFor(3), 251);
    assert.equal(maglevSizeFor(8), 1021);
    assert.equal(maglevSizeFor(9), maglevSizeFor(15));
    assert.ok(maglevSizeFor(100) >= 6400);
  });

  it('rejects non-prime sizes, empty and duplicate backend lists, bad weights', () => {
    assert.throws(() => maglevTable(backends(3), 1000), MaglevError);
    assert.throws(() => maglevTable([], 251), MaglevError);
    assert.throws(() => maglevTable([...backends(2), ...backends(1)], 251), MaglevError);
    assert.throws(() => maglevTable([{ name: 'a', weight: 0 }], 251), MaglevError);
  });

  it('fills every slot and balances equal weights within 2 % of 1/N (M = 65521, N = 10)', () => {
    const t = maglevTable(backends(10), 65521);
    assert.ok(t.every((k) => k >= 0 && k < 10));
    for (const s of shares(t, 10)) assert.ok(Math.abs(s - 0.1) < 0.002, `share ${s}`);
  });

  it('is consistent across instances: the table does not depend on backend order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer(), (n, seed) => {
        const list = backends(n);
        const shuffled = [...list].sort(
          (a, b) => ((a.name.charCodeAt(a.name.length - 1) * seed) % 7) - ((b.name.charCodeAt(0) * seed) % 7),
        );
        const t1 = maglevTable(list, 251);
        const t2 = maglevTable(shuffled, 251);
        // Compare by name: indices refer to each caller's own order.
        for (let s = 0; s < 251; s++) assert.equal(list[t1[s]!]!.name, shuffled[t2[s]!]!.name);
      }),
      { numRuns: 50 },
    );
  });

  it('measured disruption: removing 1 of N moves ~1/N of slots, and few slots of other backends', (t) => {
    const cases = [
      { n: 10, m: 1021 },
      { n: 10, m: 65521 },
      { n: 100, m: 65521 },
    ];
    for (const { n, m } of cases) {
      let worstUnrelated = 0;
      let worstMoved = 0;
      for (const removed of [0, Math.floor(n / 2), n - 1]) {
        const d = disruption(n, m, removed);
        worstUnrelated = Math.max(worstUnrelated, d.unrelated);
        worstMoved = Math.max(worstMoved, d.moved);
      }
      t.diagnostic(
        `N=${n} M=${m}: moved ≤ ${(worstMoved * 100).toFixed(2)} % of slots, ` +
          `unrelated ≤ ${(worstUnrelated * 100).toFixed(2)} % (ideal 1/N = ${(100 / n).toFixed(2)} %, 0 %)`,
      );
      // The removed backend's own slots must move (≈1/N); unrelated remaps stay small (paper: a few %).
      assert.ok(worstMoved >= 1 / n - 0.02, 'its own slots moved');
      assert.ok(worstUnrelated <= 0.03, `unrelated remaps ${worstUnrelated}`);
    }
  });

  it('an endpoint leaving never moves a slot to the other survivors more than needed (modulo hash would move ~all)', () => {
    // Contrast: modulo hashing over N → N-1 remaps ≈ (N-1)/N of all keys; Maglev keeps ≥ 95 % put.
    const d = disruption(8, 1021, 3);
    assert.ok(d.moved < 1 / 8 + 0.05, `moved ${d.moved}`);
  });

  it('follows weights: shares are proportional within 1.5 percentage points', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 8 }), (ws) => {
        const list = ws.map((w, i) => ({ name: `fd00::${i + 1}`, weight: w }));
        const t = maglevTable(list, 4093);
        const total = ws.reduce((a, b) => a + b, 0);
        shares(t, ws.length).forEach((s, i) => assert.ok(Math.abs(s - ws[i]! / total) < 0.015, `${s}`));
      }),
      { numRuns: 40 },
    );
  });
});
