// Health is core state: keyed by (service, endpoint, check) and pruned with what it belongs to.
import test from 'node:test';
import assert from 'node:assert/strict';
import { emptySnapshot, transition, type Snapshot } from '../../../src/state/snapshot.js';
import { HealthTable, checkKey } from '../../../src/state/health.js';
import { probeTargets } from '../../../src/shell/bridge.js';
import { loadBalancerView } from '../../../src/state/views.js';
import type { RawObject } from '../../../src/model/types.js';

const pool: RawObject = {
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name: 'p' },
  spec: { addresses: ['10.0.0.0/24'] },
};
const web = (hc?: Record<string, unknown>, eps = ['192.0.2.1', '192.0.2.2']): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'LoadBalancer',
  metadata: { name: 'web' },
  spec: {
    ports: [{ port: 80, targetPort: 8080 }],
    endpoints: eps.map((address) => ({ address })),
    ...(hc ? { healthCheck: hc } : {}),
  },
});
function step(s: Snapshot, objects: RawObject[], table: HealthTable): Snapshot {
  const t = transition(s, { type: 'apply', objects });
  assert.ok(t.ok);
  table.prune(s, t.next);
  return t.next;
}
const shown = (s: Snapshot, table: HealthTable, ep: string) => {
  const lb = s.state.loadBalancers.get('web');
  assert.ok(lb);
  return loadBalancerView(s, lb, (svc, a) => table.lookup(svc, a)).endpoints.find((e) => e.address === ep)
    ?.state;
};

test('removing the health check returns a down endpoint to service (no blackhole until restart)', () => {
  const h = new HealthTable();
  let s = step(emptySnapshot(), [pool, web({ type: 'tcp' })], h);
  assert.ok(h.record(s, 'web', '192.0.2.1', 'inactive'));
  assert.equal(shown(s, h, '192.0.2.1'), 'inactive');
  s = step(s, [web()], h);
  assert.equal(shown(s, h, '192.0.2.1'), 'active');
  assert.equal(h.size, 0);
});

test('a deleted and re-created service starts unknown, not with the old verdict', () => {
  const h = new HealthTable();
  let s = step(emptySnapshot(), [pool, web({ type: 'tcp' })], h);
  h.record(s, 'web', '192.0.2.1', 'active');
  const d = transition(s, { type: 'delete', kind: 'LoadBalancer', name: 'web' });
  assert.ok(d.ok);
  h.prune(s, d.next);
  s = step(d.next, [web({ type: 'tcp' })], h);
  assert.equal(shown(s, h, '192.0.2.1'), 'unknown');
});

test('a verdict of a check the endpoint no longer runs is ignored; a changed check carries over until its own verdict', () => {
  const h = new HealthTable();
  let s = step(emptySnapshot(), [pool, web({ type: 'http', path: '/old' })], h);
  const [oldTarget] = probeTargets(s);
  assert.ok(oldTarget);
  const oldKey = checkKey(oldTarget.check, oldTarget.targetPort);
  assert.ok(h.record(s, 'web', '192.0.2.1', 'active', oldKey));
  s = step(s, [web({ type: 'http', path: '/new' })], h);
  // The late verdict of the old probe does not count...
  assert.equal(h.record(s, 'web', '192.0.2.1', 'inactive', oldKey), false);
  assert.equal(shown(s, h, '192.0.2.1'), 'active');
  // ...the new check's does.
  const [newTarget] = probeTargets(s);
  assert.ok(newTarget);
  assert.ok(h.record(s, 'web', '192.0.2.1', 'inactive', checkKey(newTarget.check, newTarget.targetPort)));
  assert.equal(shown(s, h, '192.0.2.1'), 'inactive');
});

test('a removed endpoint is forgotten; a re-added one starts unknown', () => {
  const h = new HealthTable();
  let s = step(emptySnapshot(), [pool, web({ type: 'tcp' })], h);
  h.record(s, 'web', '192.0.2.2', 'inactive');
  s = step(s, [web({ type: 'tcp' }, ['192.0.2.1'])], h);
  assert.equal(h.size, 0);
  assert.equal(h.record(s, 'web', '192.0.2.2', 'active'), false, 'not an endpoint any more');
  s = step(s, [web({ type: 'tcp' })], h);
  assert.equal(shown(s, h, '192.0.2.2'), 'unknown');
});

test('the model and the probe target agree on the check identity', () => {
  const s = step(
    emptySnapshot(),
    [pool, web({ type: 'http', path: '/x', expectStatus: [200] })],
    new HealthTable(),
  );
  const lb = s.state.loadBalancers.get('web');
  assert.ok(lb);
  for (const t of probeTargets(s))
    assert.equal(checkKey(t.check, t.targetPort), checkKey(lb.healthCheck, 8080));
});
