import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AFI, SAFI, type BgpMessage, type OpenMessage } from '../../../src/bgp/codec/index.js';
import {
  acceptsMessageType,
  backoffDelay,
  initialState,
  phaseOf,
  step,
  type FsmAction,
  type FsmConfig,
  type FsmEvent,
  type SessionState,
} from '../../../src/bgp/fsm.js';

const cfg: FsmConfig = {
  localAsn: 64512,
  peerAsn: 64513,
  routerId: 0x0a000001,
  holdTimeSec: 90,
  families: [
    { afi: AFI.IPv4, safi: SAFI.Unicast },
    { afi: AFI.IPv6, safi: SAFI.Unicast },
  ],
  passive: false,
  connectRetryMs: 1000,
  maxBackoffMs: 60_000,
  stableMs: 60_000,
  openHoldMs: 240_000,
};

const peerOpen = (over: Partial<OpenMessage> = {}): OpenMessage => ({
  type: 'open',
  version: 4,
  asn: 64513,
  asn2: 64513,
  holdTimeSec: 90,
  bgpId: 0x0a000002,
  capabilities: [
    { kind: 'multiprotocol', afi: 1, safi: 1 },
    { kind: 'four-octet-as', asn: 64513 },
  ],
  ...over,
});

/** Drives the pure FSM and keeps every action, like the shell would. */
class Harness {
  s: SessionState = initialState;
  log: FsmAction[] = [];
  constructor(readonly c: FsmConfig = cfg) {}
  ev(e: FsmEvent, now: number): FsmAction[] {
    const r = step(this.c, this.s, e, now);
    this.s = r.state;
    this.log.push(...r.actions);
    return r.actions;
  }
  msg(conn: string, msg: BgpMessage, now: number): FsmAction[] {
    return this.ev({ type: 'message', conn, msg }, now);
  }
  /** Brings an outbound session to Established at time t. */
  establish(t = 0, open = peerOpen()): string {
    const a = this.ev({ type: 'start' }, t);
    const conn = (a.find((x) => x.type === 'connect') as { conn: string }).conn;
    this.ev({ type: 'tcp-connected', conn }, t);
    this.msg(conn, open, t);
    this.msg(conn, { type: 'keepalive' }, t);
    assert.equal(phaseOf(this.s), 'Established');
    return conn;
  }
}

const sent = (a: FsmAction[]): BgpMessage[] => a.flatMap((x) => (x.type === 'send' ? [x.msg] : []));
const notif = (a: FsmAction[]): [number, number] | undefined => {
  const n = sent(a).find((m) => m.type === 'notification');
  return n && n.type === 'notification' ? [n.code, n.subcode] : undefined;
};
const armed = (a: FsmAction[], timer: string): number | undefined => {
  const x = a.find((y) => y.type === 'arm' && y.timer === timer);
  return x && x.type === 'arm' ? x.at : undefined;
};

