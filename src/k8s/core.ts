// The controller's decisions, pure: cluster objects + what it remembers → desired state, allocations
// and, per Service, the annotations, status and condition it should carry. The shell only diffs this
// against the API and writes. Invalid input never replaces the last good input: a bad pool set keeps
// the last good pools; a bad Service keeps its last good mapping (or, after a restart, at least the
// addresses it holds), so no address moves because someone mistyped an annotation.
import { allocate, type Allocation, type ServiceStatus } from '../ipam/allocator.js';
import type { ConfigIssue } from '../model/issues.js';
import { buildDesiredState } from '../model/validate.js';
import { poolNameOf } from '../model/pools.js';
import type { DesiredState, RawObject, StoredObject } from '../model/types.js';
import { ALLOCATED } from './annotations.js';
import { mapCustomResources } from './crds.js';
import { planChanges } from './fastplan.js';
import {
  mapMemo,
  NO_LABELS,
  persistedAllocation,
  recordClashes,
  sameConfig,
  sameOutcome,
  sameRefs,
  type Carry,
  type ClusterView,
  type CoreConfig,
  type MappedMemo,
  type Memory,
  type Plan,
  type ServiceOutcome,
} from './carry.js';

export {
  emptyMemory,
  namespaceLabelsOf,
  persistedAllocation,
  type Carry,
  type ClusterView,
  type CoreConfig,
  type Memory,
  type Plan,
  type ServiceOutcome,
} from './carry.js';
import { SERVICE_NAME_LABEL } from './annotations.js';
import { claims, lbName } from './mapping.js';
import { svcKey, type KEndpointSlice, type KService } from './types.js';

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
  const index = {};
  for (const [name, lb] of state.loadBalancers) {
    if (run.state.loadBalancers.get(name) === lb && !run.memo.open.has(name)) continue;
    const p = previous.get(name);
    const had = memory.allocations.get(name);
    if (!had && p && recordClashes(p, name, memory.allocations, index)) return allocate(state, previous);
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
