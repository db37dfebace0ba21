import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BfdDecodeError,
  BfdState,
  decodeBfd,
  encodeBfd,
  type BfdPacket,
} from '../../../src/bgp/bfd/codec.js';
import {
  bfdStep,
  detectTimeMs,
  initialBfdState,
  txIntervalMs,
  type BfdAction,
  type BfdConfig,
  type BfdSessionState,
} from '../../../src/bgp/bfd/fsm.js';

const cfgA: BfdConfig = {
  localDiscr: 1,
  desiredMinTxMs: 300,
  requiredMinRxMs: 300,
  detectMult: 3,
  passive: false,
};
const cfgB: BfdConfig = { ...cfgA, localDiscr: 2 };

const pktArb: fc.Arbitrary<Omit<BfdPacket, 'version'>> = fc.record({
  diag: fc.integer({ min: 0, max: 31 }),
  state: fc.integer({ min: 0, max: 3 }),
  poll: fc.boolean(),
  final: fc.boolean(),
  cpi: fc.boolean(),
  auth: fc.constant(false),
  demand: fc.boolean(),
  multipoint: fc.constant(false),
  detectMult: fc.integer({ min: 1, max: 255 }),
  myDiscr: fc.integer({ min: 1, max: 0xffffffff }),
  yourDiscr: fc.integer({ min: 1, max: 0xffffffff }),
  desiredMinTxUs: fc.integer({ min: 0, max: 0xffffffff }),
  requiredMinRxUs: fc.integer({ min: 0, max: 0xffffffff }),
  requiredMinEchoRxUs: fc.integer({ min: 0, max: 0xffffffff }),
});

describe('bfd codec', () => {
  it('round-trips every valid packet', () => {
    fc.assert(fc.property(pktArb, (p) => assert.deepEqual(decodeBfd(encodeBfd(p)), { version: 1, ...p })));
  });
  it('random bytes only ever raise BfdDecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        try {
          decodeBfd(b);
        } catch (e) {
          if (!(e instanceof BfdDecodeError)) throw e;
        }
      }),
      { numRuns: 5000 },
    );
  });
  it('applies the reception checks of RFC 5880 §6.8.6', () => {
    const ok = { ...fc.sample(pktArb, 1)[0], state: BfdState.Up } as Omit<BfdPacket, 'version'>;
    for (const [why, p] of [
      ['detect multiplier 0', { ...ok, detectMult: 0 }],
      ['my discriminator 0', { ...ok, myDiscr: 0 }],
      ['your discriminator 0', { ...ok, yourDiscr: 0 }],
      ['authentication', { ...ok, auth: true }],
      ['multipoint', { ...ok, multipoint: true }],
    ] as const)
      assert.throws(() => decodeBfd(encodeBfd(p)), BfdDecodeError, why);
    assert.throws(() => decodeBfd(encodeBfd({ ...ok, version: 0 })), /version/);
  });
});

/** Two pure sessions wired back to back with a virtual clock. */
function pair(a = cfgA, b = cfgB) {
  let sa: BfdSessionState = initialBfdState;
  let sb: BfdSessionState = initialBfdState;
  const transitions: [string, number, number][] = [];
  const pump = (who: 'a' | 'b', acts: BfdAction[], now: number, deliver: boolean): void => {
    for (const x of acts) {
      if (x.type === 'transition') transitions.push([who, x.to, x.diag]);
      if (x.type === 'send' && deliver) {
        const pkt = decodeBfd(encodeBfd(x.pkt));
        if (who === 'a') {
          const r = bfdStep(b, sb, { type: 'rx', pkt }, now, 0.5);
          sb = r.state;
          pump('b', r.actions, now, deliver);
        } else {
          const r = bfdStep(a, sa, { type: 'rx', pkt }, now, 0.5);
          sa = r.state;
          pump('a', r.actions, now, deliver);
        }
      }
    }
  };
  return {
    get a() {
      return sa;
    },
    get b() {
      return sb;
    },
    transitions,
    ev(who: 'a' | 'b', e: Parameters<typeof bfdStep>[2], now: number, deliver = true) {
      const r = who === 'a' ? bfdStep(a, sa, e, now, 0.5) : bfdStep(b, sb, e, now, 0.5);
      if (who === 'a') sa = r.state;
      else sb = r.state;
      pump(who, r.actions, now, deliver);
      return r.actions;
    },
  };
}

