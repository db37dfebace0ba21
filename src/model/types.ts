// The desired-state model every front door (YAML file, REST API, Kubernetes) turns into. Plain,
// immutable data: validated once, then shared by IPAM, the data plane and the announcers.
import type { IpRange } from '../net/ip.js';
import type { BgpObjects } from './bgp.js';
import type { ClusterSpec } from './cluster.js';

export const GROUP = 'ferrolb.io';
export const API_VERSION = 'ferrolb.io/v1';
export const METALLB_V1BETA1 = 'metallb.io/v1beta1';

export const Kind = {
  IPAddressPool: 'IPAddressPool',
  LoadBalancer: 'LoadBalancer',
  BGPPeer: 'BGPPeer',
  BGPAdvertisement: 'BGPAdvertisement',
  BFDProfile: 'BFDProfile',
  Community: 'Community',
  Cluster: 'Cluster',
} as const;

/** Kinds validated by the BGP subsystem (src/model/bgp.ts) rather than by a JSON Schema here. */
export const BGP_KINDS: readonly string[] = [
  Kind.BGPPeer,
  Kind.BGPAdvertisement,
  Kind.BFDProfile,
  Kind.Community,
];

/** Validated BGP configuration (announcement is configured only when peers exist). */
export type BgpConfig = Omit<BgpObjects, 'issues' | 'warnings'>;
export type KindName = (typeof Kind)[keyof typeof Kind];

export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const MODES = ['default', 'fullnat'] as const;
export type Mode = (typeof MODES)[number];

export const ALGORITHMS = ['roundrobin', 'weighted', 'hash', 'maglev', 'leastconn', 'persist'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export const IP_FAMILIES = ['IPv4', 'IPv6'] as const;
export type IpFamily = (typeof IP_FAMILIES)[number];

export const IP_FAMILY_POLICIES = ['SingleStack', 'PreferDualStack', 'RequireDualStack'] as const;
export type IpFamilyPolicy = (typeof IP_FAMILY_POLICIES)[number];

export const HEALTH_CHECK_TYPES = ['none', 'tcp', 'udp', 'http', 'https', 'sctp', 'ping'] as const;
export type HealthCheckType = (typeof HEALTH_CHECK_TYPES)[number];

export const MAX_SECONDARY_ADDRESSES = 3;

/**
 * Labels of the Service's namespace, as JSON, on a LoadBalancer made from a Kubernetes Service: what
 * pools' serviceAllocation.namespaceSelectors match against (the controller watches Namespaces).
 */
export const NAMESPACE_LABELS_ANNOTATION = 'ferrolb.io/namespace-labels';

/** A Kubernetes-style object as it arrives from YAML, the API or the cluster. */
export interface RawObject {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: unknown;
  spec?: unknown;
  [k: string]: unknown;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

import type { LabelSelector, LabelSelectorRequirement } from './labels.js';
export type { LabelSelector, LabelSelectorRequirement };

export interface ServiceAllocation {
  /** Lower number = tried first (MetalLB semantics); pools without a priority come last. */
  readonly priority?: number;
  readonly namespaces: readonly string[];
  readonly namespaceSelectors: readonly LabelSelector[];
  readonly serviceSelectors: readonly LabelSelector[];
}

export interface Pool {
  readonly meta: ObjectMeta;
  readonly apiVersion: string;
  /** As written by the user (for display and round-trips). */
  readonly addresses: readonly string[];
  readonly ranges: readonly IpRange[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  readonly serviceAllocation?: ServiceAllocation;
}

export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly targetPort: number;
}

export interface EndpointSpec {
  readonly address: string;
  readonly weight: number;
}

export interface HealthCheck {
  readonly type: HealthCheckType;
  /** Probe port; default the endpoint's target port. */
  readonly port?: number;
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  /** http/https: status codes that count as healthy (default 200-399). */
  readonly expectStatus?: readonly number[];
  /** udp: what silence until the timeout means (default down). */
  readonly udpSilence?: 'up' | 'down';
  /** udp: the datagram sent. */
  readonly udpPayload?: string;
}

export interface LoadBalancerSpec {
  readonly meta: ObjectMeta;
  readonly pool?: string;
  /** Requested primary addresses (canonical text), at most one per family. */
  readonly addresses: readonly string[];
  readonly ipFamilies?: readonly IpFamily[];
  readonly ipFamilyPolicy: IpFamilyPolicy;
  readonly secondaryPools: readonly string[];
  readonly secondaryAddresses: readonly string[];
  readonly sharingKey?: string;
  readonly ports: readonly ServicePort[];
  readonly mode: Mode;
  readonly algorithm: Algorithm;
  readonly persistTimeoutSeconds: number;
  /**
   * Maglev lookup table size (a prime, at least the number of endpoints). Default: chosen from the
   * endpoint count (MAGLEV_SIZES: 64 slots per endpoint, 1021 for 8). A smaller table costs the kernel
   * fewer elements (10,000 services × 1021 slots is 10M) at the price of coarser balance (±1 slot).
   */
  readonly maglevTableSize?: number;
  /**
   * fullnat: source address towards the endpoints, at most one per family (typically the LB's own
   * address on the endpoint network, so endpoints need no route back to the service addresses).
   * Default: the service address the client connected to.
   */
  readonly snatAddresses: readonly string[];
  /** When an endpoint turns inactive, also drop its established flows (default: let them finish). */
  readonly flushOnInactive: boolean;
  /**
   * Client CIDRs allowed to reach the service (canonical network/length); empty = everyone. A family
   * with no range listed is closed to that family (Kubernetes' loadBalancerSourceRanges semantics).
   */
  readonly sourceRanges: readonly string[];
  readonly endpoints: readonly EndpointSpec[];
  readonly healthCheck: HealthCheck;
}

/** A validated L2Advertisement (src/model/l2.ts; MetalLB semantics). */
export interface L2AdvertisementSpec {
  readonly name: string;
  readonly apiVersion: string;
  readonly ipAddressPools: readonly string[];
  readonly ipAddressPoolSelectors: readonly LabelSelector[];
  /** Empty = every interface (except loopback and the VIP device). */
  readonly interfaces: readonly string[];
  /** Empty = every node. */
  readonly nodeSelectors: readonly LabelSelector[];
  /** Empty = every service. */
  readonly serviceSelectors: readonly LabelSelector[];
}

/** One validated, immutable snapshot of everything the user asked for. */
export interface DesiredState {
  readonly pools: ReadonlyMap<string, Pool>;
  readonly loadBalancers: ReadonlyMap<string, LoadBalancerSpec>;
  readonly bgp: BgpConfig;
  /** Validated L2Advertisements (absent = none). */
  readonly l2?: readonly L2AdvertisementSpec[];
  /** The LB nodes sharing addresses (Layer 2 ownership, state sync); absent: this node is alone. */
  readonly cluster?: ClusterSpec;
  /** The raw objects the snapshot was built from, keyed "Kind/name", for round-trips via the API. */
  readonly objects: ReadonlyMap<string, StoredObject>;
}

export const ORIGINS = ['file', 'api'] as const;
export type Origin = (typeof ORIGINS)[number];

export interface StoredObject {
  readonly origin: Origin;
  readonly object: RawObject;
}

export const objectKey = (kind: string, name: string): string => `${kind}/${name}`;

export const DEFAULT_HEALTH_CHECK: HealthCheck = {
  type: 'none',
  path: '/',
  intervalMs: 5000,
  timeoutMs: 1000,
  unhealthyThreshold: 3,
  healthyThreshold: 1,
};
