// Which service addresses Layer 2 may announce, where, and by whom: a pure function of the snapshot
// (pools, L2Advertisements, LoadBalancers, allocations), the Cluster's nodes and this node's name.
//
// MetalLB semantics: an address is a candidate when its pool is covered by an L2Advertisement whose
// serviceSelectors (if any) match the service; its eligible nodes are the union over those
// advertisements of the nodes their nodeSelectors pick (none = every node), narrowed by
// externalTrafficPolicy: Local (the `ferrolb.io/announce-nodes` annotation the Kubernetes mapping
// writes). `interfaces` is where THIS node answers when it owns the address (each node computes its
// own; `nodes` is the same everywhere, so every node's election agrees): the union of the interfaces
// of the advertisements that select this node; one of them without interfaces = every interface.
// An address shared by several services (allow-shared-ip) may be owned only by nodes eligible for all
// of them: a node without a local endpoint for one of them would drop that service's traffic.
//
// L2CandidateIndex is the O(change) form: a snapshot that changes a few services re-derives those
// services' addresses only; a change of pools, advertisements or nodes re-derives everything.
import type { CandidateDelta, L2Candidate } from '../cluster/contract.js';
import type { Allocation, ServiceStatus } from '../ipam/allocator.js';
import { anySelectorMatches, selectorMatches } from '../model/labels.js';
import { advertisedPools, type L2AdvertisementSpec } from '../model/l2.js';
import { poolContaining } from '../model/pools.js';
import type { DesiredState, LoadBalancerSpec, Pool } from '../model/types.js';
import { tryParseIp } from '../net/ip.js';

/** Set by the Kubernetes mapping on a LoadBalancer (externalTrafficPolicy: Local): comma-separated nodes. */
export const ANNOUNCE_NODES_ANNOTATION = 'ferrolb.io/announce-nodes';

export interface ClusterNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface CandidateInput {
  readonly state: Pick<DesiredState, 'pools' | 'loadBalancers' | 'l2'>;
  readonly allocations: ReadonlyMap<string, Allocation>;
  /** When given, only services whose phase is Allocated are announced (pending ones are not served). */
  readonly status?: ReadonlyMap<string, ServiceStatus>;
  /** The Cluster's members (all of them, alive or not: eligibility must not depend on liveness). */
  readonly nodes: readonly ClusterNode[];
  /** This node's name (whose interfaces `interfaces` lists). */
  readonly localNode: string;
}

/** Per-context derivations: what each pool's advertisements allow. */
interface PoolRule {
  readonly ads: readonly L2AdvertisementSpec[];
}

interface Context {
  readonly l2: DesiredState['l2'];
  readonly pools: ReadonlyMap<string, Pool>;
  readonly nodes: readonly ClusterNode[];
  readonly localNode: string;
  readonly rules: Map<string, PoolRule>;
  readonly adNodes: Map<L2AdvertisementSpec, readonly string[]>;
}

/** What one service contributes to one of its addresses. */
interface Contribution {
  readonly nodes: readonly string[];
  /** undefined = every interface. */
  readonly interfaces: readonly string[] | undefined;
}

interface ServiceMemo {
  readonly spec: LoadBalancerSpec;
  readonly alloc: Allocation | undefined;
  readonly st: ServiceStatus | undefined;
  readonly out: ReadonlyMap<string, Contribution>;
}

function makeContext(input: CandidateInput): Context {
  const ads = input.state.l2 ?? [];
  const rules = new Map<string, PoolRule>();
  for (const a of ads)
    for (const p of advertisedPools(a, input.state.pools)) {
      const r = rules.get(p) ?? { ads: [] };
      rules.set(p, { ads: [...r.ads, a] });
    }
  const adNodes = new Map<L2AdvertisementSpec, readonly string[]>();
  for (const a of ads)
    adNodes.set(
      a,
      input.nodes.filter((n) => anySelectorMatches(a.nodeSelectors, n.labels)).map((n) => n.name),
    );
  return {
    l2: input.state.l2,
    pools: input.state.pools,
    nodes: input.nodes,
    localNode: input.localNode,
    rules,
    adNodes,
  };
}

