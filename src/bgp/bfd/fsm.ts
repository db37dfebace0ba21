// One BFD session in asynchronous mode (RFC 5880 §6.8), pure: step(config, state, event, now, rand)
// returns the new state and actions. `rand` (0..1) supplies the transmit jitter so that the core
// stays deterministic under test.
import { BfdDiag, BfdState, type BfdPacket } from './codec.js';

export interface BfdConfig {
  readonly localDiscr: number;
  readonly desiredMinTxMs: number;
  readonly requiredMinRxMs: number;
  readonly detectMult: number;
  /** Wait for the peer to speak first (RFC 5880 §6.1 passive role). */
  readonly passive: boolean;
}

export interface BfdSessionState {
  readonly state: number;
  readonly remoteState: number;
  readonly remoteDiscr: number;
  readonly remoteMinRxMs: number;
  readonly remoteDesiredTxMs: number;
  readonly remoteDetectMult: number;
  readonly diag: number;
  readonly detectAt?: number;
  readonly nextTxAt?: number;
  /** We answered a Poll and owe a Final in the next packet. */
  readonly sendFinal: boolean;
  /** A Poll sequence is running (our timing changed on reaching Up, RFC 5880 §6.8.3). */
  readonly polling: boolean;
  readonly heard: boolean;
  /**
   * Our timers before a change that is being polled (RFC 5880 §6.8.3): until the Final, transmit no
   * slower than the old interval and detect no faster than the old receive interval allowed.
   */
  readonly prevTiming?: { readonly desiredMinTxMs: number; readonly requiredMinRxMs: number };
}

export type BfdEvent =
  | { readonly type: 'start' }
  | { readonly type: 'rx'; readonly pkt: BfdPacket }
  | { readonly type: 'timer'; readonly which: 'tx' | 'detect' }
  | { readonly type: 'admin-down' }
  /** The config's timers changed (the shell passes the new config from now on); `prev` had the old. */
  | { readonly type: 'reconfigure'; readonly prev: BfdConfig };

export type BfdAction =
  | { readonly type: 'send'; readonly pkt: Omit<BfdPacket, 'version'> }
  | { readonly type: 'arm'; readonly timer: 'tx' | 'detect'; readonly at: number }
  | { readonly type: 'transition'; readonly from: number; readonly to: number; readonly diag: number };

/** RFC 5880 §6.8.3: at most one packet per second until the session is Up. */
const SLOW_TX_MS = 1000;

export const initialBfdState: BfdSessionState = {
  state: BfdState.Down,
  remoteState: BfdState.Down,
  remoteDiscr: 0,
  remoteMinRxMs: 1,
  remoteDesiredTxMs: 0,
  remoteDetectMult: 0,
  diag: BfdDiag.None,
  sendFinal: false,
  polling: false,
  heard: false,
};

export function txIntervalMs(c: BfdConfig, s: BfdSessionState): number {
  const own = s.prevTiming ? Math.min(c.desiredMinTxMs, s.prevTiming.desiredMinTxMs) : c.desiredMinTxMs;
  const desired = s.state === BfdState.Up ? own : Math.max(own, SLOW_TX_MS);
  return Math.max(desired, s.remoteMinRxMs);
}

/** Detection time in asynchronous mode (RFC 5880 §6.8.4). */
export const detectTimeMs = (c: BfdConfig, s: BfdSessionState): number =>
  s.remoteDetectMult *
  Math.max(
    s.prevTiming ? Math.max(c.requiredMinRxMs, s.prevTiming.requiredMinRxMs) : c.requiredMinRxMs,
    s.remoteDesiredTxMs,
  );

function packet(c: BfdConfig, s: BfdSessionState): Omit<BfdPacket, 'version'> {
  return {
    diag: s.diag,
    state: s.state,
    // Poll and Final never share a packet (RFC 5880 §6.5).
    poll: s.polling && !s.sendFinal,
    final: s.sendFinal,
    // C bit clear (RFC 5880 §4.1, RFC 5882 §4.3): this BFD lives and dies with the daemon's control
    // plane, so a BFD failure may be a restart the router should ride out with graceful restart
    // (BIRD `bfd graceful`, FRR `check-control-plane-failure`), not a dead forwarding path.
    cpi: false,
    auth: false,
    demand: false,
    multipoint: false,
    detectMult: c.detectMult,
    myDiscr: c.localDiscr,
    yourDiscr: s.remoteDiscr,
    desiredMinTxUs:
      (s.state === BfdState.Up ? c.desiredMinTxMs : Math.max(c.desiredMinTxMs, SLOW_TX_MS)) * 1000,
    requiredMinRxUs: c.requiredMinRxMs * 1000,
    requiredMinEchoRxUs: 0,
  };
}

