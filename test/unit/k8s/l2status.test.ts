// ServiceL2Status, the pure part: which objects a node shows for the addresses it owns.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  desiredL2Statuses,
  l2StatusName,
  l2StatusObject,
  L2_NODE_LABEL,
  L2_SERVICE_LABEL,
  type ServiceRef,
} from '../../../src/k8s/l2status.js';

const web: ServiceRef = { namespace: 'shop', name: 'web', uid: 'u-1' };
const db: ServiceRef = { namespace: 'shop', name: 'db' };
const services = new Map<string, ServiceRef>([
  ['10.0.0.1', web],
  ['fd00::1', web],
  ['10.0.0.2', db],
]);

test('one object per Service, its owned addresses and interfaces sorted; unknown addresses left out', () => {
  const want = desiredL2Statuses(
    new Map([
      ['fd00::1', ['eth1']],
      ['10.0.0.1', ['eth0', 'eth1']],
      ['10.0.0.2', []],
      ['10.9.9.9', ['eth0']],
    ]),
    (a) => services.get(a),
  );
  assert.deepEqual(
    [...want],
    [
      ['shop/web', { service: web, addresses: ['10.0.0.1', 'fd00::1'], interfaces: ['eth0', 'eth1'] }],
      ['shop/db', { service: db, addresses: ['10.0.0.2'], interfaces: [] }],
    ],
  );
});

test('the object: MetalLB-shaped status, labels, owned by the Service (when its uid is known)', () => {
  const o = l2StatusObject('lb2', { service: web, addresses: ['10.0.0.1'], interfaces: ['eth0'] });
  assert.equal(o.metadata.name, 'web-lb2');
  assert.equal(o.metadata.namespace, 'shop');
  assert.deepEqual(o.metadata.labels, { [L2_NODE_LABEL]: 'lb2', [L2_SERVICE_LABEL]: 'web' });
  assert.deepEqual(o.metadata.ownerReferences, [
    { apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'u-1' },
  ]);
  assert.deepEqual(o.status, {
    node: 'lb2',
    serviceName: 'web',
    serviceNamespace: 'shop',
    addresses: ['10.0.0.1'],
    interfaces: [{ name: 'eth0' }],
  });
  const noUid = l2StatusObject('lb2', { service: db, addresses: ['10.0.0.2'], interfaces: [] });
  assert.equal(noUid.metadata.ownerReferences, undefined);
  assert.equal(l2StatusName('s'.repeat(250), 'node').length, 253);
});
