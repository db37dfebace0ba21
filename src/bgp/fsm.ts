// The BGP session state machine (RFC 4271 §8), pure: step(config, state, event, now) returns the next
// state and the actions the socket shell must perform. Time only enters through `now` and timer
// events; deadlines live in the state, so a timer that fires early or late is simply re-armed or
// honoured, and a stale timer can never tear down a healthy session.
//
// One session per peer holds up to two TCP connections at once (ours and the peer's) so that
// connection collisions (§6.8) are resolved by comparing BGP identifiers, as the RFC describes.
import {
  CeaseSubcode,
  ErrorCode,
  FsmSubcode,
  OpenSubcode,
  describeNotification,
  type BgpMessage,
  type NotificationMessage,
  type OpenMessage,
  type RouteRefreshMessage,
  type UpdateMessage,
} from './codec/index.js';
import { localOpen, negotiate, type LocalSessionParams, type Negotiated } from './negotiate.js';

export type Phase = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';
export type ConnId = string;
export type TimerName = 'connect-retry' | 'hold' | 'keepalive';

export interface FsmConfig extends LocalSessionParams {
  readonly peerAsn: number;
  /** Never initiate; wait for the peer to connect. */
  readonly passive: boolean;
  /** First retry delay; doubles per consecutive failure. */
  readonly connectRetryMs: number;
  readonly maxBackoffMs: number;
  /** A session must stay Established this long before a later failure counts as a fresh start. */
  readonly stableMs: number;
  /** Hold time while waiting for the peer's OPEN (RFC 4271 suggests 4 minutes). */
  readonly openHoldMs: number;
}

interface Conn {
  readonly id: ConnId;
  readonly dir: 'in' | 'out';
  readonly stage: 'connecting' | 'OpenSent' | 'OpenConfirm' | 'Established';
  readonly negotiated?: Negotiated;
  readonly holdDeadline?: number;
  readonly keepaliveDeadline?: number;
}

export interface SessionState {
  readonly started: boolean;
  readonly conns: readonly Conn[];
  readonly nextOut: number;
  /** Consecutive failures; drives the backoff and is only forgiven after a stable session. */
  readonly failures: number;
  readonly retryAt?: number;
  readonly establishedAt?: number;
  readonly lastError?: string;
}

export type FsmEvent =
  | { readonly type: 'start' }
  /**
   * graceful: a planned stop while the kernel keeps forwarding (RFC 4724 §4.1 restarting speaker):
   * sessions whose peer negotiated graceful restart are closed without a NOTIFICATION, so the peer
   * keeps our routes as stale until we are back and send End-of-RIB.
   */
  | { readonly type: 'stop'; readonly reason?: string; readonly graceful?: boolean }
  | { readonly type: 'tcp-connected'; readonly conn: ConnId }
  | { readonly type: 'tcp-failed'; readonly conn: ConnId; readonly reason: string }
  | { readonly type: 'tcp-accepted'; readonly conn: ConnId }
  | { readonly type: 'tcp-closed'; readonly conn: ConnId }
  | { readonly type: 'message'; readonly conn: ConnId; readonly msg: BgpMessage }
  | {
      readonly type: 'decode-error';
      readonly conn: ConnId;
      readonly code: number;
      readonly subcode: number;
      readonly data: Uint8Array;
      readonly reason: string;
    }
  | { readonly type: 'timer'; readonly which: TimerName; readonly conn?: ConnId }
  | { readonly type: 'bfd-down' }
  /**
   * The shell framed a message whose type this connection's stage does not accept (UPDATE or
   * ROUTE-REFRESH before Established). It is reported before its body is decoded: the body may only be
   * decodable with what the session negotiates (4-octet AS paths, ADD-PATH), and RFC 4271 §6.6 asks for
   * an FSM error (5/1, 5/2), not the decoder's complaint.
   */
  | { readonly type: 'unexpected'; readonly conn: ConnId; readonly what: string };

export type FsmAction =
  | { readonly type: 'connect'; readonly conn: ConnId }
  | { readonly type: 'send'; readonly conn: ConnId; readonly msg: BgpMessage }
  | { readonly type: 'close'; readonly conn: ConnId }
  | { readonly type: 'arm'; readonly timer: TimerName; readonly conn?: ConnId; readonly at: number }
  | { readonly type: 'established'; readonly conn: ConnId; readonly negotiated: Negotiated }
  | { readonly type: 'down'; readonly conn: ConnId; readonly reason: string }
  | { readonly type: 'deliver'; readonly conn: ConnId; readonly msg: UpdateMessage | RouteRefreshMessage };

export interface StepResult {
  readonly state: SessionState;
  readonly actions: FsmAction[];
}