describe('bgp fsm: establishment', () => {
  it('active: Idle → Connect → OpenSent → OpenConfirm → Established with the right messages', () => {
    const h = new Harness();
    assert.equal(phaseOf(h.s), 'Idle');
    const a1 = h.ev({ type: 'start' }, 0);
    assert.equal(phaseOf(h.s), 'Connect');
    const conn = (a1[0] as { conn: string }).conn;
    const a2 = h.ev({ type: 'tcp-connected', conn }, 5);
    assert.equal(phaseOf(h.s), 'OpenSent');
    const open = sent(a2)[0] as OpenMessage;
    assert.equal(open.type, 'open');
    assert.equal(open.asn, 64512);
    assert.equal(open.holdTimeSec, 90);
    const kinds = open.capabilities.map((c) => c.kind);
    for (const k of ['multiprotocol', 'route-refresh', 'four-octet-as', 'enhanced-route-refresh'])
      assert.ok(kinds.includes(k as never), k);
    assert.equal(armed(a2, 'hold'), 5 + 240_000);
    const a3 = h.msg(conn, peerOpen({ holdTimeSec: 30 }), 10);
    assert.equal(phaseOf(h.s), 'OpenConfirm');
    assert.deepEqual(sent(a3), [{ type: 'keepalive' }]);
    assert.equal(armed(a3, 'hold'), 10 + 30_000, 'hold = min(ours, peer)');
    assert.equal(armed(a3, 'keepalive'), 10 + 10_000, 'keepalive = hold/3');
    const a4 = h.msg(conn, { type: 'keepalive' }, 20);
    assert.equal(phaseOf(h.s), 'Established');
    const est = a4.find((x) => x.type === 'established');
    assert.ok(est && est.type === 'established');
    assert.deepEqual(est.negotiated.families, ['1/1'], 'peer offered IPv4 only');
  });

  it('announces graceful restart, with R and F bits only after a restart', () => {
    const gr = (restarting: boolean) => {
      const h = new Harness({ ...cfg, gracefulRestart: { restartTimeSec: 120, restarting } });
      h.ev({ type: 'start' }, 0);
      const open = sent(h.ev({ type: 'tcp-connected', conn: 'out-1' }, 0))[0] as OpenMessage;
      return open.capabilities.find((c) => c.kind === 'graceful-restart');
    };
    const fresh = gr(false);
    assert.ok(fresh && fresh.kind === 'graceful-restart');
    assert.equal(fresh.restarting, false);
    assert.equal(fresh.restartTimeSec, 120);
    assert.deepEqual(
      fresh.families.map((f) => [f.afi, f.forwardingPreserved]),
      [
        [1, false],
        [2, false],
      ],
    );
    const again = gr(true);
    assert.ok(again && again.kind === 'graceful-restart' && again.restarting);
    assert.ok(again.families.every((f) => f.forwardingPreserved));
  });

  it('passive: waits in Active, answers an inbound connection with OPEN', () => {
    const h = new Harness({ ...cfg, passive: true });
    assert.deepEqual(h.ev({ type: 'start' }, 0), []);
    assert.equal(phaseOf(h.s), 'Active');
    const a = h.ev({ type: 'tcp-accepted', conn: 'in-1' }, 1);
    assert.equal(sent(a)[0]?.type, 'open');
    assert.equal(phaseOf(h.s), 'OpenSent');
  });

  it('hold time 0 negotiates no hold and no keepalive timers', () => {
    const h = new Harness({ ...cfg, holdTimeSec: 0 });
    h.ev({ type: 'start' }, 0);
    h.ev({ type: 'tcp-connected', conn: 'out-1' }, 0);
    const a = h.msg('out-1', peerOpen(), 0);
    assert.equal(armed(a, 'hold'), undefined);
    assert.equal(armed(a, 'keepalive'), undefined);
  });

  it('a configured keepalive is used when not above the hold time', () => {
    const h = new Harness({ ...cfg, keepaliveSec: 5 });
    h.ev({ type: 'start' }, 0);
    h.ev({ type: 'tcp-connected', conn: 'out-1' }, 0);
    assert.equal(armed(h.msg('out-1', peerOpen(), 0), 'keepalive'), 5000);
  });
});

describe('bgp fsm: timers', () => {
  it('a silent peer is dropped exactly at hold time with NOTIFICATION 4/0', () => {
    const h = new Harness();
    const conn = h.establish(0);
    const early = h.ev({ type: 'timer', which: 'hold', conn }, 89_999);
    assert.equal(notif(early), undefined);
    assert.equal(armed(early, 'hold'), 90_000, 're-armed for the remaining time');
    const a = h.ev({ type: 'timer', which: 'hold', conn }, 90_000);
    assert.deepEqual(notif(a), [4, 0]);
    assert.ok(a.some((x) => x.type === 'close'));
    assert.ok(a.some((x) => x.type === 'down'));
    assert.equal(phaseOf(h.s), 'Active');
    assert.ok(armed(a, 'connect-retry') !== undefined);
  });

  it('every message from the peer pushes the hold deadline', () => {
    const h = new Harness();
    const conn = h.establish(0);
    h.msg(conn, { type: 'keepalive' }, 50_000);
    const a = h.ev({ type: 'timer', which: 'hold', conn }, 90_000);
    assert.equal(notif(a), undefined);
    assert.equal(armed(a, 'hold'), 140_000);
    h.msg(conn, { type: 'update', withdrawn: [], attributes: {}, nlri: [] }, 100_000);
    assert.equal(armed(h.ev({ type: 'timer', which: 'hold', conn }, 140_000), 'hold'), 190_000);
  });

  it('sends KEEPALIVE every hold/3', () => {
    const h = new Harness();
    const conn = h.establish(0);
    const times: number[] = [];
    let next = armed(h.log, 'keepalive') as number;
    for (let i = 0; i < 5; i++) {
      h.msg(conn, { type: 'keepalive' }, next - 1); // the peer keeps us alive too
      const a = h.ev({ type: 'timer', which: 'keepalive', conn }, next);
      assert.deepEqual(sent(a), [{ type: 'keepalive' }]);
      times.push(next);
      next = armed(a, 'keepalive') as number;
    }
    assert.deepEqual(times, [30_000, 60_000, 90_000, 120_000, 150_000]);
  });

  it('ignores timers for connections that are gone', () => {
    const h = new Harness();
    const conn = h.establish(0);
    h.ev({ type: 'tcp-closed', conn }, 1);
    assert.deepEqual(h.ev({ type: 'timer', which: 'hold', conn }, 1_000_000), []);
    assert.deepEqual(h.ev({ type: 'timer', which: 'keepalive', conn }, 1_000_000), []);
  });
});

