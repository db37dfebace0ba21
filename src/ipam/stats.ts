// Per-pool usage figures (used / free per family) for `ferroctl get pools` and the API.
import { parseIp, rangeContains, rangeSize, type Family, type IpAddr, type IpRange } from '../net/ip.js';
import type { Pool } from '../model/types.js';
import type { Allocation } from './allocator.js';

export interface FamilyUsage {
  readonly total: bigint;
  readonly used: bigint;
  readonly free: bigint;
}

export interface PoolUsage {
  readonly name: string;
  readonly autoAssign: boolean;
  readonly addresses: readonly string[];
  readonly ipv4: FamilyUsage;
  readonly ipv6: FamilyUsage;
}

/** How many v4 values in [first,last] end in .0 or .255 (the ones avoidBuggyIPs skips). */
function buggyCount(r: IpRange): bigint {
  const countLowByte = (b: bigint): bigint => {
    // values v in range with (v & 0xff) == b
    const firstBlock = r.first >> 8n;
    const lastBlock = r.last >> 8n;
    let n = lastBlock - firstBlock + 1n;
    if (((firstBlock << 8n) | b) < r.first) n--;
    if (((lastBlock << 8n) | b) > r.last) n--;
    return n < 0n ? 0n : n;
  };
  return countLowByte(0n) + countLowByte(255n);
}

export function poolCapacity(pool: Pool, family: Family): bigint {
  let n = 0n;
  for (const r of pool.ranges) {
    if (r.family !== family) continue;
    n += rangeSize(r) - (pool.avoidBuggyIPs && family === 4 ? buggyCount(r) : 0n);
  }
  return n;
}

/** Parsed addresses per allocation object (allocations are immutable and kept by identity). */
const parsed = new WeakMap<Allocation, readonly (readonly [string, IpAddr])[]>();
const parsedOf = (a: Allocation): readonly (readonly [string, IpAddr])[] => {
  let p = parsed.get(a);
  if (!p) parsed.set(a, (p = [...a.addresses, ...a.secondaryAddresses].map((x) => [x, parseIp(x)] as const)));
  return p;
};

export function poolUsage(pools: Iterable<Pool>, allocations: ReadonlyMap<string, Allocation>): PoolUsage[] {
  // Runs per reconcile in the controller (pool status counters): no string work per allocation.
  const held = new Map<string, IpAddr>();
  allocations.forEach((a) => {
    for (const [text, ip] of parsedOf(a)) held.set(text, ip);
  });
  const ips = [...held.values()];
  return [...pools]
    .sort((a, b) => a.meta.name.localeCompare(b.meta.name))
    .map((p) => {
      const fam = (f: Family): FamilyUsage => {
        const total = poolCapacity(p, f);
        const used = BigInt(
          ips.filter((ip) => ip.family === f && p.ranges.some((r) => rangeContains(r, ip))).length,
        );
        return { total, used, free: total - used };
      };
      return {
        name: p.meta.name,
        autoAssign: p.autoAssign,
        addresses: p.addresses,
        ipv4: fam(4),
        ipv6: fam(6),
      };
    });
}
