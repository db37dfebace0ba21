// BGPSessionState planning: one object per (node, peer), a write only when the status changes, the
// uptime kept as the time the session came up, objects of removed peers deleted; names and labels valid.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sessionStatus } from '../../support/bgp-session.js';
import {
  labelValue,
  planSessionStates,
  sessionStateName,
  type KSessionState,
} from '../../../src/k8s/bgpstate.js';

const s = sessionStatus;

/** The objects after applying a plan (what the API would hold). */
function applied(cur: KSessionState[], plan: ReturnType<typeof planSessionStates>): KSessionState[] {
  const m = new Map(cur.map((o) => [o.metadata.name ?? '', o]));
  for (const c of plan.create) m.set(c.metadata.name ?? '', c);
  for (const p of plan.patchStatus) m.set(p.name, { ...m.get(p.name)!, status: p.status });
  for (const d of plan.delete) m.delete(d);
  return [...m.values()];
}

test('create, no-op while unchanged, uptime kept while Established, removed peer deleted', () => {
  const t0 = Date.parse('2026-12-02T10:00:00Z');
  const p1 = planSessionStates('n1', 'ferrolb-system', [s('tor', 'Active')], [], t0);
  assert.equal(p1.create.length, 1);
  assert.deepEqual(p1.create[0]?.metadata, {
    name: 'n1.tor',
    namespace: 'ferrolb-system',
    labels: { 'ferrolb.io/node': 'n1', 'ferrolb.io/peer': 'tor' },
  });
  assert.equal(p1.patchStatus[0]?.status.sessionState, 'Active');
  let objs = applied([], p1);
  assert.deepEqual(planSessionStates('n1', 'ferrolb-system', [s('tor', 'Active')], objs, t0 + 5000), {
    create: [],
    patchStatus: [],
    delete: [],
  });
  const up = planSessionStates(
    'n1',
    'ferrolb-system',
    [s('tor', 'Established', { uptimeMs: 2000 })],
    objs,
    t0 + 10_000,
  );
  assert.equal(up.patchStatus[0]?.status.establishedTime, '2026-12-02T10:00:08Z');
  assert.equal(up.patchStatus[0]?.status.lastTransitionTime, '2026-12-02T10:00:10Z');
  objs = applied(objs, up);
  // Later polls report a longer uptime (with jitter): nothing to write.
  const later = planSessionStates(
    'n1',
    'ferrolb-system',
    [s('tor', 'Established', { uptimeMs: 62_345 })],
    objs,
    t0 + 70_000,
  );
  assert.deepEqual(later.patchStatus, []);
  const sent = planSessionStates(
    'n1',
    'ferrolb-system',
    [s('tor', 'Established', { uptimeMs: 70_000, prefixesSent: 4 })],
    objs,
    t0 + 80_000,
  );
  assert.equal(sent.patchStatus[0]?.status.prefixesSent, 4);
  assert.equal(sent.patchStatus[0]?.status.establishedTime, '2026-12-02T10:00:08Z', 'uptime origin kept');
  assert.deepEqual(planSessionStates('n1', 'ferrolb-system', [], applied(objs, sent), t0).delete, ['n1.tor']);
});

test('names are DNS-1123 subdomains and labels valid label values, for any node and peer name', () => {
  const dns = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  const label = /^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 300 }),
      fc.string({ minLength: 1, maxLength: 300 }),
      (n, p) => {
        const name = sessionStateName(n, p);
        assert.ok(name.length <= 253 && dns.test(name), name);
        for (const v of [labelValue(n), labelValue(p)]) assert.ok(v.length <= 63 && label.test(v), v);
      },
    ),
  );
  assert.equal(sessionStateName('Node_A', 'TOR 1'), 'node-a.tor-1');
  assert.notEqual(sessionStateName('x'.repeat(300), 'a'), sessionStateName('x'.repeat(300), 'b'));
});
