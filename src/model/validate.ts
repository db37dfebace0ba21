// Whole-configuration validation: raw objects from any front door → one DesiredState, or every issue.
// Invalid input never yields a state, so callers keep serving their last good snapshot.
import { type ConfigIssue } from './issues.js';
import { buildLoadBalancer, type PoolIndex, type RawLoadBalancerSpec } from './loadbalancer.js';
import { buildPool, poolOverlapIssues } from './pools.js';
import { loadBalancerObjectSchema, metadataSchema, poolObjectSchema } from './schema.js';
import { structuralIssues } from './structural.js';
import { limitIssues } from './limits.js';
import { runSync, STEP, type Steps } from './steps.js';
import { PMap } from '../state/pmap.js';
import { parseBgpObjects } from './bgp.js';
import { L2_KIND, parseL2Advertisements } from './l2.js';
import { parseClusters } from './cluster.js';
import { allHaWarnings, HA_WARNING_PREFIX, haSnatWarnings } from './ha.js';
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

/** Kinds whose fields are checked by their own parser (whole set), not by a JSON Schema here. */
const PARSED_KINDS: readonly string[] = [...BGP_KINDS, Kind.Cluster, L2_KIND];

export const SUPPORTED_KINDS = [...Object.keys(SCHEMAS), ...PARSED_KINDS];

