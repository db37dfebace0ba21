// Semantic validation of LoadBalancer objects (after the schema passed): addresses, families,
// references to pools, secondary-address rules, ports, endpoints and health checks.
import { familyName, formatIp, parseCidr, rangeContains, tryParseIp, type IpAddr } from '../net/ip.js';
import { fieldPath, parseDurationMs, type ConfigIssue } from './issues.js';
import { poolContaining } from './pools.js';
import { LIMITS, specialAddressReason } from './limits.js';
import {
  DEFAULT_HEALTH_CHECK,
  type Algorithm,
  type EndpointSpec,
  type HealthCheck,
  type HealthCheckType,
  type IpFamily,
  type IpFamilyPolicy,
  type LoadBalancerSpec,
  type Mode,
  type ObjectMeta,
  type Pool,
  type Protocol,
  type ServicePort,
} from './types.js';

export interface RawLoadBalancerSpec {
  pool?: string;
  addresses?: string[];
  ipFamilies?: IpFamily[];
  ipFamilyPolicy?: IpFamilyPolicy;
  secondaryPools?: string[];
  secondaryAddresses?: string[];
  sharingKey?: string;
  ports: { name?: string; port: number; protocol?: Protocol; targetPort?: number }[];
  mode?: Mode;
  algorithm?: Algorithm;
  persistTimeout?: string;
  maglevTableSize?: number;
  flushOnInactive?: boolean;
  snatAddresses?: string[];
  sourceRanges?: string[];
  endpoints?: { address: string; weight?: number }[];
  healthCheck?: {
    type: HealthCheckType;
    port?: number;
    path?: string;
    interval?: string;
    timeout?: string;
    unhealthyThreshold?: number;
    healthyThreshold?: number;
    expectStatus?: number[];
    udpSilence?: 'up' | 'down';
    udpPayload?: string;
  };
}

export interface PoolIndex {
  /** Names of every pool object seen, even invalid ones (so one bad pool does not cascade). */
  readonly names: ReadonlySet<string>;
  readonly valid: ReadonlyMap<string, Pool>;
  /** Every pool with the entries that parsed, for containment checks that must not cascade. */
  readonly all: ReadonlyMap<string, Pool>;
}

const DEFAULT_PERSIST_SECONDS = 3 * 3600;
const familyOf = (ip: IpAddr): IpFamily => familyName(ip.family);

