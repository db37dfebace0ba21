// Community text forms, as users write them in BGPAdvertisement objects: "65000:100" (RFC 1997),
// "large:65000:1:2" (RFC 8092), the RFC 1997 well-known names, and aliases defined by Community
// objects. Pure.
/** RFC 8092 large community (global administrator, two local parts). */
export interface LargeCommunity {
  readonly global: number;
  readonly local1: number;
  readonly local2: number;
}

export const WELL_KNOWN_COMMUNITIES: Readonly<Record<string, number>> = {
  'no-export': 0xffffff01,
  'no-advertise': 0xffffff02,
  'no-export-subconfed': 0xffffff03,
  'no-peer': 0xffffff04, // RFC 3765
};

export type ParsedCommunity =
  | { readonly kind: 'standard'; readonly value: number }
  | { readonly kind: 'large'; readonly value: LargeCommunity };

const u16 = (s: string): number | undefined =>
  /^\d{1,5}$/.test(s) && Number(s) <= 0xffff ? Number(s) : undefined;
const u32 = (s: string): number | undefined =>
  /^\d{1,10}$/.test(s) && Number(s) <= 0xffffffff ? Number(s) : undefined;

/** Parses a literal community; undefined (not an exception) for anything else, e.g. an alias. */
export function parseCommunity(text: string): ParsedCommunity | undefined {
  const t = text.trim();
  const wk = WELL_KNOWN_COMMUNITIES[t.toLowerCase()];
  if (wk !== undefined) return { kind: 'standard', value: wk };
  const parts = t.split(':');
  if (parts.length === 4 && parts[0]?.toLowerCase() === 'large') {
    const [g, a, b] = parts.slice(1).map(u32);
    if (g === undefined || a === undefined || b === undefined) return undefined;
    return { kind: 'large', value: { global: g, local1: a, local2: b } };
  }
  if (parts.length === 2) {
    const [hi, lo] = parts.map(u16);
    if (hi === undefined || lo === undefined) return undefined;
    return { kind: 'standard', value: ((hi << 16) | lo) >>> 0 };
  }
  return undefined;
}

export const formatCommunity = (c: ParsedCommunity): string =>
  c.kind === 'large'
    ? `large:${c.value.global}:${c.value.local1}:${c.value.local2}`
    : `${c.value >>> 16}:${c.value & 0xffff}`;
