import test from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, type IpAddr } from '../../../src/net/ip.js';
import {
  SctpNatEngine,
  type EngineResult,
  type NatEntry,
  type SctpService,
} from '../../../src/sctp/index.js';
import {
  ChunkType,
  FLAG_T,
  ParamType,
  decodeInit,
  decodeIp,
  decodeSctp,
  initAddresses,
} from '../../../src/sctp/codec/index.js';
import { chunk, containsAddress, initChunk, ip, packet } from './build.js';

const C0 = ip('10.0.1.2');
const C1 = ip('10.0.3.2');
const C6 = ip('fd00:1::2');
const V = [ip('10.9.0.1'), ip('10.9.0.2'), ip('10.9.0.3')] as const;
const E = ip('10.0.2.2');
const E2 = ip('10.0.2.3');
const PC = 5000;
const P = 7;
const EP = 7007;
const TC = 0x11111111;
const TE = 0x22222222;
const COOKIE = Uint8Array.from({ length: 64 }, (_, i) => i);

const svc: SctpService = { name: 'echo', vips: [...V], port: P, endpoints: [{ addresses: [E], port: EP }] };

const decoded = (r: EngineResult, i = 0) => {
  const p = r.packets[i];
  assert.ok(p, `packet ${i} of ${JSON.stringify(r.dropped)}`);
  const d = decodeIp(p.bytes);
  return { ...d, sctp: decodeSctp(d.payload, { verify: true }), toward: p.toward, bytes: p.bytes };
};
const addrs = (xs: readonly IpAddr[]) => xs.map(formatIp).sort();

/** Client INIT → endpoint INIT-ACK → COOKIE-ECHO → COOKIE-ACK through the engine. */
function handshake(
  eng: SctpNatEngine,
  t = 0,
  clientAddrs: IpAddr[] = [C0, C1, C6],
  port = PC,
  tc = TC,
  te = TE,
) {
  const init = eng.handle(packet(C0, V[0], port, P, 0, [initChunk(1, { tag: tc, addrs: clientAddrs })]), t);
  const fwdInit = decoded(init);
  const ack = eng.handle(
    packet(E, V[0], EP, fwdInit.sctp.srcPort, tc, [initChunk(2, { tag: te, addrs: [E2], cookie: COOKIE })]),
    t + 1,
  );
  const fwdAck = decoded(ack);
  // The client echoes whatever cookie it was given (the LB's token).
  const token = decodeInit(fwdAck.sctp.chunks[0]!).params.find(
    (p) => p.type === ParamType.STATE_COOKIE,
  )!.value;
  const echo = eng.handle(packet(C0, V[0], port, P, te, [chunk(ChunkType.COOKIE_ECHO, token)]), t + 2);
  const cack = eng.handle(
    packet(E, V[0], EP, fwdInit.sctp.srcPort, tc, [chunk(ChunkType.COOKIE_ACK)]),
    t + 3,
  );
  return { init, fwdInit, ack, fwdAck, echo, cack, lbPort: fwdInit.sctp.srcPort };
}

test('INIT towards the endpoint names only VIPs; INIT-ACK towards the client names only VIPs', () => {
  const eng = new SctpNatEngine([svc]);
  const h = handshake(eng);
  // INIT: from the primary VIP to the endpoint, listing the other VIPs, never a client address.
  assert.equal(formatIp(h.fwdInit.ip.src), '10.9.0.1');
  assert.equal(formatIp(h.fwdInit.ip.dst), '10.0.2.2');
  assert.equal(h.fwdInit.sctp.dstPort, EP);
  const i = decodeInit(h.fwdInit.sctp.chunks[0]!);
  assert.deepEqual(addrs(initAddresses(i)), ['10.9.0.2', '10.9.0.3']);
  for (const c of [C0, C1, C6])
    assert.ok(!containsAddress(h.fwdInit.bytes, c), `client ${formatIp(c)} leaked`);
  assert.equal(i.initiateTag, TC);
  assert.ok(
    i.params.some((p) => p.type === 0x8123),
    'unknown parameter preserved',
  );
  assert.ok(i.params.some((p) => p.type === ParamType.SUPPORTED_ADDRESS_TYPES));
  // INIT-ACK: back to the client address the INIT came from, from the VIP it was sent to.
  assert.equal(h.fwdAck.toward, 'client');
  assert.equal(formatIp(h.fwdAck.ip.src), '10.9.0.1');
  assert.equal(formatIp(h.fwdAck.ip.dst), '10.0.1.2');
  assert.deepEqual([h.fwdAck.sctp.srcPort, h.fwdAck.sctp.dstPort, h.fwdAck.sctp.vtag], [P, PC, TC]);
  const a = decodeInit(h.fwdAck.sctp.chunks[0]!);
  assert.deepEqual(addrs(initAddresses(a)), ['10.9.0.2', '10.9.0.3']);
  // The real cookie (BSD stacks put their own addresses in it) is replaced by an LB token and
  // swapped back when the client echoes it.
  const token = a.params.find((p) => p.type === ParamType.STATE_COOKIE)?.value;
  assert.ok(token && !Buffer.from(token).includes(Buffer.from(COOKIE)), 'the real cookie is sealed');
  const echoed = decoded(h.echo);
  assert.equal(echoed.sctp.chunks[0]?.type, ChunkType.COOKIE_ECHO);
  assert.deepEqual(echoed.sctp.chunks[0]?.body, COOKIE);
  assert.equal(
    eng.handle(packet(C0, V[0], PC, P, TE, [chunk(ChunkType.COOKIE_ECHO, COOKIE)]), 9).dropped,
    'bad-cookie',
  );
  for (const e of [E, E2]) assert.ok(!containsAddress(h.fwdAck.bytes, e), `endpoint ${formatIp(e)} leaked`);
  assert.equal(eng.associations(10)[0]?.state, 'established');
});

