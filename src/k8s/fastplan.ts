// The planner's O(change) path: after a clean plan (nothing fell back), a change to a few Services
// or their EndpointSlices is planned from the carry alone — those Services are re-mapped, re-validated
// against the unchanged pool set (updateDesiredState) and re-examined by IPAM, and every other
// Service keeps its mapping, validation and outcome by identity. Anything this path does not model
// (configuration, Nodes or Namespaces changed, a Service that falls back or would be reserved) returns
// undefined and the whole-set plan runs instead; a property test holds both to the same decisions.
import { allocate } from '../ipam/allocator.js';
import { PMap } from '../state/pmap.js';
import type { ConfigIssue } from '../model/issues.js';
import { poolNameOf } from '../model/pools.js';
import { Kind, objectKey, type StoredObject } from '../model/types.js';
import { updateDesiredState } from '../model/validate.js';
import { ALLOCATED } from './annotations.js';
import { SERVICE_NAME_LABEL } from './annotations.js';
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
  type Memory,
  type Outcome,
  type Plan,
} from './carry.js';
import { claims, lbName, type MappedService } from './mapping.js';
import { svcKey, type KEndpointSlice } from './types.js';

const sliceOwner = (sl: KEndpointSlice): string | undefined => {
  const owner = sl.metadata.labels?.[SERVICE_NAME_LABEL];
  return owner === undefined ? undefined : `${sl.metadata.namespace ?? 'default'}/${owner}`;
};
/** "ns/name" ↔ the model name "ns.name" (neither part holds a dot or a slash). */
const nameOf = (key: string): string =>
  lbName(key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1));
const keyOf = (name: string): string =>
  `${name.slice(0, name.indexOf('.'))}/${name.slice(name.indexOf('.') + 1)}`;

