// Controller flags: defaults, Lease timings, and mistakes named with the flag and the value.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseControllerArgs } from '../../../src/roles/controller.js';
import { UsageError } from '../../../src/roles/usage.js';

test('leader election is off unless asked; its defaults are client-go’s', () => {
  assert.equal(parseControllerArgs([], {}).leaderElection, false);
  assert.deepEqual(parseControllerArgs(['--leader-elect'], { POD_NAMESPACE: 'lb' }).leaderElection, {
    namespace: 'lb',
    name: 'ferrolb-controller',
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
  });
});

test('Lease timings are flags', () => {
  const o = parseControllerArgs(
    [
      '--leader-elect',
      '--lease-name=x',
      '--leader-elect-lease-duration=1m',
      '--leader-elect-renew-deadline=40s',
      '--leader-elect-retry-period=500ms',
    ],
    {},
  );
  assert.deepEqual(o.leaderElection, {
    namespace: 'ferrolb-system',
    name: 'x',
    leaseDurationMs: 60_000,
    renewDeadlineMs: 40_000,
    retryPeriodMs: 500,
  });
});

test('bad timings are refused naming the flag and the value', () => {
  const refuses = (args: string[], re: RegExp) =>
    assert.throws(
      () => parseControllerArgs(['--leader-elect', ...args], {}),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
    );
  refuses(['--leader-elect-retry-period=soon'], /--leader-elect-retry-period: "soon"/);
  refuses(['--leader-elect-lease-duration=0s'], /--leader-elect-lease-duration: "0s"/);
  // A lease no longer than the renew deadline could be taken over while the old leader still acts.
  refuses(
    ['--leader-elect-lease-duration=10s'],
    /lease-duration: 10000 ms must be longer than .*renew-deadline/,
  );
  refuses(['--leader-elect-renew-deadline=2s'], /renew-deadline: 2000 ms must be longer than .*retry-period/);
});

test('cluster flags map to the mapping config', () => {
  const o = parseControllerArgs(
    ['--lb-class', 'x.io/y', '--default-class', '--loxilb-compat', '--secondary-pools', ' a, b,,c '],
    {},
  );
  assert.deepEqual(o.config, {
    loadBalancerClass: 'x.io/y',
    defaultClass: true,
    loxilbCompat: true,
    metallbCompat: false,
    secondaryPools: ['a', 'b', 'c'],
  });
});
