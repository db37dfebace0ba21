// The plain manifests are checked against the Kubernetes API types shipped in @kubernetes/client-node:
// every field must exist in the type's attribute map (a typo such as `serviceAcountName` fails), every
// required field must be present, and values must have the type's shape. No kube-apiserver runs here;
// this is the schema check we can do offline.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

const ROOT = join(import.meta.dirname, '../../../..');
const DIR = join(ROOT, 'deploy/manifests');

type AttrMap = { name: string; baseName: string; type: string }[];
type ModelClass = { getAttributeTypeMap(): AttrMap };
const models = k8s as unknown as Record<string, ModelClass | undefined>;

const PRIMITIVES = new Set([
  'string',
  'number',
  'boolean',
  'Date',
  'object',
  'any',
  'IntOrString',
  'RuntimeRawExtension',
]);

function check(value: unknown, type: string, path: string, errors: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return void errors.push(`${path}: expected a list`);
    value.forEach((v, i) => check(v, array[1] as string, `${path}[${i}]`, errors));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) return void errors.push(`${path}: expected a map`);
    for (const [k, v] of Object.entries(value)) check(v, map[1] as string, `${path}.${k}`, errors);
    return;
  }
  if (PRIMITIVES.has(type)) {
    if (type === 'string' && typeof value !== 'string')
      errors.push(`${path}: expected a string, got ${JSON.stringify(value)}`);
    if (type === 'number' && typeof value !== 'number')
      errors.push(`${path}: expected a number, got ${JSON.stringify(value)}`);
    if (type === 'boolean' && typeof value !== 'boolean')
      errors.push(`${path}: expected a boolean, got ${JSON.stringify(value)}`);
    return;
  }
  const model = models[type];
  if (!model?.getAttributeTypeMap) return void errors.push(`${path}: unknown type ${type}`);
  if (typeof value !== 'object' || Array.isArray(value))
    return void errors.push(`${path}: expected an object of ${type}`);
  const attrs = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const t = attrs.get(k);
    if (!t) errors.push(`${path}.${k}: no such field in ${type}`);
    else check(v, t, `${path}.${k}`, errors);
  }
}

/** apps/v1 Deployment → V1Deployment, the client's model class. */
const classOf = (o: Record<string, unknown>) =>
  `V${(
    String(o.apiVersion ?? '')
      .split('/')
      .pop() ?? ''
  ).replace(/^v/, '')}${String(o.kind)}`;

const docs = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d, i) => ({
      where: `${f}#${i + 1}`,
      o: d.toJS() as Record<string, unknown>,
    })),
  )
  .filter((d) => d.o);

test('every manifest document is a known Kubernetes kind with only known fields', () => {
  assert.ok(docs.length >= 8, `found ${docs.length} documents`);
  const errors: string[] = [];
  for (const { where, o } of docs) {
    const cls = classOf(o);
    if (!models[cls]) {
      errors.push(`${where}: unknown kind ${String(o.apiVersion)}/${String(o.kind)}`);
      continue;
    }
    check(o, cls, where, errors);
  }
  assert.deepEqual(errors, []);
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
  const byKind = (k: string) => docs.filter((d) => d.o.kind === k).map((d) => d.o as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
  const accounts = new Set(byKind('ServiceAccount').map((s) => s.metadata.name));
  const bound = new Set(
    [...byKind('ClusterRoleBinding'), ...byKind('RoleBinding')].flatMap((b) =>
      (b.subjects ?? []).map((s: { name: string }) => s.name),
    ),
  );
  for (const w of [...byKind('Deployment'), ...byKind('DaemonSet')]) {
    const pod = w.spec.template.spec;
    assert.ok(
      accounts.has(pod.serviceAccountName),
      `${w.metadata.name}: service account ${pod.serviceAccountName} is defined`,
    );
    assert.ok(bound.has(pod.serviceAccountName), `${w.metadata.name}: service account is bound to a role`);
    const args: string[] = pod.containers[0].args ?? pod.containers[0].command ?? [];
    assert.ok(
      args.includes('controller') || args.includes('agent'),
      `${w.metadata.name} runs a ferrolb role: ${args.join(' ')}`,
    );
  }
});
