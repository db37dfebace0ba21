import test from 'node:test';
import assert from 'node:assert/strict';
import { announcements } from '../../../src/shell/bgp.js';
import { buildSnapshot } from '../../../src/state/snapshot.js';
import type { RawObject } from '../../../src/model/types.js';

const objects: RawObject[] = [
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'IPAddressPool',
    metadata: { name: 'p' },
    spec: { addresses: ['10.0.0.0/30'] },
  },
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'IPAddressPool',
    metadata: { name: 's' },
    spec: { addresses: ['10.9.0.0/30'], autoAssign: false },
  },
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'LoadBalancer',
    metadata: { name: 'local' },
    spec: { ports: [{ port: 80 }], endpoints: [{ address: '10.1.0.1' }] },
  },
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'LoadBalancer',
    metadata: { name: 'amf' },
    spec: {
      mode: 'fullnat',
      secondaryPools: ['s'],
      ports: [{ port: 38412, protocol: 'SCTP' }],
      endpoints: [{ address: '10.1.0.2' }, { address: '10.1.0.3' }],
    },
  },
];

test('announcements: primary and secondary addresses with pools; active endpoints counted; node filter applies', () => {
  const t = buildSnapshot(
    objects.map((object) => ({ origin: 'file' as const, object })),
    new Map(),
    1,
  );
  assert.ok(t.ok);
  const health = (svc: string, addr: string) =>
    svc === 'amf' && addr === '10.1.0.2' ? 'inactive' : undefined;
  const all = announcements(t.next, health);
  const amf = all.find((a) => a.service === 'amf');
  assert.deepEqual(amf?.addresses, [
    { address: '10.0.0.0', pool: 'p' },
    { address: '10.9.0.0', pool: 's', secondary: true },
  ]);
  assert.equal(amf?.activeEndpoints, 1);
  const onlyAmf = announcements(t.next, health, (svc) => svc !== 'local');
  assert.deepEqual(
    onlyAmf.map((a) => a.service),
    ['amf'],
    'externalTrafficPolicy Local: this node is not listed for "local"',
  );
});
