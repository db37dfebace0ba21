// Kubernetes objects checked against the API types shipped in @kubernetes/client-node: every field must
// exist in the type's attribute map (a typo such as `serviceAcountName` fails), and values must have the
// type's shape. No kube-apiserver runs here; this is the schema check we can do offline. Shared by the
// plain manifests' test and the Helm chart's.
import * as k8s from '@kubernetes/client-node';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;
export type Doc = { where: string; o: Obj };

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

export function check(value: unknown, type: string, path: string, errors: string[]): void {
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
export const classOf = (o: Obj) =>
  `V${(
    String(o.apiVersion ?? '')
      .split('/')
      .pop() ?? ''
  ).replace(/^v/, '')}${String(o.kind)}`;

/** Every problem with the documents' kinds and fields; empty when all are valid. */
export function typeErrors(docs: Doc[]): string[] {
  const errors: string[] = [];
  for (const { where, o } of docs) {
    const cls = classOf(o);
    if (!models[cls]) errors.push(`${where}: unknown kind ${String(o.apiVersion)}/${String(o.kind)}`);
    else check(o, cls, where, errors);
  }
  return errors;
}

/** The documents of a multi-document YAML text, empty ones dropped. */
export const parseDocs = (text: string, name: string): Doc[] =>
  parseAllDocuments(text)
    .map((d, i) => ({ i, o: d.toJS() as Obj }))
    .filter((d) => d.o)
    .map(({ i, o }) => ({ where: `${name}#${i + 1} ${o.kind}/${o.metadata?.name}`, o }));

export const readManifests = (dir: string): Doc[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseDocs(readFileSync(join(dir, f), 'utf8'), f));

export const ofKind = (docs: Doc[], kind: string): Obj[] =>
  docs.filter((d) => d.o.kind === kind).map((d) => d.o);

/**
 * What a workload needs from the rest of the install: its service account exists and is bound, it
 * runs a ferrolb role, and its selector selects its own pods.
 */
export function wiringErrors(docs: Doc[]): string[] {
  const errors: string[] = [];
  const accounts = new Set(ofKind(docs, 'ServiceAccount').map((s) => s.metadata.name));
  const bound = new Set(
    [...ofKind(docs, 'ClusterRoleBinding'), ...ofKind(docs, 'RoleBinding')].flatMap((b) =>
      (b.subjects ?? []).map((s: Obj) => s.name),
    ),
  );
  for (const w of [...ofKind(docs, 'Deployment'), ...ofKind(docs, 'DaemonSet')]) {
    const name = `${w.kind}/${w.metadata.name}`;
    const pod = w.spec.template.spec;
    if (!accounts.has(pod.serviceAccountName))
      errors.push(`${name}: service account ${pod.serviceAccountName} is not defined`);
    if (!bound.has(pod.serviceAccountName)) errors.push(`${name}: service account is bound to no role`);
    const args: string[] = pod.containers[0].args ?? pod.containers[0].command ?? [];
    if (args[0] !== 'controller' && args[0] !== 'agent')
      errors.push(`${name}: runs no ferrolb role: ${args.join(' ')}`);
    const labels: Obj = w.spec.template.metadata?.labels ?? {};
    const selects = (sel: Obj | undefined) =>
      Object.entries(sel ?? {}).every(([k, v]) => labels[k] === v) && Object.keys(sel ?? {}).length > 0;
    if (!selects(w.spec.selector?.matchLabels))
      errors.push(`${name}: spec.selector does not select its pods`);
    for (const term of pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
      if (!selects(term.podAffinityTerm.labelSelector?.matchLabels))
        errors.push(`${name}: pod anti-affinity does not select its own pods`);
  }
  return errors;
}
