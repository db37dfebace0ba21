import test from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { formatIp, type IpAddr } from '../../../src/net/ip.js';
import { SctpNatEngine, type EngineResult, type SctpService } from '../../../src/sctp/index.js';
import { associationKey, keyVector, sign, verify } from '../../../src/sctp/engine/auth.js';
import {
  ChunkType,
  ParamType,
  CauseCode,
  decodeAsconfAck,
  decodeInit,
  decodeIp,
  decodeSctp,
  encodeAsconf,
  encodeIp,
  encodeSctp,
  initAddresses,
  type Chunk,
  type Param,
} from '../../../src/sctp/codec/index.js';
import { AUTH_PARAMS, chunk, containsAddress, initChunk, ip, packet } from './build.js';
import { readPcapIp } from './pcap.js';

const C0 = ip('10.0.1.2');
const C1 = ip('10.0.3.2');
const V = [ip('10.9.0.1'), ip('10.9.0.2')] as const;
const E = ip('10.0.2.2');
const P = 7;
const EP = 7;
const svc: SctpService = { name: 'echo', vips: [...V], port: P, endpoints: [{ addresses: [E], port: EP }] };

const out = (r: EngineResult, i = 0) => {
  const p = r.packets[i];
  assert.ok(p, `no packet ${i}: ${String(r.dropped)}`);
  const d = decodeIp(p.bytes);
  return {
    ...d,
    sctp: decodeSctp(d.payload, { verify: true }),
    bytes: p.bytes,
    toward: p.toward,
    originated: p.originated,
  };
};

const tokenOf = (c: Chunk) => decodeInit(c).params.find((p) => p.type === ParamType.STATE_COOKIE)!.value;

function establish(
  eng: SctpNatEngine,
  o: { port?: number; tc?: number; te?: number; t?: number; authC?: Param[]; authE?: Param[] } = {},
) {
  const port = o.port ?? 5000;
  const tc = o.tc ?? 0x1000;
  const te = o.te ?? 0x2000;
  const t = o.t ?? 0;
  const i = out(
    eng.handle(
      packet(C0, V[0], port, P, 0, [initChunk(1, { tag: tc, addrs: [C0, C1], extra: o.authC ?? [] })]),
      t,
    ),
  );
  const lbPort = i.sctp.srcPort;
  const ack = out(
    eng.handle(
      packet(E, V[0], EP, lbPort, tc, [
        initChunk(2, { tag: te, cookie: new Uint8Array(8), extra: o.authE ?? [] }),
      ]),
      t,
    ),
  );
  eng.handle(packet(C0, V[0], port, P, te, [chunk(ChunkType.COOKIE_ECHO, tokenOf(ack.sctp.chunks[0]!))]), t);
  eng.handle(packet(E, V[0], EP, lbPort, tc, [chunk(ChunkType.COOKIE_ACK)]), t);
  return { lbPort, port, tc, te };
}

test('client restart: an INIT on a live 5-tuple becomes a new, rewritten association that replaces the old', () => {
  const eng = new SctpNatEngine([svc]);
  const old = establish(eng);
  const r = eng.handle(packet(C0, V[0], 5000, P, 0, [initChunk(1, { tag: 0x3000, addrs: [C0, C1] })]), 100);
  const fwd = out(r);
  assert.equal(fwd.sctp.srcPort, old.lbPort, 'same LB port: the endpoint sees its peer restart');
  assert.ok(
    !containsAddress(fwd.bytes, C0) && !containsAddress(fwd.bytes, C1),
    'restart INIT rewritten, never raw',
  );
  assert.deepEqual(initAddresses(decodeInit(fwd.sctp.chunks[0]!)).map(formatIp), ['10.9.0.2']);
  assert.equal(eng.size.associations, 2);
  // Old association still carries traffic until the new one is up.
  assert.equal(
    out(eng.handle(packet(C0, V[0], 5000, P, old.te, [chunk(ChunkType.DATA, new Uint8Array(13))]), 101))
      .toward,
    'endpoint',
  );
  const ack = out(
    eng.handle(
      packet(E, V[0], EP, old.lbPort, 0x3000, [initChunk(2, { tag: 0x4000, cookie: new Uint8Array(8) })]),
      102,
    ),
  );
  eng.handle(
    packet(C0, V[0], 5000, P, 0x4000, [chunk(ChunkType.COOKIE_ECHO, tokenOf(ack.sctp.chunks[0]!))]),
    103,
  );
  const up = eng.handle(packet(E, V[0], EP, old.lbPort, 0x3000, [chunk(ChunkType.COOKIE_ACK)]), 104);
  assert.ok(up.changes.remove.every((e) => e.match.vtag === old.te || e.match.vtag === old.tc));
  assert.ok(up.changes.remove.length > 0);
  assert.equal(eng.size.associations, 1);
  assert.equal(eng.associations(105)[0]?.clientVtag, 0x3000);
});

