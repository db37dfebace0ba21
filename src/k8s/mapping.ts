// Pure mapping: a Service (+ its EndpointSlices, + Nodes) → the raw LoadBalancer object that the
// standalone model validates, so one validator serves every front door. Every bad annotation becomes
// a ConfigIssue naming the annotation and its value; the validator adds issues for the rest.
import { tryParseIp, formatIp, parseCidr } from '../net/ip.js';
import type { ConfigIssue } from '../model/issues.js';
import {
  API_VERSION,
  MAX_SECONDARY_ADDRESSES,
  NAMESPACE_LABELS_ANNOTATION,
  type RawObject,
} from '../model/types.js';
import {
  ANNOTATIONS,
  ANNOUNCE_NODES,
  DEFAULT_CLASS,
  LOXILB_CLASS,
  SOURCE_SERVICE,
  type AnnotationKey,
} from './annotations.js';
import { endpointsFor } from './endpoints.js';
import type { KEndpointSlice, KNode, KService } from './types.js';

export interface MappingConfig {
  /** spec.loadBalancerClass we own. */
  readonly loadBalancerClass: string;
  /** Also claim LoadBalancer Services that name no class. */
  readonly defaultClass: boolean;
  /** Also claim Services of class loxilb.io/loxilb (kube-loxilb compatibility). */
  readonly loxilbCompat: boolean;
  /** Pools for `loxilb.io/num-secondary-networks: N` (kube-loxilb's --externalSecondaryCIDRs). */
  readonly secondaryPools: readonly string[];
}

export const DEFAULT_MAPPING: MappingConfig = {
  loadBalancerClass: DEFAULT_CLASS,
  defaultClass: false,
  loxilbCompat: false,
  secondaryPools: [],
};

/** Whether this controller owns the Service (type LoadBalancer and a class we answer for). */
export function claims(svc: KService, cfg: MappingConfig): boolean {
  if (svc.spec?.type !== 'LoadBalancer') return false;
  const cls = svc.spec.loadBalancerClass;
  if (cls === undefined || cls === null || cls === '') return cfg.defaultClass;
  return cls === cfg.loadBalancerClass || (cfg.loxilbCompat && cls === LOXILB_CLASS);
}

/** Model name of a Service's load balancer. Namespaces and Service names hold no dots, so it is unique. */
export const lbName = (namespace: string, name: string): string => `${namespace}.${name}`;

export interface MappedService {
  /** Present unless an annotation was unusable (then `issues` says which and why). */
  readonly object?: RawObject;
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  /** Nodes allowed to announce; undefined = any LB node (externalTrafficPolicy Cluster). */
  readonly announceNodes?: readonly string[];
}

const field = (key: string) => `metadata.annotations["${key}"]`;
const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const MODE_MAP: Record<string, 'default' | 'fullnat' | undefined> = {
  default: 'default',
  fullnat: 'fullnat',
  // kube-loxilb's one-arm mode SNATs to the LB's own address: the same contract as fullnat here.
  onearm: 'fullnat',
};
const ALGORITHM_MAP: Record<string, string | undefined> = {
  roundrobin: 'roundrobin',
  rr: 'roundrobin',
  weighted: 'weighted',
  priority: 'weighted',
  hash: 'hash',
  maglev: 'maglev',
  leastconn: 'leastconn',
  lc: 'leastconn',
  persist: 'persist',
};
const PROBES = ['none', 'tcp', 'udp', 'http', 'https', 'sctp', 'ping'];

