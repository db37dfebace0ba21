// Source ranges (Kubernetes' loadBalancerSourceRanges) in the form the kernel wants them. nft interval
// sets refuse overlapping elements ("File exists"), so a service's CIDRs are merged into disjoint
// ranges here first, one element per range. Each range is then written exactly as `nft -j` lists it
// back (a bare address, a prefix, or a-b), so the compiled table equals the observed one and a resync
// after a restart rewrites nothing. Pure.
import { bits, formatIp, IpParseError, parseRange, type Family, type IpRange } from '../../net/ip.js';
import { DataplaneInputError } from '../types.js';

/** A service's allowed sources per family, as nft element text; [] = nobody of that family. */
export interface SourceSet {
  readonly 4: readonly string[];
  readonly 6: readonly string[];
}

/** Parses one CIDR ("10.0.0.0/8", host bits allowed: they are cleared); throws IpParseError. */
export function parseSourceRange(text: string): IpRange {
  // Only CIDRs, as Kubernetes: a bare address or an a-b range is most likely a mistake here.
  if (!/^[^/]+\/\d{1,3}$/.test(text.trim())) throw new IpParseError(text, 'not a CIDR (address/length)');
  const r = parseRange(text);
  return { family: r.family, first: r.first, last: r.last };
}

/** Sorted, disjoint, non-adjacent ranges covering exactly the addresses of `ranges` (per family). */
export function mergeRanges(ranges: readonly IpRange[]): IpRange[] {
  const sorted = [...ranges].sort((a, b) =>
    a.family !== b.family ? a.family - b.family : a.first < b.first ? -1 : a.first > b.first ? 1 : 0,
  );
  const out: IpRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    // Adjacent ranges merge too: one element instead of two, and the text form stays unique.
    if (last && last.family === r.family && r.first <= last.last + 1n) {
      if (r.last > last.last) out[out.length - 1] = { ...last, last: r.last };
    } else out.push(r);
  }
  return out;
}

/** Prefix length when the range is exactly one aligned prefix, else undefined. */
function prefixLength(r: IpRange): number | undefined {
  const size = r.last - r.first + 1n;
  if ((size & (size - 1n)) !== 0n || r.first % size !== 0n) return undefined;
  return bits(r.family) - (size.toString(2).length - 1);
}

/** The element text nft lists for this range: "a" (one address), "a/len" (a prefix), or "a-b". */
export function rangeText(r: IpRange): string {
  const first = formatIp({ family: r.family, value: r.first });
  if (r.first === r.last) return first;
  const len = prefixLength(r);
  return len === undefined ? `${first}-${formatIp({ family: r.family, value: r.last })}` : `${first}/${len}`;
}

// The same few range lists recur across thousands of services (a site's office networks): normalise
// each distinct list once. Bounded like the compiler's address memo.
const memo = new Map<string, SourceSet>();

/**
 * Validates and normalises a service's source ranges; `extra` are addresses always allowed (merged in
 * before, so they never overlap a range). Throws DataplaneInputError naming `sourceRanges` and the
 * offending value.
 */
export function sourceSet(
  service: string,
  ranges: readonly string[],
  extra: readonly IpRange[] = [],
): SourceSet {
  const key = extra.length === 0 ? ranges.join('\n') : undefined;
  const hit = key === undefined ? undefined : memo.get(key);
  if (hit) return hit;
  const parsed: IpRange[] = [];
  for (const text of ranges) {
    if (typeof text !== 'string')
      throw new DataplaneInputError(service, 'sourceRanges', text, 'not a string');
    try {
      parsed.push(parseSourceRange(text));
    } catch (e) {
      const why = e instanceof IpParseError ? e.message.replace(/: ".*"$/, '') : String(e);
      throw new DataplaneInputError(service, 'sourceRanges', text, why);
    }
  }
  const merged = mergeRanges([...parsed, ...extra]);
  const of = (f: Family) => merged.filter((r) => r.family === f).map(rangeText);
  const set: SourceSet = { 4: of(4), 6: of(6) };
  if (key !== undefined) {
    if (memo.size > 10_000) memo.clear();
    memo.set(key, set);
  }
  return set;
}