test('endpoint restart: an INIT from the endpoint on the live tuple is rewritten towards the client', () => {
  const eng = new SctpNatEngine([svc]);
  const s = establish(eng);
  const r = eng.handle(
    packet(E, V[1], EP, s.lbPort, 0, [initChunk(1, { tag: 0x5000, addrs: [ip('10.0.2.9')] })]),
    10,
  );
  const fwd = out(r);
  assert.equal(fwd.toward, 'client');
  assert.equal(formatIp(fwd.ip.src), '10.9.0.2');
  assert.deepEqual([fwd.sctp.srcPort, fwd.sctp.dstPort], [P, s.port]);
  assert.ok(!containsAddress(fwd.bytes, E) && !containsAddress(fwd.bytes, ip('10.0.2.9')));
  assert.deepEqual(initAddresses(decodeInit(fwd.sctp.chunks[0]!)).map(formatIp), ['10.9.0.1']);
  // The client's INIT-ACK lists its (possibly new) addresses: the endpoint must see VIPs only.
  const ack = out(
    eng.handle(
      packet(fwd.ip.dst, V[1], s.port, P, 0x5000, [
        initChunk(2, { tag: 0x6000, addrs: [C0, C1], cookie: new Uint8Array(4) }),
      ]),
      11,
    ),
  );
  assert.equal(ack.toward, 'endpoint');
  assert.ok(!containsAddress(ack.bytes, C0) && !containsAddress(ack.bytes, C1));
  assert.deepEqual(initAddresses(decodeInit(ack.sctp.chunks[0]!)).map(formatIp), ['10.9.0.1']);
  const echo = out(
    eng.handle(
      packet(E, V[1], EP, s.lbPort, 0x6000, [chunk(ChunkType.COOKIE_ECHO, tokenOf(ack.sctp.chunks[0]!))]),
      12,
    ),
  );
  assert.deepEqual(echo.sctp.chunks[0]?.body, new Uint8Array(4), 'the client gets its own cookie back');
  eng.handle(packet(C1, V[1], s.port, P, 0x5000, [chunk(ChunkType.COOKIE_ACK)]), 13);
  // COOKIE-ACK came from the client here; the association is usable in both directions.
  assert.equal(
    out(eng.handle(packet(C1, V[0], s.port, P, 0x5000, [chunk(ChunkType.DATA, new Uint8Array(13))]), 14))
      .toward,
    'endpoint',
  );
  assert.equal(
    out(eng.handle(packet(E, V[0], EP, s.lbPort, 0x6000, [chunk(ChunkType.DATA, new Uint8Array(13))]), 15))
      .toward,
    'client',
  );
});

