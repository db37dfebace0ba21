// The controller's decisions, pure: cluster objects + what it remembers → desired state, allocations
// and, per Service, the annotations, status and condition it should carry. The shell only diffs this
// against the API and writes. Invalid input never replaces the last good input: a bad pool set keeps
// the last good pools; a bad Service keeps its last good mapping (or, after a restart, at least the
// addresses it holds), so no address moves because someone mistyped an annotation.
import { allocate, type Allocation, type IpamMemo, type ServiceStatus } from '../ipam/allocator.js';
import type { ConfigIssue } from '../model/issues.js';
import { buildDesiredState } from '../model/validate.js';
import { poolNameOf } from '../model/pools.js';
import type { DesiredState, RawObject, StoredObject } from '../model/types.js';
import { tryParseIp, formatIp } from '../net/ip.js';
import { ALLOCATED, ALLOCATED_SECONDARY } from './annotations.js';
import { mapCustomResources, type MappedConfig } from './crds.js';
import { mapMemo, NO_LABELS, planChanges, sameConfig, sameRefs } from './fastplan.js';
import { SERVICE_NAME_LABEL } from './annotations.js';
import { claims, lbName, type MappedService, type MappingConfig } from './mapping.js';
import {
  svcKey,
  type KCustomObject,
  type KEndpointSlice,
  type KNamespace,
  type KNode,
  type KService,
} from './types.js';

export interface ClusterView {
  readonly services: readonly KService[];
  readonly slices: readonly KEndpointSlice[];
  readonly nodes: readonly KNode[];
  readonly customObjects: readonly KCustomObject[];
  /** For pools' namespaceSelectors; absent when the caller does not watch Namespaces. */
  readonly namespaces?: readonly KNamespace[];
}

/** Labels of every namespace by name. */
export const namespaceLabelsOf = (view: ClusterView): ReadonlyMap<string, Readonly<Record<string, string>>> =>
  new Map((view.namespaces ?? []).map((n) => [n.metadata.name ?? '', n.metadata.labels ?? {}]));

export interface CoreConfig extends MappingConfig {
  /** Read metallb.io custom resources as configuration too. */
  readonly metallbCompat: boolean;
}

export interface Memory {
  readonly pools?: readonly RawObject[];
  /** Last mapping of each Service that validated, by "namespace/name". */
  readonly services: ReadonlyMap<string, RawObject>;
  /** What this process last decided, by model name: newer than the API's copy while writes are in flight. */
  readonly allocations: ReadonlyMap<string, Allocation>;
  /** Carry-over of the last plan, so the next one redoes only what changed (absent: all afresh). */
  readonly carry?: Carry;
}

/** One Service's mapping and the inputs it came from (compared by identity). */
export interface MappedMemo {
  readonly svc: KService;
  readonly slices: readonly KEndpointSlice[];
  /** The node list, when the mapping reads it (node-port endpoints). */
  readonly nodes?: readonly KNode[];
  readonly nsLabels: Readonly<Record<string, string>> | undefined;
  readonly result: MappedService;
}

/**
 * What a plan hands to the next: mappings per Service (reused while the Service, its EndpointSlices,
 * its namespace's labels and — for node-port endpoints — the Nodes are the same objects), the mapped
 * configuration (while the custom resources are the same objects), IPAM's run (so allocation
 * re-examines only changed or still-open Services) and the outcomes (kept by identity while equal,
 * so the shell can skip Services whose object and outcome are both unchanged). Unchanged raw objects
 * keep their identity, which is what lets the model's per-object validation memo answer for them.
 */
export interface Carry {
  readonly cfg: CoreConfig;
  readonly crs: readonly KCustomObject[];
  readonly cfgMap: MappedConfig;
  readonly nodes: readonly KNode[];
  readonly mapped: ReadonlyMap<string, MappedMemo>;
  readonly run?: {
    readonly state: DesiredState;
    readonly status: ReadonlyMap<string, ServiceStatus>;
    readonly memo?: IpamMemo;
  };
  readonly outcomes: ReadonlyMap<string, ServiceOutcome | { readonly phase: 'Released' }>;
  /** Every Service seen, by "namespace/name", and the slices and namespaces the plan read. */
  readonly services: ReadonlyMap<string, KService>;
  readonly slices: readonly KEndpointSlice[];
  readonly namespaces: readonly KNamespace[];
  /** The validation warnings of `run.state`. */
  readonly warnings: readonly ConfigIssue[];
  /**
   * Nothing fell back: valid configuration, no reserved Service, every claimed Service mapped and
   * validated as it is. Then a change to a few Services is planned from the carry alone (fastplan.ts).
   */
  readonly clean: boolean;
}

