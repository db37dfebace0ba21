// A node's claims (the addresses it owns) travel with its heartbeats (pure codec + reassembly).
// The set is versioned: every change gets the next version, and the set is cut into chunks that
// each fit one datagram (~1 kB of addresses: 256 IPv4 or 64 IPv6), so 10,000 addresses are 40
// chunks. Every heartbeat carries the summary (version, chunk count, address count, digest) and one
// chunk; the rest go out as Claims messages right after a change or when a peer asks (flag
// WantClaims), and rotate through the heartbeats otherwise, so a lost chunk is repaired.
//
// Heartbeat / Claims body:
//   flags u8 · interval ms u32 · claims version u32 · chunk count u16 · address count u32 ·
//   digest 8 bytes · chunk index u16 · n4 u16 · n4 × 4 bytes · n6 u16 · n6 × 16 bytes
import { createHash } from 'node:crypto';
import { formatIp, parseIp } from '../net/ip.js';

export const HeartbeatFlag = {
  /** The sender has decided ownership (start-up grace over, every peer's claims known). */
  Synced: 1,
  /** The sender sees a majority of the cluster (itself included). */
  Quorum: 2,
  /** The sender lacks some peer's complete claims: send them all. */
  WantClaims: 4,
  /** The sender is stopping cleanly (its claims are empty): take its addresses over now. */
  Leaving: 8,
} as const;

/** Bytes of addresses per chunk: with the envelope and a 253-byte name a datagram stays < 1400. */
export const CHUNK_BYTES = 1024;
const FIXED = 1 + 4 + 4 + 2 + 4 + 8 + 2 + 2 + 2;

export interface ClaimsSummary {
  readonly version: number;
  readonly chunks: number;
  readonly count: number;
  /** 16 hex digits. */
  readonly digest: string;
}

export interface ClaimsBody {
  readonly flags: number;
  readonly intervalMs: number;
  readonly summary: ClaimsSummary;
  readonly index: number;
  readonly addresses: readonly string[];
}

export class ClaimsCodecError extends Error {
  constructor(detail: string) {
    super(`claims: ${detail}`);
    this.name = 'ClaimsCodecError';
  }
}

export function claimsDigest(sorted: readonly string[]): string {
  const h = createHash('sha256');
  for (const a of sorted) h.update(a).update('\n');
  return h.digest('hex').slice(0, 16);
}

/** A versioned claim set cut into chunks (addresses sorted, canonical). */
export interface EncodedClaims {
  readonly summary: ClaimsSummary;
  readonly chunks: readonly (readonly string[])[];
  readonly addresses: readonly string[];
}

export function cutClaims(version: number, addresses: Iterable<string>): EncodedClaims {
  const sorted = [...addresses].sort();
  const v4: string[] = [];
  const v6: string[] = [];
  for (const a of sorted) (a.includes(':') ? v6 : v4).push(a);
  const chunks: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const a of [...v4, ...v6]) {
    const size = a.includes(':') ? 16 : 4;
    if (bytes + size > CHUNK_BYTES) {
      chunks.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(a);
    bytes += size;
  }
  chunks.push(cur);
  return {
    summary: { version, chunks: chunks.length, count: sorted.length, digest: claimsDigest(sorted) },
    chunks,
    addresses: sorted,
  };
}

/** A canonical dotted quad as a number (claims hold canonical addresses only). */
function v4Number(a: string): number {
  const p = a.split('.');
  const n = ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
  if (p.length !== 4 || !Number.isInteger(n)) return Number(parseIp(a).value);
  return n;
}

export function encodeClaimsBody(b: ClaimsBody): Buffer {
  const v4 = b.addresses.filter((a) => !a.includes(':'));
  const v6 = b.addresses.filter((a) => a.includes(':'));
  const out = Buffer.alloc(FIXED + v4.length * 4 + v6.length * 16);
  let o = 0;
  o = out.writeUInt8(b.flags, o);
  o = out.writeUInt32BE(b.intervalMs, o);
  o = out.writeUInt32BE(b.summary.version, o);
  o = out.writeUInt16BE(b.summary.chunks, o);
  o = out.writeUInt32BE(b.summary.count, o);
  o += out.write(b.summary.digest, o, 8, 'hex');
  o = out.writeUInt16BE(b.index, o);
  o = out.writeUInt16BE(v4.length, o);
  for (const a of v4) o = out.writeUInt32BE(v4Number(a), o);
  o = out.writeUInt16BE(v6.length, o);
  for (const a of v6) {
    const v = parseIp(a).value;
    o = out.writeBigUInt64BE(v >> 64n, o);
    o = out.writeBigUInt64BE(v & 0xffffffffffffffffn, o);
  }
  return out;
}

