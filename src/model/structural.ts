// Structural validation with ajv, turning its errors into ConfigIssues that name field and value.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { fieldPath, type ConfigIssue } from './issues.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

function compile(schema: object): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/** "/spec/ports/0/port" → "spec.ports[0].port" */
function pointerToPath(pointer: string): string {
  let path = '';
  for (const seg of pointer.split('/').slice(1)) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    path = fieldPath(path, /^\d+$/.test(key) ? Number(key) : key);
  }
  return path;
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur: unknown = root;
  for (const seg of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

function describe(e: ErrorObject): { extra?: string; message: string } {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { extra: String(p.missingProperty), message: 'required field is missing' };
    case 'additionalProperties':
      return { extra: String(p.additionalProperty), message: 'unknown field' };
    case 'enum':
      return {
        message: `must be one of ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`,
      };
    case 'const':
      return { message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'pattern':
      return {
        message:
          e.instancePath.endsWith('/name') || e.instancePath.endsWith('/namespace')
            ? 'must be a lower-case DNS label (a-z, 0-9, "-", ".")'
            : e.instancePath.match(/interval|timeout|persistTimeout/i)
              ? 'must be a duration such as "500ms", "1s", "2m"'
              : `must match ${String(p.pattern)}`,
      };
    default:
      return { message: e.message ?? e.keyword };
  }
}

/** Validates `data` against `schema`; returns one issue per problem (deduplicated). */
export function structuralIssues(schema: object, data: unknown, object: string): ConfigIssue[] {
  const validate = compile(schema);
  if (validate(data)) return [];
  const seen = new Set<string>();
  const out: ConfigIssue[] = [];
  for (const e of validate.errors ?? []) {
    const d = describe(e);
    const base = pointerToPath(e.instancePath);
    const field = d.extra ? fieldPath(base, d.extra) : base;
    const value =
      d.extra && e.keyword === 'required'
        ? undefined
        : d.extra
          ? valueAt(data, `${e.instancePath}/${d.extra}`)
          : valueAt(data, e.instancePath);
    const key = `${field}|${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ object, field, value, message: d.message });
  }
  return out;
}
