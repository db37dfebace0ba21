import test from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffMs,
  ComponentStartError,
  StoppedWhileStarting,
  Supervisor,
  type Component,
  type ComponentContext,
} from '../../../src/shell/component.js';
import { FakeTimers, flush } from '../probes/fake-timers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A component that records its calls in `events`; `fail` decides whether start n (1-based) throws. */
function comp(
  name: string,
  events: string[],
  o: {
    fail?: (n: number) => boolean;
    retry?: boolean;
    hang?: boolean;
    ctx?: (c: ComponentContext) => void;
  } = {},
): Component {
  let n = 0;
  return {
    name,
    ...(o.retry ? { retry: { initialMs: 1_000, maxMs: 8_000 } } : {}),
    start: async (ctx) => {
      n++;
      events.push(`start ${name}`);
      o.ctx?.(ctx);
      if (o.hang) await new Promise(() => undefined);
      if (o.fail?.(n)) throw new Error(`${name} broke (${n})`);
    },
    drain: async () => void events.push(`drain ${name}`),
    stop: async () => void events.push(`stop ${name}`),
  };
}

test('backoff doubles from the initial delay up to the cap', () => {
  const b = { initialMs: 1_000, maxMs: 8_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((f) => backoffMs(b, f)),
    [1000, 2000, 4000, 8000, 8000, 8000],
  );
  assert.equal(backoffMs({ initialMs: 100, maxMs: 10_000, factor: 3 }, 3), 900);
});

test('components start in order; stop drains all, then stops them in reverse', async () => {
  const ev: string[] = [];
  const s = new Supervisor([comp('a', ev), comp('b', ev), comp('c', ev)], {
    log: quiet,
    timers: new FakeTimers(),
  });
  await s.start();
  assert.deepEqual(ev, ['start a', 'start b', 'start c']);
  assert.equal(s.notReady(), undefined);
  assert.deepEqual(
    s.status().map((x) => x.state),
    ['running', 'running', 'running'],
  );
  ev.length = 0;
  await Promise.all([s.stop(), s.stop()]); // idempotent
  assert.deepEqual(ev, ['drain c', 'drain b', 'drain a', 'stop c', 'stop b', 'stop a']);
});

test('a required component that fails rolls back the started ones in reverse and names itself', async () => {
  const ev: string[] = [];
  const s = new Supervisor(
    [comp('lock', ev), comp('api', ev), comp('kernel', ev, { fail: () => true }), comp('bgp', ev)],
    { log: quiet, timers: new FakeTimers() },
  );
  await assert.rejects(s.start(), (e: unknown) => {
    assert.ok(e instanceof ComponentStartError);
    assert.equal(e.component, 'kernel');
    assert.match(e.message, /kernel failed to start: kernel broke \(1\)/);
    return true;
  });
  // The failed one disposes of its partial start; bgp never starts.
  assert.deepEqual(ev, [
    'start lock',
    'start api',
    'start kernel',
    'stop kernel',
    'drain api',
    'drain lock',
    'stop api',
    'stop lock',
  ]);
  const st = s.status();
  assert.equal(st.find((x) => x.name === 'kernel')?.state, 'failed');
  assert.equal(st.find((x) => x.name === 'bgp')?.state, 'stopped');
});

test('a start that never finishes counts as failed after its timeout (the role never hangs)', async () => {
  const timers = new FakeTimers();
  const ev: string[] = [];
  const s = new Supervisor([comp('a', ev), { ...comp('stuck', ev, { hang: true }), startTimeoutMs: 5_000 }], {
    log: quiet,
    timers,
  });
  const started = s.start().then(
    () => 'started',
    (e: unknown) => (e as Error).message,
  );
  await timers.advance(4_999);
  assert.deepEqual(ev, ['start a', 'start stuck']);
  await timers.advance(1);
  assert.match(await started, /stuck failed to start: stuck: start did not finish in 5000 ms/);
  assert.deepEqual(ev.slice(2), ['stop stuck', 'drain a', 'stop a']);
});

