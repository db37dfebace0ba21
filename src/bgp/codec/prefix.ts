// NLRI prefixes (RFC 4271 §4.3, RFC 4760 §5) with optional ADD-PATH path identifiers (RFC 7911 §3).
// Addresses are bigints, as in src/net/ip.ts, so IPv4 and IPv6 share the code.
import { formatIp, parseRange, type Family } from '../../net/ip.js';
import { BgpDecodeError, UpdateSubcode, ErrorCode } from './errors.js';
import type { Reader, Writer } from './reader.js';

export interface Prefix {
  readonly family: Family;
  /** Network address; host bits are always zero. */
  readonly addr: bigint;
  readonly len: number;
  /** ADD-PATH path identifier; present only when add-path is in effect for this family/direction. */
  readonly pathId?: number;
}

const width = (f: Family): number => (f === 4 ? 32 : 128);

export function prefixKey(p: Prefix): string {
  return `${formatPrefix(p)}${p.pathId === undefined ? '' : `#${p.pathId}`}`;
}

export const formatPrefix = (p: Prefix): string =>
  `${formatIp({ family: p.family, value: p.addr })}/${p.len}`;

/** "10.0.0.1/32", "fd00::/64", or a bare address (host route). Throws IpParseError. */
export function parsePrefix(text: string): Prefix {
  const s = text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`;
  const r = parseRange(s);
  const len = Number(s.slice(s.lastIndexOf('/') + 1));
  return { family: r.family, addr: r.first, len };
}

export const prefixByteLength = (p: Prefix, addPath: boolean): number =>
  (addPath ? 4 : 0) + 1 + Math.ceil(p.len / 8);

export function writePrefix(w: Writer, p: Prefix, addPath: boolean): void {
  if (addPath) w.u32(p.pathId ?? 0);
  w.u8(p.len);
  const nbytes = Math.ceil(p.len / 8);
  const total = width(p.family) / 8;
  for (let i = 0; i < nbytes; i++) {
    w.u8(Number((p.addr >> BigInt((total - 1 - i) * 8)) & 0xffn));
  }
}

/** Reads prefixes until the reader is exhausted. Malformed → UPDATE error 3/10 (invalid network). */
export function readPrefixes(r: Reader, family: Family, addPath: boolean): Prefix[] {
  const out: Prefix[] = [];
  const max = width(family);
  const bad = (reason: string): never => {
    throw new BgpDecodeError(ErrorCode.UpdateMessage, UpdateSubcode.InvalidNetworkField, reason);
  };
  while (r.remaining > 0) {
    let pathId: number | undefined;
    if (addPath) {
      if (r.remaining < 5) bad('truncated add-path prefix');
      pathId = r.u32();
    }
    const len = r.u8();
    if (len > max) bad(`prefix length ${len} over ${max}`);
    const nbytes = Math.ceil(len / 8);
    if (nbytes > r.remaining) bad('truncated prefix');
    const raw = r.bytes(nbytes);
    let addr = 0n;
    for (let i = 0; i < max / 8; i++) addr = (addr << 8n) | BigInt(i < nbytes ? (raw[i] as number) : 0);
    // Trailing bits beyond the length are ignored (RFC 4271 allows any value); normalise them away so
    // equal prefixes compare equal.
    const hostBits = BigInt(max - len);
    addr = (addr >> hostBits) << hostBits;
    out.push(pathId === undefined ? { family, addr, len } : { family, addr, len, pathId });
  }
  return out;
}