function serviceContributions(ctx: Context, lb: LoadBalancerSpec, alloc: Allocation | undefined) {
  const out = new Map<string, Contribution>();
  if (!alloc) return out;
  const local = lb.meta.annotations[ANNOUNCE_NODES_ANNOTATION];
  const localNodes = local === undefined ? undefined : new Set(local.split(',').filter(Boolean));
  for (const address of [...alloc.addresses, ...alloc.secondaryAddresses]) {
    const ip = tryParseIp(address);
    const pool = ip && poolContaining(ctx.pools.values(), ip);
    const rule = pool && ctx.rules.get(pool.meta.name);
    if (!rule) continue;
    const ads = rule.ads.filter(
      (a) =>
        a.serviceSelectors.length === 0 || a.serviceSelectors.some((s) => selectorMatches(s, lb.meta.labels)),
    );
    if (ads.length === 0) continue;
    const nodes = new Set<string>();
    let interfaces: Set<string> | undefined = new Set();
    for (const a of ads) {
      const picked = ctx.adNodes.get(a) ?? [];
      for (const n of picked) nodes.add(n);
      if (!picked.includes(ctx.localNode)) continue;
      if (a.interfaces.length === 0) interfaces = undefined;
      else if (interfaces) for (const i of a.interfaces) interfaces.add(i);
    }
    const eligible = [...nodes].filter((n) => !localNodes || localNodes.has(n)).sort();
    out.set(address, { nodes: eligible, interfaces: interfaces && [...interfaces].sort() });
  }
  return out;
}

/** Shared addresses: nodes eligible for every service on it; interfaces: the union. */
function merge(address: string, parts: readonly Contribution[]): L2Candidate {
  let nodes = parts[0]!.nodes;
  let all = false;
  const ifs = new Set<string>();
  for (const p of parts) {
    if (p !== parts[0]) nodes = nodes.filter((n) => p.nodes.includes(n));
    if (p.interfaces === undefined) all = true;
    else for (const i of p.interfaces) ifs.add(i);
  }
  return { address, nodes, interfaces: all ? [] : [...ifs].sort() };
}

const sameCandidate = (a: L2Candidate, b: L2Candidate) =>
  a.nodes.length === b.nodes.length &&
  a.nodes.every((n, i) => n === b.nodes[i]) &&
  a.interfaces.length === b.interfaces.length &&
  a.interfaces.every((n, i) => n === b.interfaces[i]);

/** Every candidate of one input, from scratch (the reference the index must agree with). */
export function l2Candidates(input: CandidateInput): Map<string, L2Candidate> {
  const index = new L2CandidateIndex();
  index.apply(input);
  return new Map(index.candidates);
}

/**
 * Keeps the candidate set between snapshots. `apply` returns the delta; per service, only services
 * whose spec or allocation object changed are re-derived (the snapshot shares unchanged ones).
 */
export class L2CandidateIndex {
  private ctx: Context | undefined;
  private readonly services = new Map<string, ServiceMemo>();
  /** address → service name → contribution. */
  private readonly byAddress = new Map<string, Map<string, Contribution>>();
  private readonly current = new Map<string, L2Candidate>();

  get candidates(): ReadonlyMap<string, L2Candidate> {
    return this.current;
  }

  apply(input: CandidateInput): CandidateDelta {
    const c = this.ctx;
    const fresh =
      !c ||
      c.l2 !== input.state.l2 ||
      c.pools !== input.state.pools ||
      c.nodes !== input.nodes ||
      c.localNode !== input.localNode;
    if (fresh) this.ctx = makeContext(input);
    const ctx = this.ctx!;
    const touched = new Set<string>();
    const drop = (name: string, memo: ServiceMemo) => {
      for (const a of memo.out.keys()) {
        touched.add(a);
        const m = this.byAddress.get(a);
        m?.delete(name);
        if (m && m.size === 0) this.byAddress.delete(a);
      }
    };
    for (const [name, memo] of this.services)
      if (!input.state.loadBalancers.has(name)) {
        drop(name, memo);
        this.services.delete(name);
      }
    for (const [name, spec] of input.state.loadBalancers) {
      const alloc = input.allocations.get(name);
      const st = input.status?.get(name);
      const memo = this.services.get(name);
      if (!fresh && memo && memo.spec === spec && memo.alloc === alloc && memo.st === st) continue;
      if (memo) drop(name, memo);
      const served = !input.status || st?.phase === 'Allocated';
      const out = serviceContributions(ctx, spec, served ? alloc : undefined);
      this.services.set(name, { spec, alloc, st, out });
      for (const [a, contribution] of out) {
        touched.add(a);
        let m = this.byAddress.get(a);
        if (!m) this.byAddress.set(a, (m = new Map()));
        m.set(name, contribution);
      }
    }
    const upsert: L2Candidate[] = [];
    const remove: string[] = [];
    for (const a of touched) {
      const parts = this.byAddress.get(a);
      const before = this.current.get(a);
      if (!parts) {
        if (before) {
          this.current.delete(a);
          remove.push(a);
        }
        continue;
      }
      // Service order must not matter: merge in name order.
      const next = merge(
        a,
        [...parts.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([, v]) => v),
      );
      if (!before || !sameCandidate(before, next)) {
        this.current.set(a, next);
        upsert.push(next);
      }
    }
    return { upsert, remove };
  }
}