export const initialState: SessionState = { started: false, conns: [], nextOut: 1, failures: 0 };

/** RFC 4271 state name for status output: the most advanced connection wins. */
export function phaseOf(s: SessionState): Phase {
  if (!s.started) return 'Idle';
  const order = ['Established', 'OpenConfirm', 'OpenSent'] as const;
  for (const p of order) if (s.conns.some((c) => c.stage === p)) return p;
  return s.conns.some((c) => c.stage === 'connecting') ? 'Connect' : 'Active';
}

/** Message types (RFC 4271 §4.1) that only an Established connection accepts. */
const ESTABLISHED_ONLY = new Set([2, 5]);

/**
 * Whether a framed message of `msgType` may be decoded on `conn`; false means the shell sends
 * `unexpected` instead (see FsmEvent).
 */
export function acceptsMessageType(s: SessionState, conn: ConnId, msgType: number): boolean {
  const c = s.conns.find((x) => x.id === conn);
  return !c || c.stage === 'Established' || !ESTABLISHED_ONLY.has(msgType);
}

export const establishedConn = (s: SessionState): ConnId | undefined =>
  s.conns.find((c) => c.stage === 'Established')?.id;

export function backoffDelay(cfg: FsmConfig, failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(cfg.maxBackoffMs, cfg.connectRetryMs * 2 ** Math.min(failures - 1, 30));
}

const notification = (
  code: number,
  subcode: number,
  data: Uint8Array = new Uint8Array(0),
): NotificationMessage => ({
  type: 'notification',
  code,
  subcode,
  data,
});

/** Mutable builder used inside one step; the result is a fresh immutable state. */
class Step {
  s: SessionState;
  readonly actions: FsmAction[] = [];
  constructor(
    readonly cfg: FsmConfig,
    state: SessionState,
    readonly now: number,
  ) {
    this.s = state;
  }
  conn(id: ConnId | undefined): Conn | undefined {
    return this.s.conns.find((c) => c.id === id);
  }
  put(c: Conn): void {
    this.s = { ...this.s, conns: this.s.conns.map((x) => (x.id === c.id ? c : x)) };
  }
  emit(a: FsmAction): void {
    this.actions.push(a);
  }

  /** Closes a connection (optionally with NOTIFICATION) and accounts for the failure. */
  drop(c: Conn, reason: string, notify?: NotificationMessage, countFailure = true): void {
    if (notify && c.stage !== 'connecting') this.emit({ type: 'send', conn: c.id, msg: notify });
    this.emit({ type: 'close', conn: c.id });
    this.s = { ...this.s, conns: this.s.conns.filter((x) => x.id !== c.id), lastError: reason };
    if (c.stage === 'Established') {
      this.emit({ type: 'down', conn: c.id, reason });
      const stable =
        this.s.establishedAt !== undefined && this.now - this.s.establishedAt >= this.cfg.stableMs;
      // A session that stayed up long enough earns a fresh backoff; a flapping one keeps doubling.
      this.s = { ...this.s, failures: stable ? 1 : this.s.failures + 1, establishedAt: undefined };
    } else if (countFailure) {
      this.s = { ...this.s, failures: this.s.failures + 1 };
    }
    this.scheduleRetry();
  }

  scheduleRetry(): void {
    if (!this.s.started || this.s.conns.length > 0) return;
    const at = this.now + Math.max(backoffDelay(this.cfg, this.s.failures), this.cfg.connectRetryMs);
    this.s = { ...this.s, retryAt: at };
    this.emit({ type: 'arm', timer: 'connect-retry', at });
  }

  connectOut(): void {
    const id = `out-${this.s.nextOut}`;
    this.s = {
      ...this.s,
      nextOut: this.s.nextOut + 1,
      retryAt: undefined,
      conns: [...this.s.conns, { id, dir: 'out', stage: 'connecting' }],
    };
    this.emit({ type: 'connect', conn: id });
  }

  sendOpen(c: Conn): void {
    this.emit({ type: 'send', conn: c.id, msg: localOpen(this.cfg) });
    const holdDeadline = this.now + this.cfg.openHoldMs;
    this.put({ ...c, stage: 'OpenSent', holdDeadline });
    this.emit({ type: 'arm', timer: 'hold', conn: c.id, at: holdDeadline });
  }

  armSessionTimers(c: Conn, n: Negotiated): Conn {
    if (n.holdMs === 0) return { ...c, holdDeadline: undefined, keepaliveDeadline: undefined };
    const holdDeadline = this.now + n.holdMs;
    const keepaliveDeadline = this.now + n.keepaliveMs;
    this.emit({ type: 'arm', timer: 'hold', conn: c.id, at: holdDeadline });
    this.emit({ type: 'arm', timer: 'keepalive', conn: c.id, at: keepaliveDeadline });
    return { ...c, holdDeadline, keepaliveDeadline };
  }

