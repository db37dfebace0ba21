// The membership shell on the worker thread: one UDP socket on this node's Cluster address, the
// tick timer, the boot id file, and the Announcer calls. Everything that decides is in
// Membership (pure); this only moves datagrams and time in and calls out.
import { createSocket, type Socket } from 'node:dgram';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import type { FromProducer, SyncKind } from './sync-contract.js';
import type { Announcer, CandidateDelta } from './contract.js';
import { Membership, type Datagram, type MembershipConfig, type Now } from './membership.js';
import type { ClusterSummary, WorkerConfig } from './protocol.js';
import { nextBootId } from './replay.js';
import type { ClusterStatus } from './status.js';

export const BOOT_FILE = 'cluster.boot';

export interface NodeEvents {
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  readonly owned: (owned: number, added: string[], removed: string[]) => void;
  readonly summary: (s: ClusterSummary) => void;
}

const now = (): Now => ({ mono: performance.now(), wall: Date.now() });

function membershipConfig(c: WorkerConfig): MembershipConfig {
  return {
    clusterName: c.cluster.name,
    self: c.self,
    nodes: c.cluster.nodes,
    intervalMs: c.cluster.heartbeatIntervalMs,
    deadAfter: c.cluster.deadAfter,
    port: c.cluster.port,
    key: c.key,
  };
}

async function takeBootId(stateDir: string): Promise<number> {
  const file = join(stateDir, BOOT_FILE);
  const last = Number((await readFile(file, 'utf8').catch(() => '')).trim()) || undefined;
  const id = nextBootId(Date.now(), last);
  await mkdir(stateDir, { recursive: true });
  await writeFile(file, `${id}\n`);
  return id;
}

export class MembershipNode {
  private core: Membership | undefined;
  private socket: Socket | undefined;
  private bound = '';
  private timer: ReturnType<typeof setTimeout> | undefined;
  private wakeAt = Infinity;
  private lateWarnings = 0;
  private slowWarnings = 0;
  private summaryTimer: ReturnType<typeof setInterval> | undefined;
  private announcedVersion = 0;
  private announced = new Set<string>();
  private announcing: Promise<void> = Promise.resolve();
  private announcePending = false;
  private candidatesChanged = false;
  private stopped = false;
  private sendErrors = 0;
  private readonly producerPorts = new Map<SyncKind, MessagePort>();
  private readonly waitingPorts: MessagePort[] = [];

  constructor(
    private readonly announcer: Announcer,
    private readonly events: NodeEvents,
  ) {}

  /** First call: boot id, socket, timers. Later calls reconfigure in place (rebind if the address moved). */
  async configure(c: WorkerConfig): Promise<number> {
    const mc = membershipConfig(c);
    if (!this.core) {
      const bootId = await takeBootId(c.stateDir);
      this.core = new Membership(mc, bootId, performance.now());
    } else this.core.reconfigure(mc);
    const self = c.cluster.nodes.find((n) => n.name === c.self);
    if (!self) throw new Error(`node "${c.self}" is not in Cluster/${c.cluster.name}`);
    const where = `${self.address}:${c.cluster.port}`;
    if (where !== this.bound) await this.bind(self.address, c.cluster.port);
    this.bound = where;
    this.summaryTimer ??= setInterval(() => this.pushSummary(), 1000);
    for (const p of this.waitingPorts.splice(0)) this.attachProducer(p);
    this.run((m) => m.tick(now()));
    return this.core.bootId;
  }

