// Typed views of the chunk bodies the LB reads or writes. Each decoder takes a raw Chunk body and
// throws SctpDecodeError('bad-chunk' | 'truncated' | 'bad-length'); each encoder returns a Chunk.
import type { IpAddr } from '../../net/ip.js';
import { SctpDecodeError, need, pad4, put16, put32, u16, u32 } from './errors.js';
import { ChunkType, type Chunk } from './packet.js';
import {
  type Param,
  ParamType,
  addressParam,
  decodeParams,
  isAddressParam,
  paramAddress,
  paramsLength,
  writeParams,
} from './params.js';

// ---- INIT / INIT-ACK (RFC 9260 §3.3.2, §3.3.3) ----

export interface Init {
  readonly initiateTag: number;
  readonly arwnd: number;
  readonly outStreams: number;
  readonly inStreams: number;
  readonly initialTsn: number;
  /** All parameters in order, unknown ones included, byte-exact. */
  readonly params: readonly Param[];
}

export function decodeInit(c: Chunk): Init {
  need(c.body, 0, 16, 'INIT fixed part');
  return {
    initiateTag: u32(c.body, 0),
    arwnd: u32(c.body, 4),
    outStreams: u16(c.body, 8),
    inStreams: u16(c.body, 10),
    initialTsn: u32(c.body, 12),
    params: decodeParams(c.body, 16),
  };
}

export function encodeInit(
  type: typeof ChunkType.INIT | typeof ChunkType.INIT_ACK,
  init: Init,
  flags = 0,
): Chunk {
  const body = new Uint8Array(16 + paramsLength(init.params));
  put32(body, 0, init.initiateTag);
  put32(body, 4, init.arwnd);
  put16(body, 8, init.outStreams);
  put16(body, 10, init.inStreams);
  put32(body, 12, init.initialTsn);
  writeParams(body, 16, init.params);
  return { type, flags, body: trimLastPad(body, init.params) };
}

/** The last parameter's padding is not part of the chunk length (RFC 9260 §3.2). */
function trimLastPad(body: Uint8Array, ps: readonly Param[]): Uint8Array {
  const last = ps[ps.length - 1];
  const trim = last ? pad4(last.value.length + 4) - (last.value.length + 4) : 0;
  return body.subarray(0, body.length - trim);
}

/** The addresses listed in an INIT / INIT-ACK, in order. */
export const initAddresses = (init: Init): IpAddr[] => init.params.filter(isAddressParam).map(paramAddress);

/**
 * Replaces the address parameters with `addrs` (in the position of the first one, or at the end when
 * there were none); every other parameter keeps its order and bytes.
 */
export function withAddresses(init: Init, addrs: readonly IpAddr[]): Init {
  const out: Param[] = [];
  let placed = false;
  const fresh = addrs.map(addressParam);
  for (const p of init.params) {
    if (isAddressParam(p)) {
      if (!placed) out.push(...fresh);
      placed = true;
    } else out.push(p);
  }
  if (!placed) {
    // Put them before the State Cookie? Order is free (RFC 9260 §3.3.2); append keeps others' offsets.
    out.push(...fresh);
  }
  return { ...init, params: out };
}

// ---- ABORT / ERROR causes (§3.3.7, §3.3.10) ----

export const CauseCode = {
  INVALID_STREAM: 1,
  MISSING_PARAM: 2,
  STALE_COOKIE: 3,
  OUT_OF_RESOURCE: 4,
  UNRESOLVABLE_ADDRESS: 5,
  UNRECOGNIZED_CHUNK: 6,
  INVALID_PARAM: 7,
  UNRECOGNIZED_PARAMS: 8,
  NO_USER_DATA: 9,
  COOKIE_IN_SHUTDOWN: 10,
  RESTART_WITH_NEW_ADDRESSES: 11,
  USER_INITIATED_ABORT: 12,
  PROTOCOL_VIOLATION: 13,
  // RFC 5061 §5.3
  DELETE_LAST_ADDRESS: 0xa0,
  RESOURCE_SHORTAGE: 0xa1,
  DELETE_SOURCE_ADDRESS: 0xa2,
  ILLEGAL_ASCONF_ACK: 0xa3,
  NO_AUTHORIZATION: 0xa4,
} as const;

/** Error causes share the TLV layout of parameters. */
export const decodeCauses = (body: Uint8Array): Param[] => decodeParams(body, 0);
export function encodeCauses(type: number, flags: number, causes: readonly Param[]): Chunk {
  const body = new Uint8Array(paramsLength(causes));
  writeParams(body, 0, causes);
  return { type, flags, body: trimLastPad(body, causes) };
}

// ---- HEARTBEAT / HEARTBEAT-ACK (§3.3.5) ----

export function decodeHeartbeat(c: Chunk): Uint8Array {
  const ps = decodeParams(c.body, 0);
  const info = ps[0];
  if (!info || info.type !== ParamType.HEARTBEAT_INFO)
    throw new SctpDecodeError('bad-chunk', 0, 'HEARTBEAT without Heartbeat Info');
  return info.value;
}
export const encodeHeartbeat = (
  type: typeof ChunkType.HEARTBEAT | typeof ChunkType.HEARTBEAT_ACK,
  info: Uint8Array,
): Chunk => encodeCauses(type, 0, [{ type: ParamType.HEARTBEAT_INFO, value: info }]);

// ---- DATA (§3.3.1) and SACK (§3.3.4) ----

