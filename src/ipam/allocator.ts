// IPAM: desired state + previous allocations → new allocations and a status per service. Pure and
// deterministic. Sticky: an address a service already holds is kept as long as it is still valid
// for that service, whatever the order of objects or of the config file.
import { familyName, formatIp, parseIp, type Family, type IpAddr } from '../net/ip.js';
import { anySelectorMatches } from '../model/labels.js';
import { poolContaining, poolHolds } from '../model/pools.js';
import {
  NAMESPACE_LABELS_ANNOTATION,
  type DesiredState,
  type IpFamily,
  type LoadBalancerSpec,
  type Pool,
} from '../model/types.js';
import { Usage, type Claimant } from './usage.js';

export interface Allocation {
  /** Primary addresses, IPv4 first. */
  readonly addresses: readonly string[];
  /** Secondary addresses, index j from spec.secondaryPools[j] / spec.secondaryAddresses[j]. */
  readonly secondaryAddresses: readonly string[];
}

export const PendingCode = {
  PoolExhausted: 'PoolExhausted',
  AddressInUse: 'AddressInUse',
  NoEligiblePool: 'NoEligiblePool',
} as const;
export type PendingCode = (typeof PendingCode)[keyof typeof PendingCode];

export type ServiceStatus =
  | { readonly phase: 'Allocated' }
  | { readonly phase: 'Pending'; readonly code: PendingCode; readonly reason: string };

export interface IpamResult {
  /** Every address held, including partial holdings of pending services (so they never move). */
  readonly allocations: ReadonlyMap<string, Allocation>;
  readonly status: ReadonlyMap<string, ServiceStatus>;
}

const FAMILY: Record<IpFamily, Family> = { IPv4: 4, IPv6: 6 };
const portKeys = (lb: LoadBalancerSpec) => lb.ports.map((p) => `${p.protocol}/${p.port}`);

class Pending extends Error {
  constructor(
    readonly code: PendingCode,
    reason: string,
  ) {
    super(reason);
  }
}

/** The namespace's labels when the front door supplied them (Kubernetes); none otherwise. */
function namespaceLabels(lb: LoadBalancerSpec): Record<string, string> {
  const text = lb.meta.annotations[NAMESPACE_LABELS_ANNOTATION];
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {};
  } catch {
    return {};
  }
}

function eligiblePools(state: DesiredState, lb: LoadBalancerSpec): Pool[] {
  if (lb.pool !== undefined) {
    const p = state.pools.get(lb.pool);
    return p ? [p] : [];
  }
  const ok = [...state.pools.values()].filter((p) => {
    if (!p.autoAssign) return false;
    const sa = p.serviceAllocation;
    if (!sa) return true;
    if (sa.namespaces.length > 0 && !sa.namespaces.includes(lb.meta.namespace)) return false;
    if (!anySelectorMatches(sa.namespaceSelectors, namespaceLabels(lb))) return false;
    return anySelectorMatches(sa.serviceSelectors, lb.meta.labels);
  });
  const prio = (p: Pool) => p.serviceAllocation?.priority ?? Number.MAX_SAFE_INTEGER;
  return ok.sort((a, b) => prio(a) - prio(b) || a.meta.name.localeCompare(b.meta.name));
}

/** The families a service wants, the first one required; `optional` ones may be missing. */
function wantedFamilies(lb: LoadBalancerSpec, pools: Pool[]): { required: Family[]; optional: Family[] } {
  const requested = lb.addresses.map((a) => parseIp(a).family);
  const has = (f: Family) => pools.some((p) => p.ranges.some((r) => r.family === f));
  let fams: Family[];
  if (lb.ipFamilies) fams = lb.ipFamilies.map((f) => FAMILY[f]);
  else if (lb.ipFamilyPolicy !== 'SingleStack') fams = [4, 6];
  else if (requested.length > 0) fams = requested;
  else fams = [has(4) || !has(6) ? 4 : 6];
  for (const f of requested) if (!fams.includes(f)) fams.push(f);
  if (lb.ipFamilyPolicy === 'SingleStack') return { required: fams.slice(0, 1), optional: [] };
  if (lb.ipFamilyPolicy === 'RequireDualStack') return { required: fams, optional: [] };
  // PreferDualStack: the first family is required, the rest best-effort (requested ones stay required).
  return {
    required: fams.filter((f, i) => i === 0 || requested.includes(f)),
    optional: fams.filter((f, i) => i > 0 && !requested.includes(f)),
  };
}