  private async bind(address: string, port: number): Promise<void> {
    const old = this.socket;
    this.socket = undefined;
    old?.close();
    const s = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ address, port, exclusive: true }, () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.on('error', (e) => this.events.log('warn', `cluster socket: ${e.message}`));
    s.on('message', (data, rinfo) => {
      if (!this.core || this.stopped) return;
      const replies = this.core.receive(data, { address: rinfo.address, port: rinfo.port }, now());
      this.send(replies);
      this.toProducers();
      this.run((m) => m.tick(now()));
    });
    this.socket = s;
    this.events.log('info', `cluster membership listening on ${address}:${port}`);
  }

  /** A state-sync producer: its hello names its kind; what the channel has for that kind goes there. */
  attachProducer(port: MessagePort): void {
    if (!this.core) {
      this.waitingPorts.push(port);
      return;
    }
    port.on('message', (m: FromProducer) => {
      if (!this.core || this.stopped) return;
      if (m.type === 'hello') this.producerPorts.set(m.kind, port);
      this.core.sync.fromProducer(m);
      this.run((c) => c.tick(now()));
    });
    port.start();
  }

  private toProducers(): void {
    if (!this.core) return;
    for (const { kind, msg } of this.core.sync.drainProducerMessages())
      this.producerPorts.get(kind)?.postMessage(msg);
  }

  candidates(delta: CandidateDelta, full: boolean): void {
    if (!this.core) return;
    this.core.setCandidates(delta, full);
    this.candidatesChanged = true;
    this.run((m) => m.tick(now()));
  }

  /**
   * Resolves once the announcer has caught up with every candidate and owned-set change made before
   * this call (the suppression sets are in the kernel): the data plane adds service addresses after it.
   */
  async settled(): Promise<void> {
    // Bounded: a change arriving during each pass extends the wait by one pass at most 20 times.
    for (let i = 0; i < 20; i++) {
      const p = this.announcing;
      await p;
      if (p === this.announcing && !this.announcePending && !this.candidatesChanged) return;
    }
  }

  status(): ClusterStatus | undefined {
    if (!this.core) return undefined;
    return { ...this.core.status(now()), announcer: this.announcer.status() };
  }

  private run(step: (m: Membership) => Datagram[]): void {
    if (!this.core || this.stopped) return;
    this.send(step(this.core));
    this.toProducers();
    if (this.core.ownedVersion !== this.announcedVersion || this.candidatesChanged) this.announce();
    this.arm();
  }

  /** One timer, at the core's next deadline (a heartbeat due, a peer's dead line): no polling lag. */
  private arm(): void {
    if (!this.core || this.stopped) return;
    const n = now();
    const at = this.core.nextWake(n);
    if (this.timer && at >= this.wakeAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.wakeAt = at;
    this.timer = setTimeout(
      () => {
        const late = performance.now() - this.wakeAt;
        // Through the check phase: datagrams that queued while this thread was held (GC, a long
        // election, CPU starvation) are read in the poll phase first, so a late wake-up never takes
        // a peer whose heartbeat is waiting in the socket for dead.
        setImmediate(() => {
          this.timer = undefined;
          this.wakeAt = Infinity;
          if (late > 100 && this.lateWarnings++ % 20 === 0)
            this.events.log('warn', `cluster thread woke ${Math.round(late)} ms late (CPU starved?)`);
          const t0 = performance.now();
          this.run((m) => m.tick(now()));
          const took = performance.now() - t0;
          if (took > 50 && this.slowWarnings++ % 20 === 0)
            this.events.log('warn', `cluster tick took ${Math.round(took)} ms`);
        });
      },
      Math.ceil(at - n.mono),
    );
  }

  private send(out: readonly Datagram[]): void {
    const s = this.socket;
    if (!s) return;
    for (const d of out)
      s.send(d.data, d.port, d.address, (err) => {
        // Unreachable peers (no route, a dead host's ARP) are what membership is for: count, log once in a while.
        if (err && this.sendErrors++ % 100 === 0)
          this.events.log(
            'warn',
            `cluster send to ${d.address}: ${err.message} (${this.sendErrors} send errors)`,
          );
      });
  }

  /** Coalesced and serialised: the announcer always gets the latest owned set, one call at a time. */
  private announce(): void {
    if (this.announcePending) return;
    this.announcePending = true;
    this.announcing = this.announcing.then(async () => {
      this.announcePending = false;
      const core = this.core;
      if (!core || this.stopped) return;
      try {
        if (this.candidatesChanged) {
          this.candidatesChanged = false;
          await this.announcer.candidates(core.allCandidates());
        }
        const version = core.ownedVersion;
        const owned = core.owned();
        await this.announcer.update(owned);
        this.announcedVersion = version;
        const added = [...owned.keys()].filter((a) => !this.announced.has(a));
        const removed = [...this.announced].filter((a) => !owned.has(a));
        this.announced = new Set(owned.keys());
        if (added.length > 0 || removed.length > 0) this.events.owned(owned.size, added, removed);
      } catch (e) {
        this.events.log('error', `announcer: ${(e as Error).message}`);
      }
      if (core.ownedVersion !== this.announcedVersion && !this.stopped) this.announce();
    });
  }

  private pushSummary(): void {
    if (!this.core) return;
    const sync = this.core.sync.status();
    const lags = sync.peers.flatMap((p) => (p.lag ? [p.lag.p99Ms] : []));
    this.events.summary({
      ...this.core.summary(),
      counters: this.core.countersNow(),
      sync: sync.counters,
      ...(lags.length > 0 ? { syncLagP99Ms: Math.max(...lags) } : {}),
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.summaryTimer) clearInterval(this.summaryTimer);
    // Withdraw first (a stopping node must not answer for addresses its peers take), then tell them.
    await this.announcing;
    await this.announcer.update(new Map()).catch(() => undefined);
    if (this.core && this.socket) {
      const s = this.socket;
      await Promise.all(
        this.core.leave().map((d) => new Promise<void>((r) => s.send(d.data, d.port, d.address, () => r()))),
      );
    }
    this.socket?.close();
    this.socket = undefined;
    await this.announcer.close();
  }
}
