// What broke in the field (issue 13): a never-completed INIT on a live 5-tuple evicting the live
// association's kernel entries, single-source clients collapsing the endpoint-side paths onto one
// address, ERROR chunks bypassing the scrubber, and INIT floods (rate limits, bounded half-open
// table, no kernel work for half-open associations).
import test from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, type IpAddr } from '../../../src/net/ip.js';
import { SctpNatEngine, type EngineResult, type SctpService } from '../../../src/sctp/index.js';
import {
  PathIds,
  fastPathScript,
  fastPathTable,
  fastPathEnsureScript,
} from '../../../src/sctp/kernel/nft.js';
import { ChunkType, ParamType, decodeInit, decodeIp, decodeSctp } from '../../../src/sctp/codec/index.js';
import { sctpLimitsFromEnv, SctpLimitsError } from '../../../src/sctp/limits.js';
import { chunk, containsAddress, initChunk, ip, packet } from './build.js';
import { FakeNft } from './fakenft.js';

const C0 = ip('10.0.1.2');
const C1 = ip('10.0.3.2');
const V = [ip('10.9.0.1'), ip('10.9.0.2'), ip('10.9.0.3')];
const E = ip('10.0.2.2');
const P = 7;
const svc: SctpService = { name: 'echo', vips: V, port: P, endpoints: [{ addresses: [E], port: P }] };
const DATA = () => chunk(ChunkType.DATA, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 104, 105]);

const out = (r: EngineResult) => {
  const p = r.packets[0];
  assert.ok(p, `dropped: ${String(r.dropped)}`);
  const d = decodeIp(p.bytes);
  return { ...d, sctp: decodeSctp(d.payload, { verify: true }), bytes: p.bytes };
};

function establish(
  eng: SctpNatEngine,
  t: number,
  o: { tc: number; te: number; port?: number; apply?: (r: EngineResult) => void },
) {
  const port = o.port ?? 5000;
  const ap = (r: EngineResult) => (o.apply?.(r), r);
  const i = out(
    ap(eng.handle(packet(C0, V[0]!, port, P, 0, [initChunk(1, { tag: o.tc, addrs: [C0, C1] })]), t)),
  );
  const lbPort = i.sctp.srcPort;
  const a = out(
    ap(
      eng.handle(
        packet(E, V[0]!, P, lbPort, o.tc, [initChunk(2, { tag: o.te, cookie: new Uint8Array(8) })]),
        t + 1,
      ),
    ),
  );
  const token = decodeInit(a.sctp.chunks[0]!).params.find((p) => p.type === ParamType.STATE_COOKIE)!.value;
  ap(eng.handle(packet(C0, V[0]!, port, P, o.te, [chunk(ChunkType.COOKIE_ECHO, token)]), t + 2));
  ap(eng.handle(packet(E, V[0]!, P, lbPort, o.tc, [chunk(ChunkType.COOKIE_ACK)]), t + 3));
  return { lbPort };
}

test('a never-completed INIT on a live 5-tuple leaves the live association’s kernel entries alone', () => {
  const eng = new SctpNatEngine([svc], { halfOpenTimeoutMs: 1000 });
  const nft = new FakeNft();
  const ids = new PathIds();
  const apply = (r: { changes: EngineResult['changes'] } | EngineResult['changes']) =>
    nft.apply(fastPathScript('changes' in r ? r.changes : r, ids));
  const { lbPort } = establish(eng, 0, { tc: 0x1111, te: 0x2222, apply });
  const n = eng.natEntries().length;
  assert.equal(nft.size('ip', 'pathid'), n);
  // The client restarts on the same address and port; the endpoint answers; the COOKIE-ECHO never comes.
  const i = out(
    eng.handle(packet(C0, V[0]!, 5000, P, 0, [initChunk(1, { tag: 0x3333, addrs: [C0, C1] })]), 100),
  );
  assert.equal(i.sctp.srcPort, lbPort, 'a restart keeps the LB port (same endpoint-side tuple)');
  const ack = eng.handle(
    packet(E, V[0]!, P, lbPort, 0x3333, [initChunk(2, { tag: 0x4444, cookie: new Uint8Array(8) })]),
    101,
  );
  apply(ack);
  assert.equal(ack.changes.add.length, 0, 'a half-open newcomer writes nothing to the kernel');
  apply(eng.tick(2000)); // the newcomer expires
  assert.equal(eng.size.associations, 1);
  assert.equal(nft.size('ip', 'pathid'), n, 'the live association keeps every kernel entry');
  for (const m of ['nsaddr', 'ndaddr', 'nsport', 'ndport']) assert.equal(nft.size('ip', m), n, m);
  assert.equal(out(eng.handle(packet(C1, V[1]!, 5000, P, 0x2222, [DATA()]), 2001)).sctp.srcPort, lbPort);
});

