// Domain types of the SCTP multihoming NAT engine. Plain data only: the engine is a pure state machine
// (packet bytes + time in → packets out + path-table changes), so everything here is serialisable and
// comparable in tests.
import type { IpAddr } from '../../net/ip.js';

/** One backend of a service. `addresses[0]` is where the LB sends INITs; further ones are optional. */
export interface SctpEndpoint {
  readonly addresses: readonly IpAddr[];
  readonly port: number;
}

/** A LoadBalancer with protocol SCTP in fullNAT mode: primary VIP first, then ≤ 3 secondaries. */
export interface SctpService {
  readonly name: string;
  readonly vips: readonly IpAddr[];
  readonly port: number;
  readonly endpoints: readonly SctpEndpoint[];
}

export interface EngineLimits {
  /** Hard bound on associations in the table (all states). */
  readonly maxAssociations: number;
  /** Bound on half-open associations (INIT seen, COOKIE-ACK not yet): the INIT-flood budget. */
  readonly maxHalfOpen: number;
  /** A half-open association older than this is dropped by tick(). */
  readonly halfOpenTimeoutMs: number;
  /** An established association with no activity (engine-seen or reported) for this long is dropped. */
  readonly idleTimeoutMs: number;
  /** After SHUTDOWN-COMPLETE, entries stay this long so a lost SHUTDOWN-COMPLETE can be repeated. */
  readonly closeLingerMs: number;
  /**
   * A client address silent this long, while another address of the same family was heard within it,
   * stops receiving the endpoint's packets: its VIPs are re-pointed to the live address (the client
   * evidently lost that path; the endpoint would otherwise wait out its own RTO back-off).
   */
  readonly returnStaleMs: number;
  /** LB-side source ports used when a client port is already taken towards the same endpoint. */
  readonly portRange: readonly [number, number];
  /**
   * INIT rate limits (token buckets: a sustained rate per second and a burst). Per source address:
   * one flooding host cannot starve the others. Global: bounds the work the LB does for INITs from
   * spoofed sources (each one is forwarded to an endpoint and answered). 0 disables a limit.
   */
  readonly initRatePerSource: number;
  readonly initBurstPerSource: number;
  readonly initRateGlobal: number;
  readonly initBurstGlobal: number;
  /** Source addresses the per-source limit tracks at once (least recently seen forgotten first). */
  readonly maxInitSources: number;
}

export const DEFAULT_LIMITS: EngineLimits = {
  maxAssociations: 65536,
  maxHalfOpen: 4096,
  halfOpenTimeoutMs: 30_000,
  idleTimeoutMs: 240_000,
  closeLingerMs: 3_000,
  returnStaleMs: 1_500,
  portRange: [49152, 65535],
  initRatePerSource: 20,
  initBurstPerSource: 40,
  initRateGlobal: 5000,
  initBurstGlobal: 5000,
  maxInitSources: 16384,
};

export type AssociationState =
  | 'init-sent' // INIT forwarded to the endpoint, INIT-ACK awaited
  | 'cookie-wait' // INIT-ACK forwarded, COOKIE-ACK awaited
  | 'established'
  | 'shutdown' // SHUTDOWN/SHUTDOWN-ACK seen
  | 'closed'; // SHUTDOWN-COMPLETE seen; lingering until closeLingerMs

export const isHalfOpen = (s: AssociationState): boolean => s === 'init-sent' || s === 'cookie-wait';

export type Side = 'client' | 'endpoint';

/** Per-path counters of packets the engine itself handled (the kernel fast path keeps its own). */
export interface PathCounters {
  packets: number;
  bytes: number;
  lastSeenMs: number;
}

/**
 * A kernel NAT entry for one direction of one path. Stateless: match on the 5-tuple plus the
 * verification tag (so two associations sharing addresses and ports never collide), rewrite
 * addresses and ports. The integrator compiles these into nft maps.
 */
export interface NatEntry {
  readonly association: number;
  readonly toward: Side;
  readonly match: {
    readonly src: IpAddr;
    readonly dst: IpAddr;
    readonly srcPort: number;
    readonly dstPort: number;
    readonly vtag: number;
  };
  readonly rewrite: {
    readonly src: IpAddr;
    readonly dst: IpAddr;
    readonly srcPort: number;
    readonly dstPort: number;
  };
  /**
   * What a restarted LB needs to rebuild the association from the kernel alone (kernel/adopt.ts):
   * written into the element's comment, not part of the match.
   */
  readonly meta?: EntryMeta;
}

export interface EntryMeta {
  readonly clientTag: number;
  readonly endpointTag: number;
  readonly initVip: IpAddr;
  /** Endpoint-side entries: the path's home client address (Association.home). */
  readonly home?: IpAddr;
  /** The AUTH key vector of the side this entry's packets come from, if it offered AUTH. */
  readonly vector?: Uint8Array;
}

export interface PathChanges {
  readonly add: readonly NatEntry[];
  readonly remove: readonly NatEntry[];
}

export interface OutPacket {
  readonly toward: Side;
  /** A complete IP packet (header + SCTP), checksums correct. */
  readonly bytes: Uint8Array;
  /** True when the LB itself originated it (e.g. an ASCONF-ACK), false for a translated packet. */
  readonly originated: boolean;
}

export type DropReason =
  | 'malformed'
  | 'bad-checksum'
  | 'no-service'
  | 'no-endpoint'
  | 'no-association'
  | 'table-full'
  | 'init-rate-source'
  | 'init-rate-global'
  | 'ports-exhausted'
  | 'init-bundled'
  | 'invalid-init'
  | 'auth-failed'
  | 'bad-cookie'
  | 'unexpected-asconf-ack'
  | 'nothing-left';

export interface EngineResult {
  /** Packets to send: the translated input (if it is forwarded) and any the LB originates. */
  readonly packets: readonly OutPacket[];
  readonly changes: PathChanges;
  /** Set when the input packet is not forwarded. */
  readonly dropped?: DropReason;
  readonly association?: number;
}

/** A row of `ferroctl get sctp`. */
export interface AssociationView {
  readonly id: number;
  readonly service: string;
  readonly state: AssociationState;
  readonly clientAddresses: readonly string[];
  readonly clientPort: number;
  readonly serviceAddresses: readonly string[];
  readonly servicePort: number;
  readonly endpoint: readonly string[];
  readonly endpointPort: number;
  readonly lbPort: number;
  readonly clientVtag: number;
  readonly endpointVtag: number;
  readonly ageMs: number;
  readonly paths: readonly PathView[];
}

export interface PathView {
  readonly side: Side;
  /** Client side: client address → VIP. Endpoint side: endpoint address → VIP. */
  readonly peer: string;
  readonly vip: string;
  /** Where packets of this path are sent on the other side. */
  readonly mapsTo: string;
  readonly state: 'active' | 'standby';
  readonly packets: number;
  readonly bytes: number;
}

/** Chooses an endpoint index for a new association; pure. Default: a hash of client address, port, tag. */
export type EndpointSelector = (
  service: SctpService,
  candidates: readonly number[],
  client: IpAddr,
  clientPort: number,
  tag: number,
) => number;
