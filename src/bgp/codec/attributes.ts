// Path attributes (RFC 4271 §4.3/§5): ORIGIN, AS_PATH (2- or 4-octet, RFC 6793 with AS4_PATH),
// NEXT_HOP, MED, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES (RFC 1997), MP_REACH/MP_UNREACH
// (RFC 4760) and LARGE_COMMUNITY (RFC 8092). Unknown attributes are kept raw (with their flags) so
// that decoding is lossless. Errors carry the RFC 4271 §6.3 subcode and the offending attribute.
import { BgpDecodeError, BgpEncodeError, ErrorCode, UpdateSubcode } from './errors.js';
import { AS_TRANS } from './open.js';
import {
  decodeMpReach,
  decodeMpUnreach,
  encodeMpReach,
  encodeMpUnreach,
  readAddr,
  writeAddr,
  type MpReach,
  type MpUnreach,
} from './mp.js';
import { Reader, Writer } from './reader.js';
import type { LargeCommunity } from '../../model/communities.js';

export type Origin = 'igp' | 'egp' | 'incomplete';
export type AsPathSegmentType = 'set' | 'sequence' | 'confed-sequence' | 'confed-set';
export interface AsPathSegment {
  readonly type: AsPathSegmentType;
  readonly asns: readonly number[];
}
export type { LargeCommunity };
export type { MpReach, MpUnreach };
export { familyOfAfi } from './mp.js';

export interface RawAttribute {
  readonly flags: number;
  readonly code: number;
  readonly value: Uint8Array;
}

export interface PathAttributes {
  readonly origin?: Origin;
  readonly asPath?: readonly AsPathSegment[];
  readonly nextHop?: bigint;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: boolean;
  readonly aggregator?: { readonly asn: number; readonly address: bigint };
  readonly communities?: readonly number[];
  readonly largeCommunities?: readonly LargeCommunity[];
  readonly as4Path?: readonly AsPathSegment[];
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  readonly unknown?: readonly RawAttribute[];
}

/** What was negotiated for this direction of the session. */
export interface CodecContext {
  /** Both sides announced the 4-octet AS capability. */
  readonly fourOctetAs: boolean;
  /** ADD-PATH path identifiers are present for this AFI/SAFI in this direction. */
  readonly addPath: (afi: number, safi: number) => boolean;
}

export const defaultContext: CodecContext = { fourOctetAs: true, addPath: () => false };

export const AttrCode = {
  Origin: 1,
  AsPath: 2,
  NextHop: 3,
  Med: 4,
  LocalPref: 5,
  AtomicAggregate: 6,
  Aggregator: 7,
  Communities: 8,
  MpReach: 14,
  MpUnreach: 15,
  As4Path: 17,
  As4Aggregator: 18,
  LargeCommunity: 32,
} as const;

const F = { Optional: 0x80, Transitive: 0x40, Partial: 0x20, Extended: 0x10 } as const;
const WELL_KNOWN = F.Transitive;
const OPT_TRANS = F.Optional | F.Transitive;
const OPT_NON = F.Optional;

/** Expected (optional, transitive) flags per known attribute; partial/extended bits are not compared. */
const expectedFlags: Record<number, number> = {
  [AttrCode.Origin]: WELL_KNOWN,
  [AttrCode.AsPath]: WELL_KNOWN,
  [AttrCode.NextHop]: WELL_KNOWN,
  [AttrCode.Med]: OPT_NON,
  [AttrCode.LocalPref]: WELL_KNOWN,
  [AttrCode.AtomicAggregate]: WELL_KNOWN,
  [AttrCode.Aggregator]: OPT_TRANS,
  [AttrCode.Communities]: OPT_TRANS,
  [AttrCode.MpReach]: OPT_NON,
  [AttrCode.MpUnreach]: OPT_NON,
  [AttrCode.As4Path]: OPT_TRANS,
  [AttrCode.As4Aggregator]: OPT_TRANS,
  [AttrCode.LargeCommunity]: OPT_TRANS,
};

const origins: Origin[] = ['igp', 'egp', 'incomplete'];
const segTypes: Record<number, AsPathSegmentType> = {
  1: 'set',
  2: 'sequence',
  3: 'confed-sequence',
  4: 'confed-set',
};
const segCodes: Record<AsPathSegmentType, number> = {
  set: 1,
  sequence: 2,
  'confed-sequence': 3,
  'confed-set': 4,
};

function decodeAsPath(r: Reader, asBytes: 2 | 4): AsPathSegment[] {
  const segs: AsPathSegment[] = [];
  while (r.remaining > 0) {
    const type = segTypes[r.u8()];
    if (!type) r.fail('bad AS_PATH segment type');
    const n = r.u8();
    if (n === 0) r.fail('empty AS_PATH segment');
    if (n * asBytes > r.remaining) r.fail('AS_PATH segment overruns attribute');
    const asns: number[] = [];
    for (let i = 0; i < n; i++) asns.push(asBytes === 4 ? r.u32() : r.u16());
    segs.push({ type, asns });
  }
  return segs;
}

