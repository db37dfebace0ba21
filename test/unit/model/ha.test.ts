// fullNAT under HA: an SNAT source the node taking over cannot own is a warning naming the field and
// the value, on a full build and on incremental changes (the LoadBalancer, or the Cluster, changed).
import test from 'node:test';
import assert from 'node:assert/strict';
import { emptySnapshot, transition, type Snapshot } from '../../../src/state/snapshot.js';
import { buildDesiredState } from '../../../src/model/validate.js';
import type { RawObject } from '../../../src/model/types.js';
import type { ConfigIssue } from '../../../src/model/issues.js';

const obj = (kind: string, name: string, spec: Record<string, unknown>): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind,
  metadata: { name },
  spec,
});
const cluster = obj('Cluster', 'default', {
  authKeyFile: '/etc/ferrolb/cluster.key',
  nodes: [
    { name: 'lb1', address: '10.0.0.1' },
    { name: 'lb2', address: '10.0.0.2' },
  ],
});
const pool = obj('IPAddressPool', 'p', { addresses: ['10.9.0.0/24'] });
const lb = (snat: string[]) =>
  obj('LoadBalancer', 'web', {
    addresses: ['10.9.0.10'],
    mode: 'fullnat',
    ports: [{ port: 80 }],
    snatAddresses: snat,
    endpoints: [{ address: '10.1.0.5' }],
  });
const next = (s: Snapshot, objects: RawObject[]): Snapshot => {
  const t = transition(s, { type: 'apply', objects });
  assert.ok(t.ok, JSON.stringify(t));
  return t.next;
};
const ha = (s: { warnings: readonly ConfigIssue[] }) =>
  s.warnings.filter((w) => w.message.startsWith('HA: '));

test('a Cluster node address as SNAT source is a warning naming the field and value', () => {
  const r = buildDesiredState(
    [cluster, pool, lb(['10.0.0.1'])].map((object) => ({ origin: 'file', object })),
  );
  assert.ok(r.state);
  const w = ha(r);
  assert.equal(w.length, 1);
  assert.equal(w[0]?.object, 'LoadBalancer/web');
  assert.equal(w[0]?.field, 'spec.snatAddresses[0]');
  assert.equal(w[0]?.value, '10.0.0.1');
  assert.match(w[0]!.message, /10\.0\.0\.1 is Cluster node lb1's own address: no other node can own it/);
  assert.match(w[0]!.message, /spec\.snatAddresses empty/);
});

test('the service address (or the default) is fine; another address is a warning; no Cluster, no warning', () => {
  const files = (o: RawObject[]) => o.map((object) => ({ origin: 'file' as const, object }));
  assert.deepEqual(ha(buildDesiredState(files([cluster, pool, lb(['10.9.0.10'])]))), []);
  assert.deepEqual(ha(buildDesiredState(files([cluster, pool, lb([])]))), []);
  assert.match(
    ha(buildDesiredState(files([cluster, pool, lb(['10.1.0.1'])])))[0]?.message ?? '',
    /10\.1\.0\.1 is not an address of this LoadBalancer/,
  );
  assert.deepEqual(ha(buildDesiredState(files([pool, lb(['10.0.0.1'])]))), []);
});

test('incremental: the LoadBalancer changing, then the Cluster going away, update the warning', () => {
  let s = next(emptySnapshot(), [pool, lb(['10.9.0.10'])]);
  assert.deepEqual(ha(s), []);
  s = next(s, [cluster]);
  assert.deepEqual(ha(s), []);
  s = next(s, [lb(['10.0.0.2'])]);
  assert.match(ha(s)[0]?.message ?? '', /node lb2's own address/);
  assert.equal(ha(s).length, 1);
  const t = transition(s, { type: 'delete', kind: 'Cluster', name: 'default' });
  assert.ok(t.ok);
  assert.deepEqual(ha(t.next), [], 'no Cluster: not HA, no warning');
  s = next(t.next, [cluster]);
  assert.equal(ha(s).length, 1, 'the Cluster back: the warning back');
});