test('the path table covers every (client address, VIP) pair and every (endpoint address, VIP) pair', () => {
  const eng = new SctpNatEngine([svc]);
  const h = handshake(eng);
  // Nothing reaches the kernel while half-open; all of it once established (COOKIE-ACK).
  assert.deepEqual([h.ack.changes.add.length, h.echo.changes.add.length], [0, 0]);
  const add = h.cack.changes.add;
  const toEp = add.filter((e) => e.toward === 'endpoint');
  const toCl = add.filter((e) => e.toward === 'client');
  // The IPv6 client address has no IPv4 VIP to pair with: 2 client addresses × 3 VIPs.
  assert.equal(toEp.length, 6);
  assert.equal(toCl.length, 6); // 2 endpoint addresses (E, and E2 from the INIT-ACK) × 3 VIPs
  const pairs = new Set(toEp.map((e) => `${formatIp(e.match.src)}>${formatIp(e.match.dst)}`));
  for (const c of [C0, C1]) for (const v of V) assert.ok(pairs.has(`${formatIp(c)}>${formatIp(v)}`));
  // All paths lead to the same endpoint; the VIP stays the address the other side sees.
  for (const e of toEp) {
    assert.equal(formatIp(e.rewrite.dst), '10.0.2.2');
    assert.equal(formatIp(e.rewrite.src), formatIp(e.match.dst));
    assert.equal(e.match.vtag, TE);
    assert.equal(e.rewrite.dstPort, EP);
  }
  // Endpoint-side paths spread the VIPs over both client addresses (failover needs both links).
  const dests = new Set(toCl.map((e) => formatIp(e.rewrite.dst)));
  assert.deepEqual([...dests].sort(), ['10.0.1.2', '10.0.3.2']);
  for (const e of toCl) assert.equal(e.match.vtag, TC);
  assert.deepEqual(eng.natEntries().length, 12);
});

/**
 * The kernel entries and the userspace translation agree: a packet on any path is rewritten exactly as
 * its current entry says, and the incremental changes always add up to the full entry set.
 */