test('a single-source client keeps its endpoint-side paths on distinct client addresses; a dead one fails over', () => {
  const eng = new SctpNatEngine([svc], { returnStaleMs: 1000 });
  const { lbPort } = establish(eng, 0, { tc: 0x1111, te: 0x2222 });
  const id = eng.associations(0)[0]!.id;
  const dstOf = (vip: IpAddr, t: number) =>
    formatIp(out(eng.handle(packet(E, vip, P, lbPort, 0x1111, [DATA()]), t)).ip.dst);
  // The client sends everything from C0, to every VIP (its routes all use one link); the endpoint's
  // heartbeats to V1 reach C1, whose HEARTBEAT-ACKs come back from C0 (usrsctp picks its source by
  // route): C1 is never heard from, yet the path works.
  for (let t = 10; t < 3000; t += 100) {
    eng.delivered(id, V[1]!, 1, t);
    for (const v of V) out(eng.handle(packet(C0, v, 5000, P, 0x2222, [DATA()]), t + 1));
  }
  assert.equal(eng.tick(3000).add.length, 0);
  // The endpoint's packets on V1 still reach C1: a path per client address, as without the LB.
  assert.deepEqual(
    [dstOf(V[0]!, 3001), dstOf(V[1]!, 3002), dstOf(V[2]!, 3003)],
    ['10.0.1.2', '10.0.3.2', '10.0.1.2'],
  );
  assert.equal(eng.tick(3500).add.length, 0);
  // C0's link dies: nothing reaches V0 and V2 any more while their packets (retransmissions among
  // them) go to C0; the client is heard on V1 only. Those paths move to C1 and come back when C0 is
  // heard again.
  eng.delivered(id, V[0]!, 2, 3600);
  eng.delivered(id, V[2]!, 2, 3600);
  eng.observe(id, C1, 4000, V[1]!);
  assert.equal(eng.tick(4000).add.length, 0, 'not yet stale');
  const moved = eng.tick(4700);
  assert.ok(moved.add.length > 0 && moved.add.every((e) => formatIp(e.rewrite.dst) === '10.0.3.2'));
  assert.deepEqual([dstOf(V[0]!, 4701), dstOf(V[2]!, 4702)], ['10.0.3.2', '10.0.3.2']);
  out(eng.handle(packet(C0, V[0]!, 5000, P, 0x2222, [DATA()]), 7000));
  out(eng.handle(packet(C0, V[2]!, 5000, P, 0x2222, [DATA()]), 7000));
  assert.deepEqual([dstOf(V[0]!, 7001), dstOf(V[2]!, 7002)], ['10.0.1.2', '10.0.1.2'], 'home again');
  // An idle association never fails over: one trailing packet without a reply is not a dead link.
  eng.delivered(id, V[1]!, 1, 8000);
  assert.equal(eng.tick(20_000).add.length, 0);
});

test('ERROR chunks go through the engine, and their address-carrying causes are scrubbed', () => {
  assert.ok(fastPathTable().includes('sctp chunk error missing'));
  assert.ok(fastPathEnsureScript().includes('sctp chunk error missing'));
  const eng = new SctpNatEngine([svc]);
  establish(eng, 0, { tc: 0x1111, te: 0x2222 });
  // Unresolvable Address (5) naming C1, then Out of Resource (4).
  const causes = [0, 5, 0, 12, 0, 5, 0, 8, 10, 0, 3, 2, 0, 4, 0, 4];
  const d = out(eng.handle(packet(C0, V[0]!, 5000, P, 0x2222, [chunk(ChunkType.ERROR, causes)]), 5));
  assert.equal(d.sctp.chunks[0]?.type, ChunkType.ERROR);
  assert.ok(!containsAddress(d.bytes, C1));
  assert.deepEqual([...d.sctp.chunks[0]!.body], [0, 4, 0, 4]);
});

