// The per-service history behind `ferroctl describe lb`: repeats folded, bounded per service and in
// services, and snapshot changes turned into Allocated/Pending/released.
import test from 'node:test';
import assert from 'node:assert/strict';
import { l2OwnedChanges, ServiceEventLog, snapshotEvents } from '../../../src/state/events.js';
import { holdersByAddress } from '../../../src/ipam/allocator.js';
import { emptySnapshot, transition, type Snapshot } from '../../../src/state/snapshot.js';
import type { RawObject } from '../../../src/model/types.js';

const obj = (kind: string, name: string, spec: Record<string, unknown>): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind,
  metadata: { name },
  spec,
});
const next = (s: Snapshot, objects: RawObject[]): Snapshot => {
  const t = transition(s, { type: 'apply', objects });
  assert.ok(t.ok);
  return t.next;
};

test('ServiceEventLog folds repeats, keeps the last N per service and at most M services', () => {
  const log = new ServiceEventLog(3, 2);
  const e = (reason: string, at: number) => ({ at, type: 'Normal' as const, reason, message: reason });
  log.record('a', e('X', 1));
  log.record('a', e('X', 2));
  assert.deepEqual(log.events('a'), [{ at: 2, type: 'Normal', reason: 'X', message: 'X', count: 2 }]);
  for (const [i, r] of ['Y', 'Z', 'W'].entries()) log.record('a', e(r, 3 + i));
  assert.deepEqual(
    log.events('a').map((x) => x.reason),
    ['Y', 'Z', 'W'],
  );
  log.record('b', e('X', 9));
  log.record('c', e('X', 9));
  assert.deepEqual(log.events('a'), [], 'the oldest service went first');
  assert.equal(log.events('c').length, 1);
});

test('snapshotEvents: allocated with addresses, pending with the reason, released; untouched ones absent', () => {
  const s0 = next(emptySnapshot(), [obj('IPAddressPool', 'p', { addresses: ['10.9.0.1/32'] })]);
  const s1 = next(s0, [obj('LoadBalancer', 'a', { ports: [{ port: 80 }] })]);
  assert.deepEqual(snapshotEvents(s0, s1, 5), [
    { service: 'a', event: { at: 5, type: 'Normal', reason: 'Allocated', message: 'addresses 10.9.0.1' } },
  ]);
  const s2 = next(s1, [obj('LoadBalancer', 'b', { ports: [{ port: 80 }] })]);
  const ev = snapshotEvents(s1, s2, 6);
  assert.equal(ev.length, 1, 'a was not touched');
  assert.equal(ev[0]?.service, 'b');
  assert.equal(ev[0]?.event?.reason, 'Pending');
  assert.match(ev[0]?.event?.message ?? '', /^\w+: .*10\.9|^\w+: /);
  const t = transition(s2, { type: 'delete', kind: 'LoadBalancer', name: 'a' });
  assert.ok(t.ok);
  const gone = snapshotEvents(s2, t.next, 7);
  assert.deepEqual(
    gone.find((x) => x.service === 'a'),
    { service: 'a', released: true },
  );
});

test('Layer 2 owned-set changes: gained, released and re-announced on other interfaces, in address order', () => {
  const before = new Map([
    ['10.0.0.2', ['eth0']],
    ['10.0.0.1', ['eth0']],
    ['10.0.0.3', ['eth0']],
  ]);
  const after = new Map([
    ['10.0.0.3', ['eth0', 'eth1']],
    ['10.0.0.1', ['eth0']],
    ['10.0.0.4', []],
  ]);
  assert.deepEqual(l2OwnedChanges(before, after), [
    { address: '10.0.0.2' },
    { address: '10.0.0.3', interfaces: ['eth0', 'eth1'] },
    { address: '10.0.0.4', interfaces: [] },
  ]);
  assert.deepEqual(l2OwnedChanges(after, after), []);
});

test('holdersByAddress: primary and secondary addresses name their service', () => {
  const m = holdersByAddress(
    new Map([
      ['a', { addresses: ['192.0.2.1', '2001:db8::1'], secondaryAddresses: ['192.0.2.9'] }],
      ['b', { addresses: ['192.0.2.2'], secondaryAddresses: [] }],
    ]),
  );
  assert.deepEqual(
    [...m].sort(),
    [
      ['192.0.2.1', 'a'],
      ['192.0.2.2', 'b'],
      ['192.0.2.9', 'a'],
      ['2001:db8::1', 'a'],
    ],
  );
});
