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
import { runSync, STEP, type Steps } from '../model/steps.js';
import { PMap } from '../state/pmap.js';

export interface Allocation {
  /** Primary addresses, IPv4 first. */
  readonly addresses: readonly string[];
  /** Secondary addresses, index j from spec.secondaryPools[j] / spec.secondaryAddresses[j]. */
  readonly secondaryAddresses: readonly string[];
}

/** Address → the service holding it, primary and secondary alike (O(allocations): call per event, not per packet). */
export function holdersByAddress(allocations: ReadonlyMap<string, Allocation>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, a] of allocations) {
    for (const x of a.addresses) out.set(x, name);
    for (const x of a.secondaryAddresses) out.set(x, name);
  }
  return out;
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

/** Same status (pure, cheap: a bulk change compares thousands). */
export const sameStatus = (a: ServiceStatus | undefined, b: ServiceStatus | undefined): boolean =>
  a === b ||
  (a !== undefined &&
    b !== undefined &&
    a.phase === b.phase &&
    (a.phase === 'Allocated' || (b.phase === 'Pending' && a.code === b.code && a.reason === b.reason)));

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** Same addresses (both lists, in order). */
export const sameAllocation = (a: Allocation | undefined, b: Allocation | undefined): boolean =>
  a === b ||
  (a !== undefined &&
    b !== undefined &&
    sameList(a.addresses, b.addresses) &&
    sameList(a.secondaryAddresses, b.secondaryAddresses));

