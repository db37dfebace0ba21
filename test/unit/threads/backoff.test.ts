import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nextBackoffMs } from '../../../src/threads/backoff.js';

const b = { minMs: 200, maxMs: 30_000, stableMs: 60_000 };

test('worker restart backoff doubles per quick death, is capped, and resets after a stable run', () => {
  let d = 0;
  const seen: number[] = [];
  for (let i = 0; i < 10; i++) seen.push((d = nextBackoffMs(b, d, 10)));
  assert.deepEqual(seen, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
  assert.equal(nextBackoffMs(b, 30_000, 60_000), 200);
  fc.assert(
    fc.property(fc.nat(100_000), fc.nat(200_000), (prev, ran) => {
      const n = nextBackoffMs(b, prev, ran);
      assert.ok(n >= b.minMs && n <= b.maxMs);
    }),
  );
});