test('an INIT flood never grows the table past its bounds and never evicts established associations', () => {
  const eng = new SctpNatEngine([svc], { maxHalfOpen: 16, maxAssociations: 40 });
  const keep = establish(eng, { port: 4000 });
  for (let i = 0; i < 2000; i++) {
    const src: IpAddr = { family: 4, value: 0x0a640000n + BigInt(i) };
    eng.handle(
      packet(src, V[0], 10000 + (i % 50000), P, 0, [initChunk(1, { tag: 0x100 + i, addrs: [src] })]),
      i,
    );
    assert.ok(eng.size.halfOpen <= 16);
    assert.ok(eng.size.associations <= 40);
  }
  // The established association is untouched and still forwards.
  assert.equal(
    out(eng.handle(packet(C0, V[1], 4000, P, keep.te, [chunk(ChunkType.DATA, new Uint8Array(13))]), 3000))
      .toward,
    'endpoint',
  );
  // Filling the table with established associations leaves new INITs nowhere to go: table-full, not a crash.
  const eng2 = new SctpNatEngine([svc], { maxHalfOpen: 4, maxAssociations: 3 });
  for (let i = 0; i < 3; i++) establish(eng2, { port: 6000 + i, tc: 0x10 + i, te: 0x20 + i });
  assert.equal(
    eng2.handle(packet(C0, V[0], 7000, P, 0, [initChunk(1, { tag: 99 })]), 1).dropped,
    'table-full',
  );
});

test('two clients on the same port towards one endpoint get distinct LB ports', () => {
  const eng = new SctpNatEngine([svc]);
  const a = out(eng.handle(packet(C0, V[0], 5000, P, 0, [initChunk(1, { tag: 1 })]), 0));
  const b = out(eng.handle(packet(ip('10.0.5.5'), V[0], 5000, P, 0, [initChunk(1, { tag: 2 })]), 0));
  assert.equal(a.sctp.srcPort, 5000);
  assert.notEqual(b.sctp.srcPort, 5000);
});

test('ASCONF add/delete/set-primary from the client is answered by the LB, signed, never forwarded', () => {
  const eng = new SctpNatEngine([svc]);
  const authC = AUTH_PARAMS(1);
  const authE = AUTH_PARAMS(2);
  const s = establish(eng, { authC, authE });
  const key = associationKey({
    client: keyVector(authC).vector!,
    endpoint: keyVector(authE).vector!,
    clientHmacs: [],
    endpointHmacs: [],
    clientChunks: [],
    endpointChunks: [],
  });
  assert.ok(key);
  const C2 = ip('10.0.4.2');
  const asconf = encodeAsconf({
    serial: 7,
    lookup: C0,
    items: [
      {
        type: ParamType.ADD_IP,
        correlationId: 1,
        rest: [{ type: 5, value: Uint8Array.from([10, 0, 4, 2]) }],
      },
      {
        type: ParamType.DELETE_IP,
        correlationId: 2,
        rest: [{ type: 5, value: Uint8Array.from([10, 0, 1, 2]) }],
      }, // own source: refused
      {
        type: ParamType.SET_PRIMARY,
        correlationId: 3,
        rest: [{ type: 5, value: Uint8Array.from([10, 0, 4, 2]) }],
      },
      {
        type: ParamType.ADD_IP,
        correlationId: 4,
        rest: [{ type: 5, value: Uint8Array.from([10, 9, 0, 2]) }],
      }, // a VIP: refused
    ],
  });
  const r = eng.handle(packet(C0, V[0], s.port, P, s.te, sign(key, [1], [asconf])), 10);
  assert.equal(r.packets.length, 1, 'only the ASCONF-ACK: nothing goes to the endpoint');
  const ack = out(r);
  assert.ok(ack.originated);
  assert.equal(ack.toward, 'client');
  assert.deepEqual(
    [formatIp(ack.ip.src), formatIp(ack.ip.dst), ack.sctp.vtag],
    ['10.9.0.1', '10.0.1.2', s.tc],
  );
  assert.equal(ack.sctp.chunks[0]?.type, ChunkType.AUTH);
  assert.ok(verify(key, ack.sctp.chunks, 0), 'ASCONF-ACK carries a valid HMAC for the client');
  const body = decodeAsconfAck(ack.sctp.chunks[1]!);
  assert.equal(body.serial, 7);
  const byId = new Map(body.items.map((it) => [it.correlationId, it]));
  assert.equal(byId.get(1)?.type, ParamType.SUCCESS_INDICATION);
  assert.equal(byId.get(2)?.rest[0]?.type, CauseCode.DELETE_SOURCE_ADDRESS);
  assert.equal(byId.get(3)?.type, ParamType.SUCCESS_INDICATION);
  assert.equal(byId.get(4)?.rest[0]?.type, CauseCode.NO_AUTHORIZATION);
  // New client-side paths for C2 × every VIP; the endpoint's primary VIP now returns to C2.
  const added = r.changes.add.filter((e) => e.toward === 'endpoint');
  assert.deepEqual(
    added.map((e) => formatIp(e.match.src)),
    ['10.0.4.2', '10.0.4.2'],
  );
  const back = out(
    eng.handle(packet(E, V[0], EP, s.lbPort, s.tc, [chunk(ChunkType.DATA, new Uint8Array(13))]), 11),
  );
  assert.equal(formatIp(back.ip.dst), formatIp(C2));
  // A forged or unsigned ASCONF is dropped.
  assert.equal(eng.handle(packet(C0, V[0], s.port, P, s.te, [asconf]), 12).dropped, 'auth-failed');
  const forged = sign(new Uint8Array(10), [1], [asconf]);
  assert.equal(eng.handle(packet(C0, V[0], s.port, P, s.te, forged), 12).dropped, 'auth-failed');
});

