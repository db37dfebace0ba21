// Owner election per address (pure). Every node runs it on the same inputs — the candidates, the
// members it sees, and each member's claims (the addresses it says it owns, carried by its
// heartbeats) — and gets the same answer:
//   1. sticky: an address claimed by an eligible member stays with it; claimed by several (a healed
//      2-node split, a race), the claimant with the highest rendezvous score keeps it;
//   2. an unclaimed address goes to the eligible member with the highest rendezvous score of
//      (address, node): spread evenly in expectation, and the same on two nodes whose views differ.
//      Load-aware choice (the eligible member owning the fewest) was tried first: it depends on
//      every member's claim count, which two nodes see differently while a claim change is in
//      flight or a third node is a member for one of them only — and both then took the same
//      address (property test below; seen as "both announcing" under load). With the score alone,
//      two nodes that count each other as members can never both pick themselves;
//   3. no eligible member: no owner.
// A returning or new member claims nothing, so step 1 keeps every address where it is: zero moves.
// It only gets addresses nobody holds (new services, or those of a node that died meanwhile).
import type { L2Candidate } from './contract.js';

export interface ElectionInput {
  readonly candidates: ReadonlyMap<string, L2Candidate>;
  /** Nodes that may own addresses now: alive, synced, with quorum (this node included if so). */
  readonly members: ReadonlySet<string>;
  /** What each member claims; a member without an entry claims nothing. */
  readonly claims: ReadonlyMap<string, ReadonlySet<string>>;
}

/** FNV-1a over "address\0node", finalised with a murmur-style mix: the rendezvous score. */
export function score(address: string, node: string): number {
  let h = 0x811c9dc5;
  const feed = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  };
  feed(address);
  h = Math.imul(h, 0x01000193); // the separator: ("a", "bc") and ("ab", "c") differ
  feed(node);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The node of `nodes` with the highest score for `address` (names break exact ties). */
function best(address: string, nodes: readonly string[]): string {
  let top = nodes[0] as string;
  let topScore = score(address, top);
  for (let i = 1; i < nodes.length; i++) {
    const n = nodes[i] as string;
    const s = score(address, n);
    if (s > topScore || (s === topScore && n < top)) {
      top = n;
      topScore = s;
    }
  }
  return top;
}

/** Owner per candidate address (null: no eligible member). */
export function elect(input: ElectionInput): Map<string, string | null> {
  const out = new Map<string, string | null>();
  // Plain loops: this runs over every candidate (10,000 and more) on each membership change.
  const eligible: string[] = [];
  const claimants: string[] = [];
  for (const [address, c] of input.candidates) {
    eligible.length = 0;
    claimants.length = 0;
    for (const n of c.nodes) {
      if (!input.members.has(n)) continue;
      eligible.push(n);
      if (input.claims.get(n)?.has(address)) claimants.push(n);
    }
    if (eligible.length === 0) out.set(address, null);
    else if (claimants.length === 1) out.set(address, claimants[0] as string);
    else out.set(address, best(address, claimants.length > 0 ? claimants : eligible));
  }
  return out;
}

/** The addresses `node` owns in an election result. */
export function ownedBy(result: ReadonlyMap<string, string | null>, node: string): Set<string> {
  const s = new Set<string>();
  for (const [a, o] of result) if (o === node) s.add(a);
  return s;
}

/**
 * Whether a node seeing `alive` nodes (itself included) of `total` may own addresses: a strict
 * majority with three or more nodes; with one or two nodes always (VRRP-like: a lone survivor of a
 * pair serves, at the price of a split brain while the pair cannot see each other).
 */
export function hasQuorum(alive: number, total: number): boolean {
  return total <= 2 ? alive >= 1 : alive >= Math.floor(total / 2) + 1;
}
