// The LB's sealed State Cookie (src/sctp/engine/cookie.ts): the token hides the responder's real
// cookie and the association, authenticates both, and lets a COOKIE-ECHO complete a handshake whose
// half-open state an INIT flood pushed out of the table.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SctpNatEngine, type EngineResult, type SctpService } from '../../../src/sctp/index.js';
import { CookieSealer } from '../../../src/sctp/engine/cookie.js';
import { decodeReplica } from '../../../src/sctp/engine/replica.js';
import { ChunkType, ParamType, decodeInit, decodeIp, decodeSctp } from '../../../src/sctp/codec/index.js';
import { chunk, containsAddress, initChunk, ip, packet } from './build.js';

const C0 = ip('10.0.1.2');
const C1 = ip('10.0.3.2');
const V = [ip('10.9.0.1'), ip('10.9.0.2')] as const;
const E = ip('10.0.2.2');
const P = 7;
const EP = 7007;
const PC = 5000;
const TC = 0x1111;
const TE = 0x2222;
/** A responder cookie naming the endpoint's address in clear, as BSD/usrsctp cookies do. */
const COOKIE = Uint8Array.from([0xc0, 0x0c, 10, 0, 2, 2, ...Array.from({ length: 40 }, (_, i) => i)]);
const svc: SctpService = { name: 'echo', vips: [...V], port: P, endpoints: [{ addresses: [E], port: EP }] };
const KEY = new Uint8Array(32).fill(9);

const sent = (r: EngineResult) => {
  const p = r.packets[0];
  assert.ok(p, `nothing sent: ${String(r.dropped)}`);
  const d = decodeIp(p.bytes);
  return { ...d, sctp: decodeSctp(d.payload, { verify: true }), toward: p.toward, bytes: p.bytes };
};

/** INIT and the endpoint's INIT-ACK; returns the token the client got and the LB port. */
function halfOpen(eng: SctpNatEngine, t: number, src = C0, port = PC, tc = TC, te = TE) {
  const fwd = sent(
    eng.handle(packet(src, V[0], port, P, 0, [initChunk(1, { tag: tc, addrs: [src, C1] })]), t),
  );
  const ack = sent(
    eng.handle(packet(E, V[0], EP, fwd.sctp.srcPort, tc, [initChunk(2, { tag: te, cookie: COOKIE })]), t),
  );
  const token = decodeInit(ack.sctp.chunks[0]!).params.find((p) => p.type === ParamType.STATE_COOKIE)!.value;
  return { token, lbPort: fwd.sctp.srcPort, ackBytes: ack.bytes };
}

const echo = (eng: SctpNatEngine, token: Uint8Array, t: number, src = C0) =>
  eng.handle(
    packet(src, V[0], PC, P, TE, [chunk(ChunkType.COOKIE_ECHO, token), chunk(ChunkType.DATA, [1, 2])]),
    t,
  );

/** Spoofed INITs, each answered by the endpoint: what a flood leaves in the half-open table. */
let flooded = 0;
function flood(eng: SctpNatEngine, n: number, t: number) {
  for (let k = 0; k < n; k++) {
    const i = flooded++;
    const src = { family: 4 as const, value: 0x0a640000n + BigInt(i) };
    const r = eng.handle(packet(src, V[0], 2000 + i, P, 0, [initChunk(1, { tag: 0x100 + i })]), t);
    const fwd = sent(r);
    eng.handle(
      packet(E, V[0], EP, fwd.sctp.srcPort, 0x100 + i, [initChunk(2, { tag: 0x900 + i, cookie: COOKIE })]),
      t,
    );
  }
}

/** An engine whose half-open table holds four, with no INIT rate limits (the flood is the test's). */
const smallTable = () =>
  new SctpNatEngine([svc], { maxHalfOpen: 4, initRateGlobal: 0, initRatePerSource: 0 }, undefined, KEY);

test('the sealed token round-trips; any changed byte, another key or a short token is refused', () => {
  const s = new CookieSealer(KEY);
  const c = { id: 42, createdMs: 1_700_000_000_123.5, record: Uint8Array.of(1, 2, 3), cookie: COOKIE };
  const tok = s.seal(c);
  assert.equal(tok.length, CookieSealer.sizeOf(3, COOKIE.length));
  assert.deepEqual(s.open(tok), c);
  assert.notDeepEqual(s.seal(c), tok, 'a fresh nonce per token');
  for (let i = 0; i < tok.length; i++) {
    const bad = tok.slice();
    bad[i] = (bad[i] as number) ^ 0x40;
    assert.equal(s.open(bad), undefined, `byte ${i} changed`);
  }
  assert.equal(new CookieSealer(new Uint8Array(32).fill(8)).open(tok), undefined);
  assert.equal(s.open(tok.subarray(0, 20)), undefined);
  assert.throws(() => new CookieSealer(new Uint8Array(16)), /cookie key: 16 bytes/);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => s.open(junk) === undefined),
    { numRuns: 300 },
  );
});

test('either token hides the real cookie and the endpoint address; the endpoint gets its cookie back', () => {
  // No pressure: the cheap 16-byte token. Half-open table half full: the sealed one.
  for (const pressure of [false, true]) {
    const eng = new SctpNatEngine(
      [svc],
      { maxHalfOpen: 8, initRateGlobal: 0, initRatePerSource: 0 },
      undefined,
      KEY,
    );
    if (pressure) flood(eng, 4, 0);
    const h = halfOpen(eng, 0);
    assert.equal(h.token.length === 16, !pressure, `token of ${h.token.length} bytes`);
    assert.ok(!containsAddress(h.ackBytes, E), 'endpoint address leaked in the INIT-ACK');
    assert.ok(!Buffer.from(h.token).includes(Buffer.from(COOKIE.subarray(6))), 'real cookie leaked');
    const fwd = sent(echo(eng, h.token, 1));
    assert.equal(fwd.toward, 'endpoint');
    assert.deepEqual(fwd.sctp.chunks[0]?.body, COOKIE);
    assert.equal(eng.size.rebuiltFromCookie, 0, 'the table still had it: nothing rebuilt');
    const forged = h.token.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    assert.equal(echo(eng, forged, 2).dropped, 'bad-cookie', 'a changed token of a known association');
  }
});