describe('bfd session fsm', () => {
  it('two sessions come Up through Down → Init → Up', () => {
    const p = pair();
    p.ev('a', { type: 'start' }, 0);
    p.ev('b', { type: 'start' }, 0);
    assert.equal(p.a.state, BfdState.Up);
    assert.equal(p.b.state, BfdState.Up);
    assert.ok(p.transitions.some(([w, to]) => w === 'b' && to === BfdState.Init));
  });

  it('transmits at ≥1 s until Up, then at the negotiated interval with 75–100 % jitter', () => {
    assert.equal(txIntervalMs(cfgA, initialBfdState), 1000);
    assert.equal(txIntervalMs(cfgA, { ...initialBfdState, state: BfdState.Up, remoteMinRxMs: 100 }), 300);
    assert.equal(txIntervalMs(cfgA, { ...initialBfdState, state: BfdState.Up, remoteMinRxMs: 500 }), 500);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), (rand) => {
        const up = { ...initialBfdState, state: BfdState.Up, remoteMinRxMs: 1 };
        const r = bfdStep(cfgA, up, { type: 'timer', which: 'tx' }, 1000, rand);
        const arm = r.actions.find((x) => x.type === 'arm');
        assert.ok(arm && arm.type === 'arm' && arm.at >= 1000 + 225 && arm.at <= 1000 + 300);
      }),
    );
  });

  it('declares Down (diag 1) when the peer goes silent for detectMult × interval', () => {
    const p = pair();
    p.ev('a', { type: 'start' }, 0);
    p.ev('b', { type: 'start' }, 0);
    const detectAt = p.a.detectAt as number;
    assert.equal(detectTimeMs(cfgA, p.a), 3 * Math.max(300, p.a.remoteDesiredTxMs));
    const early = p.ev('a', { type: 'timer', which: 'detect' }, detectAt - 1, false);
    assert.ok(!early.some((x) => x.type === 'transition'));
    const acts = p.ev('a', { type: 'timer', which: 'detect' }, detectAt, false);
    assert.deepEqual(
      acts.filter((x) => x.type === 'transition'),
      [{ type: 'transition', from: BfdState.Up, to: BfdState.Down, diag: 1 }],
    );
  });

  it('follows a peer that signals AdminDown or Down (diag 3)', () => {
    const p = pair();
    p.ev('a', { type: 'start' }, 0);
    p.ev('b', { type: 'start' }, 0);
    p.ev('b', { type: 'admin-down' }, 10);
    assert.equal(p.b.state, BfdState.AdminDown);
    assert.equal(p.a.state, BfdState.Down);
    assert.equal(p.a.diag, 3);
  });

  it('answers a Poll with a Final, and polls after reaching Up until answered', () => {
    const p = pair();
    p.ev('a', { type: 'start' }, 0);
    p.ev('b', { type: 'start' }, 0);
    // Both polled on reaching Up and each answered the other with Final.
    assert.equal(p.a.polling, false);
    assert.equal(p.b.polling, false);
    const polled = bfdStep(
      cfgA,
      { ...p.a },
      {
        type: 'rx',
        pkt: {
          ...decodeBfd(
            encodeBfd({
              ...(fc.sample(pktArb, 1)[0] as Omit<BfdPacket, 'version'>),
              state: BfdState.Up,
              yourDiscr: 1,
              poll: true,
              final: false,
            }),
          ),
        },
      },
      1,
      0.5,
    );
    const sent = polled.actions.find((x) => x.type === 'send');
    assert.ok(sent && sent.type === 'send' && sent.pkt.final && !sent.pkt.poll);
  });

  it('passive: sends nothing until it hears the peer', () => {
    const c = { ...cfgA, passive: true };
    assert.deepEqual(bfdStep(c, initialBfdState, { type: 'start' }, 0, 0.5).actions, []);
    assert.deepEqual(bfdStep(c, initialBfdState, { type: 'timer', which: 'tx' }, 5000, 0.5).actions, []);
  });

  it('ignores packets addressed to another discriminator', () => {
    const pkt = decodeBfd(
      encodeBfd({ ...(fc.sample(pktArb, 1)[0] as Omit<BfdPacket, 'version'>), yourDiscr: 99 }),
    );
    const r = bfdStep(cfgA, initialBfdState, { type: 'rx', pkt }, 0, 0.5);
    assert.deepEqual(r.actions, []);
  });
});

