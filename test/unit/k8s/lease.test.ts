// Leader election decisions (pure, virtual time) and the elector against the emulator.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { decide, LeaderElector, microTime, observe } from '../../../src/k8s/lease.js';
import { startEmulator, waitFor, type KubeEmulator } from '../../support/kube-emulator/index.js';
import type { KubeConfig } from '@kubernetes/client-node';

describe('lease decisions', () => {
  const rec = (holderIdentity: string, renewTime = 't1') => ({
    holderIdentity,
    renewTime,
    leaseDurationSeconds: 15,
  });
  it('acquires a missing or released lease, renews its own, waits for a live holder', () => {
    assert.equal(decide(undefined, 'me', 0, 15_000), 'acquire');
    assert.equal(decide({ record: rec(''), observedAtMs: 0 }, 'me', 1, 15_000), 'acquire');
    assert.equal(decide({ record: rec('me'), observedAtMs: 0 }, 'me', 1, 15_000), 'renew');
    assert.equal(decide({ record: rec('other'), observedAtMs: 1000 }, 'me', 15_999, 15_000), 'wait');
    assert.equal(decide({ record: rec('other'), observedAtMs: 1000 }, 'me', 16_000, 15_000), 'acquire');
  });
  it('judges expiry by when we saw the record change, not by the holder’s clock', () => {
    const o1 = observe(undefined, rec('other', '1999-01-01T00:00:00.000000Z'), 5000);
    assert.equal(decide(o1, 'me', 5000 + 14_000, 15_000), 'wait', 'an ancient renewTime alone is not expiry');
    const same = observe(o1, rec('other', '1999-01-01T00:00:00.000000Z'), 9000);
    assert.equal(same.observedAtMs, 5000, 'an unchanged record keeps its first observation time');
    const renewed = observe(o1, rec('other', '1999-01-01T00:00:01.000000Z'), 9000);
    assert.equal(renewed.observedAtMs, 9000);
    assert.equal(decide(renewed, 'me', 9000 + 14_999, 15_000), 'wait');
  });
  it('formats MicroTime with six fractional digits', () => {
    assert.equal(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05.678000Z');
  });
});

describe('LeaderElector against the emulator', () => {
  let emu: KubeEmulator;
  let kc: KubeConfig;
  before(async () => ({ emu, kc } = await startEmulator()));
  after(() => emu.stop());

  it('one leader at a time; release hands over; transitions are counted', async () => {
    const api = () => kc.makeApiClient(CoordinationV1Api);
    const log: string[] = [];
    const mk = (id: string) =>
      new LeaderElector({
        api: api(),
        namespace: 'kube-system',
        name: 'test-lease',
        identity: id,
        leaseDurationMs: 2000,
        renewDeadlineMs: 1500,
        retryPeriodMs: 100,
        onStartedLeading: () => log.push(`${id} start`),
        onStoppedLeading: () => log.push(`${id} stop`),
      });
    const a = mk('a');
    a.start();
    await waitFor(() => a.isLeader, 'a leads');
    const b = mk('b');
    b.start();
    await new Promise((r) => setTimeout(r, 400)); // several retry periods: b must not take a live lease
    assert.equal(b.isLeader, false);
    await a.stop();
    await waitFor(() => b.isLeader, 'b leads after release');
    const lease = await api().readNamespacedLease({ name: 'test-lease', namespace: 'kube-system' });
    assert.equal(lease.spec?.holderIdentity, 'b');
    assert.equal(
      lease.spec?.leaseTransitions,
      0,
      'taking a released lease is not a transition from a holder',
    );
    await b.stop();
    const released = await api().readNamespacedLease({ name: 'test-lease', namespace: 'kube-system' });
    assert.equal(released.spec?.holderIdentity, '');
    assert.deepEqual(log, ['a start', 'a stop', 'b start', 'b stop']);
  });
});