export const emptyMemory = (): Memory => ({ services: new Map(), allocations: new Map() });

export type ServiceOutcome =
  | {
      readonly phase: 'Allocated';
      readonly allocation: Allocation;
      readonly pool?: string;
      /** Served, but something the user asked for is ignored (e.g. a timeout without "persist"). */
      readonly warnings?: readonly ConfigIssue[];
    }
  | {
      readonly phase: 'Pending';
      readonly code: string;
      readonly reason: string;
      readonly allocation?: Allocation;
    }
  | { readonly phase: 'Invalid'; readonly issues: readonly ConfigIssue[]; readonly allocation?: Allocation };

export interface Plan {
  /** True when nothing may be written: the pool set is invalid and there is no last good one. */
  readonly hold: boolean;
  readonly state?: DesiredState;
  readonly allocations: ReadonlyMap<string, Allocation>;
  readonly configIssues: readonly ConfigIssue[];
  readonly configSources: ReadonlyMap<string, string[]>;
  /** Every Service that has or had our allocation, by "namespace/name". Unclaimed ones get released. */
  readonly outcomes: ReadonlyMap<string, ServiceOutcome | { readonly phase: 'Released' }>;
  readonly memory: Memory;
  /**
   * Set by the O(change) path: the Services whose object or outcome may differ from the previous
   * plan's (every other outcome is the previous one, same identity). Absent: any may have changed.
   */
  readonly changed?: ReadonlySet<string>;
}

/** What a Service itself records as held: our annotations, else its status (adopting MetalLB's or
 * kube-loxilb's `llb-<ip>` hostnames), so migration and restarts keep every address. */
export function persistedAllocation(svc: KService): Allocation | undefined {
  const ann = svc.metadata.annotations ?? {};
  const ips = (text: string | undefined) =>
    (text ?? '')
      .split(',')
      .map((s) => tryParseIp(s.trim()))
      .filter((x) => x !== undefined)
      .map(formatIp);
  let addresses = ips(ann[ALLOCATED]);
  const secondaryAddresses = ips(ann[ALLOCATED_SECONDARY]);
  if (addresses.length === 0 && ann[ALLOCATED] === undefined) {
    addresses = (svc.status?.loadBalancer?.ingress ?? [])
      .map((i) => i.ip ?? (i.hostname?.startsWith('llb-') ? i.hostname.slice(4) : undefined))
      .filter((x): x is string => x !== undefined)
      .flatMap((x) => ips(x));
  }
  if (addresses.length === 0 && secondaryAddresses.length === 0) return undefined;
  return { addresses, secondaryAddresses };
}

const labelToKey = (label: string): string | undefined => {
  // "LoadBalancer/ns.name" → "ns/name"
  const m = /^LoadBalancer\/([^.]+)\.(.+)$/.exec(label);
  return m ? `${m[1]}/${m[2]}` : undefined;
};