export interface IpamResult {
  /** Every address held, including partial holdings of pending services (so they never move). */
  readonly allocations: ReadonlyMap<string, Allocation>;
  readonly status: ReadonlyMap<string, ServiceStatus>;
  /** Carry-over for the next run (see allocate's `before`). */
  readonly memo?: IpamMemo;
  /**
   * Incremental runs: the services whose allocation or status may differ from `before` (the rest
   * are the same objects). Absent after a full run (anything may differ).
   */
  readonly changed?: ReadonlySet<string>;
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

/** The run a new one follows (the previous snapshot): lets unchanged services skip all work. */
export interface PreviousRun {
  readonly state: DesiredState;
  readonly status: ReadonlyMap<string, ServiceStatus>;
  readonly memo?: IpamMemo;
  /**
   * The LoadBalancer names whose spec may differ from `state`'s (every other one is the same object):
   * spares comparing every service. Absent: compared by identity.
   */
  readonly touched?: ReadonlySet<string>;
}

/** Opaque carry-over between runs: the address table and which services may still change. */
export interface IpamMemo {
  readonly pools: ReadonlyMap<string, Pool>;
  readonly usage: Usage;
  /** Pending services and ones missing an optional family: re-examined by every run. */
  readonly open: ReadonlySet<string>;
}

/** What IPAM derives from one LoadBalancerSpec under one pool set; memoised by identity. */
interface Plan {
  readonly pools: ReadonlyMap<string, Pool>;
  readonly eligible: readonly Pool[];
  readonly families: { required: Family[]; optional: Family[] };
  readonly shared: Claimant;
  readonly exclusive: Claimant;
  /** Requested primary per family. */
  readonly requested: ReadonlyMap<Family, IpAddr>;
  readonly requestedSecondary: readonly (IpAddr | undefined)[];
}
const plans = new WeakMap<LoadBalancerSpec, Plan>();

// Kept per service for as long as its spec (10k services: 8 MB when every plan had its own copies):
// the parts most services have in common are shared — one pool list and family choice per distinct
// value under a pool set, one empty request map and list.
const NO_REQUESTS: ReadonlyMap<Family, IpAddr> = new Map();
const NO_SECONDARY: readonly (IpAddr | undefined)[] = [];
const shared = new WeakMap<ReadonlyMap<string, Pool>, Map<string, Pick<Plan, 'eligible' | 'families'>>>();
function sharedParts(pools: ReadonlyMap<string, Pool>, eligible: Pool[], families: Plan['families']) {
  let byKey = shared.get(pools);
  if (!byKey) shared.set(pools, (byKey = new Map()));
  // Pool names hold no comma or bar (DNS-1123 names).
  const key = `${eligible.map((p) => p.meta.name).join()}|${families.required.join()}|${families.optional.join()}`;
  let parts = byKey.get(key);
  if (!parts) byKey.set(key, (parts = { eligible, families }));
  return parts;
}

function planOf(state: DesiredState, lb: LoadBalancerSpec): Plan {
  const hit = plans.get(lb);
  if (hit && hit.pools === state.pools) return hit;
  const eligible = eligiblePools(state, lb);
  const ports = portKeys(lb);
  const claimant = (exclusive: boolean): Claimant => ({
    service: lb.meta.name,
    sharingKey: lb.sharingKey,
    ports,
    exclusive,
  });
  let requested = NO_REQUESTS;
  for (const a of lb.addresses) {
    const ip = parseIp(a);
    if (requested === NO_REQUESTS) requested = new Map();
    if (!requested.has(ip.family)) (requested as Map<Family, IpAddr>).set(ip.family, ip);
  }
  const plan: Plan = {
    pools: state.pools,
    ...sharedParts(state.pools, eligible, wantedFamilies(lb, eligible)),
    shared: claimant(false),
    exclusive: claimant(true),
    requested,
    requestedSecondary: lb.secondaryAddresses.length > 0 ? lb.secondaryAddresses.map(parseIp) : NO_SECONDARY,
  };
  plans.set(lb, plan);
  return plan;
}

const parsedAllocations = new WeakMap<Allocation, { primary: IpAddr[]; secondary: IpAddr[] }>();
function parsedOf(a: Allocation): { primary: IpAddr[]; secondary: IpAddr[] } {
  let p = parsedAllocations.get(a);
  if (!p) {
    p = { primary: a.addresses.map(parseIp), secondary: a.secondaryAddresses.map(parseIp) };
    parsedAllocations.set(a, p);
  }
  return p;
}

/**
 * Allocates addresses. With `before` (the previous run, its memo) and the same pool set, only
 * services whose spec changed, that went away, or that were not fully allocated are re-examined:
 * a change costs O(changed + open services), not O(all), and the outcome is the one a full run over
 * the same input and previous allocations gives (a unit property test holds both to that).
 *
 * Order never decides between an explicit request and auto-assignment: every kept address is claimed
 * first, then every explicitly requested one, and only then are automatic addresses picked.
 */
export function allocate(
  state: DesiredState,
  previous: ReadonlyMap<string, Allocation>,
  before?: PreviousRun,
): IpamResult {
  return runSync(allocateSteps(state, previous, before));
}

/** allocate() as resumable steps (see model/steps.ts): a 10k-service run can yield to the loop. */
export function* allocateSteps(
  state: DesiredState,
  previous: ReadonlyMap<string, Allocation>,
  before?: PreviousRun,
): Steps<IpamResult> {
  let n = 0;
  const memo = before?.memo;
  const incremental =
    before !== undefined &&
    memo !== undefined &&
    memo.pools === state.pools &&
    before.state.pools === state.pools;
  const usage = new Usage(incremental ? memo.usage : undefined);
  // Drafts over the previous run's maps (structurally shared: no copy of every service's entry).
  const status = (incremental ? PMap.of(before.status) : PMap.empty<string, ServiceStatus>()).edit();
  const allocations = (incremental ? PMap.of(previous) : PMap.empty<string, Allocation>()).edit();
  const open = new Set<string>(incremental ? memo.open : []);
  let affected: string[];
  let changed: Set<string> | undefined;
  if (incremental) {
    const touched = new Set<string>(open);
    if (before.touched) {
      for (const name of before.touched) touched.add(name);
    } else {
      for (const [name, lb] of state.loadBalancers)
        if (before.state.loadBalancers.get(name) !== lb) touched.add(name);
      for (const name of before.state.loadBalancers.keys())
        if (!state.loadBalancers.has(name)) touched.add(name);
    }
    // A full run decides a shared address among all its holders in name order (a sharer whose key
    // or ports changed can now clash with the others), so its co-holders are re-examined with it.
    for (const name of [...touched]) {
      const prev = previous.get(name);
      if (!prev) continue;
      for (const ip of parsedOf(prev).primary) {
        const h = usage.holder(ip);
        if (h && h.services.size > 1) for (const other of h.services) touched.add(other);
      }
    }
    changed = touched;
    // Forget what the touched services held; pass 1 re-claims what is still theirs.
    for (const name of touched) {
      const prev = previous.get(name);
      if (prev) {
        const parsed = parsedOf(prev);
        for (const ip of [...parsed.primary, ...parsed.secondary]) usage.release(ip, name);
      }
      allocations.delete(name);
      status.delete(name);
      open.delete(name);
    }
    // A touched name that is in neither state (a hint naming a never-existing service) is harmless.
    affected = [...touched].filter((n) => state.loadBalancers.has(n));
  } else affected = [...state.loadBalancers.keys()];
  affected.sort();

  const primaries = new Map<string, (IpAddr | undefined)[]>(); // per service: [v4, v6]
  const secondaries = new Map<string, (IpAddr | undefined)[]>();
  const fresh = new Map<string, IpAddr[]>();

  // Pass 1: keep what each service already holds and may still hold.
  for (const name of affected) {
    if (++n % STEP === 0) yield;
    const lb = state.loadBalancers.get(name) as LoadBalancerSpec;
    const plan = planOf(state, lb);
    const prev = previous.get(name);
    const prim: (IpAddr | undefined)[] = [undefined, undefined];
    const sec: (IpAddr | undefined)[] = [];
    if (prev) {
      const allowed = [...plan.families.required, ...plan.families.optional];
      const parsed = parsedOf(prev);
      for (const ip of parsed.primary) {
        const requested = plan.requested.get(ip.family);
        const pool =
          lb.pool !== undefined ? state.pools.get(lb.pool) : poolContaining(state.pools.values(), ip);
        const valid =
          allowed.includes(ip.family) &&
          (requested === undefined
            ? pool !== undefined && poolHolds(pool, ip)
            : requested.value === ip.value);
        if (valid && prim[ip.family === 4 ? 0 : 1] === undefined && usage.claim(ip, plan.shared).ok) {
          prim[ip.family === 4 ? 0 : 1] = ip;
        }
      }
      parsed.secondary.forEach((ip, j) => {
        const poolName = lb.secondaryPools[j];
        const pool = poolName !== undefined ? state.pools.get(poolName) : undefined;
        const want = plan.requestedSecondary[j];
        const valid =
          want !== undefined
            ? want.value === ip.value && want.family === ip.family
            : pool !== undefined && poolHolds(pool, ip);
        if (valid && usage.claim(ip, plan.exclusive).ok) sec[j] = ip;
      });
    }
    primaries.set(name, prim);
    secondaries.set(name, sec);
    fresh.set(name, []);
  }

  // Pass 2: explicit requests, before any automatic pick can take one of those addresses.
  const failed = new Map<string, Pending>();
  for (const name of affected) {
    if (++n % STEP === 0) yield;
    const lb = state.loadBalancers.get(name) as LoadBalancerSpec;
    const plan = planOf(state, lb);
    const prim = primaries.get(name) as (IpAddr | undefined)[];
    const sec = secondaries.get(name) as (IpAddr | undefined)[];
    const got = fresh.get(name) as IpAddr[];
    try {
      for (const f of [...plan.families.required, ...plan.families.optional]) {
        const slot = f === 4 ? 0 : 1;
        const ip = plan.requested.get(f);
        if (prim[slot] || !ip) continue;
        const v = usage.claim(ip, plan.shared);
        if (!v.ok)
          throw new Pending(PendingCode.AddressInUse, `requested address ${formatIp(ip)} is ${v.reason}`);
        prim[slot] = ip;
        got.push(ip);
      }
      plan.requestedSecondary.forEach((ip, j) => {
        if (sec[j] || !ip) return;
        const v = usage.claim(ip, plan.exclusive);
        if (!v.ok)
          throw new Pending(
            PendingCode.AddressInUse,
            `requested secondary address ${formatIp(ip)} is ${v.reason}`,
          );
        sec[j] = ip;
        got.push(ip);
      });
    } catch (e) {
      if (!(e instanceof Pending)) throw e;
      failed.set(name, e);
    }
  }

  // Pass 3: fill in what is missing, in name order (deterministic whatever the input order).
  for (const name of affected) {
    if (++n % STEP === 0) yield;
    const lb = state.loadBalancers.get(name) as LoadBalancerSpec;
    const plan = planOf(state, lb);
    const prim = primaries.get(name) as (IpAddr | undefined)[];
    const sec = secondaries.get(name) as (IpAddr | undefined)[];
    const got = fresh.get(name) as IpAddr[];
    try {
      const early = failed.get(name);
      if (early) throw early;
      const fams = plan.families;
      for (const f of [...fams.required, ...fams.optional]) {
        const slot = f === 4 ? 0 : 1;
        if (prim[slot]) continue;
        try {
          const ip = pickPrimary(usage, lb, plan.eligible, f, plan.shared);
          prim[slot] = ip;
          got.push(ip);
        } catch (e) {
          if (!(e instanceof Pending) || fams.required.includes(f)) throw e;
        }
      }
      const secondaryCount = Math.max(lb.secondaryPools.length, lb.secondaryAddresses.length);
      for (let j = 0; j < secondaryCount; j++) {
        if (sec[j]) continue;
        const ip = pickSecondary(state, usage, lb, j, prim, plan.exclusive);
        sec[j] = ip;
        got.push(ip);
      }
      status.set(name, { phase: 'Allocated' });
      if (!fams.optional.every((f) => prim[f === 4 ? 0 : 1])) open.add(name);
    } catch (e) {
      if (!(e instanceof Pending)) throw e;
      // A new service gets nothing until it can get everything; held addresses stay held (sticky).
      for (const ip of got) {
        usage.release(ip, name);
        prim.forEach((p, i) => p === ip && (prim[i] = undefined));
        sec.forEach((s, i) => s === ip && (sec[i] = undefined));
      }
      status.set(name, { phase: 'Pending', code: e.code, reason: e.message });
      open.add(name);
    }
  }

  for (const name of affected) {
    const prim = (primaries.get(name) ?? []).filter((x): x is IpAddr => x !== undefined);
    const sec = secondaries.get(name) ?? [];
    if (prim.length === 0 && sec.every((s) => s === undefined)) continue;
    const next: Allocation = {
      addresses: prim.map(formatIp),
      secondaryAddresses: sec.filter((x): x is IpAddr => x !== undefined).map(formatIp),
    };
    const prev = previous.get(name);
    const same =
      prev !== undefined &&
      prev.addresses.join() === next.addresses.join() &&
      prev.secondaryAddresses.join() === next.secondaryAddresses.join();
    allocations.set(name, same ? prev : next);
  }
  return {
    allocations: allocations.done(),
    status: status.done(),
    memo: { pools: state.pools, usage, open },
    ...(changed ? { changed } : {}),
  };
}

function pickPrimary(
  usage: Usage,
  lb: LoadBalancerSpec,
  pools: readonly Pool[],
  f: Family,
  c: Claimant,
): IpAddr {
  const requested = lb.addresses.find((a) => parseIp(a).family === f);
  if (requested !== undefined) {
    const ip = parseIp(requested);
    const v = usage.claim(ip, c);
    if (!v.ok) throw new Pending(PendingCode.AddressInUse, `requested address ${requested} is ${v.reason}`);
    return ip;
  }
  if (lb.sharingKey !== undefined) {
    // Join an address already shared under the same key, inside a pool this service may use: the
    // lowest one, so the choice never depends on the order addresses were claimed in.
    const candidates: bigint[] = [];
    for (const [value, h] of usage.shared(f, lb.sharingKey)) {
      const ip = { family: f, value };
      if (!h.exclusive && pools.some((p) => poolHolds(p, ip))) candidates.push(value);
    }
    candidates.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const value of candidates) {
      const ip = { family: f, value };
      if (usage.claim(ip, c).ok) return ip;
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