describe('bgp fsm: connect retry backoff', () => {
  it('doubles per failed connect and is capped', () => {
    const h = new Harness();
    h.ev({ type: 'start' }, 0);
    let t = 0;
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      const conn = `out-${i + 1}`;
      const a = h.ev({ type: 'tcp-failed', conn, reason: 'refused' }, t);
      const at = armed(a, 'connect-retry') as number;
      delays.push(at - t);
      assert.ok(h.ev({ type: 'timer', which: 'connect-retry' }, at).some((x) => x.type === 'connect'));
      t = at;
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });

  it('an early connect-retry timer re-arms instead of connecting', () => {
    const h = new Harness();
    h.ev({ type: 'start' }, 0);
    const at = armed(h.ev({ type: 'tcp-failed', conn: 'out-1', reason: 'x' }, 0), 'connect-retry') as number;
    const a = h.ev({ type: 'timer', which: 'connect-retry' }, at - 1);
    assert.deepEqual(a, [{ type: 'arm', timer: 'connect-retry', at }]);
  });

  it('does not reset when the peer flaps right after OPEN (MetalLB #1114)', () => {
    const h = new Harness();
    h.ev({ type: 'start' }, 0);
    let t = 0;
    const delays: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const conn = `out-${i}`;
      h.ev({ type: 'tcp-connected', conn }, t);
      h.msg(conn, peerOpen(), t);
      h.msg(conn, { type: 'keepalive' }, t); // Established, then the peer drops us at once
      const a = h.msg(conn, { type: 'notification', code: 6, subcode: 4, data: new Uint8Array() }, t + 10);
      const at = armed(a, 'connect-retry') as number;
      delays.push(at - (t + 10));
      h.ev({ type: 'timer', which: 'connect-retry' }, at);
      t = at;
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000]);
  });

  it('resets to the base delay after a session that stayed up for stableMs', () => {
    const h = new Harness();
    h.s = { ...h.s, failures: 6 };
    const conn = h.establish(0);
    const a = h.ev({ type: 'tcp-closed', conn }, 60_000);
    assert.equal((armed(a, 'connect-retry') as number) - 60_000, 1000);
    assert.equal(backoffDelay(cfg, 3), 4000);
  });
});