function encodeAsPath(segs: readonly AsPathSegment[], asBytes: 2 | 4): Uint8Array {
  const w = new Writer();
  for (const s of segs) {
    // A segment holds at most 255 ASNs; longer sequences are split, which keeps the path's meaning.
    for (let i = 0; i < s.asns.length || (i === 0 && s.asns.length === 0); i += 255) {
      const chunk = s.asns.slice(i, i + 255);
      if (chunk.length === 0) break;
      w.u8(segCodes[s.type]).u8(chunk.length);
      for (const a of chunk) {
        if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) throw new BgpEncodeError(`bad ASN ${a}`);
        if (asBytes === 4) w.u32(a);
        else w.u16(a > 0xffff ? AS_TRANS : a);
      }
    }
  }
  return w.finish();
}

/** Decodes the path attribute block of an UPDATE. */
export function decodeAttributes(buf: Uint8Array, ctx: CodecContext): PathAttributes {
  const r = new Reader(buf, ErrorCode.UpdateMessage, UpdateSubcode.MalformedAttributeList);
  const seen = new Set<number>();
  const a: { -readonly [K in keyof PathAttributes]: PathAttributes[K] } = {};
  const unknown: RawAttribute[] = [];
  while (r.remaining > 0) {
    const start = r.offset;
    const flags = r.u8('attribute flags');
    const code = r.u8('attribute type');
    const extended = (flags & F.Extended) !== 0;
    const len = extended ? r.u16('attribute length') : r.u8('attribute length');
    const hdr = r.offset - start;
    if (len > r.remaining) {
      throw new BgpDecodeError(
        ErrorCode.UpdateMessage,
        UpdateSubcode.AttributeLength,
        `attribute ${code} overruns`,
        buf.subarray(start, start + hdr),
      );
    }
    const raw = buf.subarray(start, start + hdr + len);
    const v = r.sub(len, ErrorCode.UpdateMessage, UpdateSubcode.AttributeLength);
    if (seen.has(code))
      throw new BgpDecodeError(
        ErrorCode.UpdateMessage,
        UpdateSubcode.MalformedAttributeList,
        `duplicate attribute ${code}`,
      );
    seen.add(code);
    const expect = expectedFlags[code];
    if (expect === undefined) {
      if ((flags & F.Optional) === 0)
        throw new BgpDecodeError(
          ErrorCode.UpdateMessage,
          UpdateSubcode.UnrecognizedWellKnown,
          `unknown well-known attribute ${code}`,
          raw,
        );
      unknown.push({ flags, code, value: Uint8Array.from(v.bytes(len)) });
      continue;
    }
    if ((flags & (F.Optional | F.Transitive)) !== expect)
      throw new BgpDecodeError(
        ErrorCode.UpdateMessage,
        UpdateSubcode.AttributeFlags,
        `attribute ${code} flags 0x${flags.toString(16)}`,
        raw,
      );
    const fixed = (n: number): void => {
      if (len !== n)
        throw new BgpDecodeError(
          ErrorCode.UpdateMessage,
          UpdateSubcode.AttributeLength,
          `attribute ${code} length ${len}`,
          raw,
        );
    };
    const asPathReader = (): Reader =>
      new Reader(buf, ErrorCode.UpdateMessage, UpdateSubcode.MalformedAsPath, v.offset, v.offset + len);
    switch (code) {
      case AttrCode.Origin: {
        fixed(1);
        const o = origins[v.u8()];
        if (!o)
          throw new BgpDecodeError(ErrorCode.UpdateMessage, UpdateSubcode.InvalidOrigin, 'bad ORIGIN', raw);
        a.origin = o;
        break;
      }
      case AttrCode.AsPath:
        a.asPath = decodeAsPath(asPathReader(), ctx.fourOctetAs ? 4 : 2);
        break;
      case AttrCode.As4Path:
        a.as4Path = decodeAsPath(asPathReader(), 4);
        break;
      case AttrCode.NextHop:
        fixed(4);
        a.nextHop = readAddr(v, 4);
        break;
      case AttrCode.Med:
        fixed(4);
        a.med = v.u32();
        break;
      case AttrCode.LocalPref:
        fixed(4);
        a.localPref = v.u32();
        break;
      case AttrCode.AtomicAggregate:
        fixed(0);
        a.atomicAggregate = true;
        break;
      case AttrCode.Aggregator: {
        const asBytes = ctx.fourOctetAs ? 4 : 2;
        fixed(asBytes + 4);
        const asn = asBytes === 4 ? v.u32() : v.u16();
        a.aggregator = { asn, address: readAddr(v, 4) };
        break;
      }
      case AttrCode.As4Aggregator:
        // Only meaningful to 2-octet speakers; kept raw so that nothing is lost.
        fixed(8);
        unknown.push({ flags, code, value: Uint8Array.from(v.bytes(len)) });
        break;
      case AttrCode.Communities: {
        if (len % 4 !== 0) fixed(len - (len % 4));
        const cs: number[] = [];
        while (v.remaining > 0) cs.push(v.u32());
        a.communities = cs;
        break;
      }
      case AttrCode.LargeCommunity: {
        if (len % 12 !== 0) fixed(len - (len % 12));
        const ls: LargeCommunity[] = [];
        while (v.remaining > 0) ls.push({ global: v.u32(), local1: v.u32(), local2: v.u32() });
        a.largeCommunities = ls;
        break;
      }
      case AttrCode.MpReach:
        a.mpReach = decodeMpReach(
          new Reader(buf, ErrorCode.UpdateMessage, UpdateSubcode.OptionalAttribute, v.offset, v.offset + len),
          ctx.addPath,
          raw,
        );
        break;
      case AttrCode.MpUnreach:
        a.mpUnreach = decodeMpUnreach(
          new Reader(buf, ErrorCode.UpdateMessage, UpdateSubcode.OptionalAttribute, v.offset, v.offset + len),
          ctx.addPath,
        );
        break;
    }
  }
  if (unknown.length > 0) a.unknown = unknown;
  return a;
}

