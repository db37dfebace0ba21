// The BGP speaker: one PeerSession per configured peer, an optional listener for peers that connect
// to us, and the route set every session converges to. `setRoutes` and `setPeers` are idempotent
// reconcilers: calling them again with the same input sends nothing.
import net from 'node:net';
import { formatIp, parseIp } from '../net/ip.js';
import { BfdManager, type BfdEvents } from './bfd/shell.js';
import type { BfdService } from './bfd/thread.js';
import { formatPrefix, prefixKey } from './codec/index.js';
import type { AdvertisedRoute } from './ribout.js';
import { PeerSession } from './session.js';
import {
  BgpUnsupportedError,
  type AdvertisedRouteStatus,
  type BgpStatus,
  type PeerConfig,
  type SessionStatus,
} from './types.js';

export interface SpeakerOptions {
  /** Accept inbound sessions on this port (179 by default); false disables listening. */
  readonly listen?: false | { readonly port?: number; readonly host?: string };
  /** Set after a restart: peers learn from the graceful-restart R bit that we are coming back. */
  readonly restarting?: boolean;
  readonly log?: (msg: string) => void;
  /** Where BFD runs; default in this thread. The daemon gives it a worker of its own (BfdThread). */
  readonly bfd?: (events: BfdEvents) => BfdService;
}

const canonical = (addr: string): string => formatIp(parseIp(addr.replace(/^::ffff:(?=\d+\.)/, '')));

/** Refuses settings this platform cannot honour, naming the peer and field. */
export function checkPeerSupported(p: PeerConfig & { password?: string }): void {
  if (p.password !== undefined && p.password !== '')
    throw new BgpUnsupportedError(
      p.name,
      'password',
      'TCP-MD5 (RFC 2385) needs setsockopt(TCP_MD5SIG), which Node.js sockets do not expose; remove the password or terminate BGP on a router that supports it',
    );
}

/**
 * The settings a session negotiates or connects with: changing one needs a new session. Next hops
 * (sent again as UPDATEs), BFD (its own Poll sequence) and the receive limit apply to a live session.
 */
export function sessionKey(p: PeerConfig): string {
  const { bfd: _b, nextHopV4: _4, nextHopV6: _6, maxReceivedPrefixes: _m, ...own } = p;
  return JSON.stringify(own, Object.keys(own).sort());
}

