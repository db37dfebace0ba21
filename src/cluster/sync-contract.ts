// The contract between the Cluster's state-sync channel (issue 12, in the cluster worker) and the
// producers of replicated connection state (kernel conntrack for TCP/UDP, the SCTP engine's
// association table in the SCTP worker). The channel rides the membership's authenticated envelope
// (wire.ts, types >= MsgType.SyncBase); producers never see sockets, keys or peers, only records of
// their own kind. Producers and the channel talk over a MessagePort, so replication never waits for
// the main thread's config work.

/** Kinds of replicated state; each maps to one wire type (MsgType.SyncBase + offset). */
export const SyncKind = {
  /** Kernel conntrack entries of ferrolb's services (TCP/UDP, with NAT mappings). */
  Conntrack: 'conntrack',
  /** SCTP multihoming associations (engine record + fast-path entries). */
  Sctp: 'sctp',
} as const;
export type SyncKind = (typeof SyncKind)[keyof typeof SyncKind];

/** Wire type offsets from MsgType.SyncBase. Control messages belong to the channel itself. */
export const SyncWireOffset = {
  Conntrack: 0,
  Sctp: 1,
  /** A node asks a peer for its full state (rejoin). */
  PullRequest: 8,
  /** A peer's full-state transfer is complete (per kind). */
  PullDone: 9,
  /** Cumulative acknowledgement (loss detection and lag). */
  Ack: 10,
} as const;

/**
 * One replicated record, opaque to the channel. `key` identifies the entry (a later record with the
 * same key replaces it; `deleted` removes it); `data` is the producer's own encoding, versioned by
 * the producer.
 */
export interface SyncRecord {
  readonly key: string;
  readonly deleted?: boolean;
  readonly data?: Uint8Array;
}

/** Producer → channel, over the producer's MessagePort. */
export type FromProducer =
  | { readonly type: 'hello'; readonly kind: SyncKind; readonly version: number }
  /** Changes since the last publish (O(change)); the channel batches and sends them to every peer. */
  | { readonly type: 'publish'; readonly kind: SyncKind; readonly records: readonly SyncRecord[] }
  /** Answer to 'snapshot': the producer's whole local state, in chunks; `done` on the last one. */
  | {
      readonly type: 'snapshot';
      readonly kind: SyncKind;
      readonly id: number;
      readonly records: readonly SyncRecord[];
      readonly done: boolean;
    };

/** Channel → producer. */
export type ToProducer =
  /** Records a peer replicated; the producer installs them (standby state, ready to forward). */
  | {
      readonly type: 'apply';
      readonly kind: SyncKind;
      readonly from: string;
      readonly records: readonly SyncRecord[];
    }
  /** A peer rejoined and asked for the full state: answer with 'snapshot' chunks. */
  | { readonly type: 'snapshot'; readonly kind: SyncKind; readonly id: number }
  /** This node's own pull finished (or the peer left): the producer may report itself synced. */
  | { readonly type: 'synced'; readonly kind: SyncKind; readonly from: string }
  /** A node left the cluster: its replicated entries may be aged out by the producer's own rules. */
  | { readonly type: 'peer-down'; readonly kind: SyncKind; readonly node: string };