function writeAttr(w: Writer, flags: number, code: number, value: Uint8Array): void {
  if (value.length > 0xffff) throw new BgpEncodeError(`attribute ${code} over 65535 bytes`);
  // Extended length only when needed, except where the attribute may grow (MP_*), which is common practice.
  const ext = value.length > 255 || code === AttrCode.MpReach || code === AttrCode.MpUnreach;
  w.u8(flags | (ext ? F.Extended : 0)).u8(code);
  if (ext) w.u16(value.length);
  else w.u8(value.length);
  w.bytes(value);
}

const u32Bytes = (n: number): Uint8Array => new Writer().u32(n).finish();

/** Encodes the attributes in type-code order (RFC 4271 recommends ascending order). */
export function encodeAttributes(a: PathAttributes, ctx: CodecContext): Uint8Array {
  const w = new Writer();
  if (a.origin !== undefined)
    writeAttr(w, WELL_KNOWN, AttrCode.Origin, Uint8Array.of(origins.indexOf(a.origin)));
  if (a.asPath !== undefined)
    writeAttr(w, WELL_KNOWN, AttrCode.AsPath, encodeAsPath(a.asPath, ctx.fourOctetAs ? 4 : 2));
  if (a.nextHop !== undefined) {
    const nh = new Writer();
    writeAddr(nh, a.nextHop, 4);
    writeAttr(w, WELL_KNOWN, AttrCode.NextHop, nh.finish());
  }
  if (a.med !== undefined) writeAttr(w, OPT_NON, AttrCode.Med, u32Bytes(a.med));
  if (a.localPref !== undefined) writeAttr(w, WELL_KNOWN, AttrCode.LocalPref, u32Bytes(a.localPref));
  if (a.atomicAggregate) writeAttr(w, WELL_KNOWN, AttrCode.AtomicAggregate, new Uint8Array(0));
  if (a.aggregator !== undefined) {
    const g = new Writer();
    if (ctx.fourOctetAs) g.u32(a.aggregator.asn);
    else g.u16(a.aggregator.asn > 0xffff ? AS_TRANS : a.aggregator.asn);
    writeAddr(g, a.aggregator.address, 4);
    writeAttr(w, OPT_TRANS, AttrCode.Aggregator, g.finish());
  }
  if (a.communities !== undefined && a.communities.length > 0) {
    const c = new Writer();
    for (const x of a.communities) c.u32(x);
    writeAttr(w, OPT_TRANS, AttrCode.Communities, c.finish());
  }
  if (a.mpReach !== undefined)
    writeAttr(
      w,
      OPT_NON,
      AttrCode.MpReach,
      encodeMpReach(a.mpReach, ctx.addPath(a.mpReach.afi, a.mpReach.safi)),
    );
  if (a.mpUnreach !== undefined)
    writeAttr(
      w,
      OPT_NON,
      AttrCode.MpUnreach,
      encodeMpUnreach(a.mpUnreach, ctx.addPath(a.mpUnreach.afi, a.mpUnreach.safi)),
    );
  // A 2-octet session cannot carry big ASNs in AS_PATH; RFC 6793 carries the real path in AS4_PATH.
  const as4 =
    a.as4Path ??
    (!ctx.fourOctetAs && a.asPath?.some((s) => s.asns.some((x) => x > 0xffff)) ? a.asPath : undefined);
  if (as4 !== undefined) writeAttr(w, OPT_TRANS, AttrCode.As4Path, encodeAsPath(as4, 4));
  if (a.largeCommunities !== undefined && a.largeCommunities.length > 0) {
    const l = new Writer();
    for (const x of a.largeCommunities) l.u32(x.global).u32(x.local1).u32(x.local2);
    writeAttr(w, OPT_TRANS, AttrCode.LargeCommunity, l.finish());
  }
  for (const u of a.unknown ?? []) writeAttr(w, u.flags & ~F.Extended, u.code, u.value);
  return w.finish();
}
