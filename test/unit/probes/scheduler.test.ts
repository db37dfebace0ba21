import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DuplicateTargetError,
  ProbeScheduler,
  SchedulerStoppedError,
  type ProbeTarget,
} from '../../../src/probes/scheduler.js';
import type {
  EndpointState,
  HealthCheckConfig,
  ProbeRequest,
  ProbeResult,
} from '../../../src/probes/types.js';
import { FakeTimers } from './fake-timers.js';

const check = (over: Partial<HealthCheckConfig> = {}): HealthCheckConfig => ({
  type: 'tcp',
  intervalMs: 1000,
  timeoutMs: 200,
  unhealthyThreshold: 3,
  healthyThreshold: 2,
  ...over,
});
const target = (
  endpoint: string,
  over: Partial<HealthCheckConfig> = {},
  service = 'default/web',
): ProbeTarget => ({
  service,
  endpoint,
  targetPort: 8080,
  check: check(over),
});

interface Change {
  at: number;
  service: string;
  endpoint: string;
  state: EndpointState;
  reason: string;
}

/**
 * A scheduler on virtual time whose probes answer from `healthy` (per endpoint), after `latencyMs`
 * of virtual time. Records every request and change.
 */
function harness(
  opts: { latencyMs?: number; maxConcurrent?: number; jitter?: number; random?: () => number } = {},
) {
  const timers = new FakeTimers();
  const healthy = new Map<string, boolean>();
  const requests: (ProbeRequest & { at: number })[] = [];
  const changes: Change[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const fake = (req: ProbeRequest): Promise<ProbeResult> => {
    requests.push({ ...req, at: timers.now() });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return new Promise((resolve) => {
      const finish = (r: ProbeResult) => {
        inFlight--;
        resolve(r);
      };
      const h = timers.setTimeout(
        () =>
          finish(
            healthy.get(req.address)
              ? { ok: true, reason: 'ok' }
              : { ok: false, reason: 'refused', failure: 'refused' },
          ),
        opts.latencyMs ?? 0,
      );
      req.signal?.addEventListener('abort', () => {
        timers.clearTimeout(h);
        finish({ ok: false, reason: 'aborted', failure: 'aborted' });
      });
    });
  };
  const sched = new ProbeScheduler({
    onChange: (service, endpoint, state, reason) =>
      changes.push({ at: timers.now(), service, endpoint, state, reason }),
    probers: { tcp: fake, udp: fake, http: fake, https: fake, sctp: fake, ping: fake },
    timers,
    random: opts.random ?? (() => 0.5),
    ...(opts.jitter === undefined ? {} : { jitter: opts.jitter }),
    ...(opts.maxConcurrent === undefined ? {} : { maxConcurrent: opts.maxConcurrent }),
  });
  return {
    timers,
    healthy,
    requests,
    changes,
    sched,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
  };
}

test('a new endpoint is probed within one interval and reported unknown → active', async () => {
  const h = harness();
  h.healthy.set('10.0.0.1', true);
  h.sched.update([target('10.0.0.1')]);
  assert.equal(h.sched.get('default/web', '10.0.0.1')?.state, 'unknown');
  await h.timers.advance(1000);
  assert.equal(h.changes.length, 1);
  assert.deepEqual(
    { ...h.changes[0], at: undefined },
    {
      at: undefined,
      service: 'default/web',
      endpoint: '10.0.0.1',
      state: 'active',
      reason: 'ok',
    },
  );
  assert.ok((h.changes[0]?.at ?? Infinity) <= 1000);
  assert.equal(h.requests[0]?.port, 8080, 'probe port defaults to the target port');
  await h.sched.stop();
});

test('failure and recovery are reported within threshold × interval (+ latency), once each', async () => {
  const h = harness({ latencyMs: 150 });
  h.healthy.set('10.0.0.1', true);
  h.sched.update([target('10.0.0.1')]);
  await h.timers.advance(5000);
  h.healthy.set('10.0.0.1', false);
  const downAt = h.timers.now();
  await h.timers.advance(10_000);
  const down = h.changes.filter((c) => c.state === 'inactive');
  assert.equal(down.length, 1);
  assert.ok(
    (down[0]?.at ?? Infinity) - downAt <= 3 * 1000 + 150,
    `down after ${(down[0]?.at ?? 0) - downAt}`,
  );
  h.healthy.set('10.0.0.1', true);
  const upAt = h.timers.now();
  await h.timers.advance(10_000);
  const up = h.changes.filter((c) => c.state === 'active' && c.at > upAt);
  assert.equal(up.length, 1);
  assert.ok((up[0]?.at ?? Infinity) - upAt <= 2 * 1000 + 150);
  await h.sched.stop();
});

test('property: detection bounds hold for any interval, thresholds, jitter and random draw', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 50, max: 5000 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      fc.double({ min: 0, max: 0.5, noNaN: true }),
      fc.double({ min: 0, max: 0.999, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      async (intervalMs, unhealthy, healthy, jitter, rnd, timeoutFrac) => {
        const latencyMs = Math.floor(intervalMs * timeoutFrac);
        const h = harness({ latencyMs, jitter, random: () => rnd });
        h.healthy.set('fd00::1', true);
        h.sched.update([
          target('fd00::1', {
            intervalMs,
            timeoutMs: intervalMs,
            unhealthyThreshold: unhealthy,
            healthyThreshold: healthy,
          }),
        ]);
        await h.timers.advance(intervalMs + latencyMs);
        assert.equal(h.changes.at(-1)?.state, 'active');
        h.healthy.set('fd00::1', false);
        const t0 = h.timers.now();
        await h.timers.advance(unhealthy * intervalMs + latencyMs);
        assert.equal(
          h.changes.at(-1)?.state,
          'inactive',
          'down within unhealthyThreshold × interval + timeout',
        );
        assert.ok((h.changes.at(-1)?.at ?? 0) > t0);
        h.healthy.set('fd00::1', true);
        await h.timers.advance(healthy * intervalMs + latencyMs);
        assert.equal(h.changes.at(-1)?.state, 'active', 'up within healthyThreshold × interval + timeout');
        await h.sched.stop();
        assert.equal(h.timers.count, 0);
      },
    ),
    { numRuns: 150 },
  );
});