describe('bgp fsm: protocol errors send the right NOTIFICATION', () => {
  const inOpenSent = (): Harness => {
    const h = new Harness();
    h.ev({ type: 'start' }, 0);
    h.ev({ type: 'tcp-connected', conn: 'out-1' }, 0);
    return h;
  };
  it('wrong peer AS → 2/2', () =>
    assert.deepEqual(notif(inOpenSent().msg('out-1', peerOpen({ asn: 65000 }), 1)), [2, 2]));
  it('iBGP peer with our BGP id → 2/3', () => {
    const h = new Harness({ ...cfg, peerAsn: 64512 });
    h.ev({ type: 'start' }, 0);
    h.ev({ type: 'tcp-connected', conn: 'out-1' }, 0);
    assert.deepEqual(notif(h.msg('out-1', peerOpen({ asn: 64512, bgpId: cfg.routerId }), 1)), [2, 3]);
  });
  it('no common address family → 2/7', () =>
    assert.deepEqual(
      notif(
        inOpenSent().msg(
          'out-1',
          peerOpen({ capabilities: [{ kind: 'multiprotocol', afi: 25, safi: 65 }] }),
          1,
        ),
      ),
      [2, 7],
    ));
  it('UPDATE in OpenSent → 5/1', () =>
    assert.deepEqual(
      notif(inOpenSent().msg('out-1', { type: 'update', withdrawn: [], attributes: {}, nlri: [] }, 1)),
      [5, 1],
    ));
  it('UPDATE in OpenConfirm → 5/2', () => {
    const h = inOpenSent();
    h.msg('out-1', peerOpen(), 1);
    assert.deepEqual(
      notif(h.msg('out-1', { type: 'update', withdrawn: [], attributes: {}, nlri: [] }, 2)),
      [5, 2],
    );
  });
  it('OPEN in Established → 5/3', () => {
    const h = new Harness();
    const conn = h.establish();
    assert.deepEqual(notif(h.msg(conn, peerOpen(), 1)), [5, 3]);
  });
  it('a decode error is answered with its own code/subcode and data', () => {
    const h = new Harness();
    const conn = h.establish();
    const a = h.ev(
      { type: 'decode-error', conn, code: 3, subcode: 6, data: Uint8Array.of(1), reason: 'bad origin' },
      1,
    );
    const n = sent(a)[0];
    assert.deepEqual(n, { type: 'notification', code: 3, subcode: 6, data: Uint8Array.of(1) });
    assert.ok(a.some((x) => x.type === 'down'));
    assert.match(h.s.lastError ?? '', /bad origin/);
  });
  it('a NOTIFICATION from the peer closes without answering', () => {
    const h = new Harness();
    const conn = h.establish();
    const a = h.msg(conn, { type: 'notification', code: 6, subcode: 2, data: new Uint8Array() }, 1);
    assert.equal(sent(a).length, 0);
    assert.ok(a.some((x) => x.type === 'close'));
  });
  it('stop sends Cease/2 and schedules nothing', () => {
    const h = new Harness();
    h.establish();
    const a = h.ev({ type: 'stop' }, 1);
    assert.deepEqual(notif(a), [6, 2]);
    assert.equal(armed(a, 'connect-retry'), undefined);
    assert.equal(phaseOf(h.s), 'Idle');
  });
  it('BFD down takes an established session down at once', () => {
    const h = new Harness();
    h.establish();
    const a = h.ev({ type: 'bfd-down' }, 1);
    assert.ok(a.some((x) => x.type === 'down'));
    assert.equal(phaseOf(h.s), 'Active');
  });
});

