// An association established through an engine with real packets (INIT → INIT-ACK → COOKIE-ECHO →
// COOKIE-ACK), every kernel change written into a FakeNft: shared by the restart and HA sync tests.
import assert from 'node:assert/strict';
import type { IpAddr } from '../../../src/net/ip.js';
import type { EngineResult, SctpNatEngine, SctpService } from '../../../src/sctp/index.js';
import { PathIds, fastPathScript } from '../../../src/sctp/kernel/nft.js';
import {
  ChunkType,
  ParamType,
  decodeInit,
  decodeIp,
  decodeSctp,
  type Param,
} from '../../../src/sctp/codec/index.js';
import { chunk, initChunk, ip, packet } from './build.js';
import type { FakeNft } from './fakenft.js';

export interface Bed {
  C: IpAddr[];
  V: IpAddr[];
  E: IpAddr;
  svc: SctpService;
}

/** Two client addresses, three VIPs, one endpoint (IPv4). */
export const V4: Bed = {
  C: [ip('10.0.1.2'), ip('10.0.3.2')],
  V: [ip('10.9.0.1'), ip('10.9.0.2'), ip('10.9.0.3')],
  E: ip('10.0.2.2'),
  svc: {
    name: 'echo',
    vips: [ip('10.9.0.1'), ip('10.9.0.2'), ip('10.9.0.3')],
    port: 7,
    endpoints: [{ addresses: [ip('10.0.2.2')], port: 7 }],
  },
};

export const out = (r: EngineResult, i = 0) => {
  const p = r.packets[i];
  assert.ok(p, `no packet ${i}: ${String(r.dropped)}`);
  const d = decodeIp(p.bytes);
  return { ...d, sctp: decodeSctp(d.payload, { verify: true }) };
};

/** INIT → INIT-ACK → COOKIE-ECHO → COOKIE-ACK, both sides offering AUTH; every change into `nft`. */
export function establish(
  eng: SctpNatEngine,
  b: Bed,
  nft: FakeNft,
  ids: PathIds,
  authC: Param[],
  authE: Param[],
) {
  const P = b.svc.port;
  const apply = (r: EngineResult) => {
    nft.apply(fastPathScript(r.changes, ids));
    return r;
  };
  const i = out(
    apply(
      eng.handle(
        packet(b.C[0]!, b.V[0]!, 5000, P, 0, [initChunk(1, { tag: 0x1111, addrs: b.C, extra: authC })]),
        0,
      ),
    ),
  );
  const lbPort = i.sctp.srcPort;
  const a = out(
    apply(
      eng.handle(
        packet(b.E, b.V[0]!, P, lbPort, 0x1111, [
          initChunk(2, { tag: 0x2222, extra: authE, cookie: new Uint8Array(8) }),
        ]),
        1,
      ),
    ),
  );
  const token = decodeInit(a.sctp.chunks[0]!).params.find((p) => p.type === ParamType.STATE_COOKIE)!.value;
  apply(eng.handle(packet(b.C[0]!, b.V[0]!, 5000, P, 0x2222, [chunk(ChunkType.COOKIE_ECHO, token)]), 2));
  apply(eng.handle(packet(b.E, b.V[0]!, P, lbPort, 0x1111, [chunk(ChunkType.COOKIE_ACK)]), 3));
  return { lbPort };
}
