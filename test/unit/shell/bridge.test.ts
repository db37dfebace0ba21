import test from 'node:test';
import assert from 'node:assert/strict';
import { dataplaneServices, probeTargets } from '../../../src/shell/bridge.js';
import { buildSnapshot, type Snapshot } from '../../../src/state/snapshot.js';
import type { RawObject } from '../../../src/model/types.js';

const objects: RawObject[] = [
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'IPAddressPool',
    metadata: { name: 'p' },
    spec: { addresses: ['10.0.0.0/31'] },
  },
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'LoadBalancer',
    metadata: { name: 'a' },
    spec: {
      ports: [{ port: 80, targetPort: 8080 }],
      mode: 'fullnat',
      algorithm: 'maglev',
      flushOnInactive: true,
      endpoints: [{ address: '10.1.0.1', weight: 3 }, { address: '10.1.0.2' }],
      healthCheck: { type: 'http', expectStatus: [204], interval: '2s' },
    },
  },
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'LoadBalancer',
    metadata: { name: 'b' },
    spec: { ports: [{ port: 53, protocol: 'UDP' }], endpoints: [{ address: '10.1.0.3' }] },
  },
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'LoadBalancer',
    metadata: { name: 'c' },
    spec: { ports: [{ port: 1 }] },
  },
];

function snap(): Snapshot {
  const t = buildSnapshot(
    objects.map((object) => ({ origin: 'file' as const, object })),
    new Map(),
    1,
  );
  assert.ok(t.ok);
  return t.next;
}

test('only allocated services reach the data plane, with health or the default state', () => {
  const s = snap();
  assert.equal(s.status.get('c')?.phase, 'Pending', 'the /31 has room for two services');
  const svcs = dataplaneServices(s, (svc, addr) =>
    svc === 'a' && addr === '10.1.0.2' ? 'inactive' : undefined,
  );
  assert.deepEqual(
    svcs.map((x) => x.name),
    ['a', 'b'],
  );
  const a = svcs[0];
  assert.deepEqual(a?.addresses, ['10.0.0.0']);
  assert.deepEqual(a?.ports, [{ port: 80, protocol: 'TCP', targetPort: 8080 }]);
  assert.equal(a?.flushOnInactive, true);
  assert.deepEqual(
    a?.endpoints.map((e) => [e.address, e.weight, e.state]),
    [
      ['10.1.0.1', 3, 'unknown'],
      ['10.1.0.2', 1, 'inactive'],
    ],
  );
  assert.equal(svcs[1]?.endpoints[0]?.state, 'active', 'no health check: active');
});

test('probe targets carry the whole check, for probed services only', () => {
  const targets = probeTargets(snap());
  assert.deepEqual(
    targets.map((t) => [t.service, t.endpoint, t.targetPort]),
    [
      ['a', '10.1.0.1', 8080],
      ['a', '10.1.0.2', 8080],
    ],
  );
  assert.deepEqual(targets[0]?.check.expectStatus, [204]);
  assert.equal(targets[0]?.check.intervalMs, 2000);
});