  /** Any message from the peer restarts its hold timer (lazily: the deadline moves, no re-arm). */
  touch(c: Conn): Conn {
    const hold = c.negotiated?.holdMs ?? 0;
    const next = hold > 0 ? { ...c, holdDeadline: this.now + hold } : c;
    this.put(next);
    return next;
  }

  result(): StepResult {
    return { state: this.s, actions: this.actions };
  }
}

function onOpen(st: Step, c: Conn, open: OpenMessage): void {
  const cfg = st.cfg;
  if (open.asn !== cfg.peerAsn) {
    st.drop(
      c,
      `peer AS ${open.asn}, expected ${cfg.peerAsn}`,
      notification(ErrorCode.OpenMessage, OpenSubcode.BadPeerAs),
    );
    return;
  }
  if (open.bgpId === cfg.routerId && cfg.peerAsn === cfg.localAsn) {
    st.drop(c, 'peer uses our BGP identifier', notification(ErrorCode.OpenMessage, OpenSubcode.BadBgpId));
    return;
  }
  const n = negotiate(cfg, open);
  if (n.families.length === 0) {
    st.drop(
      c,
      'no address family in common',
      notification(ErrorCode.OpenMessage, OpenSubcode.UnsupportedCapability),
    );
    return;
  }
  // Collision detection (RFC 4271 §6.8) against the other connection, if it knows the peer's id.
  const other = st.s.conns.find(
    (x) => x.id !== c.id && (x.stage === 'OpenConfirm' || x.stage === 'Established'),
  );
  if (other) {
    const collision = notification(ErrorCode.Cease, CeaseSubcode.ConnectionCollision);
    if (other.stage === 'Established') {
      // RFC 4271 §6.8: the Established connection wins, also against an OPEN with graceful restart
      // (RFC 4724 §4.2 would take it for a restart). FRR puts the capability in every OPEN, with
      // the R bit during its own start-up window, also on the second connection of an ordinary
      // start-up collision; taking that for a restart dropped the session that had just come up.
      // A peer that really restarted has no old TCP endpoint left: the KEEPALIVE sent here on the
      // old connection draws a reset, that session goes down, and the next connection gets in.
      st.emit({ type: 'send', conn: other.id, msg: { type: 'keepalive' } });
      st.drop(c, 'connection collision with established session', collision, false);
      return;
    } else {
      const localWins = cfg.routerId >>> 0 > open.bgpId >>> 0;
      // Keep the connection initiated by the speaker with the higher BGP identifier.
      const keepDir = localWins ? 'out' : 'in';
      const loser = c.dir === other.dir ? other : c.dir === keepDir ? other : c;
      st.drop(loser, 'connection collision', collision, false);
      if (loser === c) return;
    }
  }
  st.emit({ type: 'send', conn: c.id, msg: { type: 'keepalive' } });
  const next = st.armSessionTimers({ ...c, stage: 'OpenConfirm', negotiated: n }, n);
  st.put(next);
}

function onMessage(st: Step, c: Conn, msg: BgpMessage): void {
  if (msg.type === 'notification') {
    st.drop(c, `peer sent NOTIFICATION ${describeNotification(msg.code, msg.subcode)}`);
    return;
  }
  if (c.stage === 'OpenSent') {
    if (msg.type === 'open') onOpen(st, c, msg);
    else
      st.drop(c, `unexpected ${msg.type} in OpenSent`, notification(ErrorCode.FsmError, FsmSubcode.OpenSent));
    return;
  }
  if (c.stage === 'OpenConfirm') {
    if (msg.type === 'keepalive' && c.negotiated) {
      const next = st.touch({ ...c, stage: 'Established' });
      st.s = { ...st.s, establishedAt: st.now, lastError: st.s.lastError };
      st.put(next);
      st.emit({ type: 'established', conn: c.id, negotiated: c.negotiated });
    } else
      st.drop(
        c,
        `unexpected ${msg.type} in OpenConfirm`,
        notification(ErrorCode.FsmError, FsmSubcode.OpenConfirm),
      );
    return;
  }
  if (c.stage === 'Established') {
    if (msg.type === 'open') {
      st.drop(c, 'OPEN in Established', notification(ErrorCode.FsmError, FsmSubcode.Established));
      return;
    }
    st.touch(c);
    if (msg.type === 'update' || msg.type === 'route-refresh') st.emit({ type: 'deliver', conn: c.id, msg });
  }
}