describe('bgp fsm: connection collision (RFC 4271 §6.8)', () => {
  const collide = (localId: number, peerId: number): { h: Harness; a: FsmAction[] } => {
    const h = new Harness({ ...cfg, routerId: localId });
    h.ev({ type: 'start' }, 0);
    h.ev({ type: 'tcp-connected', conn: 'out-1' }, 0);
    h.msg('out-1', peerOpen({ bgpId: peerId }), 1); // out-1 in OpenConfirm
    h.ev({ type: 'tcp-accepted', conn: 'in-1' }, 2);
    const a = h.msg('in-1', peerOpen({ bgpId: peerId }), 3);
    return { h, a };
  };
  it('higher local id keeps our outbound connection', () => {
    const { h, a } = collide(0x0a000009, 0x0a000002);
    assert.deepEqual(notif(a), [6, 7]);
    assert.ok(a.some((x) => x.type === 'close' && x.conn === 'in-1'));
    assert.deepEqual(
      h.s.conns.map((c) => c.id),
      ['out-1'],
    );
  });
  it('lower local id keeps the peer’s connection', () => {
    const { h, a } = collide(0x0a000001, 0x0a000002);
    assert.ok(a.some((x) => x.type === 'close' && x.conn === 'out-1'));
    assert.deepEqual(
      h.s.conns.map((c) => [c.id, c.stage]),
      [['in-1', 'OpenConfirm']],
    );
  });
  it('an established session beats a new connection', () => {
    const h = new Harness();
    h.establish();
    h.ev({ type: 'tcp-accepted', conn: 'in-9' }, 5);
    const a = h.msg('in-9', peerOpen(), 6);
    assert.deepEqual(notif(a), [6, 7]);
    assert.equal(phaseOf(h.s), 'Established');
  });
  it('…also when its OPEN has graceful restart with the R bit (FRR in its start-up window): the old connection is probed', () => {
    const h = new Harness();
    const old = h.establish();
    h.ev({ type: 'tcp-accepted', conn: 'in-9' }, 5);
    const gr = peerOpen({
      capabilities: [
        ...peerOpen().capabilities,
        {
          kind: 'graceful-restart',
          restarting: true,
          notification: false,
          restartTimeSec: 120,
          families: [],
        },
      ],
    });
    const a = h.msg('in-9', gr, 6);
    assert.deepEqual(notif(a), [6, 7]);
    assert.ok(!a.some((x) => x.type === 'down'));
    assert.ok(a.some((x) => x.type === 'send' && x.conn === old && x.msg.type === 'keepalive'));
    // A peer that really restarted: the probe draws a reset, the old session goes, the next one gets in.
    assert.ok(h.ev({ type: 'tcp-closed', conn: old }, 7).some((x) => x.type === 'down'));
    h.ev({ type: 'tcp-accepted', conn: 'in-10' }, 8);
    h.msg('in-10', gr, 9);
    assert.deepEqual(
      h.s.conns.map((c) => [c.id, c.stage]),
      [['in-10', 'OpenConfirm']],
    );
  });
  it('a third connection is refused', () => {
    const h = new Harness();
    h.ev({ type: 'start' }, 0);
    h.ev({ type: 'tcp-accepted', conn: 'in-1' }, 0);
    assert.deepEqual(h.ev({ type: 'tcp-accepted', conn: 'in-2' }, 0), [{ type: 'close', conn: 'in-2' }]);
  });
});

