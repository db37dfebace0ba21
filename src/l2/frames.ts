// Ethernet frames Layer 2 sends and reads: gratuitous ARP (RFC 826, RFC 5227 §3 announcements) and
// unsolicited Neighbour Advertisements (RFC 4861 §7.2.6). Pure: bytes in, bytes out.
import { formatIp, tryParseIp } from '../net/ip.js';

export type Mac = string; // "aa:bb:cc:dd:ee:ff"

export const BROADCAST: Mac = 'ff:ff:ff:ff:ff:ff';
/** IPv6 all-nodes (ff02::1) as an Ethernet multicast address. */
export const ALL_NODES_MAC: Mac = '33:33:00:00:00:01';
const ETH_ARP = 0x0806;
const ETH_IPV6 = 0x86dd;
const ICMPV6 = 58;
const NA = 136;
const NA_OVERRIDE = 0x20;
const NA_SOLICITED = 0x40;
const NA_ROUTER = 0x80;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export function macBytes(mac: Mac): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p)))
    throw new FrameError(`"${mac}" is not a MAC address`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export const formatMac = (b: Uint8Array): Mac =>
  [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

function ipBytes(address: string, family: 4 | 6): Buffer {
  const ip = tryParseIp(address);
  if (!ip || ip.family !== family) throw new FrameError(`"${address}" is not an IPv${family} address`);
  const n = family === 4 ? 4 : 16;
  const out = Buffer.alloc(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function ipText(b: Uint8Array, family: 4 | 6): string {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return formatIp({ family, value: v });
}

export interface ArpPacket {
  readonly op: 1 | 2;
  readonly senderMac: Mac;
  readonly senderIp: string;
  readonly targetMac: Mac;
  readonly targetIp: string;
}

export function encodeArp(ethDst: Mac, ethSrc: Mac, p: ArpPacket): Buffer {
  const f = Buffer.alloc(42);
  macBytes(ethDst).copy(f, 0);
  macBytes(ethSrc).copy(f, 6);
  f.writeUInt16BE(ETH_ARP, 12);
  f.writeUInt16BE(1, 14); // Ethernet
  f.writeUInt16BE(0x0800, 16); // IPv4
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(p.op, 20);
  macBytes(p.senderMac).copy(f, 22);
  ipBytes(p.senderIp, 4).copy(f, 28);
  macBytes(p.targetMac).copy(f, 32);
  ipBytes(p.targetIp, 4).copy(f, 38);
  return f;
}

/** Gratuitous ARP for `address` from `mac`: a request (RFC 5227 announcement) and a reply, both broadcast. */
export function gratuitousArp(mac: Mac, address: string): [Buffer, Buffer] {
  return [
    encodeArp(BROADCAST, mac, {
      op: 1,
      senderMac: mac,
      senderIp: address,
      targetMac: '00:00:00:00:00:00',
      targetIp: address,
    }),
    encodeArp(BROADCAST, mac, {
      op: 2,
      senderMac: mac,
      senderIp: address,
      targetMac: mac,
      targetIp: address,
    }),
  ];
}

export interface EthFrame {
  readonly dst: Mac;
  readonly src: Mac;
}

export function decodeArp(f: Uint8Array): (ArpPacket & EthFrame) | undefined {
  if (f.length < 42) return undefined;
  const b = Buffer.from(f.buffer, f.byteOffset, f.length);
  if (b.readUInt16BE(12) !== ETH_ARP || b.readUInt16BE(14) !== 1 || b.readUInt16BE(16) !== 0x0800)
    return undefined;
  if (b[18] !== 6 || b[19] !== 4) return undefined;
  const op = b.readUInt16BE(20);
  if (op !== 1 && op !== 2) return undefined;
  return {
    dst: formatMac(b.subarray(0, 6)),
    src: formatMac(b.subarray(6, 12)),
    op,
    senderMac: formatMac(b.subarray(22, 28)),
    senderIp: ipText(b.subarray(28, 32), 4),
    targetMac: formatMac(b.subarray(32, 38)),
    targetIp: ipText(b.subarray(38, 42), 4),
  };
}

/** RFC 4443 §2.3: one's complement sum over the IPv6 pseudo-header and the ICMPv6 message. */
export function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, msg: Uint8Array): number {
  let sum = 0;
  const add = (b: Uint8Array) => {
    for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
  };
  add(src);
  add(dst);
  sum += msg.length >>> 16;
  sum += msg.length & 0xffff;
  sum += ICMPV6;
  add(msg);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface NeighbourAdvert {
  readonly source: string;
  readonly destination: string;
  readonly target: string;
  readonly router: boolean;
  readonly solicited: boolean;
  readonly override: boolean;
  /** Target link-layer address option, when present. */
  readonly targetMac?: Mac;
}

export function encodeNa(ethDst: Mac, ethSrc: Mac, na: NeighbourAdvert): Buffer {
  const withOpt = na.targetMac !== undefined;
  const icmpLen = 24 + (withOpt ? 8 : 0);
  const f = Buffer.alloc(14 + 40 + icmpLen);
  macBytes(ethDst).copy(f, 0);
  macBytes(ethSrc).copy(f, 6);
  f.writeUInt16BE(ETH_IPV6, 12);
  f.writeUInt32BE(0x60000000, 14);
  f.writeUInt16BE(icmpLen, 18);
  f[20] = ICMPV6;
  f[21] = 255; // hop limit: receivers drop ND with anything else
  const src = ipBytes(na.source, 6);
  const dst = ipBytes(na.destination, 6);
  src.copy(f, 22);
  dst.copy(f, 38);
  const m = f.subarray(54);
  m[0] = NA;
  m[4] = (na.router ? NA_ROUTER : 0) | (na.solicited ? NA_SOLICITED : 0) | (na.override ? NA_OVERRIDE : 0);
  ipBytes(na.target, 6).copy(m, 8);
  if (withOpt) {
    m[24] = 2; // target link-layer address
    m[25] = 1; // length in units of 8 bytes
    macBytes(na.targetMac).copy(m, 26);
  }
  m.writeUInt16BE(icmpv6Checksum(src, dst, m), 2);
  return f;
}

/** Unsolicited NA for `address` to all nodes, Override set (RFC 4861 §7.2.6). */
export function unsolicitedNa(mac: Mac, address: string): Buffer {
  return encodeNa(ALL_NODES_MAC, mac, {
    source: address,
    destination: 'ff02::1',
    target: address,
    router: false,
    solicited: false,
    override: true,
    targetMac: mac,
  });
}

/** A Neighbour Advertisement with a valid checksum, or undefined for anything else. */
export function decodeNa(f: Uint8Array): (NeighbourAdvert & EthFrame) | undefined {
  if (f.length < 14 + 40 + 24) return undefined;
  const b = Buffer.from(f.buffer, f.byteOffset, f.length);
  if (b.readUInt16BE(12) !== ETH_IPV6 || b[20] !== ICMPV6 || b[54] !== NA || b[55] !== 0) return undefined;
  const len = b.readUInt16BE(18);
  if (len < 24 || 54 + len > b.length) return undefined;
  const m = b.subarray(54, 54 + len);
  if (icmpv6Checksum(b.subarray(22, 38), b.subarray(38, 54), m) !== 0) return undefined;
  let targetMac: Mac | undefined;
  for (let o = 24; o + 8 <= m.length;) {
    const l = m[o + 1]! * 8;
    if (l === 0) return undefined;
    if (m[o] === 2 && l >= 8) targetMac = formatMac(m.subarray(o + 2, o + 8));
    o += l;
  }
  const flags = m[4]!;
  return {
    dst: formatMac(b.subarray(0, 6)),
    src: formatMac(b.subarray(6, 12)),
    source: ipText(b.subarray(22, 38), 6),
    destination: ipText(b.subarray(38, 54), 6),
    target: ipText(m.subarray(8, 24), 6),
    router: (flags & NA_ROUTER) !== 0,
    solicited: (flags & NA_SOLICITED) !== 0,
    override: (flags & NA_OVERRIDE) !== 0,
    ...(targetMac ? { targetMac } : {}),
  };
}

/** Who claims which address in a frame (ARP sender, NA target): what duplicate detection watches. */
export function claimOf(f: Uint8Array): { address: string; mac: Mac } | undefined {
  const arp = decodeArp(f);
  if (arp) return arp.senderIp === '0.0.0.0' ? undefined : { address: arp.senderIp, mac: arp.senderMac };
  const na = decodeNa(f);
  if (na) return { address: na.target, mac: na.targetMac ?? na.src };
  return undefined;
}
