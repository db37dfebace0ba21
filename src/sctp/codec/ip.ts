// IPv4 / IPv6 framing around SCTP. Decoding keeps the raw header so that a rewrite changes only what
// it must (addresses, lengths, IPv4 header checksum) and leaves TOS/flow label/TTL/options alone.
import type { IpAddr } from '../../net/ip.js';
import { SctpDecodeError, need, put16, u16 } from './errors.js';

export const IPPROTO_SCTP = 132;

export interface IpHeader {
  readonly family: 4 | 6;
  readonly src: IpAddr;
  readonly dst: IpAddr;
  /** Raw header bytes (IPv4 incl. options; IPv6 fixed header + extension headers). */
  readonly raw: Uint8Array;
}

export interface IpPacket {
  readonly ip: IpHeader;
  /** The SCTP packet carried (common header + chunks). */
  readonly payload: Uint8Array;
}

const addrOf = (b: Uint8Array, o: number, len: 4 | 16): bigint => {
  let v = 0n;
  for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[o + i] as number);
  return v;
};

export function writeAddr(b: Uint8Array, o: number, ip: IpAddr): void {
  const len = ip.family === 4 ? 4 : 16;
  let v = ip.value;
  for (let i = len - 1; i >= 0; i--) {
    b[o + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

export const addrBytes = (ip: IpAddr): Uint8Array => {
  const b = new Uint8Array(ip.family === 4 ? 4 : 16);
  writeAddr(b, 0, ip);
  return b;
};
export const addrFromBytes = (b: Uint8Array): IpAddr =>
  b.length === 4 ? { family: 4, value: addrOf(b, 0, 4) } : { family: 6, value: addrOf(b, 0, 16) };

/** RFC 1071 ones'-complement sum over an IPv4 header. */
export function ipv4HeaderChecksum(h: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < h.length; i += 2) if (i !== 10) s += u16(h, i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

// IPv6 extension headers we walk over; fragment (44) is refused, anything else ends the walk.
const V6_EXT = new Set([0, 43, 60]);

/** Decodes an IP packet carrying SCTP. Throws SctpDecodeError; never reads out of bounds. */
export function decodeIp(buf: Uint8Array): IpPacket {
  need(buf, 0, 1, 'IP version');
  const version = (buf[0] as number) >> 4;
  if (version === 4) {
    need(buf, 0, 20, 'IPv4 header');
    const ihl = ((buf[0] as number) & 0x0f) * 4;
    if (ihl < 20) throw new SctpDecodeError('bad-length', 0, `IPv4 IHL ${ihl}`);
    need(buf, 0, ihl, 'IPv4 options');
    const total = u16(buf, 2);
    if (total < ihl || total > buf.length)
      throw new SctpDecodeError('bad-length', 2, `IPv4 total length ${total} (buffer ${buf.length})`);
    const fragField = u16(buf, 6);
    if ((fragField & 0x2000) !== 0 || (fragField & 0x1fff) !== 0)
      throw new SctpDecodeError('fragment', 6, 'IPv4 fragment');
    if (buf[9] !== IPPROTO_SCTP) throw new SctpDecodeError('not-sctp', 9, `IPv4 protocol ${buf[9]}`);
    const raw = buf.subarray(0, ihl);
    return {
      ip: {
        family: 4,
        src: { family: 4, value: addrOf(buf, 12, 4) },
        dst: { family: 4, value: addrOf(buf, 16, 4) },
        raw,
      },
      payload: buf.subarray(ihl, total),
    };
  }
  if (version === 6) {
    need(buf, 0, 40, 'IPv6 header');
    const plen = u16(buf, 4);
    if (40 + plen > buf.length)
      throw new SctpDecodeError('bad-length', 4, `IPv6 payload length ${plen} (buffer ${buf.length})`);
    let next = buf[6] as number;
    let off = 40;
    const end = 40 + plen;
    for (let hops = 0; V6_EXT.has(next) && hops < 8; hops++) {
      if (off + 2 > end) throw new SctpDecodeError('truncated', off, 'IPv6 extension header');
      const len = ((buf[off + 1] as number) + 1) * 8;
      if (off + len > end) throw new SctpDecodeError('truncated', off, 'IPv6 extension header');
      next = buf[off] as number;
      off += len;
    }
    if (next === 44) throw new SctpDecodeError('fragment', off, 'IPv6 fragment header');
    if (next !== IPPROTO_SCTP) throw new SctpDecodeError('not-sctp', 6, `IPv6 next header ${next}`);
    return {
      ip: {
        family: 6,
        src: { family: 6, value: addrOf(buf, 8, 16) },
        dst: { family: 6, value: addrOf(buf, 24, 16) },
        raw: buf.subarray(0, off),
      },
      payload: buf.subarray(off, end),
    };
  }
  throw new SctpDecodeError('bad-version', 0, `IP version ${version}`);
}

/**
 * Re-frames `payload` behind `hdr` with new addresses: fixes IPv4 total length + header checksum or the
 * IPv6 payload length. Addresses must be of the header's family.
 */
export function encodeIp(hdr: IpHeader, src: IpAddr, dst: IpAddr, payload: Uint8Array): Uint8Array {
  if (src.family !== hdr.family || dst.family !== hdr.family)
    throw new RangeError('address family differs from the IP header');
  const h = hdr.raw.length;
  const out = new Uint8Array(h + payload.length);
  out.set(hdr.raw, 0);
  out.set(payload, h);
  if (hdr.family === 4) {
    if (out.length > 0xffff) throw new RangeError('IPv4 packet over 65535 bytes');
    put16(out, 2, out.length);
    writeAddr(out, 12, src);
    writeAddr(out, 16, dst);
    put16(out, 10, ipv4HeaderChecksum(out.subarray(0, h)));
  } else {
    if (out.length - 40 > 0xffff) throw new RangeError('IPv6 payload over 65535 bytes');
    put16(out, 4, out.length - 40);
    writeAddr(out, 8, src);
    writeAddr(out, 24, dst);
  }
  return out;
}

/** Builds a fresh minimal IP header (for packets the LB originates, e.g. ASCONF-ACK or ABORT). */
export function freshIpHeader(family: 4 | 6, ttl = 64): IpHeader {
  const zero: IpAddr = { family, value: 0n };
  if (family === 4) {
    const raw = new Uint8Array(20);
    raw[0] = 0x45;
    raw[6] = 0x40; // DF: SCTP does its own path MTU discovery
    raw[8] = ttl;
    raw[9] = IPPROTO_SCTP;
    return { family, src: zero, dst: zero, raw };
  }
  const raw = new Uint8Array(40);
  raw[0] = 0x60;
  raw[6] = IPPROTO_SCTP;
  raw[7] = ttl;
  return { family, src: zero, dst: zero, raw };
}
