// The few fields of Kubernetes objects the controller reads, as plain JSON. The pure core takes these
// (not client-node classes) so objects from a list and from a watch event are handled alike.

export interface KMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export interface KServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
  nodePort?: number;
}

export interface KCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string | Date;
  observedGeneration?: number;
}

export interface KIngress {
  ip?: string;
  hostname?: string;
  ipMode?: string;
}

export interface KService {
  apiVersion?: string;
  kind?: string;
  metadata: KMeta;
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    loadBalancerIP?: string;
    ports?: KServicePort[];
    selector?: Record<string, string>;
    externalTrafficPolicy?: string;
    loadBalancerSourceRanges?: string[];
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    ipFamilies?: string[];
    ipFamilyPolicy?: string;
    [k: string]: unknown;
  };
  status?: {
    loadBalancer?: { ingress?: KIngress[] };
    conditions?: KCondition[];
  };
}

export interface KEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
  nodeName?: string | null;
}

export interface KEndpointSlice {
  metadata: KMeta;
  addressType?: string;
  endpoints?: KEndpoint[] | null;
  ports?: { name?: string | null; port?: number | null; protocol?: string | null }[] | null;
}

export interface KNode {
  metadata: KMeta;
  spec?: { unschedulable?: boolean };
  status?: {
    addresses?: { type: string; address: string }[];
    conditions?: { type: string; status: string }[];
  };
}

export interface KNamespace {
  metadata: KMeta;
}

export interface KCustomObject {
  apiVersion?: string;
  kind?: string;
  metadata: KMeta;
  spec?: unknown;
  status?: unknown;
}

export const svcKey = (m: KMeta): string => `${m.namespace ?? 'default'}/${m.name ?? ''}`;

/** The structured logger the controller needs (pino satisfies it). */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Counters the controller keeps for /metrics. */
export interface ControllerMetrics {
  reconciles: number;
  apiWrites: number;
  writeConflicts: number;
  writeErrors: number;
  events: number;
  configInvalid: number;
}
