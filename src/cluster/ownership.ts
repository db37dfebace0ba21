// From the membership core's view to the election and back (pure): who may own (this node and the
// live peers that are synced and see a majority), what each claims, and what a result changes —
// the owners with their `since`, and this node's owned addresses with their interfaces.
import { HeartbeatFlag } from './claims.js';
import type { L2Candidate, OwnedAddresses } from './contract.js';
import type { ElectionInput } from './election.js';
import type { Peer } from './peer.js';

export interface OwnerEntry {
  readonly owner: string | null;
  /** Wall-clock ms of the last change. */
  readonly since: number;
}

/** The election's members and claims: this node (its owned set) and every eligible live peer. */
export function electionView(
  self: string,
  own: OwnedAddresses,
  alive: readonly Peer[],
): Pick<ElectionInput, 'members' | 'claims'> {
  const members = new Set<string>([self]);
  const claims = new Map<string, ReadonlySet<string>>([[self, new Set(own.keys())]]);
  for (const p of alive) {
    const c = p.claims.current;
    // A peer that has not synced yet (start-up grace, connection-state pull) is handed nothing.
    if (!c || !(p.flags & HeartbeatFlag.Quorum) || !(p.flags & HeartbeatFlag.Synced)) continue;
    members.add(p.node.name);
    claims.set(p.node.name, c);
  }
  return { members, claims };
}

export interface Outcome {
  readonly owners: Map<string, OwnerEntry>;
  readonly own: Map<string, readonly string[]>;
  /** This node's owned set (or an address's interfaces) differs from before. */
  readonly changed: boolean;
  /** Addresses whose owner changed (first owners not counted). */
  readonly ownerChanges: number;
}

/** What an election result means next to the previous owners and this node's previous owned set. */
export function outcome(
  result: ReadonlyMap<string, string | null>,
  prev: { readonly owners: ReadonlyMap<string, OwnerEntry>; readonly own: OwnedAddresses },
  self: string,
  candidates: ReadonlyMap<string, L2Candidate>,
  wall: number,
): Outcome {
  const owners = new Map<string, OwnerEntry>();
  const own = new Map<string, readonly string[]>();
  let changed = prev.own.size !== 0 && result.size === 0;
  let ownerChanges = 0;
  for (const [a, owner] of result) {
    const before = prev.owners.get(a);
    if (before && before.owner === owner) owners.set(a, before);
    else {
      owners.set(a, { owner, since: wall });
      if (before) ownerChanges++;
    }
    if (owner === self) {
      const ifs = candidates.get(a)?.interfaces ?? [];
      own.set(a, ifs);
      if (prev.own.get(a) !== ifs) changed = true;
    }
  }
  if (own.size !== prev.own.size) changed = true;
  return { owners, own, changed, ownerChanges };
}

/** One row per candidate address, sorted: its owner, since when, the eligible nodes. */
export function ownerRows(
  owners: ReadonlyMap<string, OwnerEntry>,
  candidates: ReadonlyMap<string, L2Candidate>,
): { address: string; owner: string | null; since: number; nodes: readonly string[] }[] {
  return [...owners]
    .map(([address, o]) => ({
      address,
      owner: o.owner,
      since: o.since,
      nodes: candidates.get(address)?.nodes ?? [],
    }))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}
