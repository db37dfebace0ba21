import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, DropReason, encode, macKey, MsgType, WIRE_VERSION } from '../../../src/cluster/wire.js';
import { checkReplay, nextBootId, REPLAY_WINDOW, type ReplayState } from '../../../src/cluster/replay.js';
import {
  ClaimAssembler,
  CHUNK_BYTES,
  cutClaims,
  decodeClaimsBody,
  encodeClaimsBody,
} from '../../../src/cluster/claims.js';

const key = macKey(new Uint8Array(32).fill(1), 'default');

describe('wire envelope', () => {
  it('round-trips and authenticates', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,40}$/),
        fc.integer({ min: 0, max: 2 ** 48 }),
        fc.integer({ min: 0, max: 2 ** 48 }),
        fc.uint8Array({ maxLength: 300 }),
        (sender, bootId, seq, body) => {
          const d = decode(key, encode(key, { type: MsgType.Heartbeat, sender, bootId, seq, body }));
          assert.ok(d.ok);
          assert.deepEqual(
            { ...d.msg, body: [...d.msg.body] },
            { type: 1, sender, bootId, seq, body: [...body] },
          );
        },
      ),
    );
  });

  it('any flipped bit fails: auth, framing or version', () => {
    const m = encode(key, { type: 1, sender: 'lb1', bootId: 5, seq: 9, body: new Uint8Array([1, 2, 3]) });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: m.length * 8 - 1 }), (bit) => {
        const b = Buffer.from(m);
        b[bit >> 3] = (b[bit >> 3] as number) ^ (1 << (bit & 7));
        const d = decode(key, b);
        assert.equal(d.ok, false);
      }),
    );
  });

  it('another key or cluster name is an auth drop; another version says so clearly', () => {
    const m = encode(key, { type: 1, sender: 'lb1', bootId: 5, seq: 9, body: new Uint8Array() });
    const other = decode(macKey(new Uint8Array(32).fill(1), 'other'), m);
    assert.equal(other.ok ? '' : other.reason, DropReason.Auth);
    const skew = Buffer.from(m);
    skew[2] = WIRE_VERSION + 1;
    const v = decode(key, skew);
    assert.equal(v.ok ? '' : v.reason, DropReason.Version);
    assert.match(v.ok ? '' : v.detail, /wire version 2; this node speaks version 1/);
    assert.equal((decode(key, Buffer.from('hello')) as { reason: string }).reason, DropReason.Malformed);
  });
});

describe('replay window', () => {
  it('accepts each sequence once, out of order inside the window, never from an older boot', () => {
    let st: ReplayState | undefined;
    const take = (boot: number, seq: number) => {
      const v = checkReplay(st, boot, seq);
      if (v.accept) st = v.next;
      return v.accept;
    };
    assert.equal(take(10, 5), true);
    assert.equal(take(10, 5), false);
    assert.equal(take(10, 7), true);
    assert.equal(take(10, 6), true);
    assert.equal(take(10, 6), false);
    assert.equal(take(10, 7 + REPLAY_WINDOW), true);
    assert.equal(take(10, 7), false, 'behind the window');
    assert.equal(take(9, 1000), false, 'older boot');
    assert.equal(take(11, 1), true, 'newer boot');
    assert.equal(take(10, 10_000), false);
  });

  it('never accepts a (boot, seq) twice (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 200 }))),
        (xs) => {
          let st: ReplayState | undefined;
          const accepted = new Set<string>();
          for (const [b, s] of xs) {
            const v = checkReplay(st, b, s);
            if (!v.accept) continue;
            assert.ok(!accepted.has(`${b}/${s}`), `${b}/${s} twice`);
            accepted.add(`${b}/${s}`);
            st = v.next;
          }
        },
      ),
    );
  });

  it('boot ids grow even when the clock steps back', () => {
    assert.equal(nextBootId(5000, 100), 5000);
    assert.equal(nextBootId(5000, 9000), 9001);
    assert.equal(nextBootId(5000, undefined), 5000);
  });
});

describe('claims', () => {
  const addr = (i: number) =>
    i % 3 === 0 ? `2001:db8::${i.toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

  it('10,000 addresses cut into datagram-sized chunks and reassemble in any order', () => {
    const all = Array.from({ length: 10_000 }, (_, i) => addr(i + 1));
    const enc = cutClaims(7, all);
    assert.ok(enc.summary.chunks > 30 && enc.summary.chunks < 100, String(enc.summary.chunks));
    const bodies = enc.chunks.map((c, index) =>
      encodeClaimsBody({ flags: 3, intervalMs: 100, summary: enc.summary, index, addresses: c }),
    );
    for (const b of bodies) assert.ok(b.length <= CHUNK_BYTES + 40, String(b.length));
    const asm = new ClaimAssembler();
    const order = bodies.map((_, i) => i).reverse();
    let done = false;
    for (const i of order) {
      const d = decodeClaimsBody(bodies[i] as Buffer);
      done = asm.offer(d.summary, d.index, d.addresses) || done;
    }
    assert.ok(done);
    assert.equal(asm.current?.size, 10_000);
    assert.deepEqual([...(asm.current ?? [])].sort(), [...all].sort());
    assert.equal(asm.version, 7);
  });

  it('an empty set is one chunk; a chunk of another version starts over', () => {
    const asm = new ClaimAssembler();
    const e = cutClaims(1, []);
    assert.equal(e.summary.chunks, 1);
    assert.equal(asm.offer(e.summary, 0, []), true);
    assert.equal(asm.current?.size, 0);
    const big = cutClaims(
      2,
      Array.from({ length: 600 }, (_, i) => addr(i * 3 + 1)),
    );
    assert.equal(asm.offer(big.summary, 0, big.chunks[0] as string[]), false);
    const newer = cutClaims(3, ['10.0.0.1']);
    assert.equal(asm.offer(newer.summary, 0, ['10.0.0.1']), true);
    assert.deepEqual([...(asm.current ?? [])], ['10.0.0.1']);
    assert.equal(asm.upToDate(3), true);
    assert.equal(asm.upToDate(4), false);
  });
});