export function buildLoadBalancer(
  meta: ObjectMeta,
  spec: RawLoadBalancerSpec,
  object: string,
  pools: PoolIndex,
  issues: ConfigIssue[],
  warnings: ConfigIssue[],
): LoadBalancerSpec {
  const issue = (field: string, value: unknown, message: string) =>
    issues.push({ object, field, value, message });

  if (spec.pool !== undefined && !pools.names.has(spec.pool)) {
    issue('spec.pool', spec.pool, 'no IPAddressPool with this name');
  }

  // Addresses anywhere in the service must be real, inside a pool, and unique.
  const checkAddress = (field: string, text: string): IpAddr | undefined => {
    const ip = tryParseIp(text);
    if (!ip) {
      issue(field, text, 'not an IPv4 or IPv6 address');
      return undefined;
    }
    const special = specialAddressReason(ip);
    if (special) {
      issue(field, text, `not usable as a service address: ${special}`);
      return undefined;
    }
    if (pools.all.size > 0 && !poolContaining(pools.all.values(), ip))
      issue(field, text, 'not inside any IPAddressPool');
    return ip;
  };

  const requested: IpAddr[] = [];
  (spec.addresses ?? []).forEach((a, i) => {
    const field = fieldPath('spec.addresses', i);
    const ip = checkAddress(field, a);
    if (!ip) return;
    if (requested.some((r) => r.family === ip.family)) {
      issue(field, a, `a service has at most one primary ${familyOf(ip)} address`);
      return;
    }
    const named = spec.pool !== undefined ? pools.all.get(spec.pool) : undefined;
    if (named && !named.ranges.some((r) => rangeContains(r, ip)))
      issue(field, a, `not inside IPAddressPool/${named.meta.name} (spec.pool)`);
    requested.push(ip);
  });

  const ipFamilies = spec.ipFamilies;
  const dual = (ipFamilies?.length ?? 0) === 2 || new Set(requested.map((r) => r.family)).size === 2;
  const ipFamilyPolicy: IpFamilyPolicy = spec.ipFamilyPolicy ?? (dual ? 'RequireDualStack' : 'SingleStack');
  if (ipFamilyPolicy === 'SingleStack' && dual) {
    issue(
      'spec.ipFamilyPolicy',
      spec.ipFamilyPolicy,
      'SingleStack allows one address family; the service asks for two',
    );
  }
  if (ipFamilies) {
    requested.forEach((ip, i) => {
      if (!ipFamilies.includes(familyOf(ip)))
        issue(
          fieldPath('spec.addresses', i),
          formatIp(ip),
          `family ${familyOf(ip)} is not in spec.ipFamilies`,
        );
    });
  }

  // Secondary addresses are for SCTP multihoming through fullNAT only.
  const secondaryPools = spec.secondaryPools ?? [];
  const secondaryTexts = spec.secondaryAddresses ?? [];
  if (secondaryPools.length > 0 && secondaryTexts.length > 0) {
    issue(
      'spec.secondaryAddresses',
      secondaryTexts,
      'cannot be combined with spec.secondaryPools; use one or the other',
    );
  }
  secondaryPools.forEach((p, i) => {
    if (!pools.names.has(p)) issue(fieldPath('spec.secondaryPools', i), p, 'no IPAddressPool with this name');
  });
  const secondaries: IpAddr[] = [];
  secondaryTexts.forEach((a, i) => {
    const field = fieldPath('spec.secondaryAddresses', i);
    const ip = checkAddress(field, a);
    if (!ip) return;
    if (requested.some((r) => r.family === ip.family && r.value === ip.value))
      issue(field, a, 'repeats a primary address');
    else if (secondaries.some((r) => r.family === ip.family && r.value === ip.value))
      issue(field, a, 'listed twice');
    else secondaries.push(ip);
  });
  const mode = spec.mode ?? 'default';
  const ports: ServicePort[] = spec.ports.map((p) => ({
    ...(p.name !== undefined ? { name: p.name } : {}),
    port: p.port,
    protocol: p.protocol ?? 'TCP',
    targetPort: p.targetPort ?? p.port,
  }));
  if (secondaryPools.length + secondaryTexts.length > 0) {
    const which = secondaryPools.length > 0 ? 'spec.secondaryPools' : 'spec.secondaryAddresses';
    if (mode !== 'fullnat')
      issue(
        'spec.mode',
        mode,
        `${which} needs mode "fullnat" (secondary addresses are served by SCTP multihoming through fullNAT)`,
      );
    ports.forEach((p, i) => {
      if (p.protocol !== 'SCTP')
        issue(
          fieldPath(fieldPath('spec.ports', i), 'protocol'),
          p.protocol,
          `${which} needs every port to be SCTP`,
        );
    });
  }

  const seenPorts = new Map<string, number>();
  ports.forEach((p, i) => {
    const key = `${p.protocol}/${p.port}`;
    const first = seenPorts.get(key);
    if (first !== undefined)
      issue(
        fieldPath(fieldPath('spec.ports', i), 'port'),
        p.port,
        `${p.protocol} port repeats spec.ports[${first}]`,
      );
    else seenPorts.set(key, i);
  });

  const endpoints: EndpointSpec[] = [];
  const endpointSeen = new Set<string>();
  (spec.endpoints ?? []).forEach((e, i) => {
    const field = fieldPath(fieldPath('spec.endpoints', i), 'address');
    const ip = tryParseIp(e.address);
    if (!ip) return issue(field, e.address, 'not an IPv4 or IPv6 address');
    const special = specialAddressReason(ip, true);
    if (special) return issue(field, e.address, `not usable as an endpoint: ${special}`);
    const address = formatIp(ip);
    if (endpointSeen.has(address)) return issue(field, e.address, 'endpoint listed twice');
    endpointSeen.add(address);
    endpoints.push({ address, weight: e.weight ?? 1 });
  });

  const snatAddresses: string[] = [];
  (spec.snatAddresses ?? []).forEach((a, i) => {
    const field = fieldPath('spec.snatAddresses', i);
    const ip = tryParseIp(a);
    if (!ip) return issue(field, a, 'not an IPv4 or IPv6 address');
    const special = specialAddressReason(ip);
    if (special) return issue(field, a, `not usable as a source address: ${special}`);
    if (snatAddresses.some((x) => tryParseIp(x)?.family === ip.family))
      return issue(field, a, `at most one ${familyOf(ip)} source address`);
    if (mode !== 'fullnat') return issue(field, a, 'only used with mode "fullnat"');
    snatAddresses.push(formatIp(ip));
  });

  const sourceRanges = buildSourceRanges(spec.sourceRanges ?? [], issue);

  const algorithm = spec.algorithm ?? 'roundrobin';
  let persistTimeoutSeconds = DEFAULT_PERSIST_SECONDS;
  if (spec.persistTimeout !== undefined) {
    const ms = parseDurationMs(spec.persistTimeout);
    if (ms === undefined || ms < 1000)
      issue('spec.persistTimeout', spec.persistTimeout, 'must be a duration of at least 1s');
    else if (ms / 1000 > LIMITS.persistTimeoutSeconds)
      issue(
        'spec.persistTimeout',
        spec.persistTimeout,
        `must be at most ${LIMITS.persistTimeoutSeconds / 86400} days (${LIMITS.persistTimeoutSeconds / 3600}h; nftables refuses much longer timeouts)`,
      );
    else persistTimeoutSeconds = Math.round(ms / 1000);
    if (algorithm !== 'persist')
      warnings.push({
        object,
        field: 'spec.persistTimeout',
        value: spec.persistTimeout,
        message: 'only used with algorithm "persist"',
      });
  }

  let maglevTableSize: number | undefined;
  if (spec.maglevTableSize !== undefined) {
    const m = spec.maglevTableSize;
    if (!isPrime(m))
      issue('spec.maglevTableSize', m, 'must be a prime number (e.g. 61, 127, 251, 509, 1021)');
    else if (m < endpoints.length)
      issue('spec.maglevTableSize', m, `must be at least the number of endpoints (${endpoints.length})`);
    else maglevTableSize = m;
    if (algorithm !== 'maglev')
      warnings.push({
        object,
        field: 'spec.maglevTableSize',
        value: m,
        message: 'only used with algorithm "maglev"',
      });
  }

  return {
    meta,
    ...(spec.pool !== undefined ? { pool: spec.pool } : {}),
    addresses: requested.map(formatIp),
    ...(ipFamilies ? { ipFamilies: [...ipFamilies] } : {}),
    ipFamilyPolicy,
    secondaryPools: [...secondaryPools],
    secondaryAddresses: secondaries.map(formatIp),
    ...(spec.sharingKey !== undefined ? { sharingKey: spec.sharingKey } : {}),
    ports,
    mode,
    algorithm,
    persistTimeoutSeconds,
    ...(maglevTableSize !== undefined ? { maglevTableSize } : {}),
    flushOnInactive: spec.flushOnInactive ?? false,
    snatAddresses,
    sourceRanges,
    endpoints,
    healthCheck: buildHealthCheck(spec.healthCheck, issue),
  };
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** CIDRs, canonical and without repeats; host bits are cleared (as kube-proxy reads them). */
function buildSourceRanges(
  ranges: readonly string[],
  issue: (field: string, value: unknown, message: string) => void,
): string[] {
  const out: string[] = [];
  ranges.forEach((text, i) => {
    const field = fieldPath('spec.sourceRanges', i);
    const cidr = parseCidr(text);
    if (!cidr) return issue(field, text, 'not a CIDR such as 192.0.2.0/24 or 2001:db8::/64');
    if (!out.includes(cidr)) out.push(cidr);
  });
  return out;
}

function buildHealthCheck(
  hc: RawLoadBalancerSpec['healthCheck'],
  issue: (field: string, value: unknown, message: string) => void,
): HealthCheck {
  if (!hc) return DEFAULT_HEALTH_CHECK;
  const dur = (field: 'interval' | 'timeout', fallback: number): number => {
    const text = hc[field];
    if (text === undefined) return fallback;
    const ms = parseDurationMs(text);
    if (ms === undefined || ms < 10) {
      issue(`spec.healthCheck.${field}`, text, 'must be a duration of at least 10ms');
      return fallback;
    }
    if (ms > LIMITS.timerMs) {
      issue(
        `spec.healthCheck.${field}`,
        text,
        `must be at most ${LIMITS.timerMs} ms (about 24.8 days, the longest timer Node.js keeps; longer ones fire at once)`,
      );
      return fallback;
    }
    return ms;
  };
  const intervalMs = dur('interval', DEFAULT_HEALTH_CHECK.intervalMs);
  const timeoutMs = dur('timeout', Math.min(DEFAULT_HEALTH_CHECK.timeoutMs, intervalMs));
  if (timeoutMs > intervalMs)
    issue(
      'spec.healthCheck.timeout',
      hc.timeout,
      `must not exceed spec.healthCheck.interval (${hc.interval ?? `${intervalMs}ms`})`,
    );
  if (hc.path !== undefined && hc.type !== 'http' && hc.type !== 'https')
    issue('spec.healthCheck.path', hc.path, `only applies to http/https checks, not "${hc.type}"`);
  if (hc.expectStatus !== undefined && hc.type !== 'http' && hc.type !== 'https')
    issue(
      'spec.healthCheck.expectStatus',
      hc.expectStatus,
      `only applies to http/https checks, not "${hc.type}"`,
    );
  for (const f of ['udpSilence', 'udpPayload'] as const)
    if (hc[f] !== undefined && hc.type !== 'udp')
      issue(`spec.healthCheck.${f}`, hc[f], `only applies to udp checks, not "${hc.type}"`);
  if (hc.port !== undefined && (hc.type === 'ping' || hc.type === 'none'))
    issue('spec.healthCheck.port', hc.port, `a "${hc.type}" check has no port`);
  return {
    type: hc.type,
    ...(hc.port !== undefined ? { port: hc.port } : {}),
    path: hc.path ?? '/',
    intervalMs,
    timeoutMs,
    unhealthyThreshold: hc.unhealthyThreshold ?? DEFAULT_HEALTH_CHECK.unhealthyThreshold,
    healthyThreshold: hc.healthyThreshold ?? DEFAULT_HEALTH_CHECK.healthyThreshold,
    ...(hc.expectStatus ? { expectStatus: [...hc.expectStatus] } : {}),
    ...(hc.udpSilence ? { udpSilence: hc.udpSilence } : {}),
    ...(hc.udpPayload !== undefined ? { udpPayload: hc.udpPayload } : {}),
  };
}
