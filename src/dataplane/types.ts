// The data plane's own input: plain data, independent of the config model (the daemon maps its
// DesiredState + probe results onto this). Everything here is what the kernel needs to know, nothing
// more, so the compiler can stay a pure function of it.

export type DataplaneProtocol = 'TCP' | 'UDP' | 'SCTP';
export type DataplaneMode = 'default' | 'fullnat';
export type DataplaneAlgorithm = 'roundrobin' | 'weighted' | 'hash' | 'maglev' | 'leastconn' | 'persist';
export type EndpointState = 'active' | 'inactive' | 'unknown';

export interface DataplanePort {
  /** Port the clients connect to on every service address. */
  readonly port: number;
  readonly protocol: DataplaneProtocol;
  /** Port on the endpoint (DNAT target). */
  readonly targetPort: number;
}

export interface DataplaneEndpoint {
  /** IPv4 or IPv6 address; an endpoint serves the service addresses of its own family only. */
  readonly address: string;
  /** Relative share of new flows (≥ 0; 0 = no new flows). Ignored by roundrobin. */
  readonly weight: number;
  /** Only `active` endpoints receive new flows; established flows are left alone (or flushed). */
  readonly state: EndpointState;
  /** Current connection count (leastconn input; the applier fills it from conntrack). */
  readonly connections?: number;
}

export interface DataplaneService {
  /** Unique name (e.g. "namespace/name"); names the chains, maps and counters. */
  readonly name: string;
  /** Primary service addresses (VIPs), at most one per family is typical but any number works. */
  readonly addresses: readonly string[];
  readonly ports: readonly DataplanePort[];
  readonly mode: DataplaneMode;
  readonly algorithm: DataplaneAlgorithm;
  /** persist: how long a client stays on its endpoint after its last new flow (default 300 s). */
  readonly persistTimeoutSeconds?: number;
  /** Maglev table size of this service (prime ≥ endpoints); default: CompileOptions, then by count. */
  readonly maglevTableSize?: number;
  /**
   * fullnat: source address towards the endpoints, per family. Default: the service address the
   * client connected to (so endpoints only need a route back to the VIP).
   */
  readonly snatAddresses?: readonly string[];
  readonly endpoints: readonly DataplaneEndpoint[];
  /** When an endpoint stops being active, also delete its established flows (default false). */
  readonly flushOnInactive?: boolean;
  /**
   * Clients allowed to reach the service (Kubernetes' loadBalancerSourceRanges): CIDRs, IPv4 and/or
   * IPv6. Absent or empty: everyone. Otherwise only sources inside one of them reach any of its ports
   * on any of its addresses; a family with no range listed is refused entirely (as kube-proxy does).
   * Every packet of the client's direction is checked, so removing a range cuts established flows.
   */
  readonly sourceRanges?: readonly string[];
}

/**
 * A service whose packets another component translates — the SCTP multihoming engine (NFQUEUE and its
 * stateless fast path) — and whose clients ferrolb's table must still filter by source. Those packets
 * are untracked, so this filter is stateless and runs before the engine's fast path (raw, -300).
 */
export interface DataplaneGuard {
  readonly name: string;
  /** Every address clients may use: primary and secondary service addresses. */
  readonly addresses: readonly string[];
  readonly ports: readonly Pick<DataplanePort, 'port' | 'protocol'>[];
  /** As DataplaneService.sourceRanges. */
  readonly sourceRanges?: readonly string[];
  /**
   * Endpoint addresses. Without conntrack, an endpoint's packet to a service address (the other half
   * of the association) looks like a client's when its port happens to equal the service port, so
   * endpoints are always allowed.
   */
  readonly endpoints: readonly string[];
}

/** Tunables of the compiled table; every LB instance must use the same values to agree on Maglev. */
export interface CompileOptions {
  /** nft table name (family inet). Default "ferrolb". */
  readonly table?: string;
  /**
   * Maglev lookup table size (prime). Default: chosen per service port from the number of listed
   * endpoints (all states), see maglevSizeFor — health changes never change it.
   */
  readonly maglevTableSize?: number;
  /** Per-endpoint / per-service named counters (default true). */
  readonly counters?: boolean;
}

/** Input that cannot be compiled; names the service and the offending field/value. */
export class DataplaneInputError extends Error {
  constructor(
    readonly service: string,
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`service "${service}": ${field} = ${JSON.stringify(value)}: ${reason}`);
    this.name = 'DataplaneInputError';
  }
}