export interface Data {
  readonly tsn: number;
  readonly streamId: number;
  readonly streamSeq: number;
  readonly ppid: number;
  readonly userData: Uint8Array;
}
export function decodeData(c: Chunk): Data {
  need(c.body, 0, 12, 'DATA fixed part');
  return {
    tsn: u32(c.body, 0),
    streamId: u16(c.body, 4),
    streamSeq: u16(c.body, 6),
    ppid: u32(c.body, 8),
    userData: c.body.subarray(12),
  };
}
export function encodeData(d: Data, flags = 0x03): Chunk {
  const body = new Uint8Array(12 + d.userData.length);
  put32(body, 0, d.tsn);
  put16(body, 4, d.streamId);
  put16(body, 6, d.streamSeq);
  put32(body, 8, d.ppid);
  body.set(d.userData, 12);
  return { type: ChunkType.DATA, flags, body };
}

export interface Sack {
  readonly cumTsnAck: number;
  readonly arwnd: number;
  readonly gaps: readonly (readonly [number, number])[];
  readonly dups: readonly number[];
}
export function decodeSack(c: Chunk): Sack {
  need(c.body, 0, 12, 'SACK fixed part');
  const ng = u16(c.body, 8);
  const nd = u16(c.body, 10);
  if (c.body.length !== 12 + 4 * ng + 4 * nd)
    throw new SctpDecodeError('bad-chunk', 0, `SACK with ${ng} gaps, ${nd} dups in ${c.body.length} bytes`);
  const gaps: [number, number][] = [];
  for (let i = 0; i < ng; i++) gaps.push([u16(c.body, 12 + 4 * i), u16(c.body, 14 + 4 * i)]);
  const dups: number[] = [];
  for (let i = 0; i < nd; i++) dups.push(u32(c.body, 12 + 4 * ng + 4 * i));
  return { cumTsnAck: u32(c.body, 0), arwnd: u32(c.body, 4), gaps, dups };
}
export function encodeSack(s: Sack): Chunk {
  const body = new Uint8Array(12 + 4 * s.gaps.length + 4 * s.dups.length);
  put32(body, 0, s.cumTsnAck);
  put32(body, 4, s.arwnd);
  put16(body, 8, s.gaps.length);
  put16(body, 10, s.dups.length);
  s.gaps.forEach(([a, b], i) => {
    put16(body, 12 + 4 * i, a);
    put16(body, 14 + 4 * i, b);
  });
  s.dups.forEach((d, i) => put32(body, 12 + 4 * s.gaps.length + 4 * i, d));
  return { type: ChunkType.SACK, flags: 0, body };
}

// ---- AUTH (RFC 4895 §4.2) ----

export interface Auth {
  readonly keyId: number;
  readonly hmacId: number;
  readonly hmac: Uint8Array;
}
export function decodeAuth(c: Chunk): Auth {
  need(c.body, 0, 4, 'AUTH fixed part');
  return { keyId: u16(c.body, 0), hmacId: u16(c.body, 2), hmac: c.body.subarray(4) };
}
export function encodeAuth(a: Auth): Chunk {
  const body = new Uint8Array(4 + a.hmac.length);
  put16(body, 0, a.keyId);
  put16(body, 2, a.hmacId);
  body.set(a.hmac, 4);
  return { type: ChunkType.AUTH, flags: 0, body };
}

// ---- ASCONF / ASCONF-ACK (RFC 5061 §4.1) ----

/** One request (Add/Delete/Set-Primary) or reply (Success/Error Cause Indication) TLV. */
export interface AsconfItem {
  readonly type: number;
  readonly correlationId: number;
  /** Request: the address parameter. Reply: the error causes (Error Cause Indication) or empty. */
  readonly rest: readonly Param[];
}

export interface Asconf {
  readonly serial: number;
  /** The mandatory Address Parameter that identifies the association (ASCONF only). */
  readonly lookup?: IpAddr;
  readonly items: readonly AsconfItem[];
}

function decodeItems(body: Uint8Array, start: number): AsconfItem[] {
  return decodeParams(body, start).map((p) => {
    need(p.value, 0, 4, 'ASCONF correlation id');
    return { type: p.type, correlationId: u32(p.value, 0), rest: decodeParams(p.value, 4) };
  });
}

export function decodeAsconf(c: Chunk): Asconf {
  need(c.body, 0, 4, 'ASCONF serial');
  const first = decodeParams(c.body, 4)[0];
  if (!first || !isAddressParam(first))
    throw new SctpDecodeError('bad-chunk', 4, 'ASCONF without its Address Parameter');
  const lookup = paramAddress(first);
  return { serial: u32(c.body, 0), lookup, items: decodeItems(c.body, 4 + pad4(4 + first.value.length)) };
}

export function decodeAsconfAck(c: Chunk): Asconf {
  need(c.body, 0, 4, 'ASCONF-ACK serial');
  return { serial: u32(c.body, 0), items: decodeItems(c.body, 4) };
}

function itemsToParams(items: readonly AsconfItem[]): Param[] {
  return items.map((it) => {
    const v = new Uint8Array(4 + paramsLength(it.rest));
    put32(v, 0, it.correlationId);
    writeParams(v, 4, it.rest);
    return { type: it.type, value: v };
  });
}

export function encodeAsconf(a: Asconf): Chunk {
  if (!a.lookup) throw new RangeError('ASCONF needs its lookup address');
  const ps = [addressParam(a.lookup), ...itemsToParams(a.items)];
  const body = new Uint8Array(4 + paramsLength(ps));
  put32(body, 0, a.serial);
  writeParams(body, 4, ps);
  return { type: ChunkType.ASCONF, flags: 0, body: trimLastPad(body, ps) };
}

export function encodeAsconfAck(a: Asconf): Chunk {
  const ps = itemsToParams(a.items);
  const body = new Uint8Array(4 + paramsLength(ps));
  put32(body, 0, a.serial);
  writeParams(body, 4, ps);
  return { type: ChunkType.ASCONF_ACK, flags: 0, body: trimLastPad(body, ps) };
}
