// Outgoing membership datagrams (pure: no socket): the authenticated envelope with this boot's
// sequence numbers, heartbeats carrying one chunk of the claims in rotation, the other chunks as
// Claims messages after a change or when a peer asks, and the Leaving heartbeats of a clean stop.
import { encodeClaimsBody, HeartbeatFlag, type EncodedClaims } from './claims.js';
import type { Peer } from './peer.js';
import { encode, MsgType } from './wire.js';

export interface Datagram {
  readonly address: string;
  readonly port: number;
  readonly data: Buffer;
}

export interface OutboxConfig {
  readonly key: Buffer;
  readonly self: string;
  readonly port: number;
  readonly intervalMs: number;
}

export class Outbox {
  private seq = 0;
  private rotate = 0;
  /** Heartbeats left that carry every chunk (set after the claims change). */
  burstLeft = 0;
  cfg!: OutboxConfig;

  constructor(
    private readonly bootId: number,
    private readonly counters: { heartbeatsSent: number; claimsSent: number },
  ) {}

  envelope(type: number, body: Uint8Array, to: Peer): Datagram {
    const data = encode(this.cfg.key, {
      type,
      sender: this.cfg.self,
      bootId: this.bootId,
      seq: ++this.seq,
      body,
    });
    return { address: to.node.address, port: this.cfg.port, data };
  }

  private message(type: number, flags: number, claims: EncodedClaims, index: number, to: Peer): Datagram {
    const body = encodeClaimsBody({
      flags,
      intervalMs: this.cfg.intervalMs,
      summary: claims.summary,
      index,
      addresses: claims.chunks[index] ?? [],
    });
    if (type === MsgType.Heartbeat) this.counters.heartbeatsSent++;
    else this.counters.claimsSent++;
    return this.envelope(type, body, to);
  }

  /** Every chunk but `except` as Claims messages to one peer. */
  claimsTo(p: Peer, flags: number, claims: EncodedClaims, except: number): Datagram[] {
    const out: Datagram[] = [];
    for (let i = 0; i < claims.summary.chunks; i++)
      if (i !== except) out.push(this.message(MsgType.Claims, flags, claims, i, p));
    return out;
  }

  heartbeats(peers: Iterable<Peer>, flags: number, claims: EncodedClaims): Datagram[] {
    const out: Datagram[] = [];
    const index = this.rotate++ % claims.summary.chunks;
    const burst = this.burstLeft > 0;
    if (burst) this.burstLeft--;
    for (const p of peers) {
      out.push(this.message(MsgType.Heartbeat, flags, claims, index, p));
      if ((burst || p.wantClaims) && claims.summary.chunks > 1)
        out.push(...this.claimsTo(p, flags, claims, index));
    }
    return out;
  }

  /** Twice to every peer, for a lost datagram: they take our addresses over at once. */
  leave(peers: Iterable<Peer>, claims: EncodedClaims): Datagram[] {
    const all = [...peers];
    const out: Datagram[] = [];
    for (let i = 0; i < 2; i++)
      for (const p of all) out.push(this.message(MsgType.Heartbeat, HeartbeatFlag.Leaving, claims, 0, p));
    return out;
  }
}
