// Minimal SCTP packet codec for the health probe (RFC 9260): build INIT and ABORT, parse what comes
// back. Pure. Only what a probe needs; the full codec belongs to src/sctp, and this file should be
// replaced by it once that exists (same wire format, so the probe logic does not change).

export const CHUNK_INIT = 1;
export const CHUNK_INIT_ACK = 2;
export const CHUNK_ABORT = 6;

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC32C_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface Chunk {
  readonly type: number;
  readonly flags: number;
  readonly value: Buffer;
}

export interface SctpPacket {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly vtag: number;
  readonly chunks: readonly Chunk[];
}

export class SctpDecodeError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SctpDecodeError';
  }
}

/** Serialises a packet and fills in the CRC32c checksum (stored little-endian, RFC 9260 App. A). */
export function encodePacket(p: SctpPacket): Buffer {
  const parts = p.chunks.map((c) => {
    const len = 4 + c.value.length;
    const b = Buffer.alloc((len + 3) & ~3);
    b.writeUInt8(c.type, 0);
    b.writeUInt8(c.flags, 1);
    b.writeUInt16BE(len, 2);
    c.value.copy(b, 4);
    return b;
  });
  const out = Buffer.concat([Buffer.alloc(12), ...parts]);
  out.writeUInt16BE(p.srcPort, 0);
  out.writeUInt16BE(p.dstPort, 2);
  out.writeUInt32BE(p.vtag >>> 0, 4);
  out.writeUInt32LE(crc32c(out), 8);
  return out;
}

/** Parses one SCTP packet (common header + chunks) and verifies its checksum. */
export function decodePacket(buf: Buffer): SctpPacket {
  if (buf.length < 12) throw new SctpDecodeError(`packet too short (${buf.length} bytes)`);
  const sum = buf.readUInt32LE(8);
  const zeroed = Buffer.from(buf);
  zeroed.writeUInt32LE(0, 8);
  if (crc32c(zeroed) !== sum) throw new SctpDecodeError('bad CRC32c');
  const chunks: Chunk[] = [];
  let off = 12;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16BE(off + 2);
    if (len < 4 || off + len > buf.length) throw new SctpDecodeError(`bad chunk length ${len} at ${off}`);
    chunks.push({
      type: buf.readUInt8(off),
      flags: buf.readUInt8(off + 1),
      value: buf.subarray(off + 4, off + len),
    });
    off += (len + 3) & ~3;
  }
  return { srcPort: buf.readUInt16BE(0), dstPort: buf.readUInt16BE(2), vtag: buf.readUInt32BE(4), chunks };
}

export interface InitParams {
  readonly srcPort: number;
  readonly dstPort: number;
  /** Non-zero; the peer must echo it as the verification tag of its INIT-ACK. */
  readonly initiateTag: number;
  readonly initialTsn: number;
}

/**
 * INIT with no address parameters: the peer then uses the packet's source address, which is exactly
 * the single path the probe tests.
 */
export function buildInit(p: InitParams): Buffer {
  const v = Buffer.alloc(16);
  v.writeUInt32BE(p.initiateTag >>> 0, 0);
  v.writeUInt32BE(65535, 4); // a_rwnd
  v.writeUInt16BE(1, 8); // outbound streams
  v.writeUInt16BE(1, 10); // max inbound streams
  v.writeUInt32BE(p.initialTsn >>> 0, 12);
  return encodePacket({
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    vtag: 0,
    chunks: [{ type: CHUNK_INIT, flags: 0, value: v }],
  });
}

/** ABORT that tears down the half-open association the peer created state for (none, with cookies). */
export const buildAbort = (srcPort: number, dstPort: number, peerTag: number): Buffer =>
  encodePacket({
    srcPort,
    dstPort,
    vtag: peerTag,
    chunks: [{ type: CHUNK_ABORT, flags: 0, value: Buffer.alloc(0) }],
  });

export type ProbeReply =
  | { readonly kind: 'init-ack'; readonly peerTag: number }
  | { readonly kind: 'abort' }
  | { readonly kind: 'unrelated' };

/** Classifies a received packet against the INIT we sent. Pure. */
export function classifyReply(pkt: SctpPacket, sent: InitParams): ProbeReply {
  if (pkt.srcPort !== sent.dstPort || pkt.dstPort !== sent.srcPort) return { kind: 'unrelated' };
  const first = pkt.chunks[0];
  if (!first) return { kind: 'unrelated' };
  if (first.type === CHUNK_INIT_ACK && pkt.vtag === sent.initiateTag >>> 0 && first.value.length >= 16) {
    const peerTag = first.value.readUInt32BE(0);
    return peerTag === 0 ? { kind: 'unrelated' } : { kind: 'init-ack', peerTag };
  }
  // An ABORT answering our INIT carries our initiate tag with T=0 (RFC 9260 §8.4 (3)), or the T bit
  // set and the tag reflected.
  if (pkt.chunks.some((c) => c.type === CHUNK_ABORT) && pkt.vtag === sent.initiateTag >>> 0)
    return { kind: 'abort' };
  return { kind: 'unrelated' };
}
