// Message framing (RFC 4271 §4.1): header, KEEPALIVE, NOTIFICATION, ROUTE-REFRESH (RFC 2918/7313),
// plus the stream framer that cuts a TCP byte stream into messages. All decode failures are
// BgpDecodeError carrying the NOTIFICATION to send.
import { defaultContext, type CodecContext } from './attributes.js';
import { BgpDecodeError, ErrorCode, HeaderSubcode, RouteRefreshSubcode } from './errors.js';
import { decodeOpenBody, encodeOpenBody, type OpenMessage } from './open.js';
import { Reader, Writer } from './reader.js';
import { decodeUpdateBody, encodeUpdateBody, HEADER_LEN, MAX_MESSAGE, type UpdateMessage } from './update.js';

export const MessageType = { Open: 1, Update: 2, Notification: 3, Keepalive: 4, RouteRefresh: 5 } as const;

export interface KeepaliveMessage {
  readonly type: 'keepalive';
}
export interface NotificationMessage {
  readonly type: 'notification';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}
export interface RouteRefreshMessage {
  readonly type: 'route-refresh';
  readonly afi: number;
  readonly safi: number;
  /** RFC 7313: 0 normal request, 1 Begin-of-RR, 2 End-of-RR. */
  readonly subtype: number;
}

export type BgpMessage =
  OpenMessage | UpdateMessage | KeepaliveMessage | NotificationMessage | RouteRefreshMessage;

const minLen: Record<number, number> = { 1: 29, 2: 23, 3: 21, 4: 19, 5: 23 };

function frame(type: number, body: Uint8Array): Uint8Array {
  const len = HEADER_LEN + body.length;
  const out = new Uint8Array(len);
  out.fill(0xff, 0, 16);
  out[16] = len >>> 8;
  out[17] = len & 0xff;
  out[18] = type;
  out.set(body, HEADER_LEN);
  return out;
}

export function encodeMessage(m: BgpMessage, ctx: CodecContext = defaultContext): Uint8Array {
  switch (m.type) {
    case 'open':
      return frame(MessageType.Open, encodeOpenBody(m));
    case 'update': {
      const body = encodeUpdateBody(m, ctx);
      if (body.length + HEADER_LEN > MAX_MESSAGE)
        throw new RangeError(`UPDATE of ${body.length + HEADER_LEN} bytes over ${MAX_MESSAGE}`);
      return frame(MessageType.Update, body);
    }
    case 'keepalive':
      return frame(MessageType.Keepalive, new Uint8Array(0));
    case 'notification': {
      const data = m.data.subarray(0, MAX_MESSAGE - HEADER_LEN - 2);
      return frame(MessageType.Notification, new Writer().u8(m.code).u8(m.subcode).bytes(data).finish());
    }
    case 'route-refresh':
      return frame(MessageType.RouteRefresh, new Writer().u16(m.afi).u8(m.subtype).u8(m.safi).finish());
  }
}

/** Validates the 19-byte header; returns the total length and type. */
export function decodeHeader(buf: Uint8Array): { length: number; type: number } {
  for (let i = 0; i < 16; i++)
    if (buf[i] !== 0xff)
      throw new BgpDecodeError(ErrorCode.MessageHeader, HeaderSubcode.NotSynchronized, 'marker not all ones');
  const length = ((buf[16] as number) << 8) | (buf[17] as number);
  const type = buf[18] as number;
  const lenData = buf.subarray(16, 18);
  if (length < HEADER_LEN || length > MAX_MESSAGE)
    throw new BgpDecodeError(
      ErrorCode.MessageHeader,
      HeaderSubcode.BadLength,
      `length ${length}`,
      Uint8Array.from(lenData),
    );
  const min = minLen[type];
  if (min === undefined)
    throw new BgpDecodeError(
      ErrorCode.MessageHeader,
      HeaderSubcode.BadType,
      `type ${type}`,
      Uint8Array.of(type),
    );
  if (length < min || (type === MessageType.Keepalive && length !== HEADER_LEN))
    throw new BgpDecodeError(
      ErrorCode.MessageHeader,
      HeaderSubcode.BadLength,
      `length ${length} for type ${type}`,
      Uint8Array.from(lenData),
    );
  return { length, type };
}

/** Decodes one complete message (header included). */
export function decodeMessage(buf: Uint8Array, ctx: CodecContext = defaultContext): BgpMessage {
  if (buf.length < HEADER_LEN)
    throw new BgpDecodeError(ErrorCode.MessageHeader, HeaderSubcode.BadLength, 'short header');
  const { length, type } = decodeHeader(buf);
  if (length !== buf.length)
    throw new BgpDecodeError(
      ErrorCode.MessageHeader,
      HeaderSubcode.BadLength,
      `length field ${length} != ${buf.length}`,
    );
  const body = buf.subarray(HEADER_LEN, length);
  switch (type) {
    case MessageType.Open:
      return decodeOpenBody(body);
    case MessageType.Update:
      return decodeUpdateBody(body, ctx);
    case MessageType.Keepalive:
      return { type: 'keepalive' };
    case MessageType.Notification: {
      const r = new Reader(body, ErrorCode.MessageHeader, HeaderSubcode.BadLength);
      return {
        type: 'notification',
        code: r.u8(),
        subcode: r.u8(),
        data: Uint8Array.from(r.bytes(r.remaining)),
      };
    }
    default: {
      if (body.length !== 4)
        throw new BgpDecodeError(
          ErrorCode.RouteRefresh,
          RouteRefreshSubcode.InvalidLength,
          `ROUTE-REFRESH length ${length}`,
          Uint8Array.from(buf),
        );
      const r = new Reader(body, ErrorCode.MessageHeader, HeaderSubcode.BadLength);
      const afi = r.u16();
      const subtype = r.u8();
      return { type: 'route-refresh', afi, subtype, safi: r.u8() };
    }
  }
}

/**
 * Cuts a byte stream into whole messages. Headers are validated as soon as 19 bytes are present, so
 * a peer announcing a 60 kB message is refused before we buffer it (bounded memory).
 */
export class MessageFramer {
  private buf: Uint8Array = new Uint8Array(0);

  /** Appends bytes and returns the complete raw messages now available. Throws BgpDecodeError. */
  push(chunk: Uint8Array): Uint8Array[] {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf, 0);
    merged.set(chunk, this.buf.length);
    const out: Uint8Array[] = [];
    let pos = 0;
    while (merged.length - pos >= HEADER_LEN) {
      const { length } = decodeHeader(merged.subarray(pos, pos + HEADER_LEN));
      if (merged.length - pos < length) break;
      out.push(merged.slice(pos, pos + length));
      pos += length;
    }
    this.buf = merged.slice(pos);
    return out;
  }

  get buffered(): number {
    return this.buf.length;
  }
}
