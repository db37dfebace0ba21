// The plain manifests are checked against the Kubernetes API types shipped in @kubernetes/client-node
// (see kube-types.ts): known kinds, known fields, values of the right shape, workloads wired to the RBAC.
import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { check, classOf, readManifests, typeErrors, wiringErrors } from './kube-types.js';

const ROOT = join(import.meta.dirname, '../../../..');
const docs = readManifests(join(ROOT, 'deploy/manifests'));

test('every manifest document is a known Kubernetes kind with only known fields', () => {
  assert.ok(docs.length >= 8, `found ${docs.length} documents`);
  assert.deepEqual(typeErrors(docs), []);
});

test('the checker itself catches a misspelt field and a wrong value type', () => {
  const errors: string[] = [];
  const bad = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x' },
    spec: { replicas: 'two', template: { spec: { serviceAcountName: 'a', containers: [] } } },
  };
  check(bad, classOf(bad), 'bad', errors);
  assert.deepEqual(errors, [
    'bad.spec.replicas: expected a number, got "two"',
    'bad.spec.template.spec.serviceAcountName: no such field in V1PodSpec',
  ]);
});

test('workloads run the ferrolb roles with the service accounts the RBAC binds', () => {
  assert.deepEqual(wiringErrors(docs), []);
});

test('the wiring check catches an unbound account and a selector that misses the pods', () => {
  const workload = {
    kind: 'Deployment',
    metadata: { name: 'w' },
    spec: {
      selector: { matchLabels: { app: 'x' } },
      template: { metadata: { labels: { app: 'y' } }, spec: { serviceAccountName: 'sa', containers: [{}] } },
    },
  };
  const sa = { kind: 'ServiceAccount', metadata: { name: 'sa' } };
  assert.deepEqual(
    wiringErrors([
      { where: 'w', o: workload },
      { where: 'sa', o: sa },
    ]),
    [
      'Deployment/w: service account is bound to no role',
      'Deployment/w: runs no ferrolb role: ',
      'Deployment/w: spec.selector does not select its pods',
    ],
  );
});