/** A stand-in that only holds a Service's addresses, for a Service that is invalid with no last good mapping. */
function holder(svc: KService, a: Allocation): RawObject {
  const ns = svc.metadata.namespace ?? 'default';
  const ports = (svc.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' }));
  return {
    apiVersion: 'ferrolb.io/v1',
    kind: 'LoadBalancer',
    metadata: { name: lbName(ns, svc.metadata.name ?? ''), namespace: ns },
    spec: {
      addresses: a.addresses,
      ports: ports.length > 0 ? ports : [{ port: 1 }],
      ...(a.addresses.length === 2 ? { ipFamilyPolicy: 'RequireDualStack' } : {}),
    },
  };
}

export function plan(view: ClusterView, cfg: CoreConfig, memory: Memory): Plan {
  const carry = memory.carry?.cfg === cfg ? memory.carry : undefined;
  if (carry?.clean) {
    const fast = planChanges(view, memory, carry);
    if (fast) return fast;
  }
  const cfgMap =
    carry && sameConfig(carry.crs, view.customObjects)
      ? carry.cfgMap
      : mapCustomResources(view.customObjects, cfg.metallbCompat);
  // The same node list (by element identity) keeps the previous array, so mappings can compare it.
  const nodes = carry && sameRefs(carry.nodes, view.nodes) ? carry.nodes : view.nodes;
  const stored = (objs: readonly RawObject[]): StoredObject[] =>
    objs.map((object) => ({ origin: 'api', object }));

  // 1. Pools as a set. A pool deleted while Services still hold its addresses stays in use (as the
  // standalone daemon refuses such a delete): those Services keep their addresses until released.
  const kept = inUseDeletedPools(view, cfgMap.objects, memory);
  const poolCheck = buildDesiredState(stored([...cfgMap.objects, ...kept.objects]));
  const configIssues = [
    ...cfgMap.issues,
    ...kept.issues,
    ...poolCheck.issues.filter((i) => !kept.issues.some((k) => k.object === i.object)),
  ];
  let pools: readonly RawObject[] | undefined = [...cfgMap.objects, ...kept.objects];
  if (poolCheck.issues.length > 0 || cfgMap.issues.length > 0) pools = memory.pools;
  if (configIssues.length > 0) pools = memory.pools;
  // Nothing may be written: keep every held allocation and say why.
  const hold = (): Plan => ({
    hold: true,
    allocations: memory.allocations,
    configIssues,
    configSources: cfgMap.sources,
    outcomes: new Map(),
    memory,
  });
  if (pools === undefined) return hold();

  const previous0 = new Map<string, Allocation>();
  // 2. Services: map each claimed one; bad ones fall back to their last good mapping.
  const claimed = view.services.filter((s) => claims(s, cfg));
  // LoadBalancer Services we do not claim (now) but that hold our addresses — e.g. this replica runs
  // without a compatibility flag another one had — keep them reserved and untouched: never hand an
  // address out twice, never release what another configuration may still serve.
  const reserved: RawObject[] = [];
  for (const svc of view.services) {
    if (
      claims(svc, cfg) ||
      svc.spec?.type !== 'LoadBalancer' ||
      svc.metadata.annotations?.[ALLOCATED] === undefined
    )
      continue;
    const held = persistedAllocation(svc);
    if (!held) continue;
    reserved.push(holder(svc, held));
    previous0.set(lbName(svc.metadata.namespace ?? 'default', svc.metadata.name ?? ''), held);
  }
  const mapped = new Map<
    string,
    { svc: KService; object?: RawObject; issues: ConfigIssue[]; warnings: ConfigIssue[] }
  >();
  const nsLabels = new Map(
    (view.namespaces ?? []).map((n) => [n.metadata.name ?? '', n.metadata.labels ?? NO_LABELS]),
  );
  const slicesBy = new Map<string, KEndpointSlice[]>();
  for (const sl of view.slices) {
    const owner = sl.metadata.labels?.[SERVICE_NAME_LABEL];
    if (owner === undefined) continue;
    const k = `${sl.metadata.namespace ?? 'default'}/${owner}`;
    const list = slicesBy.get(k);
    if (list) list.push(sl);
    else slicesBy.set(k, [sl]);
  }
  const nextMapped = new Map<string, MappedMemo>();
  for (const svc of claimed) {
    const key = svcKey(svc.metadata);
    const slices = slicesBy.get(`${svc.metadata.namespace ?? 'default'}/${svc.metadata.name ?? ''}`) ?? [];
    const labels = nsLabels.get(svc.metadata.namespace ?? 'default');
    const memo = mapMemo(svc, slices, nodes, labels, cfg, carry?.mapped.get(key));
    const m = memo.result;
    nextMapped.set(key, memo);
    mapped.set(key, {
      svc,
      ...(m.object ? { object: m.object } : {}),
      issues: [...m.issues],
      warnings: [...m.warnings],
    });
  }
  const previous = new Map<string, Allocation>(previous0);
  for (const { svc } of mapped.values()) {
    const name = lbName(svc.metadata.namespace ?? 'default', svc.metadata.name ?? '');
    const held = memory.allocations.get(name) ?? persistedAllocation(svc);
    if (held) previous.set(name, held);
  }

  // Whole-set validation. A Service whose object draws issues falls back a level — fresh mapping →
  // last good mapping → a stand-in holding its addresses → left out — and the set is checked again.
  const level = new Map<string, number>();
  for (const [key, m] of mapped) level.set(key, m.issues.length === 0 && m.object ? 0 : 1);
  const choose = (key: string, m: { svc: KService; object?: RawObject }): RawObject | undefined => {
    let l = level.get(key) ?? 0;
    const held = previous.get(lbName(m.svc.metadata.namespace ?? 'default', m.svc.metadata.name ?? ''));
    if (l === 1 && !memory.services.has(key)) l = 2;
    if (l === 2 && !held) l = 3;
    level.set(key, l);
    return l === 0
      ? m.object
      : l === 1
        ? memory.services.get(key)
        : l === 2
          ? holder(m.svc, held as Allocation)
          : undefined;
  };
  let state: DesiredState | undefined;
  let warnings: readonly ConfigIssue[] = [];
  let clean = reserved.length === 0 && configIssues.length === 0;
  for (let round = 0; round < 4 && !state; round++) {
    const objs: RawObject[] = [...pools, ...(round < 2 ? reserved : [])];
    for (const [key, m] of mapped) {
      const o = choose(key, m);
      if (o) objs.push(o);
    }
    const r = buildDesiredState(stored(objs));
    if (r.state) {
      state = r.state;
      warnings = r.warnings;
      clean &&= round === 0;
      for (const w of r.warnings) {
        const key = labelToKey(w.object);
        const m = key !== undefined && level.get(key) === 0 ? mapped.get(key) : undefined;
        m?.warnings.push({ ...w, object: `Service/${key}` });
      }
    } else
      for (const i of r.issues) {
        const key = labelToKey(i.object);
        const m = key !== undefined ? mapped.get(key) : undefined;
        if (!m || key === undefined) continue;
        if (level.get(key) === 0) m.issues.push({ ...i, object: `Service/${key}` });
        level.set(key, (level.get(key) ?? 0) + 1);
      }
  }
  if (!state) return hold();
  const nextServices = new Map<string, RawObject>();

  // 3. Allocate (sticky: previous = what we decided last, else what the API records).
  const ipam = allocateFrom(state, previous, memory, carry);
  const outcomes = new Map<string, ServiceOutcome | { phase: 'Released' }>();
  for (const [key, m] of mapped) {
    const name = lbName(m.svc.metadata.namespace ?? 'default', m.svc.metadata.name ?? '');
    const allocation = ipam.allocations.get(name);
    const st: ServiceStatus | undefined = ipam.status.get(name);
    if (m.issues.length > 0)
      outcomes.set(key, { phase: 'Invalid', issues: m.issues, ...(allocation ? { allocation } : {}) });
    else if (st?.phase === 'Allocated' && allocation) {
      const pool = poolNameOf(state.pools.values(), allocation.addresses[0]);
      outcomes.set(key, {
        phase: 'Allocated',
        allocation,
        ...(pool ? { pool } : {}),
        ...(m.warnings.length > 0 ? { warnings: m.warnings } : {}),
      });
    } else if (st?.phase === 'Pending')
      outcomes.set(key, {
        phase: 'Pending',
        code: st.code,
        reason: st.reason,
        ...(allocation ? { allocation } : {}),
      });
    if (m.issues.length === 0 && m.object) nextServices.set(key, m.object);
    else {
      const f = memory.services.get(key);
      if (f) nextServices.set(key, f);
    }
  }
  // Services that stopped being LoadBalancers but still carry our allocation: release.
  for (const svc of view.services)
    if (svc.spec?.type !== 'LoadBalancer' && svc.metadata.annotations?.[ALLOCATED] !== undefined)
      outcomes.set(svcKey(svc.metadata), { phase: 'Released' });
  for (const m of mapped.values()) if (m.issues.length > 0 || !m.object) clean = false;
  // Equal outcomes keep their identity (the shell skips a Service whose object and outcome are the same).
  if (carry)
    for (const [key, o] of outcomes) {
      const was = carry.outcomes.get(key);
      if (was && sameOutcome(was, o)) outcomes.set(key, was);
    }

  return {
    hold: false,
    state,
    allocations: ipam.allocations,
    configIssues,
    configSources: cfgMap.sources,
    outcomes,
    memory: {
      pools,
      services: nextServices,
      allocations: ipam.allocations,
      carry: {
        cfg,
        crs: view.customObjects,
        cfgMap,
        nodes,
        mapped: nextMapped,
        run: { state, status: ipam.status, ...(ipam.memo ? { memo: ipam.memo } : {}) },
        outcomes,
        services: new Map(view.services.map((s) => [svcKey(s.metadata), s])),
        slices: view.slices,
        namespaces: view.namespaces ?? [],
        warnings,
        clean,
      },
    },
  };
}

type Outcome = ServiceOutcome | { readonly phase: 'Released' };

const issuesText = (xs: readonly ConfigIssue[] | undefined): string =>
  JSON.stringify((xs ?? []).map((i) => [i.object, i.field, i.message, String(i.value)]));

export function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.phase !== b.phase) return false;
  const alloc = (x: Outcome) => (x.phase === 'Released' ? undefined : x.allocation);
  const [x, y] = [alloc(a), alloc(b)];
  if (
    x !== y &&
    (x === undefined ||
      y === undefined ||
      x.addresses.join() !== y.addresses.join() ||
      x.secondaryAddresses.join() !== y.secondaryAddresses.join())
  )
    return false;
  if (a.phase === 'Allocated' && b.phase === 'Allocated')
    return a.pool === b.pool && issuesText(a.warnings) === issuesText(b.warnings);
  if (a.phase === 'Pending' && b.phase === 'Pending') return a.code === b.code && a.reason === b.reason;
  if (a.phase === 'Invalid' && b.phase === 'Invalid') return issuesText(a.issues) === issuesText(b.issues);
  return a.phase === 'Released';
}

