// The main ↔ speaker/BFD thread messages: what crosses the boundary is checked, structured clone
// keeps every field (bigint prefixes included), and status uptimes are advanced by message age.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  parseFromBfd,
  parseFromSpeaker,
  parseToBfd,
  parseToSpeaker,
  rebaseStatus,
  statusWhileRestarting,
  ThreadProtocolError,
} from '../../../src/bgp/thread/protocol.js';
import type { AdvertisedRoute } from '../../../src/bgp/ribout.js';
import type { BgpStatus, PeerConfig, SessionStatus } from '../../../src/bgp/types.js';

const peer: PeerConfig = {
  name: 'rt',
  peerAddress: '10.0.0.2',
  localAsn: 64512,
  peerAsn: 64600,
  routerId: '10.0.0.1',
  bfd: { desiredMinTxMs: 100, requiredMinRxMs: 100, detectMult: 3 },
  gracefulRestart: { restartTimeSec: 120 },
};

const route: AdvertisedRoute = {
  prefix: { family: 6, addr: 0x20010db8000000000000000000000001n, len: 128 },
  localPref: 200,
  communities: [64512 * 65536 + 99],
  largeCommunities: [{ global: 64512, local1: 2, local2: 3 }],
  peers: ['rt'],
};

const session = (over: Partial<SessionStatus> = {}): SessionStatus => ({
  peer: 'rt',
  peerAddress: '10.0.0.2',
  peerAsn: 64600,
  localAsn: 64512,
  state: 'Established',
  uptimeMs: 1000,
  messagesIn: 3,
  messagesOut: 4,
  updatesIn: 0,
  updatesOut: 1,
  prefixesSent: 1,
  prefixesReceived: 0,
  receivedTruncated: false,
  connectFailures: 0,
  families: ['ipv4-unicast'],
  bfd: 'Up',
  skipped: [],
  rejected: [],
  routerId: '10.0.0.1',
  ...over,
});

describe('speaker thread protocol', () => {
  it('peers and routes survive structured clone and parse unchanged', () => {
    const peers = parseToSpeaker(structuredClone({ type: 'peers', peers: [peer] }));
    assert.deepEqual(peers, { type: 'peers', peers: [peer] });
    const routes = parseToSpeaker(structuredClone({ type: 'routes', routes: [route] }));
    assert.deepEqual(routes, { type: 'routes', routes: [route] });
    assert.deepEqual(parseToSpeaker({ type: 'stop' }), { type: 'stop' });
  });

  it('refuses malformed messages naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [null, /message: expected an object, got null/],
      [{ type: 'dance' }, /type: unknown message type "dance"/],
      [{ type: 'peers' }, /peers: expected an array/],
      [{ type: 'peers', peers: [{ ...peer, localAsn: '64512' }] }, /peers\[0\]\.localAsn/],
      [{ type: 'routes', routes: [{ prefix: { family: 4, addr: 1, len: 32 } }] }, /routes\[0\]\.prefix/],
    ];
    for (const [m, re] of cases)
      assert.throws(
        () => parseToSpeaker(m),
        (e: unknown) => e instanceof ThreadProtocolError && re.test(e.message),
      );
    assert.throws(() => parseFromSpeaker({ type: 'status', status: { sessions: [] }, at: 1 }), /status/);
    assert.throws(
      () => parseFromSpeaker({ type: 'status', status: { sessions: [], routes: [] }, at: NaN }),
      /at: expected a finite number/,
    );
    assert.throws(() => parseFromSpeaker({ type: 'log' }), /msg: expected a string/);
  });

  it('worker → main messages parse', () => {
    assert.deepEqual(parseFromSpeaker({ type: 'started', port: 179 }), { type: 'started', port: 179 });
    assert.deepEqual(parseFromSpeaker({ type: 'started' }), { type: 'started' });
    assert.deepEqual(parseFromSpeaker({ type: 'start-failed', message: 'EADDRINUSE' }), {
      type: 'start-failed',
      message: 'EADDRINUSE',
    });
    const status: BgpStatus = { sessions: [session()], routes: [] };
    assert.deepEqual(parseFromSpeaker(structuredClone({ type: 'status', status, at: 5 })), {
      type: 'status',
      status,
      at: 5,
    });
  });

  it('rebaseStatus advances established sessions by the message age and nothing else', () => {
    fc.assert(
      fc.property(fc.nat(1e9), fc.nat(1e6), fc.integer({ min: -1e6, max: 1e6 }), (up, at, delta) => {
        const st: BgpStatus = {
          sessions: [session({ uptimeMs: up }), session({ peer: 'b', state: 'Active', uptimeMs: undefined })],
          routes: [],
        };
        const out = rebaseStatus(st, at, at + delta);
        assert.equal(out.sessions[0]!.uptimeMs, up + Math.max(0, delta));
        assert.equal(out.sessions[1]!.uptimeMs, undefined);
        assert.deepEqual({ ...out.sessions[0], uptimeMs: 0 }, { ...st.sessions[0], uptimeMs: 0 });
      }),
    );
  });

  it('while the thread restarts, sessions show Idle with the reason and no routes', () => {
    const st = statusWhileRestarting(
      {
        sessions: [session()],
        routes: [
          { prefix: '198.51.100.1/32', peers: ['rt'], nextHops: [], communities: [], largeCommunities: [] },
        ],
      },
      'thread died',
    );
    assert.equal(st.sessions[0]!.state, 'Idle');
    assert.equal(st.sessions[0]!.lastError, 'thread died');
    assert.equal(st.sessions[0]!.uptimeMs, undefined);
    assert.equal(st.sessions[0]!.bfd, undefined);
    assert.deepEqual(st.routes, []);
  });
});

describe('BFD thread protocol', () => {
  it('peers, states and events parse; bad values are refused with the field', () => {
    const peers = [{ peerAddress: 'fd00::2', desiredMinTxMs: 100, requiredMinRxMs: 100, detectMult: 3 }];
    assert.deepEqual(parseToBfd(structuredClone({ type: 'peers', peers })), { type: 'peers', peers });
    assert.throws(
      () => parseToBfd({ type: 'peers', peers: [{ ...peers[0], detectMult: 0 }] }),
      /peers\[0\]\.detectMult: expected a positive number, got 0/,
    );
    assert.throws(
      () => parseToBfd({ type: 'peers', peers: [{ desiredMinTxMs: 1 }] }),
      /peers\[0\]\.peerAddress/,
    );
    assert.deepEqual(parseFromBfd({ type: 'states', states: [['10.0.0.2', 'Up']] }), {
      type: 'states',
      states: [['10.0.0.2', 'Up']],
    });
    assert.throws(() => parseFromBfd({ type: 'states', states: [['10.0.0.2']] }), /states\[0\]/);
    assert.deepEqual(parseFromBfd({ type: 'down', peerAddress: '10.0.0.2', diag: 1 }), {
      type: 'down',
      peerAddress: '10.0.0.2',
      diag: 1,
    });
    assert.throws(() => parseFromBfd({ type: 'down', peerAddress: '10.0.0.2' }), /diag/);
    assert.throws(() => parseFromBfd({ type: 'nope' }), /unknown message type/);
  });
});
