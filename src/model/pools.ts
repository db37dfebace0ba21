// Semantic validation of IPAddressPool objects (after the schema passed): address syntax, overlaps.
import {
  formatRange,
  IpParseError,
  parseRange,
  rangeContains,
  rangesOverlap,
  tryParseIp,
  type IpAddr,
  type IpRange,
} from '../net/ip.js';
import { fieldPath, type ConfigIssue } from './issues.js';
import { toSelector } from './labels.js';
import { specialRangeReason } from './limits.js';
import type { ObjectMeta, Pool, ServiceAllocation } from './types.js';

interface RawPoolSpec {
  addresses: string[];
  autoAssign?: boolean;
  avoidBuggyIPs?: boolean;
  serviceAllocation?: {
    priority?: number;
    namespaces?: string[];
    namespaceSelectors?: unknown[];
    serviceSelectors?: unknown[];
  };
}

export function buildPool(
  meta: ObjectMeta,
  apiVersion: string,
  spec: RawPoolSpec,
  object: string,
  issues: ConfigIssue[],
  warnings: ConfigIssue[],
): Pool {
  const ranges: IpRange[] = [];
  spec.addresses.forEach((a, i) => {
    const field = fieldPath('spec.addresses', i);
    try {
      const r = parseRange(a);
      const special = specialRangeReason(r);
      if (special) issues.push({ object, field, value: a, message: special });
      if (r.normalisedFrom) {
        warnings.push({ object, field, value: a, message: `host bits set; using ${formatRange(r)}` });
      }
      const clash = ranges.findIndex((o) => rangesOverlap(o, r));
      if (clash >= 0) {
        issues.push({
          object,
          field,
          value: a,
          message: `overlaps spec.addresses[${clash}] of the same pool`,
        });
      }
      ranges.push({ family: r.family, first: r.first, last: r.last });
    } catch (e) {
      if (!(e instanceof IpParseError)) throw e;
      issues.push({ object, field, value: a, message: e.message.replace(/: ".*"$/, '') });
    }
  });
  if (spec.addresses.length === 0) {
    issues.push({
      object,
      field: 'spec.addresses',
      value: spec.addresses,
      message: 'a pool needs at least one address',
    });
  }
  const sa = spec.serviceAllocation;
  const serviceAllocation: ServiceAllocation | undefined = sa && {
    ...(sa.priority !== undefined ? { priority: sa.priority } : {}),
    namespaces: [...(sa.namespaces ?? [])],
    namespaceSelectors: (sa.namespaceSelectors ?? []).map(toSelector),
    serviceSelectors: (sa.serviceSelectors ?? []).map(toSelector),
  };
  return {
    meta,
    apiVersion,
    addresses: [...spec.addresses],
    ranges,
    autoAssign: spec.autoAssign ?? true,
    avoidBuggyIPs: spec.avoidBuggyIPs ?? false,
    ...(serviceAllocation ? { serviceAllocation } : {}),
  };
}

/** Whether `ip` lies inside one of the pool's ranges. */
export const poolHolds = (p: Pool, ip: IpAddr): boolean => p.ranges.some((r) => rangeContains(r, ip));

/** The pool an address belongs to (pools never overlap, so there is at most one). */
export function poolContaining(pools: Iterable<Pool>, ip: IpAddr): Pool | undefined {
  for (const p of pools) if (poolHolds(p, ip)) return p;
  return undefined;
}

/** Name of the pool holding `address` (text); undefined for no pool or no address. */
export function poolNameOf(pools: Iterable<Pool>, address: string | undefined): string | undefined {
  const ip = address !== undefined ? tryParseIp(address) : undefined;
  return ip ? poolContaining(pools, ip)?.meta.name : undefined;
}

/** Parsed entries with their index in spec.addresses (entries that failed to parse are skipped). */
function indexedRanges(p: Pool): { range: IpRange; index: number }[] {
  const out: { range: IpRange; index: number }[] = [];
  p.addresses.forEach((a, index) => {
    try {
      out.push({ range: parseRange(a), index });
    } catch {
      /* reported by buildPool */
    }
  });
  return out;
}

/** Pools must not overlap each other (MetalLB rejects it too): an address has exactly one pool. */
export function poolOverlapIssues(pools: readonly Pool[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const parsed = pools.map(indexedRanges);
  for (let i = 0; i < pools.length; i++) {
    for (let j = 0; j < i; j++) {
      for (const a of parsed[i] ?? []) {
        const b = (parsed[j] ?? []).find((x) => rangesOverlap(a.range, x.range));
        if (!b) continue;
        const pa = pools[i] as Pool;
        const pb = pools[j] as Pool;
        issues.push({
          object: `IPAddressPool/${pa.meta.name}`,
          field: `spec.addresses[${a.index}]`,
          value: pa.addresses[a.index],
          message: `overlaps IPAddressPool/${pb.meta.name} spec.addresses[${b.index}] (${pb.addresses[b.index]})`,
        });
      }
    }
  }
  return issues;
}
