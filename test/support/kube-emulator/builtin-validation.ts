// The built-in types' server-side checks a client could get wrong in ways a real server refuses
// (the subset of k8s.io/kubernetes/pkg/apis/*/validation that ferrolb's writes could trip on).
import { isIP } from 'node:net';
import { invalid, type FieldError } from './schema.js';
import type { ResourceType } from './resources.js';
import { ApiError, type Json } from './store.js';

const QUALIFIED = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

const bad = (field: string, value: unknown, why: string): FieldError => ({
  field,
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${JSON.stringify(value)}: ${why}`,
});
const required = (field: string): FieldError => ({
  field,
  reason: 'FieldValueRequired',
  message: 'Required value',
});
const unsupported = (field: string, value: unknown, allowed: string[]): FieldError => ({
  field,
  reason: 'FieldValueNotSupported',
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`,
});

/** A qualified name ("prefix/name"): annotation and label keys, condition types. */
function qualifiedName(field: string, key: string): FieldError | undefined {
  const parts = key.split('/');
  const name = parts.length === 2 ? parts[1] : parts[0];
  const prefix = parts.length === 2 ? parts[0] : undefined;
  if (parts.length > 2 || !name || name.length > 63 || !QUALIFIED.test(name))
    return bad(field, key, "name part must consist of alphanumeric characters, '-', '_' or '.'");
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)))
    return bad(field, key, 'prefix part must be a lowercase RFC 1123 subdomain');
  return undefined;
}

function metadataErrors(o: Json): FieldError[] {
  const errs: FieldError[] = [];
  const meta = (o.metadata ?? {}) as Json;
  for (const [field, map] of [
    ['metadata.annotations', meta.annotations],
    ['metadata.labels', meta.labels],
  ] as const) {
    if (map === undefined || map === null) continue;
    for (const [k, v] of Object.entries(map as Json)) {
      const e = qualifiedName(field, k);
      if (e) errs.push(e);
      if (typeof v !== 'string') errs.push(bad(`${field}[${k}]`, v, 'must be a string'));
    }
  }
  return errs;
}

/** metav1.Condition as apimachinery validates it (Service status.conditions). */
function conditionErrors(path: string, list: unknown): FieldError[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) return [bad(path, list, 'must be a list')];
  const errs: FieldError[] = [];
  const types = new Set<string>();
  list.forEach((raw, i) => {
    const c = (raw ?? {}) as Json;
    const p = `${path}[${i}]`;
    if (typeof c.type !== 'string' || c.type === '') errs.push(required(`${p}.type`));
    else {
      const e = qualifiedName(`${p}.type`, c.type);
      if (e) errs.push(e);
      if (types.has(c.type))
        errs.push({
          field: `${p}.type`,
          reason: 'FieldValueInvalid',
          message: `Duplicate value: "${c.type}"`,
        });
      types.add(c.type);
    }
    if (!['True', 'False', 'Unknown'].includes(c.status as string))
      errs.push(unsupported(`${p}.status`, c.status, ['False', 'True', 'Unknown']));
    if (typeof c.lastTransitionTime !== 'string' || !RFC3339.test(c.lastTransitionTime))
      errs.push(
        c.lastTransitionTime === undefined
          ? required(`${p}.lastTransitionTime`)
          : bad(`${p}.lastTransitionTime`, c.lastTransitionTime, 'must be RFC 3339'),
      );
    if (typeof c.reason !== 'string' || c.reason === '') errs.push(required(`${p}.reason`));
    else if (c.reason.length > 1024 || !CONDITION_REASON.test(c.reason))
      errs.push(
        bad(
          `${p}.reason`,
          c.reason,
          "a condition reason must start with a letter and consist of alphanumerics, ',', ':' or '_'",
        ),
      );
    if (c.message !== undefined && (typeof c.message !== 'string' || c.message.length > 32768))
      errs.push(bad(`${p}.message`, c.message, 'may not be more than 32768 bytes'));
    if (
      c.observedGeneration !== undefined &&
      !(Number.isInteger(c.observedGeneration) && (c.observedGeneration as number) >= 0)
    )
      errs.push(bad(`${p}.observedGeneration`, c.observedGeneration, 'must be greater than or equal to 0'));
  });
  return errs;
}

