// The hook that turns a snapshot into Layer 2 candidates (contract.ts), on the main thread. The
// L2Advertisement semantics (pools, pool selectors, interfaces, nodeSelectors, serviceSelectors,
// externalTrafficPolicy) live in src/l2/candidates.ts; this file adapts them to the cluster shell.
import type { ClusterSpec } from '../model/cluster.js';
import type { Snapshot } from '../state/snapshot.js';
import { L2CandidateIndex, l2Candidates } from '../l2/candidates.js';
import type { CandidateDelta, L2Candidate } from './contract.js';

export function candidatesOf(
  snap: Snapshot,
  cluster: ClusterSpec,
  localNode: string,
): Map<string, L2Candidate> {
  return l2Candidates({
    state: snap.state,
    allocations: snap.allocations,
    status: snap.status,
    nodes: cluster.nodes,
    localNode,
  });
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

/** The default source: the O(change) index (only changed services are re-derived). */
export function candidateSource(): CandidateSource {
  const index = new L2CandidateIndex();
  return {
    update: (snap, cluster, localNode) =>
      index.apply({
        state: snap.state,
        allocations: snap.allocations,
        status: snap.status,
        nodes: cluster.nodes,
        localNode,
      }),
    all: () => index.candidates,
  };
}
