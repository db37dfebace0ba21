// The membership channel's wire format (pure). One UDP datagram = one message:
//
//   0  magic "FL" (0x46 0x4c)        2  version (1)         3  type
//   4  flags (0)                     5  sender name length N (1..253)
//   6  sender name (UTF-8, N bytes)
//   +0 boot id (u64)                 +8 sequence (u64)      +16 body (type-specific)
//   last 32 bytes: HMAC-SHA256 over everything before, keyed with the cluster key
//
// The version byte comes before anything whose layout may change, so a node refuses a peer of
// another version with a clear error instead of misreading it. Types: 1 heartbeat, 2 claims (extra
// chunks of the sender's owned set); 16 and up are reserved for connection-state sync (HA), which
// rides the same authenticated envelope. A type this version does not know is dropped and counted,
// so a newer node may add types without breaking older ones.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const WIRE_VERSION = 1;
export const MAGIC0 = 0x46;
export const MAGIC1 = 0x4c;
export const MAC_BYTES = 32;

export const MsgType = {
  Heartbeat: 1,
  Claims: 2,
  /** First type reserved for state sync (issue 12). */
  SyncBase: 16,
} as const;

/** Why a datagram was dropped (metric label `reason`). */
export const DropReason = {
  Malformed: 'malformed',
  Version: 'version',
  Auth: 'auth',
  UnknownNode: 'unknown-node',
  Self: 'self',
  Replay: 'replay',
  UnknownType: 'unknown-type',
  /** A sync message from a peer this node does not count alive (it heartbeats first). */
  NotAlive: 'not-alive',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];
export const DROP_REASONS: readonly DropReason[] = Object.values(DropReason);

export interface Envelope {
  readonly type: number;
  readonly sender: string;
  readonly bootId: number;
  readonly seq: number;
  readonly body: Uint8Array;
}

export type Decoded =
  | { readonly ok: true; readonly msg: Envelope }
  | { readonly ok: false; readonly reason: DropReason; readonly detail: string; readonly version?: number };

/** Derives the per-cluster MAC key: two clusters that share a key file still cannot talk. */
export function macKey(fileKey: Uint8Array, clusterName: string): Buffer {
  return createHmac('sha256', fileKey).update(`ferrolb cluster ${clusterName}`).digest();
}

const u64 = (b: Buffer, off: number, v: number) => b.writeBigUInt64BE(BigInt(v), off);

export function encode(key: Uint8Array, m: Envelope): Buffer {
  const name = Buffer.from(m.sender, 'utf8');
  if (name.length < 1 || name.length > 253) throw new RangeError(`sender name "${m.sender}" length`);
  const head = 6 + name.length + 16;
  const b = Buffer.alloc(head + m.body.length + MAC_BYTES);
  b[0] = MAGIC0;
  b[1] = MAGIC1;
  b[2] = WIRE_VERSION;
  b[3] = m.type;
  b[4] = 0;
  b[5] = name.length;
  name.copy(b, 6);
  u64(b, 6 + name.length, m.bootId);
  u64(b, 14 + name.length, m.seq);
  b.set(m.body, head);
  const end = head + m.body.length;
  createHmac('sha256', key).update(b.subarray(0, end)).digest().copy(b, end);
  return b;
}

/** Checks framing, version and MAC; the caller checks sender, replay and type. */
export function decode(key: Uint8Array, d: Uint8Array): Decoded {
  const b = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  if (b.length < 6 || b[0] !== MAGIC0 || b[1] !== MAGIC1)
    return { ok: false, reason: DropReason.Malformed, detail: 'not a ferrolb cluster message' };
  const version = b[2] as number;
  if (version !== WIRE_VERSION)
    return {
      ok: false,
      reason: DropReason.Version,
      version,
      detail: `wire version ${version}; this node speaks version ${WIRE_VERSION} (upgrade every node to the same ferrolb release line)`,
    };
  const n = b[5] as number;
  const head = 6 + n + 16;
  if (n < 1 || b.length < head + MAC_BYTES)
    return { ok: false, reason: DropReason.Malformed, detail: `truncated (${b.length} bytes)` };
  const end = b.length - MAC_BYTES;
  const mac = createHmac('sha256', key).update(b.subarray(0, end)).digest();
  if (!timingSafeEqual(mac, b.subarray(end)))
    return { ok: false, reason: DropReason.Auth, detail: 'bad MAC (another key or cluster name)' };
  const bootId = Number(b.readBigUInt64BE(6 + n));
  const seq = Number(b.readBigUInt64BE(14 + n));
  if (!Number.isSafeInteger(bootId) || !Number.isSafeInteger(seq))
    return { ok: false, reason: DropReason.Malformed, detail: 'boot id or sequence out of range' };
  return {
    ok: true,
    msg: {
      type: b[3] as number,
      sender: b.toString('utf8', 6, 6 + n),
      bootId,
      seq,
      body: b.subarray(head, end),
    },
  };
}