test('update() leaves unchanged targets alone and applies interval changes without a restart', async () => {
  const h = harness();
  h.healthy.set('10.0.0.1', true);
  h.healthy.set('10.0.0.2', true);
  h.sched.update([target('10.0.0.1'), target('10.0.0.2')]);
  await h.timers.advance(2500);
  const timersBefore = h.timers.created;
  const probesBefore = h.requests.length;
  h.sched.update([target('10.0.0.1'), target('10.0.0.2')]);
  h.sched.update([target('10.0.0.2'), target('10.0.0.1', { healthyThreshold: 5 })]);
  assert.equal(h.timers.created, timersBefore, 'no timer was re-armed');
  assert.equal(h.requests.length, probesBefore, 'no extra probe');
  assert.equal(h.changes.length, 2);
  // A shorter interval takes effect for the pending probe.
  h.sched.update([target('10.0.0.1', { intervalMs: 100 }), target('10.0.0.2')]);
  const t0 = h.timers.now();
  await h.timers.advance(1000);
  const fast = h.requests.filter((r) => r.address === '10.0.0.1' && r.at > t0).length;
  assert.ok(fast >= 9, `probed ${fast} times in 1000ms at a 100ms interval`);
  assert.equal(h.changes.length, 2, 'health unchanged');
  await h.sched.stop();
});

test('changing what is probed keeps the state, restarts the probe and resets the streaks', async () => {
  const h = harness();
  h.healthy.set('10.0.0.1', true);
  h.sched.update([target('10.0.0.1', { unhealthyThreshold: 2 })]);
  await h.timers.advance(1000);
  h.healthy.set('10.0.0.1', false);
  await h.timers.advance(1000); // one failure: still active
  assert.equal(h.sched.get('default/web', '10.0.0.1')?.state, 'active');
  h.sched.update([target('10.0.0.1', { unhealthyThreshold: 2, port: 9090 })]);
  const t0 = h.timers.now();
  await h.timers.advance(100); // first probe of the new check (within jitter × interval)
  const newReqs = h.requests.filter((r) => r.at >= t0);
  assert.equal(newReqs[0]?.port, 9090);
  assert.equal(h.sched.get('default/web', '10.0.0.1')?.state, 'active', 'the old failure does not count');
  await h.timers.advance(1000);
  assert.equal(h.sched.get('default/web', '10.0.0.1')?.state, 'inactive');
  assert.deepEqual(
    h.changes.map((c) => c.state),
    ['active', 'inactive'],
  );
  await h.sched.stop();
});

