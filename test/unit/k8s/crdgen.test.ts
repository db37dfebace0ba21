// The CRDs are generated from the model's schemas, are structural, and the committed file is current.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { crdFor, CRD_KIND_NAMES, renderCrds, structural } from '../../../src/k8s/crdgen.js';

const root = new URL('../../../../', import.meta.url);
type S = Record<string, unknown>;
const specSchema = (kind: string) =>
  ((((crdFor(kind).spec as S).versions as S[])[0] as S).schema as S).openAPIV3Schema as S;

/** Paths of schema nodes that break Kubernetes' structural-schema rules. */
function violations(s: S, path = ''): string[] {
  const out: string[] = [];
  if (s.type === undefined && s['x-kubernetes-preserve-unknown-fields'] !== true)
    out.push(`${path}: no type`);
  for (const bad of ['uniqueItems', 'const', '$schema']) if (bad in s) out.push(`${path}: ${bad}`);
  if (s.additionalProperties === false) out.push(`${path}: additionalProperties false`);
  if (s.additionalProperties && typeof s.additionalProperties === 'object' && s.properties)
    out.push(`${path}: properties and additionalProperties`);
  for (const [k, v] of Object.entries((s.properties as S | undefined) ?? {}))
    out.push(...violations(v as S, `${path}.${k}`));
  if (s.items) out.push(...violations(s.items as S, `${path}[]`));
  if (s.additionalProperties && typeof s.additionalProperties === 'object')
    out.push(...violations(s.additionalProperties as S, `${path}{}`));
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true });
const strip = (s: unknown): unknown =>
  Array.isArray(s)
    ? s.map(strip)
    : s && typeof s === 'object'
      ? Object.fromEntries(
          Object.entries(s as S)
            .filter(([k]) => !k.startsWith('x-kubernetes'))
            .map(([k, v]) => [k, strip(v)]),
        )
      : s;

describe('CRD generation', () => {
  it('every CRD schema is structural', () => {
    for (const kind of CRD_KIND_NAMES) assert.deepEqual(violations(specSchema(kind)), [], kind);
  });

  it('converts const, enum without type, uniqueItems and additionalProperties:false', () => {
    assert.deepEqual(structural({ const: 'x' }), { enum: ['x'], type: 'string' });
    assert.deepEqual(structural({ enum: [1, 2] }), { enum: [1, 2], type: 'integer' });
    assert.deepEqual(structural({ type: 'array', uniqueItems: true, items: { enum: ['a'] } }), {
      type: 'array',
      items: { enum: ['a'], type: 'string' },
    });
    assert.deepEqual(structural({ type: 'object', additionalProperties: false, properties: {} }), {
      type: 'object',
      properties: {},
    });
    assert.deepEqual(structural({}), { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
  });

  it('the IPAddressPool CRD accepts the example pools and rejects wrong types', () => {
    const validate = ajv.compile(strip(specSchema('IPAddressPool')) as object);
    const docs = parseAllDocuments(readFileSync(new URL('examples/standalone.yaml', root), 'utf8')).map(
      (d) => d.toJS() as S,
    );
    const pools = docs.filter((d) => d?.kind === 'IPAddressPool');
    assert.ok(pools.length > 0);
    for (const p of pools)
      assert.equal(validate({ ...p, apiVersion: 'ferrolb.io/v1' }), true, JSON.stringify(validate.errors));
    assert.equal(
      validate({
        apiVersion: 'ferrolb.io/v1',
        kind: 'IPAddressPool',
        metadata: {},
        spec: { addresses: 'x' },
      }),
      false,
    );
    assert.equal(
      validate({ apiVersion: 'ferrolb.io/v1', kind: 'IPAddressPool', metadata: {}, spec: {} }),
      false,
    );
  });

  it('the committed deploy/crds/ferrolb.io.yaml and the Helm copy are current', () => {
    const want = renderCrds();
    for (const f of ['deploy/crds/ferrolb.io.yaml', 'deploy/helm/ferrolb/crds/ferrolb.io.yaml'])
      assert.equal(
        readFileSync(new URL(f, root), 'utf8'),
        want,
        `${f} is stale: run node deploy/generate-crds.mjs`,
      );
  });
});
