// TLV parameters (RFC 9260 §3.2.1) shared by INIT, INIT-ACK, ASCONF, ASCONF-ACK, HEARTBEAT and the
// error causes of ABORT/ERROR (same TLV shape). Unknown parameters are preserved byte-exact.
import type { IpAddr } from '../../net/ip.js';
import { SctpDecodeError, need, pad4, put16, u16 } from './errors.js';
import { addrBytes, addrFromBytes } from './ip.js';

export const ParamType = {
  HEARTBEAT_INFO: 1,
  IPV4_ADDRESS: 5,
  IPV6_ADDRESS: 6,
  STATE_COOKIE: 7,
  UNRECOGNIZED_PARAM: 8,
  COOKIE_PRESERVATIVE: 9,
  HOST_NAME: 11,
  SUPPORTED_ADDRESS_TYPES: 12,
  ECN_CAPABLE: 0x8000,
  RANDOM: 0x8002,
  CHUNK_LIST: 0x8003,
  HMAC_ALGO: 0x8004,
  SUPPORTED_EXTENSIONS: 0x8008,
  FORWARD_TSN_SUPPORTED: 0xc000,
  ADD_IP: 0xc001,
  DELETE_IP: 0xc002,
  ERROR_CAUSE_INDICATION: 0xc003,
  SET_PRIMARY: 0xc004,
  SUCCESS_INDICATION: 0xc005,
  ADAPTATION_LAYER_INDICATION: 0xc006,
} as const;

export interface Param {
  readonly type: number;
  /** Value without the 4-byte header and without padding. */
  readonly value: Uint8Array;
}

/** Decodes a TLV list occupying all of `buf` (from `start`). The last TLV may lack its padding. */
export function decodeParams(buf: Uint8Array, start = 0, baseOffset = 0): Param[] {
  const out: Param[] = [];
  let off = start;
  while (off < buf.length) {
    need(buf, off, 4, 'parameter header');
    const len = u16(buf, off + 2);
    if (len < 4) throw new SctpDecodeError('bad-length', baseOffset + off + 2, `parameter length ${len}`);
    if (off + len > buf.length)
      throw new SctpDecodeError(
        'truncated',
        baseOffset + off,
        `parameter type ${u16(buf, off)} length ${len}`,
      );
    out.push({ type: u16(buf, off), value: buf.subarray(off + 4, off + len) });
    off += pad4(len);
  }
  return out;
}

export function paramsLength(ps: readonly Param[]): number {
  let n = 0;
  for (const p of ps) n += pad4(p.value.length + 4);
  return n;
}

/** Writes TLVs with zero padding (also after the last one, as RFC 9260 requires inside a chunk). */
export function writeParams(out: Uint8Array, off: number, ps: readonly Param[]): number {
  for (const p of ps) {
    if (p.value.length + 4 > 0xffff) throw new RangeError(`parameter type ${p.type} too long`);
    put16(out, off, p.type);
    put16(out, off + 2, p.value.length + 4);
    out.set(p.value, off + 4);
    off += pad4(p.value.length + 4);
  }
  return off;
}

export function encodeParams(ps: readonly Param[]): Uint8Array {
  const out = new Uint8Array(paramsLength(ps));
  writeParams(out, 0, ps);
  return out;
}

export const isAddressParam = (p: Param): boolean =>
  p.type === ParamType.IPV4_ADDRESS || p.type === ParamType.IPV6_ADDRESS;

/** The address in an IPv4/IPv6 address parameter; throws on a wrong-sized value. */
export function paramAddress(p: Param): IpAddr {
  const want = p.type === ParamType.IPV4_ADDRESS ? 4 : p.type === ParamType.IPV6_ADDRESS ? 16 : -1;
  if (p.value.length !== want)
    throw new SctpDecodeError(
      'bad-chunk',
      0,
      `address parameter type ${p.type} with ${p.value.length} bytes`,
    );
  return addrFromBytes(p.value);
}

export const addressParam = (ip: IpAddr): Param => ({
  type: ip.family === 4 ? ParamType.IPV4_ADDRESS : ParamType.IPV6_ADDRESS,
  value: addrBytes(ip),
});

/** Families listed in a Supported Address Types parameter (values 5 and 6; others ignored). */
export function supportedFamilies(p: Param): Set<4 | 6> {
  const s = new Set<4 | 6>();
  for (let i = 0; i + 1 < p.value.length; i += 2) {
    const t = u16(p.value, i);
    if (t === ParamType.IPV4_ADDRESS) s.add(4);
    if (t === ParamType.IPV6_ADDRESS) s.add(6);
  }
  return s;
}