describe('bfd: issue 14 (#4 C bit, #5 timer change is a Poll sequence)', () => {
  const upPair = () => {
    const p = pair();
    p.ev('a', { type: 'start' }, 0);
    p.ev('b', { type: 'start' }, 0);
    assert.equal(p.a.state, BfdState.Up);
    return p;
  };
  const finalFromPeer = (desiredMinTxUs = 300_000): BfdPacket =>
    decodeBfd(
      encodeBfd({
        ...(fc.sample(pktArb, 1)[0] as Omit<BfdPacket, 'version'>),
        state: BfdState.Up,
        yourDiscr: 1,
        myDiscr: 2,
        poll: false,
        final: true,
        desiredMinTxUs,
        requiredMinRxUs: 300_000,
        detectMult: 3,
      }),
    );

  it('never claims control-plane independence: the C bit is clear in every packet', () => {
    const p = upPair();
    const sent = [
      ...bfdStep(cfgA, initialBfdState, { type: 'start' }, 0, 0.5).actions,
      ...p.ev('a', { type: 'timer', which: 'tx' }, 10_000, false),
    ].flatMap((x) => (x.type === 'send' ? [x.pkt] : []));
    assert.ok(sent.length >= 2);
    assert.ok(sent.every((x) => !x.cpi));
  });

  it('a slower transmit interval is polled; the old rate holds until the Final, the session stays Up', () => {
    const p = upPair();
    const slower: BfdConfig = { ...cfgA, desiredMinTxMs: 1000, requiredMinRxMs: 1000 };
    const r = bfdStep(slower, p.a, { type: 'reconfigure', prev: cfgA }, 100, 0.5);
    const sent = r.actions.flatMap((x) => (x.type === 'send' ? [x.pkt] : []));
    assert.equal(sent.length, 1);
    assert.ok(sent[0]?.poll, 'new timers go out with the Poll bit at once');
    assert.equal(sent[0]?.desiredMinTxUs, 1_000_000);
    assert.equal(sent[0]?.requiredMinRxUs, 1_000_000);
    assert.ok(!r.actions.some((x) => x.type === 'transition'), 'no state change');
    assert.equal(txIntervalMs(slower, r.state), 300, 'old (faster) interval until the Final');
    const done = bfdStep(slower, r.state, { type: 'rx', pkt: finalFromPeer() }, 120, 0.5);
    assert.equal(done.state.polling, false);
    assert.equal(done.state.prevTiming, undefined);
    assert.equal(txIntervalMs(slower, done.state), 1000);
    assert.equal(done.state.state, BfdState.Up);
  });

  it('a faster receive interval keeps the old detection time until the Final', () => {
    const p = upPair();
    const faster: BfdConfig = { ...cfgA, requiredMinRxMs: 50 };
    const r = bfdStep(faster, p.a, { type: 'reconfigure', prev: cfgA }, 100, 0.5);
    const polled = { ...r.state, remoteDesiredTxMs: 10 };
    assert.equal(detectTimeMs(faster, polled), 3 * 300, 'old receive interval until the Final');
    const done = bfdStep(faster, polled, { type: 'rx', pkt: finalFromPeer(10_000) }, 120, 0.5);
    assert.equal(detectTimeMs(faster, done.state), 3 * 50);
  });

  it('before Up a timer change needs no Poll', () => {
    const r = bfdStep(
      { ...cfgA, desiredMinTxMs: 50 },
      initialBfdState,
      { type: 'reconfigure', prev: cfgA },
      0,
      0.5,
    );
    assert.deepEqual(r.actions, []);
  });
});