/**
 * IPAM, incrementally when the last plan's run and pool set carry over: only Services whose spec
 * changed, that went away, or that are still open are re-examined. The incremental allocator takes
 * an untouched Service's previous allocation as its result, so for those it must be exactly what the
 * last run decided; touched ones start from what a full run would (our memory, else the API's record).
 */
function allocateFrom(
  state: DesiredState,
  previous: ReadonlyMap<string, Allocation>,
  memory: Memory,
  carry: Carry | undefined,
): ReturnType<typeof allocate> {
  const run = carry?.run;
  if (!run?.memo || run.memo.pools !== state.pools || run.state.pools !== state.pools)
    return allocate(state, previous);
  const prev = new Map(memory.allocations);
  for (const [name, lb] of state.loadBalancers) {
    if (run.state.loadBalancers.get(name) === lb && !run.memo.open.has(name)) continue;
    const p = previous.get(name);
    const had = memory.allocations.get(name);
    // The allocator frees what `previous` names; if that differs from what the last run holds for
    // this Service (a reserved Service's record vs our decision), only a full run stays exact.
    if (had && had !== p) return allocate(state, previous);
    if (p) prev.set(name, p);
    else prev.delete(name);
  }
  return allocate(state, prev, run);
}

/** Pools of the last good set that are gone now but still hold someone's address. */
function inUseDeletedPools(
  view: ClusterView,
  current: readonly RawObject[],
  memory: Memory,
): { objects: RawObject[]; issues: ConfigIssue[] } {
  if (!memory.pools) return { objects: [], issues: [] };
  const names = new Set(current.map((o) => (o.metadata as { name?: string }).name));
  const gone = memory.pools.filter((o) => !names.has((o.metadata as { name?: string }).name));
  if (gone.length === 0) return { objects: [], issues: [] };
  const built = buildDesiredState(gone.map((object) => ({ origin: 'api' as const, object })));
  if (!built.state) return { objects: [], issues: [] };
  const holders = new Map<string, string[]>();
  const held = (svc: KService) =>
    memory.allocations.get(lbName(svc.metadata.namespace ?? 'default', svc.metadata.name ?? '')) ??
    persistedAllocation(svc);
  for (const svc of view.services) {
    const a = held(svc);
    if (!a) continue;
    for (const ip of [...a.addresses, ...a.secondaryAddresses]) {
      const pool = poolNameOf(built.state.pools.values(), ip);
      if (pool) holders.set(pool, [...(holders.get(pool) ?? []), `${svcKey(svc.metadata)} (${ip})`]);
    }
  }
  const objects = gone.filter((o) => holders.has((o.metadata as { name: string }).name));
  const issues = objects.map((o) => {
    const name = (o.metadata as { name: string }).name;
    const users = holders.get(name) ?? [];
    return {
      object: `IPAddressPool/${name}`,
      field: 'metadata.name',
      value: name,
      message: `deleted while ${users.length} Service(s) hold its addresses (${users.slice(0, 5).join(', ')}${users.length > 5 ? ', ...' : ''}); it stays in use until they are released`,
    };
  });
  return { objects, issues };
}