test('a retriable component is retried with backoff, shown while retrying, never cached as failed', async () => {
  const timers = new FakeTimers();
  const ev: string[] = [];
  const s = new Supervisor([comp('api', ev), comp('bgp', ev, { retry: true, fail: (n) => n <= 2 })], {
    log: quiet,
    timers,
  });
  await s.start(); // does not wait for bgp
  let bgp = s.status()[1]!;
  assert.equal(bgp.state, 'retrying');
  assert.equal(bgp.failures, 1);
  assert.equal(bgp.retryInMs, 1_000);
  assert.equal(bgp.error, 'bgp broke (1)');
  assert.match(s.notReady() ?? '', /^bgp: retrying after 1 failure\(s\): bgp broke \(1\)/);
  await timers.advance(999);
  assert.equal(ev.filter((e) => e === 'start bgp').length, 1);
  await timers.advance(1);
  bgp = s.status()[1]!;
  assert.equal(bgp.failures, 2);
  assert.equal(bgp.retryInMs, 2_000, 'the delay doubles');
  await timers.advance(2_000);
  bgp = s.status()[1]!;
  assert.equal(bgp.state, 'running');
  assert.equal(bgp.failures, 0);
  assert.equal(bgp.error, undefined);
  assert.equal(s.notReady(), undefined);
  // Each failed attempt was disposed of before the next one.
  assert.deepEqual(ev, ['start api', 'start bgp', 'stop bgp', 'start bgp', 'stop bgp', 'start bgp']);
  await s.stop();
});

test('a retriable component that fails while running is stopped and restarted with backoff', async () => {
  const timers = new FakeTimers();
  const ev: string[] = [];
  let ctx: ComponentContext | undefined;
  const s = new Supervisor([comp('bgp', ev, { retry: true, ctx: (c) => (ctx = c) })], { log: quiet, timers });
  await s.start();
  ctx?.fail(new Error('speaker died'));
  ctx?.fail(new Error('reported twice')); // one failure, one restart
  await flush();
  assert.equal(s.status()[0]?.state, 'retrying');
  assert.equal(s.status()[0]?.error, 'speaker died');
  await timers.advance(1_000);
  assert.equal(s.status()[0]?.state, 'running');
  assert.deepEqual(ev, ['start bgp', 'stop bgp', 'start bgp']);
  await s.stop();
});

test('stop cancels a pending retry', async () => {
  const timers = new FakeTimers();
  const ev: string[] = [];
  const s = new Supervisor([comp('bgp', ev, { retry: true, fail: () => true })], { log: quiet, timers });
  await s.start();
  assert.equal(timers.count, 1);
  await s.stop();
  assert.equal(timers.count, 0);
  await timers.advance(60_000);
  assert.deepEqual(ev, ['start bgp', 'stop bgp']);
  assert.equal(s.status()[0]?.state, 'stopped');
});

test('a required component failing while running is fatal for the role', async () => {
  const ev: string[] = [];
  let ctx: ComponentContext | undefined;
  const s = new Supervisor([comp('dataplane', ev, { ctx: (c) => (ctx = c) })], {
    log: quiet,
    timers: new FakeTimers(),
  });
  await s.start();
  ctx?.fail(new Error('kernel gone'));
  const f = await s.fatal;
  assert.equal(f.component, 'dataplane');
  assert.match(s.notReady() ?? '', /dataplane: failed: kernel gone/);
  await s.stop();
  assert.deepEqual(ev, ['start dataplane', 'stop dataplane']);
});

test('stop during start-up stops what started and reports it', async () => {
  const timers = new FakeTimers();
  const ev: string[] = [];
  let release: () => void = () => undefined;
  const slow: Component = {
    name: 'slow',
    start: () => new Promise<void>((r) => (release = r)),
    stop: async () => void ev.push('stop slow'),
  };
  const s = new Supervisor([comp('a', ev), slow, comp('b', ev)], { log: quiet, timers });
  const started = s.start();
  await flush();
  const stopped = s.stop();
  release();
  await assert.rejects(started, StoppedWhileStarting);
  await stopped;
  assert.deepEqual(ev, ['start a', 'drain a', 'stop slow', 'stop a']);
});

test('two components with one name are refused', () => {
  assert.throws(() => new Supervisor([comp('a', []), comp('a', [])], { log: quiet }), /listed twice/);
});