test('a handshake the flood pushed out of the half-open table completes from the token alone', () => {
  const eng = smallTable();
  flood(eng, 4, 0);
  const h = halfOpen(eng, 0);
  assert.ok(h.token.length > 16, 'the flood is on: a sealed token');
  flood(eng, 10, 1);
  assert.ok(eng.size.halfOpen <= 4);
  assert.equal(
    eng.associations(2).filter((a) => a.clientPort === PC).length,
    0,
    'the legitimate half-open association was evicted',
  );
  const fwd = sent(echo(eng, h.token, 2));
  assert.equal(fwd.toward, 'endpoint');
  assert.deepEqual([fwd.sctp.srcPort, fwd.sctp.dstPort, fwd.sctp.vtag], [h.lbPort, EP, TE]);
  assert.deepEqual(fwd.sctp.chunks[0]?.body, COOKIE);
  assert.equal(fwd.sctp.chunks[1]?.type, ChunkType.DATA, 'bundled DATA goes with it');
  assert.equal(eng.size.rebuiltFromCookie, 1);
  // COOKIE-ACK establishes it: every path reaches the kernel, the client side answers to both VIPs.
  const ack = eng.handle(packet(E, V[0], EP, h.lbPort, TC, [chunk(ChunkType.COOKIE_ACK)]), 3);
  assert.equal(sent(ack).toward, 'client');
  assert.ok(ack.changes.add.length > 0, 'established: kernel entries added');
  const a = eng.associations(3).find((x) => x.clientPort === PC);
  assert.equal(a?.state, 'established');
  // A retransmitted COOKIE-ECHO (COOKIE-ACK lost) is the same association's, not a new one.
  assert.equal(sent(echo(eng, h.token, 4)).toward, 'endpoint');
  assert.equal(eng.size.rebuiltFromCookie, 1);
  assert.equal(eng.associations(4).filter((x) => x.clientPort === PC).length, 1);
});

test('under a flood, answered (recoverable) handshakes are evicted first: an INIT awaiting its INIT-ACK survives', () => {
  const eng = smallTable();
  flood(eng, 4, 0);
  const fwd = sent(eng.handle(packet(C0, V[0], PC, P, 0, [initChunk(1, { tag: TC, addrs: [C0, C1] })]), 1));
  flood(eng, 20, 2); // every one answered at once: sealed, so evictable before the waiting INIT
  assert.equal(eng.size.halfOpen, 4);
  const ack = eng.handle(
    packet(E, V[0], EP, fwd.sctp.srcPort, TC, [initChunk(2, { tag: TE, cookie: COOKIE })]),
    3,
  );
  const token = decodeInit(sent(ack).sctp.chunks[0]!).params.find(
    (p) => p.type === ParamType.STATE_COOKIE,
  )!.value;
  flood(eng, 20, 4);
  const e = sent(echo(eng, token, 5));
  assert.deepEqual(e.sctp.chunks[0]?.body, COOKIE);
  assert.equal(eng.size.rebuiltFromCookie, 1, 'evicted after its INIT-ACK, rebuilt from the token');
});

test('a token is refused when stale, foreign, from another source, or when its endpoint is gone', () => {
  const limits = { maxHalfOpen: 2, initRateGlobal: 0, initRatePerSource: 0, halfOpenTimeoutMs: 1000 };
  const evicted = () => {
    const eng = new SctpNatEngine([svc], limits, undefined, KEY);
    flood(eng, 2, 0);
    const h = halfOpen(eng, 0);
    flood(eng, 4, 1);
    return { eng, h };
  };
  {
    const { eng, h } = evicted();
    assert.equal(echo(eng, h.token, 1001).dropped, 'bad-cookie', 'older than the half-open timeout');
  }
  {
    const { h } = evicted();
    const other = new SctpNatEngine([svc], limits, undefined, new Uint8Array(32).fill(1));
    assert.equal(echo(other, h.token, 2).dropped, 'no-association', 'another engine’s token');
  }
  {
    const { eng, h } = evicted();
    assert.equal(echo(eng, h.token, 2, ip('10.0.7.7')).dropped, 'bad-cookie', 'not a client address');
    assert.equal(echo(eng, h.token, 2, C1).packets.length, 1, 'the other listed client address may echo');
  }
  {
    const { eng, h } = evicted();
    eng.setServices([{ ...svc, endpoints: [{ addresses: [ip('10.0.2.9')], port: EP }] }]);
    assert.equal(echo(eng, h.token, 2).dropped, 'no-endpoint');
    assert.equal(eng.size.rebuiltFromCookie, 0);
  }
});

test('the handshake record inside a token is never accepted as a peer’s replica', () => {
  const eng = new SctpNatEngine([svc], { maxHalfOpen: 2 }, undefined, KEY);
  const h = halfOpen(eng, 0);
  const opened = new CookieSealer(KEY).open(h.token);
  assert.ok(opened);
  assert.equal(decodeReplica(opened.record, { handshake: true }).state, 'cookie-wait');
  assert.throws(() => decodeReplica(opened.record), /state: cookie-wait/);
});