test('INIT rate limits: a flooding source is limited to its burst and rate; others still get through', () => {
  const eng = new SctpNatEngine([svc], { initRatePerSource: 10, initBurstPerSource: 20, initRateGlobal: 0 });
  const flood = ip('10.0.66.6');
  const fates = Array.from(
    { length: 100 },
    (_, i) =>
      eng.handle(packet(flood, V[0]!, 10_000 + i, P, 0, [initChunk(1, { tag: 1000 + i })]), 0).dropped ??
      'ok',
  );
  assert.equal(fates.filter((f) => f === 'ok').length, 20);
  assert.equal(fates.filter((f) => f === 'init-rate-source').length, 80);
  assert.equal(eng.handle(packet(C0, V[0]!, 5000, P, 0, [initChunk(1, { tag: 7 })]), 0).dropped, undefined);
  // One second later the flooder has earned 10 more.
  const later = Array.from(
    { length: 20 },
    (_, i) =>
      eng.handle(packet(flood, V[0]!, 20_000 + i, P, 0, [initChunk(1, { tag: 5000 + i })]), 1000).dropped ??
      'ok',
  );
  assert.equal(later.filter((f) => f === 'ok').length, 10);
  // The global limit bounds spoofed sources, each seen once.
  const g = new SctpNatEngine([svc], { initRateGlobal: 50, initBurstGlobal: 50 });
  const spoofed = Array.from(
    { length: 200 },
    (_, i) =>
      g.handle(
        packet({ family: 4, value: 0x0a640000n + BigInt(i) }, V[0]!, 5000, P, 0, [
          initChunk(1, { tag: i + 1 }),
        ]),
        0,
      ).dropped ?? 'ok',
  );
  assert.equal(spoofed.filter((f) => f === 'ok').length, 50);
  assert.equal(spoofed.filter((f) => f === 'init-rate-global').length, 150);
});

test('an INIT flood is bounded by the half-open table, touches no kernel entry, and a real client still associates', () => {
  const eng = new SctpNatEngine([svc], { maxHalfOpen: 64, initRateGlobal: 0, initRatePerSource: 0 });
  let kernelChanges = 0;
  const count = (r: EngineResult | EngineResult['changes']) => {
    const c = 'changes' in r ? r.changes : r;
    kernelChanges += c.add.length + c.remove.length;
  };
  for (let i = 0; i < 5000; i++) {
    const src = { family: 4 as const, value: 0x0a640000n + BigInt(i) };
    const r = eng.handle(packet(src, V[0]!, 1024 + (i % 60000), P, 0, [initChunk(1, { tag: i + 1 })]), i);
    count(r);
    // The endpoint answers every forwarded INIT.
    const fwd = out(r);
    count(
      eng.handle(
        packet(E, V[0]!, P, fwd.sctp.srcPort, i + 1, [
          initChunk(2, { tag: 0x7000000 + i, cookie: new Uint8Array(8) }),
        ]),
        i,
      ),
    );
    if (i === 2500) establish(eng, i, { tc: 0xabc, te: 0xdef, port: 4444 });
    assert.ok(eng.size.halfOpen <= 64);
  }
  count(eng.tick(5000));
  assert.equal(kernelChanges, 0, 'no kernel entry for a half-open association');
  assert.equal(eng.associations(5000).filter((a) => a.state === 'established').length, 1);
  assert.ok(eng.associations(5000, 10).length <= 11, 'views of half-open ones are capped');
  assert.equal(eng.counts()['cookie-wait'] + eng.counts()['init-sent'], eng.size.halfOpen);
});

test('FERROLB_SCTP_* limits: integers override the defaults; anything else names the variable and value', () => {
  assert.deepEqual(
    sctpLimitsFromEnv({ FERROLB_SCTP_MAX_HALF_OPEN: '128', FERROLB_SCTP_INIT_RATE: '0', OTHER: 'x' }),
    {
      maxHalfOpen: 128,
      initRateGlobal: 0,
    },
  );
  assert.throws(
    () => sctpLimitsFromEnv({ FERROLB_SCTP_INIT_RATE_PER_SOURCE: 'ten' }),
    (e: unknown) => e instanceof SctpLimitsError && /FERROLB_SCTP_INIT_RATE_PER_SOURCE="ten"/.test(e.message),
  );
  assert.throws(
    () => sctpLimitsFromEnv({ FERROLB_SCTP_MAX_HALF_OPEN: '0' }),
    /FERROLB_SCTP_MAX_HALF_OPEN="0": expected an integer ≥ 1/,
  );
});