export function allocate(state: DesiredState, previous: ReadonlyMap<string, Allocation>): IpamResult {
  const usage = new Usage();
  const names = [...state.loadBalancers.keys()].sort();
  const primaries = new Map<string, (IpAddr | undefined)[]>(); // per service: [v4, v6]
  const secondaries = new Map<string, (IpAddr | undefined)[]>();
  const claimant = (lb: LoadBalancerSpec, exclusive: boolean): Claimant => ({
    service: lb.meta.name,
    sharingKey: lb.sharingKey,
    ports: portKeys(lb),
    exclusive,
  });

  // Pass 1: keep what each service already holds and may still hold.
  for (const name of names) {
    const lb = state.loadBalancers.get(name) as LoadBalancerSpec;
    const prev = previous.get(name);
    const prim: (IpAddr | undefined)[] = [undefined, undefined];
    const sec: (IpAddr | undefined)[] = [];
    if (prev) {
      const fams = wantedFamilies(lb, eligiblePools(state, lb));
      const allowed = [...fams.required, ...fams.optional];
      for (const text of prev.addresses) {
        const ip = parseIp(text);
        const requested = lb.addresses.find((a) => parseIp(a).family === ip.family);
        const pool =
          lb.pool !== undefined ? state.pools.get(lb.pool) : poolContaining(state.pools.values(), ip);
        const valid =
          allowed.includes(ip.family) &&
          (requested === undefined
            ? pool !== undefined && poolHolds(pool, ip)
            : parseIp(requested).value === ip.value);
        if (valid && prim[ip.family === 4 ? 0 : 1] === undefined && usage.claim(ip, claimant(lb, false)).ok) {
          prim[ip.family === 4 ? 0 : 1] = ip;
        }
      }
      prev.secondaryAddresses.forEach((text, j) => {
        const ip = parseIp(text);
        const poolName = lb.secondaryPools[j];
        const pool = poolName !== undefined ? state.pools.get(poolName) : undefined;
        const want = lb.secondaryAddresses[j];
        const valid =
          want !== undefined
            ? parseIp(want).value === ip.value && parseIp(want).family === ip.family
            : pool !== undefined && poolHolds(pool, ip);
        if (valid && usage.claim(ip, claimant(lb, true)).ok) sec[j] = ip;
      });
    }
    primaries.set(name, prim);
    secondaries.set(name, sec);
  }

  // Pass 2: fill in what is missing, in name order (deterministic whatever the input order).
  const status = new Map<string, ServiceStatus>();
  for (const name of names) {
    const lb = state.loadBalancers.get(name) as LoadBalancerSpec;
    const prim = primaries.get(name) as (IpAddr | undefined)[];
    const sec = secondaries.get(name) as (IpAddr | undefined)[];
    const fresh: IpAddr[] = [];
    try {
      const pools = eligiblePools(state, lb);
      const fams = wantedFamilies(lb, pools);
      for (const f of [...fams.required, ...fams.optional]) {
        const slot = f === 4 ? 0 : 1;
        if (prim[slot]) continue;
        try {
          const ip = pickPrimary(usage, lb, pools, f, claimant(lb, false));
          prim[slot] = ip;
          fresh.push(ip);
        } catch (e) {
          if (!(e instanceof Pending) || fams.required.includes(f)) throw e;
        }
      }
      const secondaryCount = Math.max(lb.secondaryPools.length, lb.secondaryAddresses.length);
      for (let j = 0; j < secondaryCount; j++) {
        if (sec[j]) continue;
        const ip = pickSecondary(state, usage, lb, j, prim, claimant(lb, true));
        sec[j] = ip;
        fresh.push(ip);
      }
      status.set(name, { phase: 'Allocated' });
    } catch (e) {
      if (!(e instanceof Pending)) throw e;
      // A new service gets nothing until it can get everything; held addresses stay held (sticky).
      for (const ip of fresh) {
        usage.release(ip, name);
        prim.forEach((p, i) => p === ip && (prim[i] = undefined));
        sec.forEach((s, i) => s === ip && (sec[i] = undefined));
      }
      status.set(name, { phase: 'Pending', code: e.code, reason: e.message });
    }
  }

  const allocations = new Map<string, Allocation>();
  for (const name of names) {
    const prim = (primaries.get(name) ?? []).filter((x): x is IpAddr => x !== undefined);
    const sec = secondaries.get(name) ?? [];
    if (prim.length === 0 && sec.every((s) => s === undefined)) continue;
    allocations.set(name, {
      addresses: prim.map(formatIp),
      secondaryAddresses: sec.filter((x): x is IpAddr => x !== undefined).map(formatIp),
    });
  }
  return { allocations, status };
}