function onTimer(st: Step, which: TimerName, id: ConnId | undefined): void {
  if (which === 'connect-retry') {
    const at = st.s.retryAt;
    if (at === undefined || !st.s.started || st.s.conns.length > 0) return;
    if (st.now < at) st.emit({ type: 'arm', timer: 'connect-retry', at });
    else if (st.cfg.passive) st.s = { ...st.s, retryAt: undefined };
    else st.connectOut();
    return;
  }
  const c = st.conn(id);
  if (!c) return;
  if (which === 'hold') {
    if (c.holdDeadline === undefined) return;
    if (st.now < c.holdDeadline) st.emit({ type: 'arm', timer: 'hold', conn: c.id, at: c.holdDeadline });
    else st.drop(c, 'hold timer expired', notification(ErrorCode.HoldTimerExpired, 0));
    return;
  }
  if (c.keepaliveDeadline === undefined || !c.negotiated) return;
  if (st.now < c.keepaliveDeadline) {
    st.emit({ type: 'arm', timer: 'keepalive', conn: c.id, at: c.keepaliveDeadline });
    return;
  }
  const keepaliveDeadline = st.now + c.negotiated.keepaliveMs;
  st.emit({ type: 'send', conn: c.id, msg: { type: 'keepalive' } });
  st.emit({ type: 'arm', timer: 'keepalive', conn: c.id, at: keepaliveDeadline });
  st.put({ ...c, keepaliveDeadline });
}

export function step(cfg: FsmConfig, state: SessionState, ev: FsmEvent, now: number): StepResult {
  const st = new Step(cfg, state, now);
  switch (ev.type) {
    case 'start':
      if (st.s.started) break;
      st.s = { ...st.s, started: true };
      if (!cfg.passive) st.connectOut();
      break;
    case 'stop':
      // Not started any more first, so that dropping the connections schedules no retry.
      st.s = { ...st.s, started: false, retryAt: undefined };
      for (const c of st.s.conns) {
        // RFC 4724 needs both sides to have announced the capability; without it, or for a stop
        // that is not a restart, the peer must flush our routes at once: Cease.
        const keep =
          ev.graceful === true &&
          c.stage === 'Established' &&
          cfg.gracefulRestart !== undefined &&
          c.negotiated?.peerGracefulRestart !== undefined;
        st.drop(
          c,
          ev.reason ?? 'administrative shutdown',
          keep ? undefined : notification(ErrorCode.Cease, CeaseSubcode.AdminShutdown),
          false,
        );
      }
      break;
    case 'tcp-connected': {
      const c = st.conn(ev.conn);
      if (c?.stage === 'connecting') st.sendOpen(c);
      // A connect that completes after we gave up on it (stopped, collided) is closed; an event for a
      // live connection in another stage is ignored rather than closing a healthy session.
      else if (!c) st.emit({ type: 'close', conn: ev.conn });
      break;
    }
    case 'tcp-failed': {
      const c = st.conn(ev.conn);
      if (c) st.drop(c, `connect failed: ${ev.reason}`);
      break;
    }
    case 'tcp-accepted': {
      // Two connections are enough to resolve a collision; a third is refused outright.
      if (st.conn(ev.conn)) break; // ids are unique per shell; a repeat is a shell bug, not a peer
      if (!st.s.started || st.s.conns.length >= 2) {
        st.emit({ type: 'close', conn: ev.conn });
        break;
      }
      const c: Conn = { id: ev.conn, dir: 'in', stage: 'OpenSent' };
      st.s = { ...st.s, conns: [...st.s.conns, c], retryAt: undefined };
      st.sendOpen(c);
      break;
    }
    case 'tcp-closed': {
      const c = st.conn(ev.conn);
      if (c) st.drop(c, 'connection closed by peer');
      break;
    }
    case 'message': {
      const c = st.conn(ev.conn);
      if (c && c.stage !== 'connecting') onMessage(st, c, ev.msg);
      break;
    }
    case 'decode-error': {
      const c = st.conn(ev.conn);
      if (c)
        st.drop(c, `malformed message from peer: ${ev.reason}`, notification(ev.code, ev.subcode, ev.data));
      break;
    }
    case 'timer':
      onTimer(st, ev.which, ev.conn);
      break;
    case 'unexpected': {
      const c = st.conn(ev.conn);
      if (!c || c.stage === 'connecting' || c.stage === 'Established') break;
      const sub = c.stage === 'OpenSent' ? FsmSubcode.OpenSent : FsmSubcode.OpenConfirm;
      st.drop(c, `unexpected ${ev.what} in ${c.stage}`, notification(ErrorCode.FsmError, sub));
      break;
    }
    case 'bfd-down':
      // The path is gone: a NOTIFICATION could not arrive; drop at once (RFC 5882 §4.1).
      for (const c of st.s.conns) if (c.stage === 'Established') st.drop(c, 'BFD session down');
      break;
  }
  return st.result();
}
