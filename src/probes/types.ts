// Shared vocabulary of the health-probe subsystem. Plain data only, so the pure core (health.ts), the
// probers and the scheduler shell agree without importing each other. The config shape mirrors the
// model's `healthCheck` (src/model) structurally, so a validated LoadBalancerSpec's health check can be
// passed straight in; probes/ deliberately does not import the model to stay independent of its churn.

export const PROBE_TYPES = ['none', 'tcp', 'udp', 'http', 'https', 'sctp', 'ping'] as const;
export type ProbeType = (typeof PROBE_TYPES)[number];

/** 'unknown' until the first verdict; afterwards always 'active' or 'inactive'. */
export type EndpointState = 'active' | 'inactive' | 'unknown';

/** What a UDP probe concludes when neither a reply nor an ICMP error arrives before the timeout. */
export type UdpSilence = 'up' | 'down';

export interface HealthCheckConfig {
  readonly type: ProbeType;
  /** Probe port; default: the endpoint's target port. Ignored by ping/none. */
  readonly port?: number;
  /** http/https request path; default "/". */
  readonly path?: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failures that turn an active endpoint inactive. */
  readonly unhealthyThreshold: number;
  /** Consecutive successes that turn an inactive endpoint active. */
  readonly healthyThreshold: number;
  /** http/https status codes that count as healthy; default 200-399. */
  readonly expectStatus?: readonly number[];
  /** udp only; default 'down' (see docs/probes.md for why). */
  readonly udpSilence?: UdpSilence;
  /** udp only: datagram payload (default "ferrolb-probe\n"). */
  readonly udpPayload?: string;
}

/** Why a probe failed, for logs, status and tests; `reason` carries the human text. */
export type ProbeFailure =
  'timeout' | 'refused' | 'unreachable' | 'reset' | 'bad-status' | 'aborted' | 'unsupported' | 'error';

export interface ProbeResult {
  readonly ok: boolean;
  readonly reason: string;
  readonly rttMs?: number;
  /** Set when ok is false. */
  readonly failure?: ProbeFailure;
}

/** One probe attempt against one endpoint address. */
export interface ProbeRequest {
  readonly address: string;
  /** Ignored by ping. */
  readonly port: number;
  readonly timeoutMs: number;
  readonly path?: string;
  readonly expectStatus?: readonly number[];
  readonly udpSilence?: UdpSilence;
  readonly udpPayload?: string;
  /** Cancels the attempt early (scheduler stop); the prober still resolves, never rejects. */
  readonly signal?: AbortSignal;
}

export type Prober = (req: ProbeRequest) => Promise<ProbeResult>;
