// OPEN message (RFC 4271 §4.2) and its capabilities (RFC 5492): multiprotocol (RFC 4760), route
// refresh (RFC 2918), enhanced route refresh (RFC 7313), graceful restart (RFC 4724), 4-octet AS
// (RFC 6793) and ADD-PATH (RFC 7911). Unknown capabilities are kept as raw bytes so that decoding
// never loses information and the FSM can decide what it requires.
import { BgpDecodeError, BgpEncodeError, ErrorCode, OpenSubcode } from './errors.js';
import { Reader, Writer } from './reader.js';

export const AFI = { IPv4: 1, IPv6: 2 } as const;
export const SAFI = { Unicast: 1 } as const;
export const AS_TRANS = 23456;

export interface AfiSafi {
  readonly afi: number;
  readonly safi: number;
}

export type AddPathMode = 'receive' | 'send' | 'both';

export type Capability =
  | { readonly kind: 'multiprotocol'; readonly afi: number; readonly safi: number }
  | { readonly kind: 'route-refresh' }
  | { readonly kind: 'enhanced-route-refresh' }
  | { readonly kind: 'four-octet-as'; readonly asn: number }
  | {
      readonly kind: 'graceful-restart';
      /** R bit: the sender has restarted and its peer must not wait for it to be told. */
      readonly restarting: boolean;
      /** N bit (RFC 8538): graceful restart also covers NOTIFICATION. */
      readonly notification: boolean;
      readonly restartTimeSec: number;
      readonly families: readonly (AfiSafi & { readonly forwardingPreserved: boolean })[];
    }
  | { readonly kind: 'add-path'; readonly families: readonly (AfiSafi & { readonly mode: AddPathMode })[] }
  | { readonly kind: 'unknown'; readonly code: number; readonly value: Uint8Array };

export const CapabilityCode = {
  Multiprotocol: 1,
  RouteRefresh: 2,
  GracefulRestart: 64,
  FourOctetAs: 65,
  AddPath: 69,
  EnhancedRouteRefresh: 70,
} as const;

export interface OpenMessage {
  readonly type: 'open';
  readonly version: number;
  /** The real AS number (from the 4-octet capability when present, else the 2-octet field). */
  readonly asn: number;
  /** The 2-octet "My Autonomous System" field as sent (AS_TRANS for 4-octet ASNs). */
  readonly asn2?: number;
  readonly holdTimeSec: number;
  /** BGP identifier as an unsigned 32-bit integer. */
  readonly bgpId: number;
  readonly capabilities: readonly Capability[];
}

const addPathModes: Record<number, AddPathMode> = { 1: 'receive', 2: 'send', 3: 'both' };
const addPathCodes: Record<AddPathMode, number> = { receive: 1, send: 2, both: 3 };

function encodeCapability(c: Capability): Uint8Array {
  const w = new Writer();
  switch (c.kind) {
    case 'multiprotocol':
      w.u8(CapabilityCode.Multiprotocol).u8(4).u16(c.afi).u8(0).u8(c.safi);
      break;
    case 'route-refresh':
      w.u8(CapabilityCode.RouteRefresh).u8(0);
      break;
    case 'enhanced-route-refresh':
      w.u8(CapabilityCode.EnhancedRouteRefresh).u8(0);
      break;
    case 'four-octet-as':
      w.u8(CapabilityCode.FourOctetAs).u8(4).u32(c.asn);
      break;
    case 'graceful-restart': {
      if (c.restartTimeSec < 0 || c.restartTimeSec > 4095)
        throw new BgpEncodeError('restart time over 4095 s');
      w.u8(CapabilityCode.GracefulRestart).u8(2 + 4 * c.families.length);
      w.u16((c.restarting ? 0x8000 : 0) | (c.notification ? 0x4000 : 0) | c.restartTimeSec);
      for (const f of c.families)
        w.u16(f.afi)
          .u8(f.safi)
          .u8(f.forwardingPreserved ? 0x80 : 0);
      break;
    }
    case 'add-path':
      w.u8(CapabilityCode.AddPath).u8(4 * c.families.length);
      for (const f of c.families) w.u16(f.afi).u8(f.safi).u8(addPathCodes[f.mode]);
      break;
    case 'unknown':
      if (c.value.length > 255) throw new BgpEncodeError('capability value over 255 bytes');
      w.u8(c.code).u8(c.value.length).bytes(c.value);
      break;
  }
  return w.finish();
}

