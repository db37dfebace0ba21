// Whole-configuration validation: raw objects from any front door → one DesiredState, or every issue.
// Invalid input never yields a state, so callers keep serving their last good snapshot.
import { type ConfigIssue } from './issues.js';
import { buildLoadBalancer, type PoolIndex, type RawLoadBalancerSpec } from './loadbalancer.js';
import { buildPool, poolOverlapIssues } from './pools.js';
import { loadBalancerObjectSchema, metadataSchema, poolObjectSchema } from './schema.js';
import { structuralIssues } from './structural.js';
import { parseBgpObjects } from './bgp.js';
import {
  BGP_KINDS,
  Kind,
  objectKey,
  type DesiredState,
  type LoadBalancerSpec,
  type ObjectMeta,
  type Pool,
  type RawObject,
  type StoredObject,
} from './types.js';

export interface ValidationResult {
  readonly state?: DesiredState;
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

const SCHEMAS: Record<string, object> = {
  [Kind.IPAddressPool]: poolObjectSchema,
  [Kind.LoadBalancer]: loadBalancerObjectSchema,
};

export const SUPPORTED_KINDS = [...Object.keys(SCHEMAS), ...BGP_KINDS];

/** "Kind/name" when the object says so; "document N" otherwise. */
export function objectLabel(o: RawObject, index: number): string {
  const name = (o.metadata as { name?: unknown } | undefined)?.name;
  return typeof o.kind === 'string' && typeof name === 'string' && name
    ? objectKey(o.kind, name)
    : `document ${index + 1}`;
}

function metaOf(o: RawObject): ObjectMeta {
  const m = o.metadata as {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  return {
    name: m.name,
    namespace: m.namespace ?? 'default',
    labels: { ...(m.labels ?? {}) },
    annotations: { ...(m.annotations ?? {}) },
  };
}

/** Checks one object alone: kind known, shape right. Used by the REST API before a whole-set check. */
export function objectShapeIssues(o: RawObject, index = 0): ConfigIssue[] {
  const object = objectLabel(o, index);
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    return [
      { object, field: '', value: o, message: 'must be an object with apiVersion, kind, metadata and spec' },
    ];
  }
  const schema = typeof o.kind === 'string' ? SCHEMAS[o.kind] : undefined;
  // BGP kinds: field checks need the whole set (aliases, profiles); here only the identity.
  if (typeof o.kind === 'string' && BGP_KINDS.includes(o.kind)) {
    return structuralIssues(
      { type: 'object', required: ['metadata', 'spec'], properties: { metadata: metadataSchema } },
      o,
      object,
    );
  }
  if (!schema) {
    return [
      {
        object,
        field: 'kind',
        value: o.kind,
        message: `unknown kind; supported: ${SUPPORTED_KINDS.join(', ')}`,
      },
    ];
  }
  return structuralIssues(schema, o, object);
}

export function buildDesiredState(stored: readonly StoredObject[]): ValidationResult {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const shapeOk: { o: RawObject; label: string; index: number }[] = [];
  const seen = new Map<string, number>();
  const poolNames = new Set<string>();

  stored.forEach(({ object: o }, index) => {
    const shape = objectShapeIssues(o, index);
    const label = objectLabel(o, index);
    const name = (o.metadata as { name?: unknown } | undefined)?.name;
    if (typeof name === 'string' && typeof o.kind === 'string') {
      const first = seen.get(label);
      if (first !== undefined) {
        issues.push({
          object: label,
          field: 'metadata.name',
          value: name,
          message: `duplicate ${o.kind} name (also document ${first + 1})`,
        });
        return;
      }
      seen.set(label, index);
      if (o.kind === Kind.IPAddressPool) poolNames.add(name);
    }
    if (shape.length > 0) issues.push(...shape);
    else shapeOk.push({ o, label, index });
  });

  const pools = new Map<string, Pool>();
  const allPools = new Map<string, Pool>();
  for (const { o, label } of shapeOk.filter((x) => x.o.kind === Kind.IPAddressPool)) {
    const poolIssues: ConfigIssue[] = [];
    const pool = buildPool(
      metaOf(o),
      String(o.apiVersion),
      o.spec as Parameters<typeof buildPool>[2],
      label,
      poolIssues,
      warnings,
    );
    issues.push(...poolIssues);
    allPools.set(pool.meta.name, pool);
    if (poolIssues.length === 0) pools.set(pool.meta.name, pool);
  }
  issues.push(...poolOverlapIssues([...pools.values()]));

  const index: PoolIndex = { names: poolNames, valid: pools, all: allPools };
  const loadBalancers = new Map<string, LoadBalancerSpec>();
  for (const { o, label } of shapeOk.filter((x) => x.o.kind === Kind.LoadBalancer)) {
    const lb = buildLoadBalancer(metaOf(o), o.spec as RawLoadBalancerSpec, label, index, issues, warnings);
    loadBalancers.set(lb.meta.name, lb);
  }

  const bgpObjects = parseBgpObjects(
    shapeOk.filter((x) => BGP_KINDS.includes(String(x.o.kind))).map((x) => x.o),
  );
  issues.push(...bgpObjects.issues);
  for (const a of bgpObjects.advertisements) {
    a.ipAddressPools.forEach((p, i) => {
      if (!poolNames.has(p))
        issues.push({
          object: `BGPAdvertisement/${a.name}`,
          field: `spec.ipAddressPools[${i}]`,
          value: p,
          message: 'no IPAddressPool with this name',
        });
    });
  }
  const { issues: _bgpIssues, ...bgp } = bgpObjects;

  if (issues.length > 0) return { issues, warnings };
  const objects = new Map<string, StoredObject>();
  for (const s of stored) objects.set(objectLabel(s.object, 0), s);
  return { state: { pools, loadBalancers, bgp, objects }, issues, warnings };
}