test('type none: active at once, never probed; switching to none from inactive reports active', async () => {
  const h = harness();
  h.sched.update([target('10.0.0.1', { type: 'none' }), target('10.0.0.2')]);
  assert.deepEqual(
    h.changes.map((c) => [c.endpoint, c.state]),
    [['10.0.0.1', 'active']],
  );
  await h.timers.advance(3000);
  assert.ok(h.requests.every((r) => r.address !== '10.0.0.1'));
  assert.equal(h.sched.get('default/web', '10.0.0.2')?.state, 'inactive');
  h.sched.update([target('10.0.0.1', { type: 'none' }), target('10.0.0.2', { type: 'none' })]);
  assert.deepEqual(h.changes.at(-1), {
    at: 3000,
    service: 'default/web',
    endpoint: '10.0.0.2',
    state: 'active',
    reason: 'no health check configured',
  });
  const n = h.requests.length;
  await h.timers.advance(5000);
  assert.equal(h.requests.length, n);
  assert.equal(h.timers.count, 0, 'no timers for unprobed targets');
  await h.sched.stop();
});

test('removed targets stop probing, their probe in flight is aborted and never reported', async () => {
  const h = harness({ latencyMs: 500 });
  h.sched.update([target('10.0.0.1'), target('10.0.0.2')]);
  await h.timers.advance(100); // both probes in flight
  assert.equal(h.inFlight(), 2);
  h.sched.update([target('10.0.0.2')]);
  assert.equal(h.inFlight(), 1);
  await h.timers.advance(5000);
  assert.ok(h.changes.every((c) => c.endpoint === '10.0.0.2'));
  assert.ok(h.requests.filter((r) => r.address === '10.0.0.1').length === 1);
  assert.equal(h.sched.get('default/web', '10.0.0.1'), undefined);
  await h.sched.stop();
});

test('concurrency is bounded and every endpoint still gets probed', async () => {
  const h = harness({ latencyMs: 100, maxConcurrent: 3 });
  const targets = Array.from({ length: 20 }, (_, i) => target(`10.0.1.${i + 1}`));
  for (const t of targets) h.healthy.set(t.endpoint, true);
  h.sched.update(targets);
  await h.timers.advance(3000);
  assert.equal(h.maxInFlight(), 3);
  assert.equal(new Set(h.changes.filter((c) => c.state === 'active').map((c) => c.endpoint)).size, 20);
  await h.sched.stop();
});

test('stop() clears every timer, aborts probes in flight and ignores their results', async () => {
  const h = harness({ latencyMs: 500 });
  h.sched.update([target('10.0.0.1'), target('10.0.0.2', { type: 'udp' })]);
  await h.timers.advance(150);
  assert.equal(h.inFlight(), 2);
  await h.sched.stop();
  assert.equal(h.inFlight(), 0);
  assert.equal(h.timers.count, 0);
  assert.equal(h.changes.length, 0);
  assert.throws(() => h.sched.update([]), SchedulerStoppedError);
  await h.sched.stop(); // idempotent
});

test('bad input: duplicate targets and invalid thresholds are typed errors; a throwing prober is a failure', async () => {
  const h = harness();
  assert.throws(() => h.sched.update([target('10.0.0.1'), target('10.0.0.1')]), DuplicateTargetError);
  assert.throws(() => h.sched.update([target('10.0.0.1', { unhealthyThreshold: 0 })]), /unhealthyThreshold/);
  const timers = new FakeTimers();
  const changes: string[] = [];
  const s = new ProbeScheduler({
    onChange: (_s, _e, state, reason) => {
      changes.push(`${state}:${reason}`);
      throw new Error('callback bug');
    },
    onError: (e) => changes.push(`error:${(e as Error).message}`),
    probers: {
      tcp: () => {
        throw new Error('not an IP address: "web-0"');
      },
    },
    timers,
  });
  s.update([{ service: 's', endpoint: 'web-0', targetPort: 80, check: check() }]);
  await timers.advance(1000);
  assert.deepEqual(changes, ['inactive:not an IP address: "web-0"', 'error:callback bug']);
  await s.stop();
  await h.sched.stop();
});