function decodeCapability(code: number, value: Reader, raw: Uint8Array): Capability {
  const len = value.remaining;
  // A capability whose length does not match its definition is an OPEN error; RFC 5492 names no
  // subcode for it, so use the closest one (unsupported optional parameter is what peers expect).
  const badLen = (): never => value.fail(`capability ${code} has bad length ${len}`, raw);
  switch (code) {
    case CapabilityCode.Multiprotocol: {
      if (len !== 4) badLen();
      const afi = value.u16();
      value.u8();
      return { kind: 'multiprotocol', afi, safi: value.u8() };
    }
    case CapabilityCode.RouteRefresh:
      if (len !== 0) badLen();
      return { kind: 'route-refresh' };
    case CapabilityCode.EnhancedRouteRefresh:
      if (len !== 0) badLen();
      return { kind: 'enhanced-route-refresh' };
    case CapabilityCode.FourOctetAs:
      if (len !== 4) badLen();
      return { kind: 'four-octet-as', asn: value.u32() };
    case CapabilityCode.GracefulRestart: {
      if (len < 2 || (len - 2) % 4 !== 0) badLen();
      const flags = value.u16();
      const families = [];
      while (value.remaining > 0) {
        const afi = value.u16();
        const safi = value.u8();
        families.push({ afi, safi, forwardingPreserved: (value.u8() & 0x80) !== 0 });
      }
      return {
        kind: 'graceful-restart',
        restarting: (flags & 0x8000) !== 0,
        notification: (flags & 0x4000) !== 0,
        restartTimeSec: flags & 0x0fff,
        families,
      };
    }
    case CapabilityCode.AddPath: {
      if (len % 4 !== 0) badLen();
      const families = [];
      while (value.remaining > 0) {
        const afi = value.u16();
        const safi = value.u8();
        const mode = addPathModes[value.u8()];
        if (!mode) value.fail('add-path send/receive value not 1..3', raw);
        families.push({ afi, safi, mode });
      }
      return { kind: 'add-path', families };
    }
    default:
      return { kind: 'unknown', code, value: Uint8Array.from(value.bytes(len)) };
  }
}

/** Encodes the OPEN body (without the 19-byte header). */
export function encodeOpenBody(m: Omit<OpenMessage, 'type'>): Uint8Array {
  if (m.holdTimeSec !== 0 && (m.holdTimeSec < 3 || m.holdTimeSec > 65535))
    throw new BgpEncodeError(`hold time ${m.holdTimeSec} is not 0 or 3..65535`);
  const caps = new Writer();
  for (const c of m.capabilities) caps.bytes(encodeCapability(c));
  const capBytes = caps.finish();
  // One optional parameter per capability would also be legal; a single parameter is what BIRD,
  // GoBGP and FRR send, and it keeps the 255-byte parameter limit the only constraint.
  if (capBytes.length > 253) throw new BgpEncodeError('capabilities exceed one optional parameter');
  const w = new Writer();
  w.u8(m.version)
    .u16(m.asn2 ?? (m.asn > 0xffff ? AS_TRANS : m.asn))
    .u16(m.holdTimeSec)
    .u32(m.bgpId);
  if (capBytes.length === 0) w.u8(0);
  else
    w.u8(capBytes.length + 2)
      .u8(2)
      .u8(capBytes.length)
      .bytes(capBytes);
  return w.finish();
}

export function decodeOpenBody(body: Uint8Array): OpenMessage {
  const r = new Reader(body, ErrorCode.MessageHeader, 2);
  if (body.length < 10) r.fail('OPEN shorter than 10 bytes', Uint8Array.of(0, body.length + 19));
  const version = r.u8();
  if (version !== 4)
    throw new BgpDecodeError(
      ErrorCode.OpenMessage,
      OpenSubcode.UnsupportedVersion,
      `version ${version}`,
      Uint8Array.of(0, 4),
    );
  const asn2 = r.u16();
  const holdTimeSec = r.u16();
  const bgpId = r.u32();
  if (holdTimeSec === 1 || holdTimeSec === 2)
    throw new BgpDecodeError(
      ErrorCode.OpenMessage,
      OpenSubcode.UnacceptableHoldTime,
      `hold time ${holdTimeSec}`,
    );
  if (bgpId === 0) throw new BgpDecodeError(ErrorCode.OpenMessage, OpenSubcode.BadBgpId, 'BGP identifier 0');
  const optLen = r.u8();
  if (optLen !== r.remaining)
    throw new BgpDecodeError(
      ErrorCode.OpenMessage,
      0,
      `optional parameters length ${optLen} != ${r.remaining}`,
    );
  const params = r.sub(optLen, ErrorCode.OpenMessage, 0);
  const capabilities: Capability[] = [];
  while (params.remaining > 0) {
    const ptype = params.u8('parameter type');
    const plen = params.u8('parameter length');
    const pval = params.sub(plen, ErrorCode.OpenMessage, 0, 'parameter');
    if (ptype !== 2) {
      throw new BgpDecodeError(
        ErrorCode.OpenMessage,
        OpenSubcode.UnsupportedOptionalParameter,
        `parameter type ${ptype}`,
      );
    }
    while (pval.remaining > 0) {
      const start = pval.offset;
      const code = pval.u8('capability code');
      const clen = pval.u8('capability length');
      const raw = body.subarray(start, Math.min(start + 2 + clen, body.length));
      const cval = pval.sub(clen, ErrorCode.OpenMessage, 0, 'capability');
      const sub = new Reader(body, ErrorCode.OpenMessage, 0, cval.offset, cval.offset + clen);
      capabilities.push(decodeCapability(code, sub, raw));
    }
  }
  const four = capabilities.find((c) => c.kind === 'four-octet-as');
  const asn = four && four.kind === 'four-octet-as' ? four.asn : asn2;
  return { type: 'open', version, asn, asn2, holdTimeSec, bgpId, capabilities };
}
