// MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §3–4): IPv6 (and any non-IPv4-unicast) reachability.
// Families we never negotiate are skipped, not rejected, so a peer's extra families cannot reset us.
import { BgpDecodeError, BgpEncodeError, ErrorCode, UpdateSubcode } from './errors.js';
import { AFI, SAFI } from './open.js';
import { readPrefixes, writePrefix, type Prefix } from './prefix.js';
import { Reader, Writer } from './reader.js';

/** Direction-specific ADD-PATH switch, as in CodecContext. */
type AddPathFn = (afi: number, safi: number) => boolean;

export interface MpReach {
  readonly afi: number;
  readonly safi: number;
  /** One next hop, or (IPv6) global + link-local. */
  readonly nextHops: readonly bigint[];
  readonly nlri: readonly Prefix[];
}
export interface MpUnreach {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: readonly Prefix[];
}
export const familyOfAfi = (afi: number): 4 | 6 | undefined =>
  afi === AFI.IPv4 ? 4 : afi === AFI.IPv6 ? 6 : undefined;

export function readAddr(r: Reader, bytes: number): bigint {
  let v = 0n;
  for (const b of r.bytes(bytes)) v = (v << 8n) | BigInt(b);
  return v;
}
export function writeAddr(w: Writer, v: bigint, bytes: number): void {
  for (let i = bytes - 1; i >= 0; i--) w.u8(Number((v >> BigInt(i * 8)) & 0xffn));
}

export function decodeMpReach(r: Reader, addPath: AddPathFn, raw: Uint8Array): MpReach {
  const afi = r.u16();
  const safi = r.u8();
  const nhLen = r.u8();
  const family = familyOfAfi(afi);
  if (family === undefined || safi !== SAFI.Unicast) {
    // A family we never negotiated: keep what we can; the session treats it as ignorable.
    r.bytes(r.remaining);
    return { afi, safi, nextHops: [], nlri: [] };
  }
  const addrBytes = family === 4 ? 4 : 16;
  if (nhLen !== addrBytes && nhLen !== addrBytes * 2)
    throw new BgpDecodeError(
      ErrorCode.UpdateMessage,
      UpdateSubcode.OptionalAttribute,
      `MP next hop length ${nhLen}`,
      raw,
    );
  const nh = r.sub(nhLen, ErrorCode.UpdateMessage, UpdateSubcode.AttributeLength);
  const nextHops = [readAddr(nh, addrBytes)];
  if (nhLen === addrBytes * 2) nextHops.push(readAddr(nh, addrBytes));
  r.u8(); // reserved
  const nlri = readPrefixes(r, family, addPath(afi, safi));
  return { afi, safi, nextHops, nlri };
}

export function decodeMpUnreach(r: Reader, addPath: AddPathFn): MpUnreach {
  const afi = r.u16();
  const safi = r.u8();
  const family = familyOfAfi(afi);
  if (family === undefined || safi !== SAFI.Unicast) {
    r.bytes(r.remaining);
    return { afi, safi, withdrawn: [] };
  }
  return { afi, safi, withdrawn: readPrefixes(r, family, addPath(afi, safi)) };
}

export function encodeMpReach(m: MpReach, addPath: boolean): Uint8Array {
  const family = familyOfAfi(m.afi);
  if (family === undefined) throw new BgpEncodeError(`AFI ${m.afi} not supported`);
  const addrBytes = family === 4 ? 4 : 16;
  const w = new Writer();
  w.u16(m.afi)
    .u8(m.safi)
    .u8(addrBytes * m.nextHops.length);
  for (const nh of m.nextHops) writeAddr(w, nh, addrBytes);
  w.u8(0);
  for (const p of m.nlri) writePrefix(w, p, addPath);
  return w.finish();
}

export function encodeMpUnreach(m: MpUnreach, addPath: boolean): Uint8Array {
  const w = new Writer();
  w.u16(m.afi).u8(m.safi);
  for (const p of m.withdrawn) writePrefix(w, p, addPath);
  return w.finish();
}
