// Custom resources checked against their CRD's openAPIV3Schema as kube-apiserver does: unknown fields
// are pruned (unless x-kubernetes-preserve-unknown-fields), then the object is validated (ajv) and
// refused with 422 Invalid naming each field, in the apiserver's wording
// (`spec.addresses: Invalid value: "string": spec.addresses in body must be of type array: "string"`).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ApiError, type Json } from './store.js';

type Schema = Record<string, unknown>;

// The formats kube-apiserver checks for CRDs (k8s.io/kube-openapi strfmt); the others pass.
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const ajv = new Ajv({ allErrors: true, strict: false, logger: false, validateFormats: true });
ajv.addFormat('date-time', RFC3339);
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
ajv.addFormat('int32', {
  type: 'number',
  validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
});
for (const f of ['byte', 'double', 'float', 'password', 'ipv4', 'ipv6', 'cidr', 'uri', 'uuid', 'hostname'])
  ajv.addFormat(f, true);

// By content: the store hands out copies, so the same CRD schema arrives as a new object each time.
const compiled = new Map<string, ValidateFunction>();
function compile(schema: Schema): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) compiled.set(key, (v = ajv.compile(structuredClone(schema))));
  return v;
}

/** Drops fields the schema does not name (in place), as the apiserver's pruning does. */
export function prune(value: unknown, schema: Schema | undefined, root = false): void {
  if (!schema || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) prune(v, schema.items as Schema | undefined);
    return;
  }
  const o = value as Json;
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  const extra = schema.additionalProperties;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  for (const k of Object.keys(o)) {
    // apiVersion, kind and metadata of the object itself are the server's, never pruned.
    if (root && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    if (k in props) prune(o[k], props[k]);
    else if (extra && typeof extra === 'object') prune(o[k], extra as Schema);
    else if (!preserve && extra !== true) delete o[k];
  }
}

const typeName = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'array'
      : typeof v === 'number' && Number.isInteger(v)
        ? 'integer'
        : typeof v;

const at = (doc: unknown, pointer: string): unknown => {
  let cur = doc;
  for (const p of pointer.split('/').slice(1))
    cur = (cur as Json | undefined)?.[p.replace(/~1/g, '/').replace(/~0/g, '~')];
  return cur;
};

/** JSON pointer → the apiserver's field path ("/spec/addresses/0" → "spec.addresses[0]"). */
export const fieldPath = (pointer: string): string =>
  pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');

export interface FieldError {
  readonly field: string;
  readonly reason:
    'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueNotSupported' | 'FieldValueTypeInvalid';
  readonly message: string;
}

function toFieldError(e: ErrorObject, doc: unknown): FieldError {
  const path = fieldPath(e.instancePath);
  const v = at(doc, e.instancePath);
  const shown = (x: unknown) => JSON.stringify(x);
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return {
        field: path ? `${path}.${missing}` : missing,
        reason: 'FieldValueRequired',
        message: 'Required value',
      };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(shown).join(', ');
      return {
        field: path,
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${shown(v)}: supported values: ${allowed}`,
      };
    }
    case 'type': {
      const t = typeName(v);
      const want = (e.params as { type: string }).type;
      return {
        field: path,
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: "${t}": ${path} in body must be of type ${want}: "${t}"`,
      };
    }
    default:
      return {
        field: path,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${shown(v)}: ${path} in body ${e.message ?? 'is invalid'}`,
      };
  }
}

/** 422 Invalid with every field error, shaped as kube-apiserver's StatusReasonInvalid. */
export function invalid(kind: string, group: string, name: string, errs: readonly FieldError[]): ApiError {
  const parts = errs.map((e) => `${e.field}: ${e.message}`);
  const qualified = group ? `${kind}.${group}` : kind;
  const list = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualified} "${name}" is invalid: ${list}`, {
    name,
    group,
    kind,
    causes: errs.map((e) => ({ reason: e.reason, message: e.message, field: e.field })),
  });
}

/** Prunes `obj` in place and validates it; throws 422 naming every bad field. */
export function admitCustom(schema: Schema, kind: string, group: string, obj: Json): void {
  prune(obj, schema, true);
  const validate = compile(schema);
  const ok = validate(obj) as boolean;
  if (ok) return;
  const seen = new Set<string>();
  const errs: FieldError[] = [];
  for (const e of validate.errors ?? []) {
    // ajv's anyOf/oneOf/if produce noise entries; keep the concrete ones, once each.
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf' || e.keyword === 'if') continue;
    const fe = toFieldError(e, obj);
    const k = `${fe.field}|${fe.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    errs.push(fe);
  }
  const name = String(((obj.metadata ?? {}) as Json).name ?? '');
  throw invalid(kind, group, name, errs);
}