export function mapService(
  svc: KService,
  slices: readonly KEndpointSlice[],
  nodes: readonly KNode[],
  cfg: MappingConfig,
  namespaceLabels?: Readonly<Record<string, string>>,
): MappedService {
  const ns = svc.metadata.namespace ?? 'default';
  const name = svc.metadata.name ?? '';
  const object = `Service/${ns}/${name}`;
  const ann = svc.metadata.annotations ?? {};
  const spec = svc.spec ?? {};
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const issue = (f: string, value: unknown, message: string) =>
    issues.push({ object, field: f, value, message });
  const warn = (f: string, value: unknown, message: string) =>
    warnings.push({ object, field: f, value, message });

  /** The first annotation of a group that is set; a second, different one is an error (ambiguous). */
  const get = (k: AnnotationKey): { key: string; value: string } | undefined => {
    const set = ANNOTATIONS[k]
      .filter((a) => ann[a] !== undefined)
      .map((a) => ({ key: a, value: ann[a] as string }));
    const first = set[0];
    for (const other of set.slice(1))
      if (other.value.trim() !== first?.value.trim())
        issue(field(other.key), other.value, `conflicts with ${first?.key}=${JSON.stringify(first?.value)}`);
    return first;
  };

  const out: Record<string, unknown> = {};

  // Requested addresses: annotations first (MetalLB semantics), then the deprecated spec field.
  const ipsAnn = get('loadBalancerIPs');
  const requested: string[] = [];
  const addIps = (f: string, raw: string) => {
    for (const text of list(raw)) {
      const ip = tryParseIp(text);
      if (!ip) issue(f, raw, `"${text}" is not an IPv4 or IPv6 address`);
      else requested.push(formatIp(ip));
    }
  };
  if (ipsAnn) addIps(field(ipsAnn.key), ipsAnn.value);
  if (spec.loadBalancerIP) {
    if (ipsAnn) {
      const ip = tryParseIp(spec.loadBalancerIP);
      if (!ip || !requested.includes(formatIp(ip)))
        issue(
          'spec.loadBalancerIP',
          spec.loadBalancerIP,
          `conflicts with ${ipsAnn.key}=${JSON.stringify(ipsAnn.value)}`,
        );
    } else addIps('spec.loadBalancerIP', spec.loadBalancerIP);
  }
  if (requested.length > 0) out.addresses = requested;

  const pool = get('addressPool');
  if (pool) out.pool = pool.value.trim();

  // Sharing (MetalLB rules): same key and disjoint ports, and either both Cluster traffic policy or
  // the same selector — folding policy and selector into the key makes the allocator enforce that.
  const share = get('allowSharedIp');
  if (share) {
    if (spec.externalTrafficPolicy === 'Local') {
      const sel = Object.entries(spec.selector ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      out.sharingKey = `${share.value}/local/${sel}`;
    } else out.sharingKey = share.value;
  }

  mapSourceRanges(spec.loadBalancerSourceRanges, get('sourceRanges'), out, issue);

  if (spec.ipFamilies && spec.ipFamilies.length > 0) out.ipFamilies = [...spec.ipFamilies];
  if (spec.ipFamilyPolicy) out.ipFamilyPolicy = spec.ipFamilyPolicy;

  const mode = get('mode');
  if (mode) {
    const m = MODE_MAP[mode.value.trim()];
    if (m) out.mode = m;
    else if (mode.value.trim() === 'dsr')
      issue(field(mode.key), mode.value, 'direct server return is not supported; use "default" or "fullnat"');
    else issue(field(mode.key), mode.value, 'must be one of "default", "fullnat", "onearm"');
  }

  const alg = get('algorithm');
  if (alg) {
    const a = ALGORITHM_MAP[alg.value.trim()];
    if (a) out.algorithm = a;
    else
      issue(
        field(alg.key),
        alg.value,
        `must be one of ${Object.keys(ALGORITHM_MAP)
          .map((x) => `"${x}"`)
          .join(', ')}`,
      );
  }

  // sessionAffinity: ClientIP is kube-proxy's client stickiness; here it is the persist algorithm.
  // An explicit algorithm annotation says more than the generic field, so it wins.
  if (spec.sessionAffinity === 'ClientIP' && !alg) {
    out.algorithm = 'persist';
    const secs = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (secs !== undefined) out.persistTimeout = `${secs}s`;
  }

  const timeout = get('persistTimeout');
  if (timeout) {
    // kube-loxilb writes plain seconds ("30"); ours is a duration ("30s"). Both are accepted.
    const t = timeout.value.trim();
    const dur = /^\d+$/.test(t) ? `${t}s` : t;
    if (out.algorithm === 'persist') out.persistTimeout = dur;
    else if (!/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/.test(dur))
      issue(field(timeout.key), timeout.value, 'must be a number of seconds or a duration such as "30s"');
    else warn(field(timeout.key), timeout.value, 'only used with algorithm "persist"; ignored');
  }

  const maglev = get('maglevTableSize');
  if (maglev) {
    // Validated with the rest of the spec (a prime, at least the endpoints); here only a number.
    const t = maglev.value.trim();
    if (/^\d{1,6}$/.test(t)) out.maglevTableSize = Number(t);
    else issue(field(maglev.key), maglev.value, 'must be a prime number such as "251"');
  }

  mapHealthCheck(get, spec.ports ?? [], out, issue);
  mapSecondaries(get, cfg, out, issue);
  // Secondary addresses only exist for SCTP multihoming through fullNAT; kube-loxilb manifests often
  // ask for them without an lbmode (the deployment's default mode was fullnat), so that is the default.
  const wantsSecondaries =
    (out.secondaryAddresses as unknown[] | undefined)?.length ||
    (out.secondaryPools as unknown[] | undefined)?.length;
  if (wantsSecondaries && !mode) out.mode = 'fullnat';

  // Endpoints: pods from EndpointSlices, or node addresses + NodePorts (kube-loxilb's default).
  const epType = get('endpointType');
  const nodePorts = usesNodePorts(svc);
  if (epType) {
    const v = epType.value.trim();
    if (v !== 'nodeport' && v !== 'pod')
      issue(field(epType.key), epType.value, 'must be "pod" or "nodeport"');
  }
  const ep = endpointsFor(svc, slices, nodes, nodePorts);
  for (const e of ep.issues) issue(e.field, e.value, e.message);
  // Multihoming through a NodePort: kube-proxy's conntrack NAT on the node translates only the path the
  // LB opened; the endpoint's HEARTBEATs to the secondary addresses leave from the pod's port, so those
  // paths never confirm and the association cannot fail over. Served as asked, but said.
  if (nodePorts && wantsSecondaries && (spec.ports ?? []).some((p) => p.protocol === 'SCTP'))
    warn(
      epType ? field(epType.key) : 'spec.loadBalancerClass',
      epType ? epType.value : spec.loadBalancerClass,
      'multihomed SCTP through node ports fails over only if the nodes translate every path (kube-proxy does not); set ferrolb.io/endpoint-type: pod where the LB can reach pod addresses',
    );
  out.ports = ep.ports;
  out.endpoints = ep.endpoints;

  if (issues.length > 0) return { issues, warnings };
  const annotations: Record<string, string> = { [SOURCE_SERVICE]: `${ns}/${name}` };
  if (ep.announceNodes) annotations[ANNOUNCE_NODES] = ep.announceNodes.join(',');
  if (namespaceLabels) annotations[NAMESPACE_LABELS_ANNOTATION] = JSON.stringify(namespaceLabels);
  return {
    object: {
      apiVersion: API_VERSION,
      kind: 'LoadBalancer',
      metadata: {
        name: lbName(ns, name),
        namespace: ns,
        labels: { ...(svc.metadata.labels ?? {}) },
        annotations,
      },
      spec: out,
    },
    issues,
    warnings,
    ...(ep.announceNodes ? { announceNodes: ep.announceNodes } : {}),
  };
}

/** Whether the Service's endpoints are node addresses + NodePorts (so its mapping reads the Nodes). */
export function usesNodePorts(svc: KService): boolean {
  const ann = svc.metadata.annotations ?? {};
  const key = ANNOTATIONS.endpointType.find((a) => ann[a] !== undefined);
  const v = key !== undefined ? (ann[key] as string).trim() : undefined;
  if (v === 'nodeport') return true;
  if (v === 'pod') return false;
  return svc.spec?.loadBalancerClass === LOXILB_CLASS;
}

type Getter = (k: AnnotationKey) => { key: string; value: string } | undefined;
type IssueFn = (f: string, value: unknown, message: string) => void;

/** Who may connect: spec.loadBalancerSourceRanges, else the older annotation (Kubernetes' precedence). */
function mapSourceRanges(
  fromSpec: readonly string[] | undefined,
  fromAnnotation: { key: string; value: string } | undefined,
  out: Record<string, unknown>,
  issue: IssueFn,
): void {
  const entries =
    fromSpec && fromSpec.length > 0
      ? fromSpec.map((v, i) => ({ f: `spec.loadBalancerSourceRanges[${i}]`, v }))
      : fromAnnotation
        ? list(fromAnnotation.value).map((v) => ({ f: field(fromAnnotation.key), v }))
        : [];
  const ranges: string[] = [];
  for (const { f, v } of entries) {
    const cidr = parseCidr(v);
    if (cidr) ranges.push(cidr);
    else issue(f, v, 'not a CIDR such as 192.0.2.0/24 or 2001:db8::/64');
  }
  if (ranges.length > 0) out.sourceRanges = ranges;
}

function mapHealthCheck(
  get: Getter,
  ports: readonly { protocol?: string }[],
  out: Record<string, unknown>,
  issue: IssueFn,
): void {
  const type = get('healthCheck');
  const live = get('liveness');
  let probe: string | undefined;
  if (type) {
    probe = type.value.trim().toLowerCase();
    if (!PROBES.includes(probe)) {
      issue(field(type.key), type.value, `must be one of ${PROBES.map((p) => `"${p}"`).join(', ')}`);
      return;
    }
  }
  if (live) {
    const v = live.value.trim().toLowerCase();
    if (v !== 'yes' && v !== 'no' && v !== 'true' && v !== 'false')
      return issue(field(live.key), live.value, 'must be "yes" or "no"');
    if (v === 'no' || v === 'false') {
      if (!type) return;
    } else if (!probe) probe = (ports[0]?.protocol ?? 'TCP').toLowerCase(); // kube-loxilb's default probe
  }
  if (!probe) {
    for (const k of [
      'healthCheckPort',
      'healthCheckPath',
      'healthCheckInterval',
      'healthCheckTimeout',
    ] as const) {
      const a = get(k);
      if (a)
        issue(field(a.key), a.value, `needs ${ANNOTATIONS.healthCheck[0]} (or loxilb.io/liveness: "yes")`);
    }
    return;
  }
  const hc: Record<string, unknown> = { type: probe };
  const port = get('healthCheckPort');
  if (port) {
    const n = Number(port.value.trim());
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      issue(field(port.key), port.value, 'must be a port number 1-65535');
    else hc.port = n;
  }
  const path = get('healthCheckPath');
  if (path) hc.path = path.value.trim();
  const interval = get('healthCheckInterval');
  if (interval) hc.interval = interval.value.trim();
  const timeout = get('healthCheckTimeout');
  if (timeout) hc.timeout = timeout.value.trim();
  out.healthCheck = hc;
}

function mapSecondaries(get: Getter, cfg: MappingConfig, out: Record<string, unknown>, issue: IssueFn): void {
  const ips = get('secondaryIPs');
  const pools = get('secondaryPools');
  const num = get('numSecondaryNetworks');
  if (ips) {
    const parsed: string[] = [];
    for (const text of list(ips.value)) {
      const ip = tryParseIp(text);
      if (!ip) issue(field(ips.key), ips.value, `"${text}" is not an IPv4 or IPv6 address`);
      else parsed.push(formatIp(ip));
    }
    if (parsed.length > MAX_SECONDARY_ADDRESSES)
      issue(field(ips.key), ips.value, `at most ${MAX_SECONDARY_ADDRESSES} secondary addresses`);
    out.secondaryAddresses = parsed;
  }
  if (pools) {
    const names = list(pools.value);
    if (names.length > MAX_SECONDARY_ADDRESSES)
      issue(field(pools.key), pools.value, `at most ${MAX_SECONDARY_ADDRESSES} secondary pools`);
    out.secondaryPools = names;
  }
  if (num) {
    const n = Number(num.value.trim());
    if (!Number.isInteger(n) || n < 0 || n > MAX_SECONDARY_ADDRESSES)
      return issue(field(num.key), num.value, `must be a whole number 0-${MAX_SECONDARY_ADDRESSES}`);
    if (pools || ips)
      return issue(field(num.key), num.value, `cannot be combined with ${(pools ?? ips)?.key}`);
    if (n > cfg.secondaryPools.length)
      return issue(
        field(num.key),
        num.value,
        `the controller has ${cfg.secondaryPools.length} secondary pool(s) configured (--secondary-pools)`,
      );
    if (n > 0) out.secondaryPools = cfg.secondaryPools.slice(0, n);
  }
}