test('every NAT entry matches what the engine does with a packet on that path', () => {
  const eng = new SctpNatEngine([svc]);
  const kernel = new Map<string, NatEntry>();
  const k = (e: NatEntry) => JSON.stringify(e, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
  const apply = (r: EngineResult, check = true) => {
    for (const e of r.changes.remove) assert.ok(kernel.delete(k(e)), 'removal of an entry never added');
    for (const e of r.changes.add) kernel.set(k(e), e);
    if (check) assert.deepEqual([...kernel.keys()].sort(), eng.natEntries().map(k).sort());
  };
  const h = handshake(eng);
  for (const r of [h.init, h.ack, h.echo, h.cack]) apply(r, false);
  assert.equal(kernel.size, 12);
  assert.deepEqual([...kernel.keys()].sort(), eng.natEntries().map(k).sort());
  for (let round = 0; round < 2; round++) {
    for (const e of eng.natEntries()) {
      const current = new Set(eng.natEntries().map(k));
      if (!current.has(k(e))) continue; // replaced by a learned return path in this round
      const hb = chunk(ChunkType.HEARTBEAT, [0, 1, 0, 8, 1, 2, 3, 4]);
      const r = eng.handle(
        packet(e.match.src, e.match.dst, e.match.srcPort, e.match.dstPort, e.match.vtag, [hb]),
        5,
      );
      const d = decoded(r);
      assert.deepEqual(
        [formatIp(d.ip.src), formatIp(d.ip.dst), d.sctp.srcPort, d.sctp.dstPort, d.sctp.vtag],
        [
          formatIp(e.rewrite.src),
          formatIp(e.rewrite.dst),
          e.rewrite.srcPort,
          e.rewrite.dstPort,
          e.match.vtag,
        ],
      );
      apply(r);
    }
  }
});

test('endpoint heartbeats to each VIP reach a client address; client data on any path reaches the endpoint', () => {
  const eng = new SctpNatEngine([svc]);
  const h = handshake(eng);
  for (const v of V) {
    const r = eng.handle(
      packet(E, v, EP, h.lbPort, TC, [chunk(ChunkType.HEARTBEAT, [0, 1, 0, 8, 9, 9, 9, 9])]),
      10,
    );
    const d = decoded(r);
    assert.equal(d.toward, 'client');
    assert.ok([C0, C1].some((c) => formatIp(c) === formatIp(d.ip.dst)));
    assert.equal(formatIp(d.ip.src), formatIp(v));
  }
  const r = eng.handle(
    packet(C1, V[2], PC, P, TE, [chunk(ChunkType.DATA, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 104, 105])]),
    11,
  );
  const d = decoded(r);
  assert.deepEqual([formatIp(d.ip.src), formatIp(d.ip.dst)], ['10.9.0.3', '10.0.2.2']);
  // The client used C1 towards V2, but V2's endpoint-side path stays on its own client address (C0):
  // the paths stay spread over distinct client addresses (a single-source client must not collapse
  // them onto one) while that address is alive.
  const back = decoded(
    eng.handle(
      packet(E, V[2], EP, h.lbPort, TC, [chunk(ChunkType.SACK, [0, 0, 0, 1, 0, 0, 16, 0, 0, 0, 0, 0])]),
      12,
    ),
  );
  assert.equal(formatIp(back.ip.dst), '10.0.1.2');
});

test('packets with a wrong vtag, unknown client address or unknown service are dropped', () => {
  const eng = new SctpNatEngine([svc]);
  const h = handshake(eng);
  assert.equal(
    eng.handle(packet(C0, V[0], PC, P, TE + 1, [chunk(ChunkType.DATA, new Uint8Array(13))]), 5).dropped,
    'no-association',
  );
  assert.equal(
    eng.handle(packet(ip('10.0.7.7'), V[0], PC, P, TE, [chunk(ChunkType.DATA, new Uint8Array(13))]), 5)
      .dropped,
    'no-association',
  );
  assert.equal(
    eng.handle(packet(E, V[0], EP, h.lbPort, TE, [chunk(ChunkType.SACK, new Uint8Array(12))]), 5).dropped,
    'no-association',
  );
  assert.equal(
    eng.handle(packet(C0, ip('10.9.9.9'), PC, P, 0, [initChunk(1, { tag: 5 })]), 5).dropped,
    'no-service',
  );
  const bad = packet(C0, V[0], PC, P, TE, [chunk(ChunkType.DATA, new Uint8Array(13))]);
  bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
  assert.equal(eng.handle(bad, 5).dropped, 'bad-checksum');
  assert.equal(eng.handle(packet(C0, V[0], PC, P, 0, [initChunk(1, { tag: 0 })]), 5).dropped, 'invalid-init');
  assert.equal(
    eng.handle(
      packet(C0, V[0], PC, P, 0, [initChunk(1, { tag: 9 }), chunk(ChunkType.DATA, new Uint8Array(13))]),
      5,
    ).dropped,
    'init-bundled',
  );
});

test('SHUTDOWN-COMPLETE closes, the entries linger briefly, then the table empties', () => {
  const eng = new SctpNatEngine([svc], { closeLingerMs: 1000 });
  const h = handshake(eng);
  eng.handle(packet(C0, V[0], PC, P, TE, [chunk(ChunkType.SHUTDOWN, [0, 0, 0, 0])]), 100);
  eng.handle(packet(E, V[0], EP, h.lbPort, TC, [chunk(ChunkType.SHUTDOWN_ACK)]), 101);
  const sc = eng.handle(packet(C0, V[0], PC, P, TE, [chunk(ChunkType.SHUTDOWN_COMPLETE)]), 102);
  assert.equal(decoded(sc).toward, 'endpoint');
  assert.equal(eng.associations(102)[0]?.state, 'closed');
  assert.equal(eng.tick(500).remove.length, 0);
  assert.equal(eng.tick(1102).remove.length, 12);
  assert.deepEqual(eng.associations(1200), []);
  assert.deepEqual(eng.natEntries(), []);
});

