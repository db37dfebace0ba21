// SCTP common header + chunk list (RFC 9260 §3). Chunks are kept as raw bodies so a rewrite touches
// only the chunks it understands; everything else (unknown types, AUTH, DATA payload) is carried
// byte-exact. Bundled chunks are first-class: a packet is always a list.
import { sctpChecksum } from '../crc32c.js';
import { SctpDecodeError, SctpEncodeError, need, pad4, put16, put32, u16, u32 } from './errors.js';

export const ChunkType = {
  DATA: 0,
  INIT: 1,
  INIT_ACK: 2,
  SACK: 3,
  HEARTBEAT: 4,
  HEARTBEAT_ACK: 5,
  ABORT: 6,
  SHUTDOWN: 7,
  SHUTDOWN_ACK: 8,
  ERROR: 9,
  COOKIE_ECHO: 10,
  COOKIE_ACK: 11,
  SHUTDOWN_COMPLETE: 14,
  AUTH: 15,
  ASCONF_ACK: 0x80,
  FORWARD_TSN: 0xc0,
  ASCONF: 0xc1,
} as const;

/** The T bit of ABORT and SHUTDOWN-COMPLETE: the vtag is the sender's own, not the peer's. */
export const FLAG_T = 0x01;

export interface Chunk {
  readonly type: number;
  readonly flags: number;
  /** Chunk value without the 4-byte chunk header and without padding. */
  readonly body: Uint8Array;
}

export interface SctpPacket {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly vtag: number;
  /** As received (little-endian CRC32c value); ignored by the encoder, which recomputes it. */
  readonly checksum: number;
  readonly chunks: readonly Chunk[];
}

const readLe32 = (b: Uint8Array, o: number): number =>
  ((b[o] as number) |
    ((b[o + 1] as number) << 8) |
    ((b[o + 2] as number) << 16) |
    ((b[o + 3] as number) << 24)) >>>
  0;

/** True when the stored checksum matches the CRC32c of the packet. */
export const checksumOk = (sctp: Uint8Array): boolean =>
  sctp.length >= 12 && readLe32(sctp, 8) === sctpChecksum(sctp);

/**
 * Decodes an SCTP packet. `verify` checks CRC32c first (the LB must never act on a corrupt INIT).
 * A final chunk may omit its trailing padding (RFC 9260 allows receivers to accept that).
 */
export function decodeSctp(buf: Uint8Array, opts: { verify?: boolean } = {}): SctpPacket {
  need(buf, 0, 12, 'SCTP common header');
  if (opts.verify && !checksumOk(buf)) throw new SctpDecodeError('bad-checksum', 8, 'CRC32c mismatch');
  const chunks: Chunk[] = [];
  let off = 12;
  while (off < buf.length) {
    need(buf, off, 4, 'chunk header');
    const len = u16(buf, off + 2);
    if (len < 4) throw new SctpDecodeError('bad-length', off + 2, `chunk length ${len}`);
    need(buf, off, len, `chunk type ${buf[off]}`);
    chunks.push({
      type: buf[off] as number,
      flags: buf[off + 1] as number,
      body: buf.subarray(off + 4, off + len),
    });
    off += pad4(len);
  }
  return {
    srcPort: u16(buf, 0),
    dstPort: u16(buf, 2),
    vtag: u32(buf, 4),
    checksum: readLe32(buf, 8),
    chunks,
  };
}

/** Encodes with zero padding and a fresh CRC32c. */
export function encodeSctp(p: Omit<SctpPacket, 'checksum'>): Uint8Array {
  let n = 12;
  for (const c of p.chunks) {
    if (c.body.length + 4 > 0xffff)
      throw new SctpEncodeError(`chunk type ${c.type} body of ${c.body.length} bytes`);
    n += pad4(c.body.length + 4);
  }
  const out = new Uint8Array(n);
  put16(out, 0, p.srcPort);
  put16(out, 2, p.dstPort);
  put32(out, 4, p.vtag);
  let off = 12;
  for (const c of p.chunks) {
    out[off] = c.type;
    out[off + 1] = c.flags;
    put16(out, off + 2, c.body.length + 4);
    out.set(c.body, off + 4);
    off += pad4(c.body.length + 4);
  }
  const crc = sctpChecksum(out);
  out[8] = crc & 0xff;
  out[9] = (crc >>> 8) & 0xff;
  out[10] = (crc >>> 16) & 0xff;
  out[11] = crc >>> 24;
  return out;
}
