// The imperative shell for one BGP peer: TCP sockets and Node timers around the pure FSM, plus the
// Adj-RIB-Out bookkeeping. Everything that decides lives in fsm.ts / ribout.ts / codec; this file only
// moves bytes and schedules callbacks.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { formatIp, parseIp } from '../net/ip.js';
import {
  AFI,
  BgpDecodeError,
  BgpEncodeError,
  MessageFramer,
  decodeMessage,
  encodeMessage,
  endOfRib,
  isEndOfRib,
  packUpdates,
  prefixKey,
  type BgpMessage,
  type CodecContext,
  type OutRoute,
  type RouteRefreshMessage,
  type UpdateMessage,
} from './codec/index.js';
import {
  acceptsMessageType,
  initialState,
  phaseOf,
  step,
  type ConnId,
  type FsmAction,
  type FsmConfig,
  type FsmEvent,
  type SessionState,
} from './fsm.js';
import type { Negotiated } from './negotiate.js';
import { buildRibOut, diffRibOut, type AdvertisedRoute } from './ribout.js';
import type { PeerConfig, SessionStatus } from './types.js';

interface Live {
  readonly socket: net.Socket;
  readonly framer: MessageFramer;
}

const ipv4ToInt = (s: string): number => Number(parseIp(s).value);

export function fsmConfigOf(p: PeerConfig, restarting: boolean): FsmConfig {
  const families = (p.families ?? [4, 6]).map((f) => ({ afi: f === 4 ? AFI.IPv4 : AFI.IPv6, safi: 1 }));
  const hold = p.holdTimeSec ?? 90;
  return {
    localAsn: p.localAsn,
    peerAsn: p.peerAsn,
    routerId: ipv4ToInt(p.routerId),
    holdTimeSec: hold,
    ...(p.keepaliveSec !== undefined ? { keepaliveSec: p.keepaliveSec } : {}),
    families,
    ...(p.gracefulRestart
      ? { gracefulRestart: { restartTimeSec: p.gracefulRestart.restartTimeSec, restarting } }
      : {}),
    addPathSend: p.addPathSend ?? false,
    passive: p.passive ?? false,
    connectRetryMs: p.connectRetryMs ?? 1000,
    maxBackoffMs: p.maxBackoffMs ?? 60_000,
    stableMs: Math.max(60_000, hold * 1000),
    openHoldMs: 240_000,
  };
}

export class PeerSession {
  private state: SessionState = initialState;
  private readonly conns = new Map<ConnId, Live>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private negotiated?: Negotiated;
  private established?: ConnId;
  private establishedAt?: number;
  private sent = new Map<string, OutRoute>();
  private readonly received = new Set<string>();
  private receivedTruncated = false;
  private skipped: SessionStatus['skipped'] = [];
  private rejected: SessionStatus['rejected'] = [];
  private counters = { messagesIn: 0, messagesOut: 0, updatesIn: 0, updatesOut: 0 };
  private routes: readonly AdvertisedRoute[] = [];
  private fsm: FsmConfig;

  constructor(
    private cfg: PeerConfig,
    restarting: boolean,
    private readonly log: (msg: string) => void = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.fsm = fsmConfigOf(cfg, restarting);
  }

  get config(): PeerConfig {
    return this.cfg;
  }

  /** Settings that need no new session (speaker.ts sessionKey): next hops are re-announced. */
  reconfigure(next: PeerConfig): void {
    this.cfg = next;
    this.sync();
  }

  start(): void {
    this.dispatch({ type: 'start' });
  }

