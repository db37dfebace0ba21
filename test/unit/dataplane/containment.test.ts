import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { errorSummary, implicatedText, isolate, MAX_ATTEMPTS } from '../../../src/dataplane/containment.js';

/** A kernel that refuses any transaction holding one of `bad` (what was accepted so far included). */
function kernel(bad: ReadonlySet<number>) {
  const accepted: number[] = [];
  let attempts = 0;
  const attempt = async (group: readonly number[]) => {
    attempts++;
    if (group.some((x) => bad.has(x))) return `refused ${group.find((x) => bad.has(x))}`;
    accepted.push(...group);
    return undefined;
  };
  return { attempt, accepted, attempts: () => attempts };
}

describe('culprit isolation (group testing)', () => {
  it('finds every refused item, accepts all the others, whatever the sets (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        fc.uniqueArray(fc.nat(59), { maxLength: 6 }),
        fc.uniqueArray(fc.nat(59), { maxLength: 4 }),
        async (n, badList, suspectList) => {
          const items = Array.from({ length: n }, (_, i) => i);
          const bad = new Set(badList.filter((b) => b < n));
          if (bad.size === 0) return;
          const k = kernel(bad);
          const r = await isolate(
            items,
            new Set(suspectList.filter((s) => s < n)),
            k.attempt,
            'whole refused',
          );
          assert.deepEqual(
            r.culprits.map((c) => c.item).sort((a, b) => a - b),
            [...bad].sort((a, b) => a - b),
          );
          assert.deepEqual(
            [...r.accepted].sort((a, b) => a - b),
            items.filter((i) => !bad.has(i)),
          );
          assert.deepEqual(r.accepted, k.accepted);
          assert.equal(r.attempts, k.attempts());
          // Bisection: each culprit costs at most two attempts per halving level.
          const levels = Math.ceil(Math.log2(n)) + 1;
          assert.ok(r.attempts <= bad.size * 2 * levels + suspectList.length + 1, `${r.attempts} attempts`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a correctly named suspect costs one attempt among a thousand changes (the rest, as a group)', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const k = kernel(new Set([417]));
    const r = await isolate(items, new Set([417]), k.attempt, 'value too large');
    assert.equal(r.attempts, 1);
    assert.deepEqual(r.culprits, [{ item: 417, reason: 'value too large' }]);
  });

  it('one unnamed culprit among 1024 costs at most 2·log2(n) attempts', async () => {
    const items = Array.from({ length: 1024 }, (_, i) => i);
    const k = kernel(new Set([1000]));
    const r = await isolate(items, new Set(), k.attempt, 'x');
    assert.ok(r.attempts <= 20, `${r.attempts}`);
    assert.deepEqual(
      r.culprits.map((c) => c.item),
      [1000],
    );
  });

  it('the whole set is not tried again; a single refused item needs no attempt at all', async () => {
    const k = kernel(new Set([0]));
    const r = await isolate([0], new Set(), k.attempt, 'value too large');
    assert.equal(r.attempts, 0);
    assert.deepEqual(r.culprits, [{ item: 0, reason: 'value too large' }]);
  });

  it('bounded: a kernel refusing everything stops after MAX_ATTEMPTS, the rest marked not isolated', async () => {
    const items = Array.from({ length: 5000 }, (_, i) => i);
    const r = await isolate(items, new Set(), async () => 'no', 'no');
    assert.ok(r.attempts <= MAX_ATTEMPTS);
    assert.equal(r.culprits.length, items.length);
    assert.ok(r.culprits.some((c) => /not isolated/.test(c.reason)));
  });
});

describe('nft error text', () => {
  it('summary: the error line without the file position', () => {
    const err =
      '/dev/stdin:5:67-79: Error: value too large\nadd set inet ferrolb a { timeout 359999996400s; }\n        ^^^^\n';
    assert.equal(errorSummary(err), 'Error: value too large');
    assert.equal(errorSummary(''), 'refused');
  });

  it('implicated text: the script lines nft names, plus its output', () => {
    const script =
      'add table inet ferrolb\nadd chain inet ferrolb s_web_1\nadd set inet ferrolb a_bad_2 { }\n';
    const t = implicatedText('/dev/stdin:3:1-5: Error: value too large', script);
    assert.ok(t.includes('a_bad_2'));
    assert.ok(!t.includes('s_web_1'));
  });
});