function serviceErrors(o: Json): FieldError[] {
  const errs: FieldError[] = [];
  const status = (o.status ?? {}) as Json;
  const ingress = (status.loadBalancer as Json | undefined)?.ingress;
  if (Array.isArray(ingress))
    ingress.forEach((x, i) => {
      const e = (x ?? {}) as Json;
      const p = `status.loadBalancer.ingress[${i}]`;
      if (e.ip !== undefined && (typeof e.ip !== 'string' || isIP(e.ip) === 0))
        errs.push(bad(`${p}.ip`, e.ip, 'must be a valid IP address'));
      if (e.ipMode !== undefined && e.ip === undefined)
        errs.push(bad(`${p}.ipMode`, e.ipMode, 'may only be set when ip is set'));
      if (e.ipMode !== undefined && e.ipMode !== 'VIP' && e.ipMode !== 'Proxy')
        errs.push(unsupported(`${p}.ipMode`, e.ipMode, ['Proxy', 'VIP']));
    });
  errs.push(...conditionErrors('status.conditions', status.conditions));
  return errs;
}

function eventErrors(o: Json, ns: string): FieldError[] {
  const errs: FieldError[] = [];
  const involved = (o.involvedObject ?? {}) as Json;
  if (involved.namespace !== undefined && involved.namespace !== '' && involved.namespace !== ns)
    errs.push(bad('involvedObject.namespace', involved.namespace, 'does not match event.namespace'));
  if (o.type !== undefined && o.type !== 'Normal' && o.type !== 'Warning')
    errs.push(unsupported('type', o.type, ['Normal', 'Warning']));
  return errs;
}

/** metav1.MicroTime is parsed with exactly six fractional digits; a JS Date's ISO string is refused. */
function leaseCheck(o: Json): void {
  const spec = (o.spec ?? {}) as Json;
  for (const f of ['acquireTime', 'renewTime']) {
    const v = spec[f];
    if (v !== undefined && (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(v)))
      throw new ApiError(
        400,
        'BadRequest',
        `spec.${f}: ${JSON.stringify(v)}: not a MicroTime (RFC3339 with 6 fractional digits)`,
      );
  }
}

/** A CRD the emulator can serve: its name is plural.group, one storage version, a known scope. */
function crdErrors(o: Json): FieldError[] {
  const spec = (o.spec ?? {}) as Json;
  const names = (spec.names ?? {}) as Json;
  const errs: FieldError[] = [];
  const name = String(((o.metadata ?? {}) as Json).name ?? '');
  if (typeof names.plural !== 'string' || !names.plural) errs.push(required('spec.names.plural'));
  if (typeof names.kind !== 'string' || !names.kind) errs.push(required('spec.names.kind'));
  if (name !== `${String(names.plural)}.${String(spec.group)}`)
    errs.push(bad('metadata.name', name, 'must be spec.names.plural+"."+spec.group'));
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    errs.push(unsupported('spec.scope', spec.scope, ['Cluster', 'Namespaced']));
  const versions = Array.isArray(spec.versions) ? (spec.versions as Json[]) : [];
  if (versions.length === 0) errs.push(required('spec.versions'));
  if (versions.filter((v) => v.storage === true).length !== 1)
    errs.push(
      bad(
        'spec.versions',
        versions.map((v) => v.name),
        'must have exactly one version marked as storage version',
      ),
    );
  versions.forEach((v, i) => {
    if (!(v.schema as Json | undefined)?.openAPIV3Schema)
      errs.push(required(`spec.versions[${i}].schema.openAPIV3Schema`));
  });
  return errs;
}

export function admitBuiltin(t: ResourceType, o: Json): void {
  if (t.kind === 'Lease') leaseCheck(o);
  const errs = metadataErrors(o);
  const ns = String(((o.metadata ?? {}) as Json).namespace ?? '');
  if (t.group === '' && t.kind === 'Service') errs.push(...serviceErrors(o));
  if (t.group === '' && t.kind === 'Event') errs.push(...eventErrors(o, ns));
  if (t.kind === 'CustomResourceDefinition') errs.push(...crdErrors(o));
  if (errs.length > 0) throw invalid(t.kind, t.group, String(((o.metadata ?? {}) as Json).name ?? ''), errs);
}
