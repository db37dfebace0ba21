// The imperative shell around SctpNatEngine: packets from an NFQUEUE go into the engine; the
// translated packet replaces the queued one (NF_ACCEPT with payload), LB-originated packets leave
// through a raw socket, and NAT entry changes go to whoever programs the kernel fast path.
import type { SctpNatEngine } from '../engine/engine.js';
import type { EngineResult, PathChanges } from '../engine/types.js';
import { addrBytes, decodeIp } from '../codec/ip.js';
import type { NfqueueHandle, PacketIo } from './native.js';

export interface QueueShellOptions {
  readonly queueNum: number;
  readonly io: PacketIo;
  readonly engine: SctpNatEngine;
  /**
   * Applies kernel NAT entry changes (e.g. nft map elements). Absent: everything stays in userspace.
   * May be asynchronous: the packet's verdict then waits until the promise settles (the entries it
   * relies on exist), and every later verdict waits behind it, so verdicts leave in arrival order.
   * Resolving false (or rejecting) counts an apply error; the packet is still forwarded.
   */
  readonly applyChanges?: (c: PathChanges) => unknown;
  readonly now?: () => number;
  readonly onResult?: (r: EngineResult) => void;
}

export interface QueueStats {
  packets: number;
  /** Kernel entry updates that failed (the packets then keep taking the userspace path). */
  applyErrors: number;
  /** Verdicts that waited for kernel entries (or behind one that did). */
  held: number;
  forwarded: number;
  dropped: Record<string, number>;
  originated: number;
}

export class SctpQueueShell {
  private handle: NfqueueHandle | undefined;
  /** The last held verdict; later ones chain behind it to keep arrival order. */
  private tail: Promise<void> | undefined;
  readonly stats: QueueStats = {
    packets: 0,
    applyErrors: 0,
    held: 0,
    forwarded: 0,
    dropped: {},
    originated: 0,
  };

  constructor(private readonly o: QueueShellOptions) {}

  start(): void {
    this.handle = this.o.io.open(this.o.queueNum, (ids, pkts) => {
      for (let i = 0; i < ids.length; i++) this.onPacket(ids[i] as number, pkts[i] as Buffer);
    });
  }

  private onPacket(id: number, pkt: Buffer): void {
    const h = this.handle;
    if (!h) return;
    this.stats.packets++;
    const now = (this.o.now ?? Date.now)();
    let r: EngineResult;
    try {
      r = this.o.engine.handle(new Uint8Array(pkt.buffer, pkt.byteOffset, pkt.byteLength), now);
    } catch {
      // The engine only throws on bugs; never let one packet take the data path down.
      this.o.io.verdict(h, id, false);
      this.stats.dropped['engine-error'] = (this.stats.dropped['engine-error'] ?? 0) + 1;
      return;
    }
    // Kernel entries first, so packets that follow the verdict already find them.
    const applied = r.changes.add.length + r.changes.remove.length > 0 ? this.apply(r.changes) : undefined;
    if (applied === undefined && this.tail === undefined) {
      this.issue(h, id, r);
      return;
    }
    this.stats.held++;
    const tail: Promise<void> = Promise.all([this.tail, applied]).then(() => {
      if (this.handle === h) this.issue(h, id, r);
      if (this.tail === tail) this.tail = undefined;
    });
    this.tail = tail;
  }

  private issue(h: NfqueueHandle, id: number, r: EngineResult): void {
    const translated = r.packets.find((p) => !p.originated);
    if (translated) {
      this.o.io.verdict(h, id, true, translated.bytes);
      this.stats.forwarded++;
    } else {
      this.o.io.verdict(h, id, false);
      const k = r.dropped ?? 'unknown';
      this.stats.dropped[k] = (this.stats.dropped[k] ?? 0) + 1;
    }
    for (const p of r.packets) {
      if (!p.originated) continue;
      const dst = decodeIp(p.bytes).ip.dst;
      this.o.io.sendRaw(dst.family, addrBytes(dst), p.bytes);
      this.stats.originated++;
    }
    this.o.onResult?.(r);
  }

  /** Resolves when every held verdict has been issued (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.tail) await this.tail;
  }

  /** Expiry; call periodically. */
  tick(): void {
    const c = this.o.engine.tick((this.o.now ?? Date.now)());
    if (c.remove.length > 0) void this.apply(c);
  }

  /** undefined when applied synchronously; else a promise that never rejects. */
  private apply(c: PathChanges): Promise<void> | undefined {
    let r: unknown;
    try {
      r = this.o.applyChanges?.(c);
    } catch {
      this.stats.applyErrors++;
      return undefined;
    }
    if (r === false) this.stats.applyErrors++;
    if (!(r instanceof Promise)) return undefined;
    return (r as Promise<unknown>).then(
      (ok) => {
        if (ok === false) this.stats.applyErrors++;
      },
      () => {
        this.stats.applyErrors++;
      },
    );
  }

  stop(): void {
    if (this.handle) this.o.io.close(this.handle);
    this.handle = undefined;
  }
}