export function decodeClaimsBody(body: Uint8Array): ClaimsBody {
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (b.length < FIXED) throw new ClaimsCodecError(`body of ${b.length} bytes is too short`);
  let o = 0;
  const flags = b.readUInt8(o++);
  const intervalMs = b.readUInt32BE(o);
  const version = b.readUInt32BE((o += 4));
  const chunks = b.readUInt16BE((o += 4));
  const count = b.readUInt32BE((o += 2));
  const digest = b.toString('hex', (o += 4), o + 8);
  const index = b.readUInt16BE((o += 8));
  const n4 = b.readUInt16BE((o += 2));
  o += 2;
  if (chunks < 1 || index >= chunks) throw new ClaimsCodecError(`chunk ${index} of ${chunks}`);
  if (b.length < o + n4 * 4 + 2) throw new ClaimsCodecError('IPv4 list truncated');
  const addresses: string[] = [];
  for (let i = 0; i < n4; i++, o += 4)
    addresses.push(formatIp({ family: 4, value: BigInt(b.readUInt32BE(o)) }));
  const n6 = b.readUInt16BE(o);
  o += 2;
  if (b.length !== o + n6 * 16) throw new ClaimsCodecError('IPv6 list length does not match the body');
  for (let i = 0; i < n6; i++, o += 16)
    addresses.push(formatIp({ family: 6, value: (b.readBigUInt64BE(o) << 64n) | b.readBigUInt64BE(o + 8) }));
  return { flags, intervalMs, summary: { version, chunks, count, digest }, index, addresses };
}

/**
 * One peer's claims as received: the last complete set, and the chunks of a newer version being
 * gathered. A set is complete when every chunk of one version arrived and count and digest match.
 */
export class ClaimAssembler {
  private complete: { version: number; addresses: ReadonlySet<string> } | undefined;
  private pending: { summary: ClaimsSummary; parts: Map<number, readonly string[]> } | undefined;

  /** Latest complete set, or undefined before the first one. */
  get current(): ReadonlySet<string> | undefined {
    return this.complete?.addresses;
  }

  get version(): number | undefined {
    return this.complete?.version;
  }

  /** True when the newest version announced by the sender is the one held complete. */
  upToDate(latest: number | undefined): boolean {
    return this.complete !== undefined && (latest === undefined || this.complete.version === latest);
  }

  /** Chunks of the version being gathered that are still missing. */
  missing(): number {
    return this.pending ? this.pending.summary.chunks - this.pending.parts.size : 0;
  }

  /** Returns true when this chunk completed a new version. */
  offer(summary: ClaimsSummary, index: number, addresses: readonly string[]): boolean {
    if (this.complete && summary.version === this.complete.version) return false;
    const p = this.pending;
    if (
      !p ||
      p.summary.version !== summary.version ||
      p.summary.digest !== summary.digest ||
      p.summary.chunks !== summary.chunks
    )
      this.pending = { summary, parts: new Map() };
    const cur = this.pending as NonNullable<typeof this.pending>;
    cur.parts.set(index, addresses);
    if (cur.parts.size < summary.chunks) return false;
    const all: string[] = [];
    for (let i = 0; i < summary.chunks; i++) all.push(...(cur.parts.get(i) ?? []));
    all.sort();
    this.pending = undefined;
    if (all.length !== summary.count || claimsDigest(all) !== summary.digest) return false;
    this.complete = { version: summary.version, addresses: new Set(all) };
    return true;
  }

  /** The sender restarted: what it claimed before is void. */
  reset(): void {
    this.complete = undefined;
    this.pending = undefined;
  }
}
