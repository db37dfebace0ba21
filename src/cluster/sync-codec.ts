// Sync message bodies (pure). They ride the membership envelope (wire.ts: HMAC, boot id, replay
// window), so this layer only frames the channel's own stream:
//
//   Batch (type SyncBase + kind offset):  u8 sync version, u32 stream seq, u16 count,
//                                          count × (u8 flags, u16 key length, key, u16 data length, data)
//   Ack (SyncBase + Ack):                  u8 sync version, u32 cumulative seq (all <= it received)
//   PullRequest:                           u8 sync version, u32 pull epoch (new per peerUp; 0 = old peer)
//   PullDone:                              u8 sync version, u32 stream seq of the pull's last batch
//
// The version byte comes first so a skewed peer is refused by name instead of misread.
import type { SyncRecord } from './sync-contract.js';

export const SYNC_VERSION = 1;
const RECORD_HEAD = 5;
const BATCH_HEAD = 7;
const FLAG_DELETED = 1;

export class SyncVersionError extends Error {
  constructor(readonly peerVersion: number) {
    super(
      `sync version ${peerVersion}; this node speaks sync version ${SYNC_VERSION} (run the same ferrolb release on every node)`,
    );
    this.name = 'SyncVersionError';
  }
}

export class SyncFormatError extends Error {
  constructor(detail: string) {
    super(`sync message: ${detail}`);
    this.name = 'SyncFormatError';
  }
}

export interface Batch {
  readonly seq: number;
  readonly records: readonly SyncRecord[];
}

/** Encoded size of one record inside a batch. */
export function recordBytes(r: SyncRecord): number {
  return RECORD_HEAD + Buffer.byteLength(r.key, 'utf8') + (r.deleted ? 0 : (r.data?.length ?? 0));
}

/** Largest record a batch of `maxBody` bytes can carry; bigger ones are refused by the producer's publish. */
export const maxRecordBytes = (maxBody: number): number => maxBody - BATCH_HEAD;

/**
 * Cuts records into batches of at most `maxBody` encoded bytes (in order; a record is never split).
 * Throws for a record that cannot fit on its own: the producer must keep its records small.
 */
export function cutBatches(records: readonly SyncRecord[], maxBody: number): SyncRecord[][] {
  const out: SyncRecord[][] = [];
  let cur: SyncRecord[] = [];
  let size = BATCH_HEAD;
  for (const r of records) {
    const n = recordBytes(r);
    if (n > maxRecordBytes(maxBody) || Buffer.byteLength(r.key) > 0xffff)
      throw new SyncFormatError(
        `record "${r.key.slice(0, 80)}" is ${n} bytes; the limit is ${maxRecordBytes(maxBody)}`,
      );
    if (size + n > maxBody || cur.length === 0xffff) {
      out.push(cur);
      cur = [];
      size = BATCH_HEAD;
    }
    cur.push(r);
    size += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export function encodeBatch(b: Batch): Buffer {
  let size = BATCH_HEAD;
  for (const r of b.records) size += recordBytes(r);
  const buf = Buffer.alloc(size);
  buf[0] = SYNC_VERSION;
  buf.writeUInt32BE(b.seq >>> 0, 1);
  buf.writeUInt16BE(b.records.length, 5);
  let o = BATCH_HEAD;
  for (const r of b.records) {
    buf[o] = r.deleted ? FLAG_DELETED : 0;
    const k = buf.write(r.key, o + 3, 'utf8');
    buf.writeUInt16BE(k, o + 1);
    o += 3 + k;
    const data = r.deleted ? undefined : r.data;
    buf.writeUInt16BE(data?.length ?? 0, o);
    if (data) buf.set(data, o + 2);
    o += 2 + (data?.length ?? 0);
  }
  return buf;
}

function checkVersion(b: Uint8Array): void {
  if (b.length < 1) throw new SyncFormatError('empty');
  if (b[0] !== SYNC_VERSION) throw new SyncVersionError(b[0] as number);
}

export function decodeBatch(body: Uint8Array): Batch {
  checkVersion(body);
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (b.length < BATCH_HEAD) throw new SyncFormatError(`batch truncated (${b.length} bytes)`);
  const seq = b.readUInt32BE(1);
  const count = b.readUInt16BE(5);
  const records: SyncRecord[] = [];
  let o = BATCH_HEAD;
  for (let i = 0; i < count; i++) {
    if (o + 3 > b.length) throw new SyncFormatError(`record ${i} truncated`);
    const flags = b[o] as number;
    const k = b.readUInt16BE(o + 1);
    if (o + 3 + k + 2 > b.length) throw new SyncFormatError(`record ${i} key truncated`);
    const key = b.toString('utf8', o + 3, o + 3 + k);
    o += 3 + k;
    const n = b.readUInt16BE(o);
    if (o + 2 + n > b.length) throw new SyncFormatError(`record ${i} data truncated`);
    const data = new Uint8Array(b.subarray(o + 2, o + 2 + n));
    o += 2 + n;
    records.push(flags & FLAG_DELETED ? { key, deleted: true } : { key, data });
  }
  if (o !== b.length) throw new SyncFormatError(`${b.length - o} trailing bytes`);
  return { seq, records };
}

/** Ack, PullRequest and PullDone: the version and one sequence number. */
export function encodeControl(seq: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = SYNC_VERSION;
  b.writeUInt32BE(seq >>> 0, 1);
  return b;
}

export function decodeControl(body: Uint8Array): number {
  checkVersion(body);
  if (body.length !== 5) throw new SyncFormatError(`control message of ${body.length} bytes`);
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32BE(1);
}
