// The hook that turns a snapshot into Layer 2 candidates (contract.ts), on the main thread. The
// L2Advertisement semantics (pools, pool selectors, interfaces, nodeSelectors, externalTrafficPolicy)
// belong to src/l2 and replace `candidatesOf` / `candidateSource` here. This interim version: every
// allocated address (primary and secondary) of the pools an L2Advertisement names in
// spec.ipAddressPools — of every pool when the configuration holds no L2Advertisement at all — on
// every interface, every Cluster node eligible.
import type { ClusterSpec } from '../model/cluster.js';
import { poolNameOf } from '../model/pools.js';
import type { Snapshot } from '../state/snapshot.js';
import type { CandidateDelta, L2Candidate } from './contract.js';

export function candidatesOf(
  snap: Snapshot,
  cluster: ClusterSpec,
  _localNode: string,
): Map<string, L2Candidate> {
  const out = new Map<string, L2Candidate>();
  const ads = [...snap.state.objects.values()].filter((s) => s.object.kind === 'L2Advertisement');
  let pools: Set<string> | undefined;
  if (ads.length > 0) {
    pools = new Set<string>();
    for (const s of ads) {
      const names = (s.object.spec as { ipAddressPools?: unknown } | undefined)?.ipAddressPools;
      if (Array.isArray(names)) for (const n of names) if (typeof n === 'string') pools.add(n);
    }
  }
  const nodes = cluster.nodes.map((n) => n.name);
  const allPools = [...snap.state.pools.values()];
  for (const [name, alloc] of snap.allocations) {
    if (snap.status.get(name)?.phase !== 'Allocated') continue;
    for (const address of [...alloc.addresses, ...alloc.secondaryAddresses]) {
      if (pools && !pools.has(poolNameOf(allPools, address) ?? '')) continue;
      out.set(address, { address, interfaces: [], nodes });
    }
  }
  return out;
}

const same = (a: L2Candidate, b: L2Candidate): boolean =>
  a.interfaces.length === b.interfaces.length &&
  a.nodes.length === b.nodes.length &&
  a.interfaces.every((x, i) => b.interfaces[i] === x) &&
  a.nodes.every((x, i) => b.nodes[i] === x);

export function diffCandidates(
  prev: ReadonlyMap<string, L2Candidate>,
  next: ReadonlyMap<string, L2Candidate>,
): CandidateDelta {
  const upsert: L2Candidate[] = [];
  const remove: string[] = [];
  for (const a of prev.keys()) if (!next.has(a)) remove.push(a);
  for (const [a, c] of next) {
    const p = prev.get(a);
    if (!p || !same(p, c)) upsert.push(c);
  }
  return { upsert, remove };
}

/** What the cluster shell asks of a candidate source: the change since the previous call. */
export interface CandidateSource {
  update(snap: Snapshot, cluster: ClusterSpec, localNode: string): CandidateDelta;
  all(): ReadonlyMap<string, L2Candidate>;
}

/** The default source: candidatesOf, diffed against the previous answer. */
export function candidateSource(): CandidateSource {
  let last: ReadonlyMap<string, L2Candidate> = new Map();
  return {
    update(snap, cluster, localNode) {
      const next = candidatesOf(snap, cluster, localNode);
      const delta = diffCandidates(last, next);
      last = next;
      return delta;
    },
    all: () => last,
  };
}
