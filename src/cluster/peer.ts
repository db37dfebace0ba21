// One peer as the membership core sees it (pure state, no I/O), the start-up gate over all peers,
// and a peer's row in `GET /api/v1/cluster`. Split out of membership.ts, which drives them.
import type { ClusterNode } from '../model/cluster.js';
import { ClaimAssembler, HeartbeatFlag } from './claims.js';
import type { ReplayState } from './replay.js';
import type { MemberStatus } from './status.js';

export interface Peer {
  node: ClusterNode;
  replay?: ReplayState;
  heardMono?: number;
  heardWall?: number;
  /** Last authenticated, non-replayed message of any kind (a Leaving one too): accounted for. */
  seenMono?: number;
  /** Monotonic time it came alive (first message after being dead or unknown). */
  aliveSince?: number;
  alive: boolean;
  readonly claims: ClaimAssembler;
  latestVersion?: number;
  flags: number;
  intervalMs?: number;
  wantClaims: boolean;
  problem?: string;
}

export function newPeer(node: ClusterNode): Peer {
  return { node, alive: false, claims: new ClaimAssembler(), flags: 0, wantClaims: false };
}

export interface GateInput {
  readonly candidatesKnown: boolean;
  readonly nowMono: number;
  /** Start of the current grace: the start, or the last moment without quorum. */
  readonly syncFrom: number;
  readonly deadAfterMs: number;
  /** How long a peer never heard since syncFrom holds the decision up. */
  readonly unheardGraceMs: number;
}

/**
 * Whether a starting (or healed) node may decide ownership, connection-state sync aside: one dead
 * interval has passed, every peer has been heard since the grace began (or the longer grace for
 * unheard peers is over) and every live peer's claims are complete. A majority is enough to act,
 * not to know who holds what: a peer whose datagrams are late (its neighbour entry after our link
 * came up, a loaded host) still holds its addresses, and deciding without its claims took them (a
 * move on return, two owners until its claims arrived). Returns the live peers' names, or
 * undefined while it must wait.
 */
export function startupGate(g: GateInput, peers: Iterable<Peer>): string[] | undefined {
  if (!g.candidatesKnown || g.nowMono - g.syncFrom < g.deadAfterMs) return undefined;
  const all = [...peers];
  if (g.nowMono - g.syncFrom < g.unheardGraceMs)
    for (const p of all) if ((p.seenMono ?? -Infinity) < g.syncFrom) return undefined;
  const alive: string[] = [];
  for (const p of all) {
    if (p.alive && !p.claims.upToDate(p.latestVersion)) return undefined;
    if (p.alive) alive.push(p.node.name);
  }
  return alive;
}

/**
 * Whether a node with quorum keeps what it has for now instead of electing:
 * - a peer that just came back (or restarted) has not told us its claims yet: until it has (or one
 *   dead interval passed), deciding would hand out addresses it may hold;
 * - this node has just synced while live peers have not (nodes started together, seconds apart):
 *   deciding now would hand every address nobody holds to the first node ready, for good (sticky).
 *   It waits for them until `waitSyncedUntil` (monotonic; undefined: not synced, no such wait).
 */
export function holdDecision(
  alive: readonly Peer[],
  nowMono: number,
  deadAfterMs: number,
  waitSyncedUntil: number | undefined,
): boolean {
  if (alive.some((p) => !p.claims.current && nowMono - (p.aliveSince ?? 0) < deadAfterMs)) return true;
  return (
    waitSyncedUntil !== undefined &&
    nowMono < waitSyncedUntil &&
    alive.some((p) => !(p.flags & HeartbeatFlag.Synced) || !(p.flags & HeartbeatFlag.Quorum))
  );
}

/** A peer's row: state, last heartbeat, what it says of itself (flags, claims), any problem. */
export function peerStatus(p: Peer, nowMono: number, ourIntervalMs: number): MemberStatus {
  return {
    name: p.node.name,
    address: p.node.address,
    state: p.alive ? 'alive' : p.heardMono === undefined ? 'unknown' : 'dead',
    ...(p.heardWall !== undefined
      ? { lastHeartbeat: p.heardWall, lastHeartbeatAgoMs: Math.max(0, nowMono - (p.heardMono ?? 0)) }
      : {}),
    ...(p.replay ? { bootId: p.replay.bootId } : {}),
    ...(p.heardMono !== undefined
      ? {
          synced: Boolean(p.flags & HeartbeatFlag.Synced),
          quorum: Boolean(p.flags & HeartbeatFlag.Quorum),
        }
      : {}),
    ...(p.claims.current ? { claims: p.claims.current.size, claimsVersion: p.claims.version } : {}),
    ...(p.intervalMs !== undefined && p.intervalMs !== ourIntervalMs ? { intervalMs: p.intervalMs } : {}),
    ...(p.problem ? { problem: p.problem } : {}),
  };
}
