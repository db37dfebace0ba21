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
import { tryParseIp, formatIp } from '../net/ip.js';
import { ALLOCATED, ALLOCATED_SECONDARY } from './annotations.js';
import { mapCustomResources } from './crds.js';
import { claims, lbName, mapService, type MappingConfig } from './mapping.js';
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
  const cfgMap = mapCustomResources(view.customObjects, cfg.metallbCompat);
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
  const nsLabels = namespaceLabelsOf(view);
  for (const svc of claimed) {
    const m = mapService(
      svc,
      view.slices,
      view.nodes,
      cfg,
      nsLabels.get(svc.metadata.namespace ?? 'default'),
    );
    mapped.set(svcKey(svc.metadata), {
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
  for (let round = 0; round < 4 && !state; round++) {
    const objs: RawObject[] = [...pools, ...(round < 2 ? reserved : [])];
    for (const [key, m] of mapped) {
      const o = choose(key, m);
      if (o) objs.push(o);
    }
    const r = buildDesiredState(stored(objs));
    if (r.state) {
      state = r.state;
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
  const ipam = allocate(state, previous);
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

  return {
    hold: false,
    state,
    allocations: ipam.allocations,
    configIssues,
    configSources: cfgMap.sources,
    outcomes,
    memory: { pools, services: nextServices, allocations: ipam.allocations },
  };
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
