// The planner's vocabulary, shared by the whole-set plan (core.ts) and the O(change) path
// (fastplan.ts): what it reads (ClusterView), remembers (Memory, Carry) and decides (Plan), and the
// pure helpers both use to tell what changed.
import type { Allocation, IpamMemo, ServiceStatus } from '../ipam/allocator.js';
import type { ConfigIssue } from '../model/issues.js';
import type { DesiredState, RawObject } from '../model/types.js';
import { tryParseIp, formatIp } from '../net/ip.js';
import { ALLOCATED, ALLOCATED_SECONDARY } from './annotations.js';
import type { MappedConfig } from './crds.js';
import { mapService, usesNodePorts, type MappedService, type MappingConfig } from './mapping.js';
import type { KCustomObject, KEndpointSlice, KNamespace, KNode, KService } from './types.js';

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

export type Outcome = ServiceOutcome | { readonly phase: 'Released' };

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

export const sameRefs = <T>(a: readonly T[] | undefined, b: readonly T[]): boolean =>
  a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
/** What the planner reads of a custom resource (its status, e.g. our pool counters, is not input). */
const crInput = (o: KCustomObject): string =>
  JSON.stringify([o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace, o.metadata.labels, o.spec]);
/** The same configuration input as before: the same objects, or objects that differ only in status. */
export const sameConfig = (a: readonly KCustomObject[], b: readonly KCustomObject[]): boolean =>
  sameRefs(a, b) ||
  (a.length === b.length && a.every((x, i) => crInput(x) === crInput(b[i] as KCustomObject)));
export const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** One Service's mapping, reused while its inputs are the same objects (or it maps to an equal object). */
export function mapMemo(
  svc: KService,
  slices: readonly KEndpointSlice[],
  nodes: readonly KNode[],
  labels: Readonly<Record<string, string>> | undefined,
  cfg: CoreConfig,
  old: MappedMemo | undefined,
): MappedMemo {
  const readsNodes = usesNodePorts(svc);
  let m: MappedService;
  if (
    old &&
    old.svc === svc &&
    old.nsLabels === labels &&
    (readsNodes ? old.nodes === nodes : old.nodes === undefined) &&
    sameRefs(old.slices, slices)
  )
    return old;
  m = mapService(svc, slices, nodes, cfg, labels);
  // An equal mapping keeps the old object, so validation and IPAM see it as unchanged.
  if (old && JSON.stringify(old.result) === JSON.stringify(m)) m = old.result;
  return { svc, slices, ...(readsNodes ? { nodes } : {}), nsLabels: labels, result: m };
}

/**
 * Whether a Service's recorded allocation (annotations or status) names an address that our last
 * decision gave to another Service. IPAM's incremental run then keeps the current holder while a
 * full run decides by name order, so the planner takes the full run there (rare: a new Service
 * carrying someone else's annotation). The index is built once, on first use.
 */
export function recordClashes(
  held: Allocation,
  name: string,
  decided: ReadonlyMap<string, Allocation>,
  index: { byAddress?: Map<string, string[]> },
): boolean {
  if (!index.byAddress) {
    const m = new Map<string, string[]>();
    for (const [n, a] of decided)
      for (const ip of [...a.addresses, ...a.secondaryAddresses]) m.set(ip, [...(m.get(ip) ?? []), n]);
    index.byAddress = m;
  }
  const by = index.byAddress;
  return [...held.addresses, ...held.secondaryAddresses].some((ip) =>
    (by.get(ip) ?? []).some((n) => n !== name),
  );
}
