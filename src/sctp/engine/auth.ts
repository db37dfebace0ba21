// SCTP-AUTH (RFC 4895) as far as a NAT in the middle needs it. ASCONF and ASCONF-ACK must be
// authenticated, and the LB answers ASCONFs itself, so it must sign and verify. With no configured
// endpoint-pair shared key (the default everywhere), the association key is derived only from the
// RANDOM, CHUNKS and HMAC-ALGO parameters both sides sent in INIT/INIT-ACK — which pass through the LB.
// Deterministic; node:crypto's HMAC is a pure function of its inputs.
import { createHmac } from 'node:crypto';
import {
  ChunkType,
  type Chunk,
  encodeAuth,
  decodeAuth,
  u16,
  concat,
  type Param,
  ParamType,
  pad4,
} from '../codec/index.js';

export interface AuthVectors {
  /** RANDOM ‖ CHUNKS ‖ HMAC-ALGO as the client sent them (TLVs without padding), if it sent RANDOM. */
  client?: Uint8Array;
  endpoint?: Uint8Array;
  /** HMAC identifiers each side listed, in preference order. */
  clientHmacs: number[];
  endpointHmacs: number[];
  /** Chunk types each side wants authenticated when it receives them (its CHUNKS parameter). */
  clientChunks: number[];
  endpointChunks: number[];
}

export const noAuth = (): AuthVectors => ({
  clientHmacs: [],
  endpointHmacs: [],
  clientChunks: [],
  endpointChunks: [],
});

export const HMAC_SHA1 = 1;
export const HMAC_SHA256 = 3;
const HMAC_LEN: Record<number, number> = { [HMAC_SHA1]: 20, [HMAC_SHA256]: 32 };
const HMAC_ALG: Record<number, string> = { [HMAC_SHA1]: 'sha1', [HMAC_SHA256]: 'sha256' };

function tlv(p: Param): Uint8Array {
  const b = new Uint8Array(4 + p.value.length);
  b[0] = p.type >> 8;
  b[1] = p.type & 0xff;
  b[2] = (p.value.length + 4) >> 8;
  b[3] = (p.value.length + 4) & 0xff;
  b.set(p.value, 4);
  return b;
}

/** The key vector of one side from its INIT/INIT-ACK parameters; undefined when it did not offer AUTH. */
export function keyVector(params: readonly Param[]): {
  vector?: Uint8Array;
  hmacs: number[];
  chunks: number[];
} {
  const pick = (t: number) => params.find((p) => p.type === t);
  const random = pick(ParamType.RANDOM);
  const hmacAlgo = pick(ParamType.HMAC_ALGO);
  const hmacs: number[] = [];
  if (hmacAlgo) for (let i = 0; i + 1 < hmacAlgo.value.length; i += 2) hmacs.push(u16(hmacAlgo.value, i));
  const chunks = [...(pick(ParamType.CHUNK_LIST)?.value ?? [])];
  if (!random) return { hmacs, chunks };
  const parts = [random, pick(ParamType.CHUNK_LIST), hmacAlgo]
    .filter((p): p is Param => p !== undefined)
    .map(tlv);
  return { vector: concat(parts), hmacs, chunks };
}

/** Compares two key vectors as unsigned big-endian numbers; equal values order the shorter first. */
export function compareVectors(a: Uint8Array, b: Uint8Array): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = i < n - a.length ? 0 : (a[i - (n - a.length)] as number);
    const y = i < n - b.length ? 0 : (b[i - (n - b.length)] as number);
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}

/** The association shared key for key id 0 with an empty endpoint-pair key; undefined without AUTH. */
export function associationKey(v: AuthVectors): Uint8Array | undefined {
  if (!v.client || !v.endpoint) return undefined;
  return compareVectors(v.client, v.endpoint) <= 0
    ? concat([v.client, v.endpoint])
    : concat([v.endpoint, v.client]);
}

/** Bytes of chunks as they appear on the wire (with padding), the HMAC input from the AUTH chunk on. */
function wireChunks(chunks: readonly Chunk[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const c of chunks) {
    const b = new Uint8Array(pad4(c.body.length + 4));
    b[0] = c.type;
    b[1] = c.flags;
    b[2] = (c.body.length + 4) >> 8;
    b[3] = (c.body.length + 4) & 0xff;
    b.set(c.body, 4);
    parts.push(b);
  }
  return concat(parts);
}

function hmacOver(key: Uint8Array, hmacId: number, authAndAfter: readonly Chunk[]): Uint8Array {
  const alg = HMAC_ALG[hmacId];
  if (!alg) throw new RangeError(`HMAC id ${hmacId} not supported`);
  return new Uint8Array(createHmac(alg, key).update(wireChunks(authAndAfter)).digest());
}

/**
 * Signs `chunks` for a receiver that listed `receiverHmacs`: an AUTH chunk is put in front with the
 * first HMAC the receiver prefers that the LB supports. Returns the chunks unchanged without a key.
 */
export function sign(
  key: Uint8Array | undefined,
  receiverHmacs: readonly number[],
  chunks: readonly Chunk[],
): Chunk[] {
  if (!key) return [...chunks];
  const id = receiverHmacs.find((h) => HMAC_LEN[h] !== undefined) ?? HMAC_SHA1;
  const zero = encodeAuth({ keyId: 0, hmacId: id, hmac: new Uint8Array(HMAC_LEN[id] as number) });
  const mac = hmacOver(key, id, [zero, ...chunks]);
  return [encodeAuth({ keyId: 0, hmacId: id, hmac: mac }), ...chunks];
}

/** Verifies the AUTH chunk at `chunks[i]` over itself and everything after it. */
export function verify(key: Uint8Array | undefined, chunks: readonly Chunk[], i: number): boolean {
  const c = chunks[i];
  if (!key || !c || c.type !== ChunkType.AUTH) return false;
  const a = decodeAuth(c);
  const len = HMAC_LEN[a.hmacId];
  if (len === undefined || a.keyId !== 0 || a.hmac.length !== len) return false;
  const zero = encodeAuth({ keyId: a.keyId, hmacId: a.hmacId, hmac: new Uint8Array(len) });
  const mac = hmacOver(key, a.hmacId, [zero, ...chunks.slice(i + 1)]);
  return mac.length === a.hmac.length && mac.every((b, k) => b === a.hmac[k]);
}

/**
 * After the LB changed chunks of a packet: every AUTH chunk gets a fresh HMAC over what now follows
 * it, and an AUTH with nothing left after it is dropped. Without a key the chunks are returned as is
 * (nothing could be signed; the receiver then judges).
 */
export function resign(key: Uint8Array | undefined, chunks: readonly Chunk[]): Chunk[] {
  const out = [...chunks];
  while (out.length > 0 && out[out.length - 1]?.type === ChunkType.AUTH) out.pop();
  if (!key) return out;
  for (let i = 0; i < out.length; i++) {
    const c = out[i] as Chunk;
    if (c.type !== ChunkType.AUTH) continue;
    const a = decodeAuth(c);
    const len = HMAC_LEN[a.hmacId];
    if (len === undefined) continue;
    const zero = encodeAuth({ keyId: a.keyId, hmacId: a.hmacId, hmac: new Uint8Array(len) });
    out[i] = encodeAuth({
      keyId: a.keyId,
      hmacId: a.hmacId,
      hmac: hmacOver(key, a.hmacId, [zero, ...out.slice(i + 1)]),
    });
  }
  return out;
}
