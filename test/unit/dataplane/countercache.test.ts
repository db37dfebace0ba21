import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CounterCache } from '../../../src/dataplane/countercache.js';
import type { CounterValue } from '../../../src/dataplane/compiler/observe.js';

/** A listing that resolves only when the test says so; counts how often it was started. */
function controlledList() {
  let calls = 0;
  const pending: ((v: Map<string, CounterValue>) => void)[] = [];
  const list = () => {
    calls++;
    return new Promise<Map<string, CounterValue>>((r) => pending.push(r));
  };
  const finish = (packets: number) =>
    pending.shift()!(new Map([['svccnt4|k', { packets, bytes: packets * 100 }]]));
  return { list, finish, calls: () => calls };
}

describe('counter cache (reads at scale)', () => {
  it('without maxAgeMs every read lists the kernel now', async () => {
    const c = controlledList();
    const cache = new CounterCache(c.list);
    const a = cache.get({});
    c.finish(1);
    assert.equal((await a)?.get('svccnt4|k')?.packets, 1);
    const b = cache.get({});
    c.finish(2);
    assert.equal((await b)?.get('svccnt4|k')?.packets, 2);
    assert.equal(c.calls(), 2);
  });

  it('recent values are served without a listing; stale ones start one listing, shared by concurrent reads, waited for only a bounded time', async () => {
    let now = 0;
    const c = controlledList();
    const cache = new CounterCache(c.list, () => now);
    const first = cache.get({ maxAgeMs: 5000, waitMs: 10_000 });
    now = 4500; // this listing takes 4.5 s
    c.finish(1);
    assert.equal((await first)?.get('svccnt4|k')?.packets, 1);
    now = 8500;
    assert.equal((await cache.get({ maxAgeMs: 5000, waitMs: 0 }))?.get('svccnt4|k')?.packets, 1);
    assert.equal(c.calls(), 1, 'younger than a listing takes: no listing');
    now = 10_000;
    // Stale, and the listing does not finish within the wait: the last values are served.
    const [x, y] = await Promise.all([
      cache.get({ maxAgeMs: 5000, waitMs: 5 }),
      cache.get({ maxAgeMs: 5000, waitMs: 5 }),
    ]);
    assert.equal(x?.get('svccnt4|k')?.packets, 1);
    assert.equal(y?.get('svccnt4|k')?.packets, 1);
    assert.equal(c.calls(), 2, 'one listing for both reads');
    c.finish(7);
    await new Promise((r) => setImmediate(r));
    assert.equal((await cache.get({ maxAgeMs: 5000, waitMs: 0 }))?.get('svccnt4|k')?.packets, 7);
  });

  it('when listings are quick, every read lists again: counters are never older than a listing takes', async () => {
    let now = 0;
    const c = controlledList();
    const cache = new CounterCache(c.list, () => now);
    const a = cache.get({ maxAgeMs: 5000, waitMs: 500 });
    now = 20; // 20 ms listing
    c.finish(1);
    await a;
    now = 100;
    const b = cache.get({ maxAgeMs: 5000, waitMs: 500 });
    c.finish(2);
    assert.equal((await b)?.get('svccnt4|k')?.packets, 2, 'traffic since the last read is seen');
    assert.equal(c.calls(), 2);
  });

  it('nothing listed yet and the wait runs out: no values (the view shows none) rather than a slow read', async () => {
    const c = controlledList();
    const cache = new CounterCache(c.list);
    assert.equal(await cache.get({ maxAgeMs: 5000, waitMs: 1 }), undefined);
  });
});

describe('counter cache: slow listings', () => {
  it('when the last listing took longer than the wait, a stale read is answered at once from the last values', async () => {
    let now = 0;
    const c = controlledList();
    const cache = new CounterCache(c.list, () => now);
    const first = cache.get({ maxAgeMs: 5000, waitMs: 10_000 });
    now = 4000; // the listing takes 4 s
    c.finish(1);
    await first;
    now = 20_000;
    // The listing never finishes here: a read that waited for it would lose the race.
    const v = await Promise.race([
      cache.get({ maxAgeMs: 5000, waitMs: 500 }),
      new Promise<'waited'>((r) => setImmediate(() => r('waited'))),
    ]);
    assert.notEqual(v, 'waited');
    assert.equal((v as Map<string, CounterValue>).get('svccnt4|k')?.packets, 1);
    assert.equal(c.calls(), 2, 'a background listing was started');
  });
});