test('ASCONF delete of the last address is refused; delete of another one removes its paths', () => {
  const eng = new SctpNatEngine([svc]);
  const s = establish(eng);
  const del = (addr: number[], serial: number) =>
    encodeAsconf({
      serial,
      lookup: C0,
      items: [
        {
          type: ParamType.DELETE_IP,
          correlationId: serial,
          rest: [{ type: 5, value: Uint8Array.from(addr) }],
        },
      ],
    });
  const r = eng.handle(packet(C0, V[0], s.port, P, s.te, [del([10, 0, 3, 2], 1)]), 1);
  assert.equal(decodeAsconfAck(out(r).sctp.chunks[0]!).items[0]?.type, ParamType.SUCCESS_INDICATION);
  assert.ok(r.changes.remove.some((e) => formatIp(e.match.src) === '10.0.3.2'));
  assert.ok(
    !eng
      .natEntries()
      .some((e) => formatIp(e.match.src) === '10.0.3.2' || formatIp(e.rewrite.dst) === '10.0.3.2'),
  );
  const last = eng.handle(packet(C0, V[0], s.port, P, s.te, [del([10, 0, 1, 2], 2)]), 2);
  assert.equal(
    decodeAsconfAck(out(last).sctp.chunks[0]!).items[0]?.rest[0]?.type,
    CauseCode.DELETE_LAST_ADDRESS,
  );
});