export function bfdStep(
  c: BfdConfig,
  s0: BfdSessionState,
  ev: BfdEvent,
  now: number,
  rand: number,
): { state: BfdSessionState; actions: BfdAction[] } {
  let s = s0;
  const actions: BfdAction[] = [];
  const go = (to: number, diag: number): void => {
    if (s.state === to) return;
    actions.push({ type: 'transition', from: s.state, to, diag });
    // Reaching Up lowers our transmit interval below the 1 s idle rate: announce it with a Poll.
    s = { ...s, state: to, diag, polling: to === BfdState.Up && c.desiredMinTxMs < SLOW_TX_MS };
  };
  // Jitter: 75–100 % of the interval, at most 90 % when the multiplier is 1 (RFC 5880 §6.8.7).
  const scheduleTx = (): void => {
    const iv = txIntervalMs(c, s);
    const at = now + iv * (c.detectMult === 1 ? 0.75 + 0.15 * rand : 0.75 + 0.25 * rand);
    s = { ...s, nextTxAt: at };
    actions.push({ type: 'arm', timer: 'tx', at });
  };
  const send = (): void => {
    actions.push({ type: 'send', pkt: packet(c, s) });
    s = { ...s, sendFinal: false };
  };

  switch (ev.type) {
    case 'start':
      if (!c.passive) {
        send();
        scheduleTx();
      }
      break;
    case 'reconfigure': {
      // New timers go out at once with the Poll bit; in Up the old ones bound the interval and the
      // detection time until the peer's Final (RFC 5880 §6.8.3). Before Up nothing needs a Poll.
      if (s.state !== BfdState.Up) break;
      const prior = s.prevTiming ?? {
        desiredMinTxMs: ev.prev.desiredMinTxMs,
        requiredMinRxMs: ev.prev.requiredMinRxMs,
      };
      s = { ...s, polling: true, prevTiming: prior };
      send();
      scheduleTx();
      break;
    }
    case 'admin-down':
      go(BfdState.AdminDown, BfdDiag.AdminDown);
      send();
      break;
    case 'timer':
      if (ev.which === 'detect') {
        if (s.detectAt === undefined) break;
        if (now < s.detectAt) actions.push({ type: 'arm', timer: 'detect', at: s.detectAt });
        else if (s.state === BfdState.Up || s.state === BfdState.Init) {
          go(BfdState.Down, BfdDiag.ControlDetectionTimeExpired);
          // Forget the peer's discriminator so a restarted peer can be heard again.
          s = { ...s, remoteDiscr: 0, detectAt: undefined, remoteMinRxMs: 1 };
        }
      } else {
        if (s.state === BfdState.AdminDown || (c.passive && !s.heard)) break;
        if (s.nextTxAt !== undefined && now < s.nextTxAt) {
          actions.push({ type: 'arm', timer: 'tx', at: s.nextTxAt });
          break;
        }
        send();
        scheduleTx();
      }
      break;
    case 'rx': {
      const p = ev.pkt;
      if (p.yourDiscr !== 0 && p.yourDiscr !== c.localDiscr) break; // not for this session
      if (s.state === BfdState.AdminDown) break;
      s = {
        ...s,
        heard: true,
        remoteDiscr: p.myDiscr,
        remoteState: p.state,
        remoteMinRxMs: Math.max(1, p.requiredMinRxUs / 1000),
        remoteDesiredTxMs: p.desiredMinTxUs / 1000,
        remoteDetectMult: p.detectMult,
        sendFinal: s.sendFinal || p.poll,
        polling: s.polling && !p.final,
        ...(p.final ? { prevTiming: undefined } : {}),
      };
      if (p.state === BfdState.AdminDown) {
        go(BfdState.Down, BfdDiag.NeighborSignaledDown);
      } else if (s.state === BfdState.Down) {
        if (p.state === BfdState.Down) go(BfdState.Init, BfdDiag.None);
        else if (p.state === BfdState.Init) go(BfdState.Up, BfdDiag.None);
      } else if (s.state === BfdState.Init) {
        if (p.state === BfdState.Init || p.state === BfdState.Up) go(BfdState.Up, BfdDiag.None);
      } else if (p.state === BfdState.Down) {
        go(BfdState.Down, BfdDiag.NeighborSignaledDown);
      }
      const detectAt = now + detectTimeMs(c, s);
      s = { ...s, detectAt };
      actions.push({ type: 'arm', timer: 'detect', at: detectAt });
      // Answer a Poll at once, and tell the peer about a state change without waiting a full interval.
      if (p.poll || actions.some((a) => a.type === 'transition')) {
        send();
        scheduleTx();
      } else if (s.nextTxAt === undefined) scheduleTx();
      break;
    }
  }
  return { state: s, actions };
}
