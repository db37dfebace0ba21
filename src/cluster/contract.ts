// The contract between cluster membership (src/cluster) and Layer 2 announcement (src/l2). Both run
// in the cluster worker thread so that a failover never waits for config work on the main thread:
// the main thread sends Candidates (what may be announced where, O(change) deltas), the worker
// keeps the membership view, elects an owner per address and tells the Announcer what this node owns.

/** One address that Layer 2 may announce, with where and by whom (computed on the main thread). */
export interface L2Candidate {
  /** The service address (IPv4 or IPv6, canonical text form). */
  readonly address: string;
  /** Interfaces on which the owner answers ARP/NDP; empty = every interface except loopback and ferrolb0. */
  readonly interfaces: readonly string[];
  /** Names of the Cluster nodes allowed to own it (nodeSelectors, externalTrafficPolicy Local), sorted. */
  readonly nodes: readonly string[];
}

/** Change to the candidate set: O(change) between main thread and worker. */
export interface CandidateDelta {
  readonly upsert: readonly L2Candidate[];
  readonly remove: readonly string[];
}

/** Who owns an address, as this node's election sees it. */
export interface Ownership {
  readonly address: string;
  /** Owner node name, or null when no eligible node is alive (or this node lacks quorum). */
  readonly owner: string | null;
  /** Epoch ms when this owner took it. */
  readonly since: number;
}

/** What the election tells the announcer: the addresses this node owns now, with their interfaces. */
export type OwnedAddresses = ReadonlyMap<string, readonly string[]>;

export interface AnnouncerStatus {
  readonly address: string;
  readonly interfaces: readonly string[];
  /** 'announcing' after the takeover burst went out; 'failed' with error when the kernel refused. */
  readonly state: 'announcing' | 'withdrawn' | 'failed';
  readonly since: number;
  readonly error?: string;
}

/**
 * Implemented by src/l2 (kernel side). `update` is called with the complete owned set after each
 * election change (the announcer diffs: takeover burst for new ones, suppression for lost ones).
 * Non-owners never answer ARP/NDP for any candidate address; `candidates` says which addresses
 * are candidates at all (so the announcer suppresses answers for all of them unless owned).
 */
export interface Announcer {
  candidates(all: ReadonlyMap<string, L2Candidate>): Promise<void>;
  update(owned: OwnedAddresses): Promise<void>;
  status(): readonly AnnouncerStatus[];
  close(): Promise<void>;
}