  stop(reason?: string, graceful = false): void {
    this.dispatch({ type: 'stop', ...(reason ? { reason } : {}), graceful });
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** BFD declared the path dead. */
  bfdDown(): void {
    this.dispatch({ type: 'bfd-down' });
  }

  /** A connection accepted by the speaker's listener for this peer. */
  accept(id: ConnId, socket: net.Socket): void {
    this.attach(id, socket);
    this.dispatch({ type: 'tcp-accepted', conn: id });
  }

  setRoutes(routes: readonly AdvertisedRoute[]): void {
    this.routes = routes;
    this.sync();
  }

  status(): SessionStatus {
    const live = this.established ? this.conns.get(this.established) : undefined;
    return {
      peer: this.config.name,
      peerAddress: this.config.peerAddress,
      peerAsn: this.config.peerAsn,
      localAsn: this.config.localAsn,
      state: phaseOf(this.state),
      ...(this.establishedAt !== undefined ? { uptimeMs: Math.round(this.now() - this.establishedAt) } : {}),
      ...(live?.socket.localAddress ? { localAddress: live.socket.localAddress } : {}),
      ...this.counters,
      prefixesSent: this.sent.size,
      prefixesReceived: this.received.size,
      receivedTruncated: this.receivedTruncated,
      connectFailures: this.state.failures,
      ...(this.state.lastError ? { lastError: this.state.lastError } : {}),
      families: this.negotiated?.families ?? [],
      skipped: this.skipped,
      rejected: this.rejected,
      routerId: this.config.routerId,
    };
  }

  /** Routes currently announced to this peer (prefix key → route). */
  sentRoutes(): ReadonlyMap<string, OutRoute> {
    return this.sent;
  }

  private dispatch(ev: FsmEvent): void {
    const r = step(this.fsm, this.state, ev, this.now());
    this.state = r.state;
    for (const a of r.actions) this.perform(a);
  }

  private perform(a: FsmAction): void {
    switch (a.type) {
      case 'connect':
        this.connect(a.conn);
        break;
      case 'send':
        this.write(a.conn, [a.msg]);
        break;
      case 'close':
        this.closeConn(a.conn);
        break;
      case 'arm':
        this.arm(a.timer, a.conn, a.at);
        break;
      case 'established':
        this.onEstablished(a.conn, a.negotiated);
        break;
      case 'down':
        this.log(`session ${this.config.name} down: ${a.reason}`);
        this.established = undefined;
        this.establishedAt = undefined;
        this.negotiated = undefined;
        this.sent = new Map();
        this.received.clear();
        this.receivedTruncated = false;
        break;
      case 'deliver':
        if (a.msg.type === 'update') this.onUpdate(a.msg);
        else this.onRouteRefresh(a.msg);
        break;
    }
  }

  private ctxOut(): CodecContext {
    const n = this.negotiated;
    return {
      fourOctetAs: n?.fourOctetAs ?? false,
      addPath: (afi, safi) => (n?.addPathSend ?? []).includes(`${afi}/${safi}`),
    };
  }
  private ctxIn(): CodecContext {
    const n = this.negotiated;
    return {
      fourOctetAs: n?.fourOctetAs ?? false,
      addPath: (afi, safi) => (n?.addPathReceive ?? []).includes(`${afi}/${safi}`),
    };
  }

  private connect(id: ConnId): void {
    const c = this.config;
    const socket = net.connect({
      host: c.peerAddress,
      port: c.peerPort ?? 179,
      ...(c.sourceAddress ? { localAddress: c.sourceAddress } : {}),
      timeout: c.connectTimeMs ?? 5000,
    });
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      socket.setTimeout(0);
      this.dispatch({ type: 'tcp-connected', conn: id });
    });
    socket.once('timeout', () => {
      if (!connected) socket.destroy(new Error('connect timeout'));
    });
    socket.once('error', (e) => {
      if (connected) return;
      // An unreachable peer must show in the log, not only in `get bgp`; the 1st, 2nd, 4th, 8th...
      // failure in a row is enough to see it without a line per retry.
      const n = this.state.failures + 1;
      if ((n & (n - 1)) === 0)
        this.log(
          `session ${c.name}: cannot connect to ${c.peerAddress}:${c.peerPort ?? 179}: ${e.message} (${n} failed in a row; retrying with backoff)`,
        );
      this.dispatch({ type: 'tcp-failed', conn: id, reason: e.message });
    });
    this.attach(id, socket, () => connected);
  }

  private attach(id: ConnId, socket: net.Socket, isUp: () => boolean = () => true): void {
    const live: Live = { socket, framer: new MessageFramer() };
    this.conns.set(id, live);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(id, live, chunk));
    socket.on('error', () => undefined); // reported through 'close'
    socket.once('close', () => {
      if (this.conns.get(id) !== live) return;
      this.conns.delete(id);
      this.clearConnTimers(id);
      if (isUp()) this.dispatch({ type: 'tcp-closed', conn: id });
    });
  }

  private onData(id: ConnId, live: Live, chunk: Buffer): void {
    if (this.conns.get(id) !== live) return;
    try {
      for (const raw of live.framer.push(chunk)) {
        if (this.conns.get(id) !== live) return;
        this.counters.messagesIn++;
        const msgType = raw[18] ?? 0;
        if (!acceptsMessageType(this.state, id, msgType)) {
          this.dispatch({ type: 'unexpected', conn: id, what: msgType === 2 ? 'UPDATE' : 'ROUTE-REFRESH' });
          return;
        }
        const msg = decodeMessage(raw, this.ctxIn());
        if (msg.type === 'update') this.counters.updatesIn++;
        this.dispatch({ type: 'message', conn: id, msg });
      }
    } catch (e) {
      if (!(e instanceof BgpDecodeError)) throw e;
      this.dispatch({
        type: 'decode-error',
        conn: id,
        code: e.code,
        subcode: e.subcode,
        data: e.data,
        reason: e.message,
      });
    }
  }

  private write(id: ConnId, msgs: readonly BgpMessage[]): void {
    const live = this.conns.get(id);
    if (!live || live.socket.destroyed) return;
    const ctx = this.ctxOut();
    const bufs = msgs.map((m) => encodeMessage(m, ctx));
    this.counters.messagesOut += msgs.length;
    this.counters.updatesOut += msgs.filter((m) => m.type === 'update').length;
    live.socket.write(Buffer.concat(bufs));
  }

  private closeConn(id: ConnId): void {
    const live = this.conns.get(id);
    this.conns.delete(id);
    this.clearConnTimers(id);
    if (!live) return;
    // end() flushes a pending NOTIFICATION; destroy() bounds how long a stuck peer can hold the socket.
    live.socket.end();
    setTimeout(() => live.socket.destroy(), 1000).unref();
  }

  private arm(timer: string, conn: ConnId | undefined, at: number): void {
    const key = `${timer}:${conn ?? ''}`;
    const old = this.timers.get(key);
    if (old) clearTimeout(old);
    const t = setTimeout(
      () => {
        this.timers.delete(key);
        this.dispatch({ type: 'timer', which: timer as 'hold', ...(conn ? { conn } : {}) });
      },
      Math.max(0, Math.ceil(at - this.now())),
    );
    this.timers.set(key, t);
  }

  private clearConnTimers(id: ConnId): void {
    for (const [k, t] of this.timers)
      if (k.endsWith(`:${id}`)) {
        clearTimeout(t);
        this.timers.delete(k);
      }
  }

  private onEstablished(conn: ConnId, n: Negotiated): void {
    // The restart is over once a session is back: later reconnects must not claim a restart again.
    const gr = this.fsm.gracefulRestart;
    if (gr?.restarting) this.fsm = { ...this.fsm, gracefulRestart: { ...gr, restarting: false } };
    this.established = conn;
    this.negotiated = n;
    this.establishedAt = this.now();
    this.sent = new Map();
    this.log(`session ${this.config.name} established (${n.families.join(', ')})`);
    this.sync();
    // End-of-RIB per family tells a graceful-restart peer it may drop our stale routes now.
    this.write(
      conn,
      n.families.map((f) => {
        const [afi, safi] = f.split('/').map(Number);
        return endOfRib(afi ?? 1, safi ?? 1);
      }),
    );
  }

  private view(): Parameters<typeof buildRibOut>[1] | undefined {
    const conn = this.established && this.conns.get(this.established);
    if (!conn || !this.negotiated) return undefined;
    const local = conn.socket.localAddress;
    const localIp = local ? parseIp(local.replace(/^::ffff:(?=\d+\.)/, '')) : undefined;
    const nh = (f: 4 | 6, configured?: string): bigint | undefined =>
      configured !== undefined
        ? parseIp(configured).value
        : localIp?.family === f
          ? localIp.value
          : undefined;
    const v4 = nh(4, this.config.nextHopV4);
    const v6 = nh(6, this.config.nextHopV6);
    const peer = parseIp(this.config.peerAddress.replace(/^::ffff:(?=\d+\.)/, ''));
    return {
      peerName: this.config.name,
      peerAddress: { family: peer.family, value: peer.value },
      localAsn: this.config.localAsn,
      peerAsn: this.config.peerAsn,
      families: this.negotiated.families,
      ...(v4 !== undefined ? { nextHopV4: v4 } : {}),
      ...(v6 !== undefined ? { nextHopV6: v6 } : {}),
    };
  }

  /** Sends whatever it takes to make the peer's view equal our routes. */
  private sync(): void {
    const view = this.view();
    if (!view || !this.established) return;
    const plan = buildRibOut(this.routes, view);
    this.skipped = plan.skipped;
    this.rejected = plan.rejected;
    const { announce, withdraw } = diffRibOut(this.sent, plan.routes);
    if (announce.length === 0 && withdraw.length === 0) return;
    const ctx = this.ctxOut();
    let msgs: UpdateMessage[];
    try {
      msgs = packUpdates(announce, withdraw, ctx);
    } catch (e) {
      if (!(e instanceof BgpEncodeError)) throw e;
      // A route whose attributes cannot fit in one UPDATE (e.g. thousands of communities) must not
      // block the others: leave it out, say why, and send the rest.
      const fits = announce.filter((r) => {
        try {
          packUpdates([r], [], ctx);
          return true;
        } catch {
          plan.routes.delete(prefixKey(r.prefix));
          this.skipped = [
            ...this.skipped,
            { prefix: prefixKey(r.prefix), reason: 'attributes do not fit in one 4096-byte UPDATE' },
          ];
          return false;
        }
      });
      msgs = packUpdates(fits, withdraw, ctx);
    }
    if (msgs.length > 0) this.write(this.established, msgs);
    this.sent = plan.routes;
  }

  private onUpdate(m: UpdateMessage): void {
    if (isEndOfRib(m)) return;
    // We do not use the peer's routes; we only count them, in bounded memory.
    const limit = this.config.maxReceivedPrefixes ?? 10_000;
    for (const p of [...m.withdrawn, ...(m.attributes.mpUnreach?.withdrawn ?? [])])
      this.received.delete(prefixKey(p));
    for (const p of [...m.nlri, ...(m.attributes.mpReach?.nlri ?? [])]) {
      if (this.received.size < limit) this.received.add(prefixKey(p));
      else if (!this.received.has(prefixKey(p))) this.receivedTruncated = true;
    }
  }

  private onRouteRefresh(m: RouteRefreshMessage): void {
    const conn = this.established;
    const n = this.negotiated;
    if (!conn || !n || m.subtype !== 0 || !n.families.includes(`${m.afi}/${m.safi}`)) return;
    const family = m.afi === AFI.IPv4 ? 4 : 6;
    const routes = [...this.sent.values()].filter((r) => r.prefix.family === family);
    const msgs: BgpMessage[] = [];
    // RFC 7313: bracket the re-advertisement so the peer can purge what we no longer send.
    if (n.enhancedRouteRefresh) msgs.push({ type: 'route-refresh', afi: m.afi, safi: m.safi, subtype: 1 });
    msgs.push(...packUpdates(routes, [], this.ctxOut()));
    if (n.enhancedRouteRefresh) msgs.push({ type: 'route-refresh', afi: m.afi, safi: m.safi, subtype: 2 });
    this.write(conn, msgs);
  }
}

export const formatAddr = (v: bigint, family: 4 | 6): string => formatIp({ family, value: v });
