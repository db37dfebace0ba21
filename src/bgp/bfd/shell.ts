// UDP shell for single-hop BFD (RFC 5881): control packets to port 3784 with TTL 255, from a source
// port in 49152–65535, one pure session (fsm.ts) per peer. Node cannot read the TTL of received
// datagrams (no IP_RECVTTL), so the GTSM check on receive is not done; BFD is single-hop only and
// packets must also carry the right discriminators.
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { formatIp, parseIp } from '../../net/ip.js';
import { BfdDecodeError, BfdState, decodeBfd, encodeBfd, stateName, type BfdStateName } from './codec.js';
import { bfdStep, initialBfdState, type BfdAction, type BfdConfig, type BfdSessionState } from './fsm.js';

export const BFD_PORT = 3784;

export interface BfdPeerConfig {
  readonly peerAddress: string;
  readonly localAddress?: string;
  readonly desiredMinTxMs: number;
  readonly requiredMinRxMs: number;
  readonly detectMult: number;
  readonly passive?: boolean;
}

interface Session {
  readonly key: string;
  cfg: BfdConfig;
  peer: BfdPeerConfig;
  state: BfdSessionState;
  readonly tx: dgram.Socket;
  readonly timers: Map<string, NodeJS.Timeout>;
}

const canonical = (a: string): string => formatIp(parseIp(a.replace(/^::ffff:(?=\d+\.)/, '')));

export interface BfdEvents {
  /** The session left Up (detection time expired or the peer said Down). */
  readonly onDown: (peerAddress: string, diag: number) => void;
  readonly onUp?: (peerAddress: string) => void;
  /** Any state change (for a thread that mirrors states elsewhere). */
  readonly onTransition?: (peerAddress: string, to: BfdStateName) => void;
  readonly log?: (msg: string) => void;
}

export class BfdManager {
  private readonly sessions = new Map<string, Session>();
  private readonly rx: dgram.Socket[] = [];
  private readonly now = (): number => performance.now();

  constructor(private readonly events: BfdEvents) {}