export class BgpSpeaker {
  private readonly sessions = new Map<string, PeerSession>();
  private routes: readonly AdvertisedRoute[] = [];
  private server?: net.Server;
  private inbound = 0;
  private bfd?: BfdService;
  private bfdStarting?: Promise<BfdService>;
  private bfdQueue: Promise<void> = Promise.resolve();
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: SpeakerOptions = {}) {
    this.log = opts.log ?? (() => undefined);
  }

  /** Starts listening (if enabled). Resolves with the bound port. */
  async start(): Promise<number | undefined> {
    if (this.opts.listen === false) return undefined;
    const server = net.createServer((s) => this.onInbound(s));
    this.server = server;
    const l = this.opts.listen ?? {};
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: l.port ?? 179, ...(l.host ? { host: l.host } : {}) }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }

  /**
   * Reconciles the set of peers: new ones start, removed ones stop (Cease). A session restarts only
   * when one of its own BGP settings changes (sessionKey); its next hops and BFD timers apply live.
   */
  setPeers(peers: readonly PeerConfig[]): void {
    for (const p of peers) checkPeerSupported(p);
    const wanted = new Map(peers.map((p) => [p.name, p]));
    for (const [name, s] of this.sessions) {
      const p = wanted.get(name);
      if (p && sessionKey(p) === sessionKey(s.config)) {
        s.reconfigure(p);
        continue;
      }
      s.stop(p ? 'peer configuration changed' : 'peer deconfigured');
      this.sessions.delete(name);
    }
    for (const p of peers) {
      if (this.sessions.has(p.name)) continue;
      const s = new PeerSession(p, this.opts.restarting ?? false, this.log);
      this.sessions.set(p.name, s);
      s.setRoutes(this.routes);
      s.start();
    }
    this.syncBfd(peers);
  }

  /** BFD sessions follow the peers that ask for them; the UDP sockets open on first use. */
  private syncBfd(peers: readonly PeerConfig[]): void {
    const wanted = peers.flatMap((p) =>
      p.bfd
        ? [
            {
              peerAddress: p.peerAddress,
              ...(p.sourceAddress ? { localAddress: p.sourceAddress } : {}),
              ...p.bfd,
            },
          ]
        : [],
    );
    if (wanted.length === 0 && !this.bfd && !this.bfdStarting) return;
    this.bfdStarting ??= (async () => {
      const events: BfdEvents = { onDown: (addr) => this.bfdDown(addr), log: this.log };
      const m = this.opts.bfd ? this.opts.bfd(events) : new BfdManager(events);
      await m.start();
      this.bfd = m;
      return m;
    })();
    // One setPeers at a time: each binds sockets asynchronously, and two interleaved ones would both
    // add the same peer (the first session then runs on, orphaned).
    const starting = this.bfdStarting;
    this.bfdQueue = this.bfdQueue
      .then(() => starting)
      .then((m) => m.setPeers(wanted))
      .catch((e: unknown) => this.log(`BFD: ${(e as Error).message}`));
  }

  /** The full set of routes to announce; each session sends only the difference. */
  setRoutes(routes: readonly AdvertisedRoute[]): void {
    this.routes = routes;
    for (const s of this.sessions.values()) s.setRoutes(routes);
  }

  /** BFD reported the path to this peer address down. */
  bfdDown(peerAddress: string): void {
    const addr = canonical(peerAddress);
    for (const s of this.sessions.values()) if (canonical(s.config.peerAddress) === addr) s.bfdDown();
  }

  /** The sessions part of status(): cheap (no per-route work), for change detection. */
  sessionsStatus(): SessionStatus[] {
    return [...this.sessions.values()].map((s) => {
      const st = s.status();
      const bfd = s.config.bfd ? this.bfd?.state(s.config.peerAddress) : undefined;
      return bfd ? { ...st, bfd } : st;
    });
  }

  status(): BgpStatus {
    const sessions = this.sessionsStatus();
    const routes = new Map<string, AdvertisedRouteStatus>();
    for (const s of this.sessions.values()) {
      for (const r of s.sentRoutes().values()) {
        const key = prefixKey(r.prefix);
        const a = r.attributes;
        const prev = routes.get(key);
        const nh = r.nextHops[0];
        const nextHops = [
          ...(prev?.nextHops ?? []),
          ...(nh !== undefined
            ? [{ peer: s.config.name, nextHop: formatIp({ family: r.prefix.family, value: nh }) }]
            : []),
        ];
        const common = nextHops.every((x) => x.nextHop === nextHops[0]?.nextHop) ? nextHops[0] : undefined;
        routes.set(key, {
          prefix: formatPrefix(r.prefix),
          peers: [...(prev?.peers ?? []), s.config.name],
          ...(common ? { nextHop: common.nextHop } : {}),
          nextHops,
          ...(a.localPref !== undefined ? { localPref: a.localPref } : {}),
          ...(a.med !== undefined ? { med: a.med } : {}),
          communities: (a.communities ?? []).map((c) => `${c >>> 16}:${c & 0xffff}`),
          largeCommunities: (a.largeCommunities ?? []).map((l) => `${l.global}:${l.local1}:${l.local2}`),
        });
      }
    }
    return { sessions, routes: [...routes.values()].sort((x, y) => x.prefix.localeCompare(y.prefix)) };
  }

  /**
   * Stops every session. graceful: a planned restart while the kernel keeps forwarding; sessions
   * with graceful restart negotiated close without a Cease so the peers keep our routes (RFC 4724).
   */
  async close(opts: { graceful?: boolean } = {}): Promise<void> {
    for (const s of this.sessions.values())
      s.stop(
        opts.graceful ? 'speaker restarting (graceful restart)' : 'speaker shutting down',
        opts.graceful,
      );
    this.sessions.clear();
    await this.bfdQueue;
    const bfd = await this.bfdStarting?.catch(() => undefined);
    await bfd?.close();
    const server = this.server;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private onInbound(socket: net.Socket): void {
    const remote = socket.remoteAddress ? canonical(socket.remoteAddress) : '';
    const session = [...this.sessions.values()].find((s) => canonical(s.config.peerAddress) === remote);
    if (!session) {
      // Unknown peers get nothing, not even an OPEN.
      socket.destroy();
      return;
    }
    session.accept(`in-${++this.inbound}`, socket);
  }
}
