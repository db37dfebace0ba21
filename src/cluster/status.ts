// What GET /api/v1/cluster and `ferroctl get cluster` show (plain data, shared by the membership
// thread, the API and the CLI).
import type { SyncChannel } from './sync-channel.js';
import type { AnnouncerStatus, Ownership } from './contract.js';
import type { DropReason } from './wire.js';

export type MemberState = 'self' | 'alive' | 'dead' | 'unknown';

export interface MemberStatus {
  readonly name: string;
  readonly address: string;
  readonly state: MemberState;
  /** Epoch ms of the last authenticated message (undefined: never heard). */
  readonly lastHeartbeat?: number;
  /** Milliseconds since then, when the status was taken. */
  readonly lastHeartbeatAgoMs?: number;
  readonly bootId?: number;
  /** As the member reports it: ownership decided (synced) and a majority seen (quorum). */
  readonly synced?: boolean;
  readonly quorum?: boolean;
  /** Addresses it claims (its complete claim set), and the claim set version. */
  readonly claims?: number;
  readonly claimsVersion?: number;
  /** Its heartbeat interval differs from ours (a rollout of a new interval in progress). */
  readonly intervalMs?: number;
  /** The last message that could not be used (e.g. another wire version), with when. */
  readonly problem?: string;
}

export interface ClusterCounters {
  readonly heartbeatsSent: number;
  readonly heartbeatsReceived: number;
  readonly claimsSent: number;
  readonly claimsReceived: number;
  readonly drops: Readonly<Record<DropReason, number>>;
  readonly elections: number;
  readonly ownerChanges: number;
}

export interface ClusterStatus {
  readonly configured: boolean;
  readonly name?: string;
  readonly self?: string;
  readonly running: boolean;
  /** A refused configuration or key (the last good one keeps running), or the thread's death. */
  readonly error?: string;
  readonly bootId?: number;
  readonly heartbeatIntervalMs?: number;
  readonly deadAfter?: number;
  readonly port?: number;
  /** This node decided ownership (start-up grace over, every peer's claims known). */
  readonly synced?: boolean;
  readonly quorum?: {
    readonly have: boolean;
    readonly alive: number;
    readonly needed: number;
    readonly total: number;
  };
  readonly members: readonly MemberStatus[];
  readonly owners: readonly (Ownership & { readonly nodes: readonly string[] })[];
  readonly owned: number;
  readonly counters?: ClusterCounters;
  readonly announcer?: readonly AnnouncerStatus[];
  /** Connection-state sync (docs/ha.md): per-peer streams and pulls, counters, registered producers. */
  readonly sync?: ReturnType<SyncChannel['status']>;
}

export const emptyCounters = (reasons: readonly DropReason[]): ClusterCounters => ({
  heartbeatsSent: 0,
  heartbeatsReceived: 0,
  claimsSent: 0,
  claimsReceived: 0,
  drops: Object.fromEntries(reasons.map((r) => [r, 0])) as Record<DropReason, number>,
  elections: 0,
  ownerChanges: 0,
});