test('IPv6 service: address parameters and headers are rewritten for IPv6 too', () => {
  const W = [ip('fd00:9::1'), ip('fd00:9::2')];
  const E6 = ip('fd00:2::2');
  const c = [ip('fd00:1::2'), ip('fd00:3::2')] as const;
  const eng = new SctpNatEngine([
    { name: 'v6', vips: W, port: 38412, endpoints: [{ addresses: [E6], port: 38412 }] },
  ]);
  const i = out(
    eng.handle(packet(c[0], W[0]!, 9000, 38412, 0, [initChunk(1, { tag: 42, addrs: [...c, C0] })]), 0),
  );
  assert.equal(i.ip.family, 6);
  assert.deepEqual(initAddresses(decodeInit(i.sctp.chunks[0]!)).map(formatIp), ['fd00:9::2']);
  for (const x of [...c, C0]) assert.ok(!containsAddress(i.bytes, x));
  const r = eng.handle(
    packet(E6, W[0]!, 38412, 9000, 42, [
      initChunk(2, { tag: 43, addrs: [ip('fd00:2::3')], cookie: new Uint8Array(4) }),
    ]),
    1,
  );
  const a = out(r);
  assert.deepEqual(initAddresses(decodeInit(a.sctp.chunks[0]!)).map(formatIp), ['fd00:9::2']);
  assert.ok(!containsAddress(a.bytes, E6));
  // Half-open: the path table exists (2 client addresses × 2 VIPs) but nothing is in the kernel yet.
  assert.equal(r.changes.add.length, 0);
  assert.equal(eng.associations(1)[0]?.paths.filter((p) => p.side === 'client').length, 4);
});

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../../../test/fixtures/sctp/${name}`, import.meta.url));

test('the captured usrsctp handshake, replayed through the engine, leaks no address either way', () => {
  const client = readPcapIp(fixture('client-side.pcap')).map(decodeIp);
  const endpoint = readPcapIp(fixture('endpoint-side.pcap')).map(decodeIp);
  const VIP = [ip('10.201.9.1'), ip('10.201.9.2')];
  const EPA = ip('10.201.2.2');
  const eng = new SctpNatEngine([
    { name: 'echo', vips: VIP, port: 7, endpoints: [{ addresses: [EPA], port: 7 }] },
  ]);
  const initPkt = client[0]!;
  const r1 = eng.handle(encodeIp(initPkt.ip, initPkt.ip.src, initPkt.ip.dst, initPkt.payload), 0);
  const fwd = out(r1);
  const realClient = initAddresses(decodeInit(decodeSctp(initPkt.payload).chunks[0]!));
  assert.equal(realClient.length, 4);
  for (const a of [...realClient, initPkt.ip.src]) assert.ok(!containsAddress(fwd.bytes, a), formatIp(a));
  assert.deepEqual(initAddresses(decodeInit(fwd.sctp.chunks[0]!)).map(formatIp), ['10.201.9.2']);
  // The endpoint's real INIT-ACK (addressed to the SNAT address in the capture) sent to the VIP instead.
  const ackPkt = endpoint.find((p) => decodeSctp(p.payload).chunks[0]?.type === ChunkType.INIT_ACK)!;
  const r2 = eng.handle(encodeIp(ackPkt.ip, EPA, fwd.ip.src, ackPkt.payload), 1);
  const back = out(r2);
  assert.ok(!containsAddress(back.bytes, EPA));
  assert.equal(formatIp(back.ip.dst), formatIp(initPkt.ip.src));
  const origAck = decodeInit(decodeSctp(ackPkt.payload).chunks[0]!);
  const newAck = decodeInit(back.sctp.chunks[0]!);
  // usrsctp's cookie carries the endpoint's own address in clear: the client gets a token instead,
  // and the endpoint gets its real cookie back in the COOKIE-ECHO.
  const realCookie = origAck.params.find((p) => p.type === ParamType.STATE_COOKIE)!.value;
  assert.ok(containsAddress(realCookie, EPA), 'the fixture shows the cookie leak this guards against');
  const token = newAck.params.find((p) => p.type === ParamType.STATE_COOKIE)!.value;
  const echoPkt = client.find((p) => decodeSctp(p.payload).chunks[0]?.type === ChunkType.COOKIE_ECHO)!;
  const echoS = decodeSctp(echoPkt.payload);
  const mine = encodeSctp({
    ...echoS,
    chunks: [{ ...echoS.chunks[0]!, body: token }, ...echoS.chunks.slice(1)],
  });
  const r3 = eng.handle(encodeIp(echoPkt.ip, echoPkt.ip.src, echoPkt.ip.dst, mine), 2);
  assert.deepEqual(out(r3).sctp.chunks[0]?.body, realCookie);
  for (const t of [
    ParamType.RANDOM,
    ParamType.HMAC_ALGO,
    ParamType.CHUNK_LIST,
    ParamType.SUPPORTED_EXTENSIONS,
  ])
    assert.deepEqual(
      newAck.params.find((p) => p.type === t)?.value,
      origAck.params.find((p) => p.type === t)?.value,
    );
  // Client paths: two IPv4 client addresses × two VIPs (the IPv6 ones have no IPv6 VIP).
  assert.equal(eng.associations(2)[0]?.paths.filter((p) => p.side === 'client').length, 4);
});