function pickPrimary(usage: Usage, lb: LoadBalancerSpec, pools: Pool[], f: Family, c: Claimant): IpAddr {
  const requested = lb.addresses.find((a) => parseIp(a).family === f);
  if (requested !== undefined) {
    const ip = parseIp(requested);
    const v = usage.claim(ip, c);
    if (!v.ok) throw new Pending(PendingCode.AddressInUse, `requested address ${requested} is ${v.reason}`);
    return ip;
  }
  if (lb.sharingKey !== undefined) {
    // Join an address already shared under the same key, inside a pool this service may use.
    for (const [value, h] of usage.shared(f, lb.sharingKey)) {
      const ip = { family: f, value };
      if (!pools.some((p) => poolHolds(p, ip))) continue;
      if (!h.exclusive && usage.claim(ip, c).ok) return ip;
    }
  }
  const withFamily = pools.filter((p) => p.ranges.some((r) => r.family === f));
  if (withFamily.length === 0) {
    const where =
      lb.pool !== undefined
        ? `IPAddressPool/${lb.pool} has`
        : 'no IPAddressPool with autoAssign and a matching serviceAllocation has';
    throw new Pending(PendingCode.NoEligiblePool, `${where} no ${familyName(f)} addresses`);
  }
  for (const p of withFamily) {
    const ip = usage.lowestFree(p, f);
    if (ip && usage.claim(ip, c).ok) return ip;
  }
  throw new Pending(
    PendingCode.PoolExhausted,
    `no free ${familyName(f)} address in ${withFamily.map((p) => `IPAddressPool/${p.meta.name}`).join(', ')}`,
  );
}

function pickSecondary(
  state: DesiredState,
  usage: Usage,
  lb: LoadBalancerSpec,
  j: number,
  prim: (IpAddr | undefined)[],
  c: Claimant,
): IpAddr {
  const want = lb.secondaryAddresses[j];
  if (want !== undefined) {
    const ip = parseIp(want);
    const v = usage.claim(ip, c);
    if (!v.ok)
      throw new Pending(PendingCode.AddressInUse, `requested secondary address ${want} is ${v.reason}`);
    return ip;
  }
  const poolName = lb.secondaryPools[j] as string;
  const pool = state.pools.get(poolName);
  if (!pool)
    throw new Pending(PendingCode.NoEligiblePool, `secondary IPAddressPool/${poolName} does not exist`);
  // Same family as the primary first: an SCTP endpoint must be able to reach every service address.
  const order: Family[] = prim[0] ? [4, 6] : [6, 4];
  for (const f of order) {
    const ip = usage.lowestFree(pool, f);
    if (ip && usage.claim(ip, c).ok) return ip;
  }
  throw new Pending(
    PendingCode.PoolExhausted,
    `no free address in secondary IPAddressPool/${poolName} (spec.secondaryPools[${j}])`,
  );
}
