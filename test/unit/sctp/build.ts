// Packet builders for engine tests: real wire bytes (IP + SCTP + CRC32c) from a few fields.
import { parseIp, type IpAddr } from '../../../src/net/ip.js';
import {
  ChunkType,
  ParamType,
  addressParam,
  encodeInit,
  encodeIp,
  encodeSctp,
  freshIpHeader,
  type Chunk,
  type Param,
} from '../../../src/sctp/codec/index.js';

export const ip = parseIp;

export const AUTH_PARAMS = (seed: number): Param[] => [
  { type: ParamType.RANDOM, value: Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + seed) & 0xff) },
  { type: ParamType.HMAC_ALGO, value: Uint8Array.from([0, 1]) },
  { type: ParamType.CHUNK_LIST, value: Uint8Array.from([ChunkType.ASCONF_ACK, ChunkType.ASCONF]) },
];

export interface InitSpec {
  tag: number;
  addrs?: IpAddr[];
  extra?: Param[];
  cookie?: Uint8Array;
}

export function initChunk(type: 1 | 2, s: InitSpec): Chunk {
  const params: Param[] = [
    { type: ParamType.ECN_CAPABLE, value: new Uint8Array(0) },
    { type: ParamType.SUPPORTED_ADDRESS_TYPES, value: Uint8Array.from([0, 5, 0, 6]) },
    ...(s.extra ?? []),
    ...(s.addrs ?? []).map(addressParam),
    { type: 0x8123, value: Uint8Array.from([1, 2, 3]) }, // an unknown parameter: must survive untouched
  ];
  if (s.cookie) params.push({ type: ParamType.STATE_COOKIE, value: s.cookie });
  return encodeInit(type, {
    initiateTag: s.tag,
    arwnd: 131072,
    outStreams: 10,
    inStreams: 10,
    initialTsn: s.tag ^ 0x5555,
    params,
  });
}

export function packet(
  src: IpAddr,
  dst: IpAddr,
  sport: number,
  dport: number,
  vtag: number,
  chunks: Chunk[],
): Uint8Array {
  return encodeIp(
    freshIpHeader(src.family),
    src,
    dst,
    encodeSctp({ srcPort: sport, dstPort: dport, vtag, chunks }),
  );
}

export const chunk = (type: number, body: number[] | Uint8Array = [], flags = 0): Chunk => ({
  type,
  flags,
  body: Uint8Array.from(body),
});

/** True when the address's bytes occur anywhere in `bytes` (IP header or any parameter). */
export function containsAddress(bytes: Uint8Array, a: IpAddr): boolean {
  const n = a.family === 4 ? 4 : 16;
  const needle = new Uint8Array(n);
  let v = a.value;
  for (let i = n - 1; i >= 0; i--, v >>= 8n) needle[i] = Number(v & 0xffn);
  outer: for (let i = 0; i + n <= bytes.length; i++) {
    for (let k = 0; k < n; k++) if (bytes[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}
