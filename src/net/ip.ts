// IP addresses as (family, bigint) pairs: one representation for IPv4 and IPv6 so that pools,
// ranges and arithmetic share one code path. Pure; no I/O.

export type Family = 4 | 6;

export interface IpAddr {
  readonly family: Family;
  readonly value: bigint;
}

/** Inclusive range [first, last] of one family. */
export interface IpRange {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
}

export class IpParseError extends Error {
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`${reason}: "${input}"`);
    this.name = 'IpParseError';
  }
}

const V4_MAX = (1n << 32n) - 1n;
const V6_MAX = (1n << 128n) - 1n;

export const maxValue = (family: Family): bigint => (family === 4 ? V4_MAX : V6_MAX);
export const bits = (family: Family): number => (family === 4 ? 32 : 128);

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(s: string): bigint | undefined {
  const m = V4_RE.exec(s);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const p = m[i] as string;
    // Leading zeros are ambiguous (octal in some parsers): refuse them.
    if (p.length > 1 && p.startsWith('0')) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return BigInt(v);
}

function parseV6(s: string): bigint | undefined {
  if (s.length === 0 || s.includes('%')) return undefined;
  let head = s;
  let tailV4: bigint | undefined;
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tailV4 = parseV4(s.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = head.split('::');
  if (dbl.length > 2) return undefined;
  const groupsOf = (part: string): string[] | undefined => {
    if (part === '') return [];
    const g = part.split(':');
    return g.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x)) ? g : undefined;
  };
  const left = groupsOf(dbl[0] ?? '');
  const right = dbl.length === 2 ? groupsOf(dbl[1] ?? '') : [];
  if (!left || !right) return undefined;
  const total = left.length + right.length;
  if (dbl.length === 2 ? total > 7 : total !== 8) return undefined;
  const groups = [...left, ...Array<string>(8 - total).fill('0'), ...right];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(parseInt(g, 16));
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

/** Parses an IPv4 or IPv6 address; undefined when it is neither. */
export function tryParseIp(s: string): IpAddr | undefined {
  const v4 = parseV4(s);
  if (v4 !== undefined) return { family: 4, value: v4 };
  if (!s.includes(':')) return undefined;
  const v6 = parseV6(s);
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

export function parseIp(s: string): IpAddr {
  const ip = tryParseIp(s);
  if (!ip) throw new IpParseError(s, 'not an IPv4 or IPv6 address');
  return ip;
}

/** Canonical text form: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function formatIp(ip: IpAddr): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    // join, not a template: V8 keeps a template's result as a rope of 7 parts (≈ 100 bytes per
    // address instead of ≈ 32), and the model holds one per endpoint.
    return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return [left, right].join('::');
}

/** Canonicalises an address string (e.g. "FD00::0001" → "fd00::1"); throws IpParseError. */
export const canonicalIp = (s: string): string => formatIp(parseIp(s));

export interface ParsedRange extends IpRange {
  /** Set when a CIDR had host bits set and was normalised to its network. */
  readonly normalisedFrom?: string;
}

/**
 * Parses a pool address entry: CIDR ("10.0.0.0/24"), range ("10.0.0.5-10.0.0.9") or a single
 * address. Throws IpParseError with the reason.
 */
export function parseRange(s: string): ParsedRange {
  const text = s.trim();
  if (text.includes('/')) {
    const [addr, lenText, ...rest] = text.split('/');
    if (rest.length > 0 || addr === undefined || lenText === undefined) throw new IpParseError(s, 'bad CIDR');
    const ip = tryParseIp(addr);
    if (!ip) throw new IpParseError(s, 'bad CIDR address');
    if (!/^\d{1,3}$/.test(lenText)) throw new IpParseError(s, 'bad CIDR prefix length');
    const len = Number(lenText);
    if (len > bits(ip.family)) throw new IpParseError(s, `CIDR prefix length over ${bits(ip.family)}`);
    const hostBits = BigInt(bits(ip.family) - len);
    const hostMask = (1n << hostBits) - 1n;
    const first = ip.value & ~hostMask & maxValue(ip.family);
    const r = { family: ip.family, first, last: first | hostMask };
    return first === ip.value ? r : { ...r, normalisedFrom: text };
  }
  const dash = text.indexOf('-');
  if (dash >= 0) {
    const a = tryParseIp(text.slice(0, dash).trim());
    const b = tryParseIp(text.slice(dash + 1).trim());
    if (!a || !b) throw new IpParseError(s, 'bad range address');
    if (a.family !== b.family) throw new IpParseError(s, 'range mixes IPv4 and IPv6');
    if (a.value > b.value) throw new IpParseError(s, 'inverted range (first address after last)');
    return { family: a.family, first: a.value, last: b.value };
  }
  const ip = tryParseIp(text);
  if (!ip) throw new IpParseError(s, 'not a CIDR, range or address');
  return { family: ip.family, first: ip.value, last: ip.value };
}

/** A CIDR (and only a CIDR) as canonical "network/length" with host bits cleared; undefined if not one. */
export function parseCidr(s: string): string | undefined {
  const text = s.trim();
  if (!/\/\d{1,3}$/.test(text)) return undefined;
  try {
    const r = parseRange(text);
    return `${formatIp({ family: r.family, value: r.first })}/${text.slice(text.lastIndexOf('/') + 1)}`;
  } catch {
    return undefined;
  }
}

export const rangeSize = (r: IpRange): bigint => r.last - r.first + 1n;

export const rangesOverlap = (a: IpRange, b: IpRange): boolean =>
  a.family === b.family && a.first <= b.last && b.first <= a.last;

export const rangeContains = (r: IpRange, ip: IpAddr): boolean =>
  r.family === ip.family && ip.value >= r.first && ip.value <= r.last;

export const formatRange = (r: IpRange): string =>
  r.first === r.last
    ? formatIp({ family: r.family, value: r.first })
    : `${formatIp({ family: r.family, value: r.first })}-${formatIp({ family: r.family, value: r.last })}`;

export const familyName = (f: Family): 'IPv4' | 'IPv6' => (f === 4 ? 'IPv4' : 'IPv6');