/** "Kind/name" when the object says so; "document N" otherwise. */
export function objectLabel(o: RawObject, index: number): string {
  if (o === null || typeof o !== 'object') return `document ${index + 1}`;
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
  // Limits first: nothing recursive may touch a 100k-deep or 1 MB-string object.
  const limits = limitIssues([o], index);
  if (limits.length > 0) return limits;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    return [
      { object, field: '', value: o, message: 'must be an object with apiVersion, kind, metadata and spec' },
    ];
  }
  const schema = typeof o.kind === 'string' ? SCHEMAS[o.kind] : undefined;
  // BGP, Cluster and L2 kinds: field checks need the whole set (aliases, profiles, pools); here only the identity.
  if (typeof o.kind === 'string' && PARSED_KINDS.includes(o.kind)) {
    return structuralIssues(
      {
        type: 'object',
        required: ['metadata', 'spec'],
        additionalProperties: false,
        properties: { apiVersion: {}, kind: {}, metadata: metadataSchema, spec: {}, status: {} },
      },
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

/**
 * Per-object memo of the validation that depends only on the object itself (shape) or on the object
 * and the pool set (a LoadBalancer's semantic build). Keyed by object identity: the snapshot keeps
 * unchanged objects by reference, so one PUT at 10,000 services re-validates one object, not all.
 */
interface ShapeMemo {
  readonly shape: readonly ConfigIssue[];
  lb?: {
    readonly ctx: PoolContext;
    readonly spec: LoadBalancerSpec;
    readonly issues: readonly ConfigIssue[];
    readonly warnings: readonly ConfigIssue[];
  };
}
const memo = new WeakMap<RawObject, ShapeMemo>();

/** The validated pool set; reused (same identity) while the pool objects are the same references. */
interface PoolContext {
  readonly refs: readonly RawObject[];
  readonly index: PoolIndex;
  readonly pools: ReadonlyMap<string, Pool>;
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}
let lastPoolContext: PoolContext | undefined;
/** The context each validated pool map came from, for updateDesiredState. */
const contexts = new WeakMap<ReadonlyMap<string, Pool>, PoolContext>();

/** objectShapeIssues, memoised per named object (limits, kind, schema: the object alone). */
export function shapeOf(o: RawObject, index: number): readonly ConfigIssue[] {
  if (o === null || typeof o !== 'object' || typeof o.kind !== 'string') return objectShapeIssues(o, index);
  if (typeof (o.metadata as { name?: unknown } | undefined)?.name !== 'string')
    return objectShapeIssues(o, index);
  let m = memo.get(o);
  if (!m) memo.set(o, (m = { shape: objectShapeIssues(o, index) }));
  return m.shape;
}

function poolContext(
  poolObjects: readonly { o: RawObject; label: string }[],
  poolNames: ReadonlySet<string>,
): PoolContext {
  const last = lastPoolContext;
  if (
    last &&
    last.refs.length === poolObjects.length &&
    poolObjects.every((p, i) => last.refs[i] === p.o) &&
    last.index.names.size === poolNames.size &&
    [...poolNames].every((n) => last.index.names.has(n))
  )
    return last;
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const pools = new Map<string, Pool>();
  const allPools = new Map<string, Pool>();
  for (const { o, label } of poolObjects) {
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
  const ctx: PoolContext = {
    refs: poolObjects.map((p) => p.o),
    index: { names: new Set(poolNames), valid: pools, all: allPools },
    pools,
    issues,
    warnings,
  };
  lastPoolContext = ctx;
  contexts.set(pools, ctx);
  return ctx;
}

function loadBalancerOf(o: RawObject, label: string, ctx: PoolContext): NonNullable<ShapeMemo['lb']> {
  const m = memo.get(o);
  if (m?.lb && m.lb.ctx === ctx) return m.lb;
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const spec = buildLoadBalancer(
    metaOf(o),
    o.spec as RawLoadBalancerSpec,
    label,
    ctx.index,
    issues,
    warnings,
  );
  const lb = { ctx, spec, issues, warnings };
  if (m) m.lb = lb;
  return lb;
}

function bgpIssues(bgpRaw: readonly RawObject[], poolNames: ReadonlySet<string>) {
  const bgpObjects = parseBgpObjects(bgpRaw);
  const issues: ConfigIssue[] = [...bgpObjects.issues];
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
  const { issues: _bgpIssues, warnings, ...bgp } = bgpObjects;
  return { issues, warnings, bgp };
}

/**
 * Validates a change against a state that was valid: only the changed objects are looked at (a pool
 * change re-validates everything, since every LoadBalancer depends on the pools; a BGP change
 * re-parses the BGP objects). Same outcome as buildDesiredState over `next`.
 */
export function updateDesiredState(
  prev: DesiredState,
  prevWarnings: readonly ConfigIssue[],
  next: ReadonlyMap<string, StoredObject>,
  changed: ReadonlySet<string>,
): ValidationResult {
  return runSync(updateDesiredStateSteps(prev, prevWarnings, next, changed));
}

export function* updateDesiredStateSteps(
  prev: DesiredState,
  prevWarnings: readonly ConfigIssue[],
  next: ReadonlyMap<string, StoredObject>,
  changed: ReadonlySet<string>,
): Steps<ValidationResult> {
  const ctx = contexts.get(prev.pools);
  const all = () => buildDesiredStateSteps([...next.values()]);
  if (!ctx) return yield* all();
  let n = 0;
  const issues: ConfigIssue[] = [];
  const warnings = prevWarnings.filter((w) => !changed.has(w.object));
  // Structurally shared with prev's map: one change does not copy every LoadBalancer's entry.
  const loadBalancers = PMap.of(prev.loadBalancers).edit();
  let bgpChanged = false;
  let l2Changed = false;
  let clusterChanged = false;
  const touchedLbs: [string, LoadBalancerSpec][] = [];
  for (const label of changed) {
    const s = next.get(label);
    const kind = s ? s.object?.kind : label.slice(0, label.indexOf('/'));
    if (kind === Kind.IPAddressPool) return yield* all();
    if (++n % STEP === 0) yield;
    if (typeof kind === 'string' && BGP_KINDS.includes(kind)) bgpChanged = true;
    if (kind === L2_KIND) l2Changed = true;
    if (kind === Kind.Cluster) clusterChanged = true;
    if (!s) {
      if (kind === Kind.LoadBalancer) loadBalancers.delete(label.slice(label.indexOf('/') + 1));
      continue;
    }
    const shape = shapeOf(s.object, 0);
    if (shape.length > 0) {
      issues.push(...shape);
      continue;
    }
    if (kind === Kind.LoadBalancer) {
      const lb = loadBalancerOf(s.object, label, ctx);
      issues.push(...lb.issues);
      warnings.push(...lb.warnings);
      loadBalancers.set(lb.spec.meta.name, lb.spec);
      touchedLbs.push([label, lb.spec]);
    }
  }
  let bgp = prev.bgp;
  if (bgpChanged) {
    const raw = [...next.values()].map((x) => x.object).filter((o) => BGP_KINDS.includes(String(o.kind)));
    const r = bgpIssues(raw, ctx.index.names);
    issues.push(...r.issues);
    warnings.push(
      ...r.warnings.filter((w) => !warnings.some((x) => x.object === w.object && x.field === w.field)),
    );
    bgp = r.bgp;
  }
  let l2 = prev.l2;
  if (l2Changed || bgpChanged) {
    const raw = [...next.values()].map((x) => x.object).filter((o) => o.kind === L2_KIND);
    const r = parseL2Advertisements(raw, prev.pools, ctx.index.names, bgp);
    issues.push(...r.issues);
    l2 = r.advertisements;
  }
  let cluster = prev.cluster;
  if (clusterChanged) {
    const r = parseClusters([...next.values()].map((x) => x.object).filter((o) => o.kind === Kind.Cluster));
    issues.push(...r.issues);
    cluster = r.cluster;
  }
  const lbs = loadBalancers.done();
  if (clusterChanged) {
    const kept = warnings.filter((w) => !w.message.startsWith(HA_WARNING_PREFIX));
    warnings.length = 0;
    warnings.push(...kept, ...allHaWarnings(lbs, cluster, (n) => objectKey(Kind.LoadBalancer, n)));
  } else for (const [label, lb] of touchedLbs) warnings.push(...haSnatWarnings(label, lb, cluster));
  if (issues.length > 0) return { issues, warnings };
  return {
    state: {
      pools: prev.pools,
      loadBalancers: lbs,
      bgp,
      l2,
      ...(cluster ? { cluster } : {}),
      objects: next,
    },
    issues,
    warnings,
  };
}

export function buildDesiredState(stored: readonly StoredObject[]): ValidationResult {
  return runSync(buildDesiredStateSteps(stored));
}

export function* buildDesiredStateSteps(stored: readonly StoredObject[]): Steps<ValidationResult> {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const shapeOk: { o: RawObject; label: string; index: number }[] = [];
  const seen = new Map<string, number>();
  const poolNames = new Set<string>();

  for (const [index, { object: o }] of stored.entries()) {
    if (index % STEP === STEP - 1) yield;
    const shape = shapeOf(o, index);
    const label = objectLabel(o, index);
    const name =
      o !== null && typeof o === 'object' ? (o.metadata as { name?: unknown } | undefined)?.name : undefined;
    if (typeof name === 'string' && typeof o.kind === 'string') {
      const first = seen.get(label);
      if (first !== undefined) {
        issues.push({
          object: label,
          field: 'metadata.name',
          value: name,
          message: `duplicate ${o.kind} name (also document ${first + 1})`,
        });
        continue;
      }
      seen.set(label, index);
      if (o.kind === Kind.IPAddressPool) poolNames.add(name);
    }
    if (shape.length > 0) issues.push(...shape);
    else shapeOk.push({ o, label, index });
  }

  const ctx = poolContext(
    shapeOk.filter((x) => x.o.kind === Kind.IPAddressPool),
    poolNames,
  );
  issues.push(...ctx.issues);
  warnings.push(...ctx.warnings);

  const loadBalancers = new Map<string, LoadBalancerSpec>();
  const bgpRaw: RawObject[] = [];
  const l2Raw: RawObject[] = [];
  const clusterRaw: RawObject[] = [];
  let n = 0;
  for (const { o, label } of shapeOk) {
    if (++n % STEP === 0) yield;
    if (o.kind === Kind.LoadBalancer) {
      const lb = loadBalancerOf(o, label, ctx);
      if (lb.issues.length > 0) issues.push(...lb.issues);
      if (lb.warnings.length > 0) warnings.push(...lb.warnings);
      loadBalancers.set(lb.spec.meta.name, lb.spec);
    } else if (BGP_KINDS.includes(String(o.kind))) bgpRaw.push(o);
    else if (o.kind === L2_KIND) l2Raw.push(o);
    else if (o.kind === Kind.Cluster) clusterRaw.push(o);
  }
  const c = parseClusters(clusterRaw);
  issues.push(...c.issues);
  warnings.push(...allHaWarnings(loadBalancers, c.cluster, (n) => objectKey(Kind.LoadBalancer, n)));

  const b = bgpIssues(bgpRaw, poolNames);
  issues.push(...b.issues);
  warnings.push(...b.warnings);
  const bgp = b.bgp;
  const l2 = parseL2Advertisements(l2Raw, ctx.pools, poolNames, bgp);
  issues.push(...l2.issues);

  if (issues.length > 0) return { issues, warnings };
  const objects = new Map<string, StoredObject>();
  for (const s of stored) objects.set(objectLabel(s.object, 0), s);
  return {
    state: {
      pools: ctx.pools,
      loadBalancers,
      bgp,
      l2: l2.advertisements,
      ...(c.cluster ? { cluster: c.cluster } : {}),
      objects,
    },
    issues,
    warnings,
  };
}