  /** Binds the receive sockets (IPv4 and IPv6, port 3784). */
  async start(): Promise<void> {
    for (const type of ['udp4', 'udp6'] as const) {
      const s = dgram.createSocket({ type, reuseAddr: true, ...(type === 'udp6' ? { ipv6Only: true } : {}) });
      s.on('message', (msg, rinfo) => this.onPacket(msg, rinfo.address));
      s.on('error', (e) => this.events.log?.(`BFD ${type} socket: ${e.message}`));
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(BFD_PORT, () => {
            s.off('error', reject);
            resolve();
          });
        });
        this.rx.push(s);
      } catch (e) {
        // A host without IPv6 still runs IPv4 BFD.
        this.events.log?.(`BFD: cannot listen on ${type} port ${BFD_PORT}: ${(e as Error).message}`);
        s.close();
      }
    }
  }

  /**
   * Reconciles sessions: one per peer address. A change of timers, multiplier or passive role keeps
   * the session and runs a Poll sequence (RFC 5880 §6.8.3); only a new local address replaces it.
   */
  async setPeers(peers: readonly BfdPeerConfig[]): Promise<void> {
    const wanted = new Map(peers.map((p) => [canonical(p.peerAddress), p]));
    for (const [key, s] of this.sessions) {
      const p = wanted.get(key);
      if (!p || p.localAddress !== s.peer.localAddress) this.remove(key);
      else if (JSON.stringify(p) !== JSON.stringify(s.peer)) {
        const prev = s.cfg;
        s.peer = p;
        s.cfg = {
          ...prev,
          desiredMinTxMs: p.desiredMinTxMs,
          requiredMinRxMs: p.requiredMinRxMs,
          detectMult: p.detectMult,
          passive: p.passive ?? false,
        };
        this.dispatch(s, { type: 'reconfigure', prev });
      }
    }
    for (const [key, p] of wanted) if (!this.sessions.has(key)) await this.add(key, p);
  }

  /** Every session's state, keyed by canonical peer address. */
  states(): [string, BfdStateName][] {
    return [...this.sessions].map(([k, s]) => [k, stateName(s.state.state)]);
  }

  state(peerAddress: string): BfdStateName | undefined {
    const s = this.sessions.get(canonical(peerAddress));
    return s ? stateName(s.state.state) : undefined;
  }

  close(): void {
    for (const key of [...this.sessions.keys()]) this.remove(key);
    for (const s of this.rx.splice(0)) s.close();
  }

  private async add(key: string, peer: BfdPeerConfig): Promise<void> {
    const family = parseIp(peer.peerAddress).family;
    const tx = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
    tx.on('error', (e) => this.events.log?.(`BFD ${key}: ${e.message}`));
    // RFC 5881 §4: source port 49152–65535; retry a few random ports if one is taken.
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          tx.once('error', reject);
          tx.bind(
            { port: randomInt(49152, 65536), ...(peer.localAddress ? { address: peer.localAddress } : {}) },
            () => {
              tx.off('error', reject);
              resolve();
            },
          );
        });
        break;
      } catch (e) {
        if (attempt >= 8) throw e;
      }
    }
    tx.setTTL(255);
    const cfg: BfdConfig = {
      localDiscr: randomInt(1, 0xffffffff),
      desiredMinTxMs: peer.desiredMinTxMs,
      requiredMinRxMs: peer.requiredMinRxMs,
      detectMult: peer.detectMult,
      passive: peer.passive ?? false,
    };
    const s: Session = { key, cfg, peer, state: initialBfdState, tx, timers: new Map() };
    this.sessions.set(key, s);
    this.dispatch(s, { type: 'start' });
  }

  private remove(key: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    // Tell the peer we are going away on purpose, so it does not wait out its detection time.
    this.dispatch(s, { type: 'admin-down' });
    for (const t of s.timers.values()) clearTimeout(t);
    this.sessions.delete(key);
    s.tx.close();
  }

  private onPacket(msg: Buffer, from: string): void {
    let pkt;
    try {
      pkt = decodeBfd(msg);
    } catch (e) {
      if (e instanceof BfdDecodeError) return;
      throw e;
    }
    const s =
      pkt.yourDiscr !== 0
        ? [...this.sessions.values()].find((x) => x.cfg.localDiscr === pkt.yourDiscr)
        : this.sessions.get(canonical(from));
    if (s) this.dispatch(s, { type: 'rx', pkt });
  }

  private dispatch(s: Session, ev: Parameters<typeof bfdStep>[2]): void {
    const r = bfdStep(s.cfg, s.state, ev, this.now(), Math.random());
    s.state = r.state;
    for (const a of r.actions) this.perform(s, a);
  }

  private perform(s: Session, a: BfdAction): void {
    switch (a.type) {
      case 'send':
        s.tx.send(encodeBfd(a.pkt), BFD_PORT, s.peer.peerAddress);
        break;
      case 'arm': {
        const old = s.timers.get(a.timer);
        if (old) clearTimeout(old);
        s.timers.set(
          a.timer,
          setTimeout(
            () => {
              if (this.sessions.get(s.key) === s) this.dispatch(s, { type: 'timer', which: a.timer });
            },
            Math.max(0, Math.ceil(a.at - this.now())),
          ),
        );
        break;
      }
      case 'transition':
        this.events.log?.(`BFD ${s.key}: ${stateName(a.from)} → ${stateName(a.to)} (diag ${a.diag})`);
        this.events.onTransition?.(s.peer.peerAddress, stateName(a.to));
        if (a.to === BfdState.Up) this.events.onUp?.(s.peer.peerAddress);
        if (a.from === BfdState.Up) this.events.onDown(s.peer.peerAddress, a.diag);
        break;
    }
  }
}