test('ABORT with and without the T bit removes the association at once', () => {
  for (const [from, tbit] of [
    ['client', false],
    ['client', true],
    ['endpoint', false],
    ['endpoint', true],
  ] as const) {
    const eng = new SctpNatEngine([svc]);
    const h = handshake(eng);
    const abort = chunk(ChunkType.ABORT, [], tbit ? FLAG_T : 0);
    const pkt =
      from === 'client'
        ? packet(C1, V[1], PC, P, tbit ? TC : TE, [abort])
        : packet(E, V[1], EP, h.lbPort, tbit ? TE : TC, [abort]);
    const r = eng.handle(pkt, 50);
    assert.equal(r.dropped, undefined, `${from} T=${tbit}`);
    assert.equal(r.changes.remove.length, 12);
    assert.deepEqual(eng.natEntries(), []);
  }
});

test('ABORT causes that carry addresses are scrubbed before forwarding', () => {
  const eng = new SctpNatEngine([svc]);
  handshake(eng);
  // Cause 11 (restart with new addresses) lists a client address; cause 12 (user abort) is kept.
  const causes = [0, 11, 0, 12, 0, 5, 0, 8, 10, 0, 3, 2, 0, 12, 0, 5, 104, 105, 33, 0];
  const r = eng.handle(packet(C0, V[0], PC, P, TE, [chunk(ChunkType.ABORT, causes)]), 5);
  const d = decoded(r);
  assert.ok(!containsAddress(d.bytes, C1));
  assert.deepEqual([...d.sctp.chunks[0]!.body.subarray(0, 4)], [0, 12, 0, 5]);
});

test('half-open associations time out; established ones idle out unless touched', () => {
  const eng = new SctpNatEngine([svc], { halfOpenTimeoutMs: 1000, idleTimeoutMs: 10_000 });
  eng.handle(packet(C0, V[0], 6000, P, 0, [initChunk(1, { tag: 77 })]), 0);
  handshake(eng, 0);
  assert.equal(eng.size.associations, 2);
  eng.tick(1000);
  assert.equal(eng.size.associations, 1);
  const id = eng.associations(1000)[0]!.id;
  eng.touch(id, 9000);
  eng.tick(10_500);
  assert.equal(eng.size.associations, 1);
  assert.equal(eng.tick(19_000).remove.length, 12);
  assert.equal(eng.size.associations, 0);
});

test('a retransmitted INIT is translated again without a second association', () => {
  const eng = new SctpNatEngine([svc]);
  const a = decoded(eng.handle(packet(C0, V[0], PC, P, 0, [initChunk(1, { tag: TC, addrs: [C1] })]), 0));
  const b = decoded(eng.handle(packet(C0, V[0], PC, P, 0, [initChunk(1, { tag: TC, addrs: [C1] })]), 1000));
  assert.deepEqual(a.bytes, b.bytes);
  assert.equal(eng.size.associations, 1);
});

test('endpoint paths move off a client address that went silent while another stayed live', () => {
  const eng = new SctpNatEngine([svc], { returnStaleMs: 1000 });
  const h = handshake(eng, 0, [C0, C1]);
  const dstOf = (vip: IpAddr) =>
    formatIp(
      decoded(eng.handle(packet(E, vip, EP, h.lbPort, TC, [chunk(ChunkType.DATA, new Uint8Array(13))]), 1)).ip
        .dst,
    );
  assert.equal(dstOf(V[0]), '10.0.1.2');
  assert.equal(dstOf(V[1]), '10.0.3.2');
  // Nothing heard from anyone yet beyond the handshake: nothing moves.
  assert.equal(eng.tick(500).add.length, 0);
  // The kernel fast path carried a retransmission on V0's path (to C0) and reports traffic from C1
  // to V1 only; nothing came to V0 for more than 1 s.
  const id = eng.associations(0)[0]!.id;
  eng.delivered(id, V[0], 1, 900);
  eng.observe(id, C1, 2500, V[1]);
  const moved = eng.tick(2600);
  assert.ok(moved.add.length > 0 && moved.add.every((e) => formatIp(e.rewrite.dst) === '10.0.3.2'));
  assert.equal(dstOf(V[0]), '10.0.3.2');
  assert.equal(dstOf(V[2]), '10.0.3.2');
  // observe() of an address that is not the client's is ignored.
  eng.observe(id, ip('10.7.7.7'), 2700);
  assert.equal(eng.tick(2700).add.length, 0);
  // C0 is heard again: its paths go home.
  eng.observe(id, C0, 3000, V[0]);
  assert.ok(eng.tick(3000).add.every((e) => formatIp(e.rewrite.dst) === '10.0.1.2'));
  assert.equal(dstOf(V[0]), '10.0.1.2');
});
