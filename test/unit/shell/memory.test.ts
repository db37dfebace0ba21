import test from 'node:test';
import assert from 'node:assert/strict';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { pino } from 'pino';
import {
  DEFAULT_SETTLE_POLICY,
  requestIncrementalCollection,
  HeapSettler,
  settleDue,
  type HeapSample,
} from '../../../src/shell/memory.js';

const MB = 2 ** 20;
const heap = (heapMB: number, usedMB = heapMB): HeapSample => ({
  heapBytes: heapMB * MB,
  usedBytes: usedMB * MB,
});

test('settleDue: only a large heap, grown past the factor, outside the minimum interval', () => {
  const p = DEFAULT_SETTLE_POLICY;
  assert.equal(settleDue(heap(50), 0, Infinity, p), false, 'below the minimum size');
  assert.equal(settleDue(heap(245), 0, Infinity, p), true, 'first check after start');
  assert.equal(
    settleDue(heap(245), 153 * MB, Infinity, p),
    false,
    'not grown by the factor since the last settle',
  );
  assert.equal(settleDue(heap(400), 153 * MB, Infinity, p), true);
  assert.equal(settleDue(heap(400), 153 * MB, p.minIntervalMs - 1, p), false, 'too soon after the last');
});

test('HeapSettler: asks for a collection on a poke after start, then waits for growth and the interval', () => {
  let now = 0;
  let current = heap(245, 221);
  let collections = 0;
  let busy = 0;
  const s = new HeapSettler(pino({ level: 'silent' }), {
    now: () => now,
    busy: () => busy,
    read: () => current,
    collect: () => {
      collections++;
      current = heap(153, 107);
      // What the gc observer reports once V8's collection is over.
      s.collected(current, 20);
    },
  });
  s.start();
  try {
    busy = 0.9;
    s.poke();
    assert.equal(collections, 1, 'a poke does not wait for idle');
    busy = 0;
    current = heap(400);
    now += 1_000;
    assert.equal(s.check(), false, 'within the minimum interval');
    current = heap(200);
    now += 120_000;
    assert.equal(s.check(), false, 'grown less than ×2 over what the settle left');
    current = heap(400);
    busy = 0.9;
    assert.equal(s.check(), false, 'not while the loop is busy (a bulk apply in progress)');
    busy = 0.05;
    assert.equal(s.check(), true);
    assert.equal(collections, 2);
  } finally {
    s.stop();
  }
});

test('HeapSettler: FERROLB_HEAP_SETTLE=off never collects', () => {
  process.env.FERROLB_HEAP_SETTLE = 'off';
  try {
    let collections = 0;
    const s = new HeapSettler(pino({ level: 'silent' }), {
      read: () => heap(500),
      collect: () => collections++,
    });
    s.start();
    s.poke();
    s.stop();
    assert.equal(collections, 0);
  } finally {
    delete process.env.FERROLB_HEAP_SETTLE;
  }
});

test('requestIncrementalCollection: starts a major collection without being told to, and returns first', async () => {
  const majors: number[] = [];
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries())
      if (
        (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ===
        constants.NODE_PERFORMANCE_GC_MAJOR
      )
        majors.push(e.duration);
  });
  obs.observe({ entryTypes: ['gc'] });
  try {
    // Garbage in old space that nothing else would make V8 collect in this idle process.
    let junk: unknown[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `x${i}` }));
    const ref = new WeakRef(junk);
    junk = undefined;
    await new Promise((r) => setTimeout(r, 50));
    const seen = majors.length;
    requestIncrementalCollection();
    assert.equal(majors.length, seen, 'nothing collected synchronously');
    // Marking advances in tasks: let the loop run (bounded: 600 turns of 50 ms).
    for (let i = 0; i < 600 && (majors.length === seen || ref.deref() !== undefined); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(majors.length > seen, 'a major collection ran');
    assert.equal(ref.deref(), undefined, 'the garbage is gone');
  } finally {
    obs.disconnect();
  }
});
