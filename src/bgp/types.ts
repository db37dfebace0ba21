// Public shapes of the BGP speaker: what the daemon configures, and what `ferroctl get bgp` shows.
import type { Phase } from './fsm.js';

export interface PeerConfig {
  /** Unique name (the BGPPeer object's name). */
  readonly name: string;
  readonly peerAddress: string;
  readonly peerPort?: number;
  /** Local address to connect from (and the default next hop). */
  readonly sourceAddress?: string;
  readonly localAsn: number;
  readonly peerAsn: number;
  /** Dotted-quad BGP identifier. */
  readonly routerId: string;
  readonly holdTimeSec?: number;
  readonly keepaliveSec?: number;
  /** TCP connect timeout. */
  readonly connectTimeMs?: number;
  /** First reconnect delay; doubles per consecutive failure up to maxBackoffMs. */
  readonly connectRetryMs?: number;
  readonly maxBackoffMs?: number;
  readonly passive?: boolean;
  /** Address families to offer; default both. */
  readonly families?: readonly (4 | 6)[];
  /** Announce graceful restart (RFC 4724) with this restart time. */
  readonly gracefulRestart?: { readonly restartTimeSec: number };
  readonly addPathSend?: boolean;
  /** Next hops for the family that the session's own address cannot provide. */
  readonly nextHopV4?: string;
  readonly nextHopV6?: string;
  /** Single-hop BFD (RFC 5881) for this peer; a BFD Up→Down takes the session down at once. */
  readonly bfd?: {
    readonly desiredMinTxMs: number;
    readonly requiredMinRxMs: number;
    readonly detectMult: number;
    readonly passive?: boolean;
  };
  /** Received prefixes are counted up to this many distinct keys, then only counted. */
  readonly maxReceivedPrefixes?: number;
}

export interface SessionStatus {
  readonly peer: string;
  readonly peerAddress: string;
  readonly peerAsn: number;
  readonly localAsn: number;
  readonly state: Phase;
  /** Milliseconds since the session became Established; undefined when not established. */
  readonly uptimeMs?: number;
  readonly localAddress?: string;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly updatesIn: number;
  readonly updatesOut: number;
  readonly prefixesSent: number;
  readonly prefixesReceived: number;
  /** Received prefixes beyond maxReceivedPrefixes were counted but not tracked. */
  readonly receivedTruncated: boolean;
  readonly connectFailures: number;
  readonly lastError?: string;
  readonly families: readonly string[];
  readonly bfd?: string;
  readonly skipped: readonly { readonly prefix: string; readonly reason: string }[];
  /** Routes not sent because the peer would drop them (e.g. an unusable next hop), with the reason. */
  readonly rejected?: readonly { readonly prefix: string; readonly reason: string }[];
  /** The BGP identifier this session sends. */
  readonly routerId?: string;
}

export interface AdvertisedRouteStatus {
  readonly prefix: string;
  readonly peers: readonly string[];
  /** Set when every session announces the same next hop; `nextHops` has each session's. */
  readonly nextHop?: string;
  /** Per session: each peer gets its own next hop (its session's local address, or a configured one). */
  readonly nextHops: readonly { readonly peer: string; readonly nextHop: string }[];
  readonly localPref?: number;
  readonly med?: number;
  readonly communities: readonly string[];
  readonly largeCommunities: readonly string[];
}

export interface BgpStatus {
  readonly sessions: readonly SessionStatus[];
  readonly routes: readonly AdvertisedRouteStatus[];
}

/** The configuration asks for something this platform cannot do (e.g. TCP-MD5 from Node). */
export class BgpUnsupportedError extends Error {
  constructor(
    readonly peer: string,
    readonly field: string,
    reason: string,
  ) {
    super(`BGP peer ${peer}: ${field}: ${reason}`);
    this.name = 'BgpUnsupportedError';
  }
}