export function planChanges(view: ClusterView, memory: Memory, carry: Carry): Plan | undefined {
  const run = carry.run;
  if (!run?.memo || !memory.pools) return undefined;
  if (!sameConfig(carry.crs, view.customObjects) || !sameRefs(carry.nodes, view.nodes)) return undefined;
  if (!sameRefs(carry.namespaces, view.namespaces ?? [])) return undefined;
  const cfg = carry.cfg;

  // Which Services changed: their object, or the EndpointSlices they own.
  const changed = new Set<string>();
  // Drafts over the carry's maps (structurally shared: no copy of every Service's entry).
  const services = PMap.of(carry.services).edit();
  let found = 0;
  for (const s of view.services) {
    const key = svcKey(s.metadata);
    const was = carry.services.get(key);
    if (was !== undefined) found++;
    if (was !== s) {
      changed.add(key);
      services.set(key, s);
    }
  }
  if (found < carry.services.size) {
    const present = new Set(view.services.map((s) => svcKey(s.metadata)));
    for (const key of carry.services.keys())
      if (!present.has(key)) {
        changed.add(key);
        services.delete(key);
      }
  }
  if (!sameRefs(carry.slices, view.slices)) {
    const before = new Set(carry.slices);
    const now = new Set(view.slices);
    for (const sl of view.slices) if (!before.has(sl)) changed.add(sliceOwner(sl) ?? '');
    for (const sl of carry.slices) if (!now.has(sl)) changed.add(sliceOwner(sl) ?? '');
    changed.delete('');
  }
  if (changed.size > 256) return undefined; // a big change: the whole-set plan is as cheap

  const nsLabels = new Map(
    (view.namespaces ?? []).map((n) => [n.metadata.name ?? '', n.metadata.labels ?? NO_LABELS]),
  );
  const slicesOf = (key: string) => view.slices.filter((sl) => sliceOwner(sl) === key);
  const mapped = PMap.of(carry.mapped).edit();
  const nextServices = PMap.of(memory.services).edit();
  const objectsDraft = PMap.of(run.state.objects).edit();
  const labels = new Set<string>();
  const released = new Map<string, Outcome>();
  const fresh = new Map<string, MappedService>();
  for (const key of changed) {
    const svc = services.get(key);
    const name = nameOf(key);
    const label = objectKey(Kind.LoadBalancer, name);
    if (!svc || !claims(svc, cfg)) {
      // Becoming reserved (an unclaimed LoadBalancer holding our address) is the whole-set plan's job.
      if (svc?.spec?.type === 'LoadBalancer' && svc.metadata.annotations?.[ALLOCATED] !== undefined)
        if (persistedAllocation(svc)) return undefined;
      mapped.delete(key);
      nextServices.delete(key);
      if (objectsDraft.delete(label)) labels.add(label);
      if (svc && svc.spec?.type !== 'LoadBalancer' && svc.metadata.annotations?.[ALLOCATED] !== undefined)
        released.set(key, { phase: 'Released' });
      continue;
    }
    const m = mapMemo(
      svc,
      slicesOf(key),
      carry.nodes,
      nsLabels.get(svc.metadata.namespace ?? 'default'),
      cfg,
      carry.mapped.get(key),
    );
    if (m.result.issues.length > 0 || !m.result.object) return undefined;
    mapped.set(key, m);
    fresh.set(key, m.result);
    nextServices.set(key, m.result.object);
    const stored: StoredObject = { origin: 'api', object: m.result.object };
    if (objectsDraft.get(label)?.object !== m.result.object) {
      objectsDraft.set(label, stored);
      labels.add(label);
    }
  }

  const v = updateDesiredState(run.state, carry.warnings, objectsDraft.done(), labels);
  if (!v.state) return undefined;
  const state = v.state;

  // IPAM from the last run: touched Services start from our memory, else the API's record.
  const previousDraft = PMap.of(memory.allocations).edit();
  const index = {};
  const reexamined = new Set<string>([...fresh.keys()]);
  for (const name of run.memo.open) reexamined.add(keyOf(name));
  for (const key of reexamined) {
    const name = nameOf(key);
    const svc = services.get(key);
    if (previousDraft.has(name) || !svc) continue;
    const held = persistedAllocation(svc);
    if (held && recordClashes(held, name, memory.allocations, index)) return undefined;
    if (held) previousDraft.set(name, held);
  }
  // Only the changed Services' specs can differ from the last run's (the rest kept their identity):
  // IPAM need not compare all of them (5k PMap reads per reconcile).
  const touched = new Set([...changed].map(nameOf));
  const ipam = allocate(state, previousDraft.done(), { ...run, touched });
  // IPAM re-examines the co-holders of a touched Service's shared address too.
  for (const name of ipam.changed ?? []) if (state.loadBalancers.has(name)) reexamined.add(keyOf(name));

  const outcomes = PMap.of(carry.outcomes).edit();
  for (const key of changed) outcomes.delete(key);
  for (const [key, o] of released) outcomes.set(key, o);
  for (const key of reexamined) {
    const m = mapped.get(key);
    if (!m) continue;
    const name = nameOf(key);
    const allocation = ipam.allocations.get(name);
    const st = ipam.status.get(name);
    const warnings: ConfigIssue[] = [...m.result.warnings];
    for (const w of v.warnings)
      if (w.object === objectKey(Kind.LoadBalancer, name)) warnings.push({ ...w, object: `Service/${key}` });
    let o: Outcome | undefined;
    if (st?.phase === 'Allocated' && allocation) {
      const pool = poolNameOf(state.pools.values(), allocation.addresses[0]);
      o = {
        phase: 'Allocated',
        allocation,
        ...(pool ? { pool } : {}),
        ...(warnings.length > 0 ? { warnings } : {}),
      };
    } else if (st?.phase === 'Pending')
      o = { phase: 'Pending', code: st.code, reason: st.reason, ...(allocation ? { allocation } : {}) };
    if (!o) {
      outcomes.delete(key);
      continue;
    }
    const was = carry.outcomes.get(key);
    outcomes.set(key, was && sameOutcome(was, o) ? was : o);
  }

  const outcomesNext = outcomes.done();
  return {
    hold: false,
    changed: new Set([...changed, ...reexamined]),
    state,
    allocations: ipam.allocations,
    configIssues: [],
    configSources: carry.cfgMap.sources,
    outcomes: outcomesNext,
    memory: {
      pools: memory.pools,
      services: nextServices.done(),
      allocations: ipam.allocations,
      carry: {
        ...carry,
        crs: view.customObjects,
        mapped: mapped.done(),
        run: { state, status: ipam.status, ...(ipam.memo ? { memo: ipam.memo } : {}) },
        outcomes: outcomesNext,
        services: services.done(),
        slices: view.slices,
        namespaces: view.namespaces ?? [],
        warnings: v.warnings,
        clean: true,
      },
    },
  };
}