describe('bgp fsm: properties', () => {
  const msgArb = fc.constantFrom<BgpMessage>(
    peerOpen(),
    peerOpen({ asn: 1 }),
    { type: 'keepalive' },
    { type: 'update', withdrawn: [], attributes: {}, nlri: [] },
    { type: 'notification', code: 6, subcode: 2, data: new Uint8Array() },
    { type: 'route-refresh', afi: 1, safi: 1, subtype: 0 },
  );
  const connArb = fc.constantFrom('out-1', 'out-2', 'out-3', 'in-1', 'in-2');
  const evArb: fc.Arbitrary<FsmEvent> = fc.oneof(
    fc.constant({ type: 'start' as const }),
    fc.constant({ type: 'stop' as const }),
    fc.constant({ type: 'bfd-down' as const }),
    connArb.map((conn) => ({ type: 'tcp-connected' as const, conn })),
    connArb.map((conn) => ({ type: 'tcp-failed' as const, conn, reason: 'x' })),
    fc.constantFrom('in-1', 'in-2').map((conn) => ({ type: 'tcp-accepted' as const, conn })),
    connArb.map((conn) => ({ type: 'tcp-closed' as const, conn })),
    fc.tuple(connArb, msgArb).map(([conn, msg]) => ({ type: 'message' as const, conn, msg })),
    fc
      .tuple(connArb, fc.constantFrom('hold' as const, 'keepalive' as const))
      .map(([conn, which]) => ({ type: 'timer' as const, which, conn })),
    fc.constant({ type: 'timer' as const, which: 'connect-retry' as const }),
  );
  it('never holds more than two connections, never talks on a closed one, and backoff stays bounded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(evArb, fc.integer({ min: 0, max: 100_000 })), { maxLength: 60 }),
        (evs) => {
          let s = initialState;
          let now = 0;
          const closed = new Set<string>();
          for (const [e, dt] of evs) {
            now += dt;
            // A connection id that was closed can come back only as a new connection.
            if (e.type === 'tcp-accepted') closed.delete(e.conn);
            const r = step(cfg, s, e, now);
            for (const a of r.actions) {
              if (a.type === 'send') assert.ok(!closed.has(a.conn), `send on closed ${a.conn}`);
              if (a.type === 'close') closed.add(a.conn);
              if (a.type === 'arm') assert.ok(a.at >= now, 'timers are never armed in the past');
              if (a.type === 'arm' && a.timer === 'connect-retry') assert.ok(a.at - now <= cfg.maxBackoffMs);
            }
            for (const a of r.actions) if (a.type === 'connect') closed.delete(a.conn);
            s = r.state;
            assert.ok(s.conns.length <= 2);
            assert.ok(s.conns.filter((c) => c.stage === 'Established').length <= 1);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('bgp fsm: issue 14 (#3 graceful stop, #6 FRR collision, #7 early UPDATE)', () => {
  const grCap = (restarting: boolean) =>
    ({
      kind: 'graceful-restart',
      restarting,
      notification: false,
      restartTimeSec: 120,
      families: [{ afi: 1, safi: 1, forwardingPreserved: false }],
    }) as const;
  const grOpen = (restarting: boolean) =>
    peerOpen({ capabilities: [...peerOpen().capabilities, grCap(restarting)] });

  it('a second OPEN that merely carries graceful restart (no R bit) is a collision: the session stays', () => {
    const h = new Harness();
    const old = h.establish(0, grOpen(false));
    h.ev({ type: 'tcp-accepted', conn: 'in-9' }, 5);
    const a = h.msg('in-9', grOpen(false), 6);
    assert.deepEqual(notif(a), [6, 7], 'the new connection gets Cease/7');
    assert.ok(!a.some((x) => x.type === 'down'), 'the established session is not dropped');
    assert.ok(
      a.some((x) => x.type === 'send' && x.conn === old && x.msg.type === 'keepalive'),
      'a KEEPALIVE probes the old connection (a restarted peer answers it with a reset)',
    );
    assert.deepEqual(
      h.s.conns.map((c) => [c.id, c.stage]),
      [[old, 'Established']],
    );
  });

  it('graceful stop: no NOTIFICATION where both sides negotiated graceful restart, Cease elsewhere', () => {
    const gr = new Harness({ ...cfg, gracefulRestart: { restartTimeSec: 120, restarting: false } });
    gr.establish(0, grOpen(false));
    const a = gr.ev({ type: 'stop', graceful: true }, 1);
    assert.equal(notif(a), undefined);
    assert.ok(a.some((x) => x.type === 'close'));
    assert.equal(phaseOf(gr.s), 'Idle');

    const peerWithoutGr = new Harness({
      ...cfg,
      gracefulRestart: { restartTimeSec: 120, restarting: false },
    });
    peerWithoutGr.establish();
    assert.deepEqual(notif(peerWithoutGr.ev({ type: 'stop', graceful: true }, 1)), [6, 2]);

    const weWithoutGr = new Harness();
    weWithoutGr.establish(0, grOpen(false));
    assert.deepEqual(notif(weWithoutGr.ev({ type: 'stop', graceful: true }, 1)), [6, 2]);

    const notGraceful = new Harness({ ...cfg, gracefulRestart: { restartTimeSec: 120, restarting: false } });
    notGraceful.establish(0, grOpen(false));
    assert.deepEqual(notif(notGraceful.ev({ type: 'stop' }, 1)), [6, 2]);
  });

  it('UPDATE / ROUTE-REFRESH are refused by type before decoding: 5/1 in OpenSent, 5/2 in OpenConfirm', () => {
    const h = new Harness();
    h.ev({ type: 'start' }, 0);
    h.ev({ type: 'tcp-connected', conn: 'out-1' }, 0);
    assert.equal(acceptsMessageType(h.s, 'out-1', 2), false);
    assert.equal(acceptsMessageType(h.s, 'out-1', 4), true, 'KEEPALIVE is decoded');
    h.msg('out-1', peerOpen(), 1);
    assert.equal(acceptsMessageType(h.s, 'out-1', 5), false);
    assert.deepEqual(notif(h.ev({ type: 'unexpected', conn: 'out-1', what: 'UPDATE' }, 2)), [5, 2]);

    const h2 = new Harness();
    h2.ev({ type: 'start' }, 0);
    h2.ev({ type: 'tcp-connected', conn: 'out-1' }, 0);
    assert.deepEqual(notif(h2.ev({ type: 'unexpected', conn: 'out-1', what: 'UPDATE' }, 1)), [5, 1]);

    const h3 = new Harness();
    const conn = h3.establish();
    assert.equal(acceptsMessageType(h3.s, conn, 2), true);
  });
});
