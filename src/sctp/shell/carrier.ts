// The running SCTP path in one piece: engine + NFQUEUE shell + batched fast-path writer + counter
// poll + expiry tick. The daemon runs it on a worker thread (thread/worker.ts) so config work on the
// main thread never delays a verdict; tests run it in-process with a fake PacketIo.
import { readFile } from 'node:fs/promises';
import type { Runner } from '../../dataplane/exec.js';
import { entryKey } from '../engine/association.js';
import { SctpNatEngine } from '../engine/engine.js';
import type { AssociationView, EngineLimits, NatEntry, PathChanges, SctpService } from '../engine/types.js';
import { DEFAULT_NAMES, PathIds, fastPathScript, parseCounters, tupleKey } from '../kernel/nft.js';
import { parseFastPathTable, planAdoption, type KernelTable } from '../kernel/adopt.js';
import { NftBatchWriter, nftFileRunner, type WriterStats } from '../kernel/writer.js';
import { NFQUEUE_STATS_PATH, parseNfqueueStats, type NfqueueStats } from '../kernel/queuestats.js';
import type { PacketIo } from './native.js';
import { SctpQueueShell, type QueueStats } from './queue.js';
import { SctpSync, type SyncPort, type SyncStats } from './sync.js';

const TICK_MS = 250;
/** Counter polls run at most this often, and never more than a third of the time (nft at 6k keys: ~0.8 s). */
const POLL_MIN_MS = 250;
const POLL_DUTY = 3;

export interface CarrierOptions {
  readonly queueNum: number;
  readonly io: PacketIo;
  readonly services: readonly SctpService[];
  readonly limits?: Partial<EngineLimits>;
  /** Runs nft (host namespace by default). */
  readonly run: Runner;
  readonly warn: (msg: string, err?: unknown) => void;
  /** Program kernel fast-path entries (the table must exist). Default on. */
  readonly fastPath?: boolean;
  /** Reads the kernel's NFQUEUE table (asynchronously); default: /proc/net/netfilter/nfnetlink_queue. */
  readonly readQueueStats?: () => Promise<string>;
}

/** What start-up took over from the kernel (restart = adopt). */
export interface AdoptionStatus {
  readonly associations: number;
  /** Kernel paths kept as they were. */
  readonly kept: number;
  /** Paths an adopted association needed that the kernel lacked. */
  readonly added: number;
  /** Kernel elements nobody needed (deleted). */
  readonly stray: number;
  readonly error?: string;
}

export interface CarrierStatus {
  readonly associations: readonly AssociationView[];
  readonly halfOpen: number;
  /** Associations rebuilt from the LB's State Cookie after the half-open bound had let them go. */
  readonly rebuiltFromCookie: number;
  readonly counts: Readonly<Record<AssociationView['state'], number>>;
  readonly adopted?: AdoptionStatus;
  readonly stats: QueueStats;
  readonly writer: WriterStats;
  readonly counterPoll: { readonly lastMs: number; readonly intervalMs: number };
  /** The kernel's counters of this queue (overflow drops the engine never saw). */
  readonly kernelQueue?: NfqueueStats;
  /** HA state sync (when a channel is attached). */
  readonly sync?: SyncStats;
}

export class SctpCarrier {
  readonly engine: SctpNatEngine;
  readonly shell: SctpQueueShell;
  readonly writer: NftBatchWriter;
  private readonly installed = new Map<string, NatEntry>();
  private readonly last = new Map<string, number>();
  private readonly ids = new PathIds();
  private tickTimer: ReturnType<typeof setInterval> | undefined;
  private adopted: AdoptionStatus | undefined;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private poll = { lastMs: 0, intervalMs: POLL_MIN_MS };
  private polling: Promise<void> | undefined;
  private kernelQueue: NfqueueStats | undefined;
  private services: readonly SctpService[];
  private sync: SctpSync | undefined;
  /** Writes kernel entry changes (local ones and installed replicas). */
  private readonly install: (c: PathChanges) => Promise<boolean>;
  private queueStatsAt = 0;
  private stopped = false;

  /**
   * Adopts what the kernel fast path holds (associations established before a restart keep their
   * paths and their engine state), then opens the queue; throws if it cannot (the caller names the
   * cause). The queue opens only after adoption, so no control chunk of an adopted association meets
   * an engine that does not know it yet.
   */
  static async start(o: CarrierOptions): Promise<SctpCarrier> {
    const c = new SctpCarrier(o);
    if (o.fastPath !== false) await c.adoptKernel();
    c.open();
    return c;
  }

  private constructor(private readonly o: CarrierOptions) {
    this.engine = new SctpNatEngine([...o.services], o.limits ?? {});
    const ids = this.ids;
    this.writer = new NftBatchWriter(nftFileRunner(o.run), (err) =>
      o.warn('sctp: fast-path entries refused; those paths stay in userspace', err),
    );
    this.services = o.services;
    // Asynchronous and batched: the queue shell holds a packet's verdict until its entries are in.
    // Local changes are also what HA state sync publishes (O(change)).
    const applyChanges = (c: PathChanges): Promise<boolean> | undefined => {
      this.sync?.changed(c);
      return o.fastPath === false ? undefined : this.install(c);
    };
    this.install = async (c: PathChanges): Promise<boolean> => {
      const script = fastPathScript(c, ids);
      const ok = script === '' || (await this.writer.write(script));
      for (const e of c.remove) {
        const k = tupleKey(e);
        const now = this.installed.get(k);
        if (now && entryKey(now) === entryKey(e)) {
          this.installed.delete(k);
          this.last.delete(k);
        }
      }
      if (ok) for (const e of c.add) this.installed.set(tupleKey(e), e);
      return ok;
    };
    this.shell = new SctpQueueShell({
      queueNum: o.queueNum,
      io: o.io,
      engine: this.engine,
      applyChanges,
    });
  }

  private open(): void {
    this.shell.start();
    this.tickTimer = setInterval(() => {
      this.shell.tick();
      this.readQueueStats();
    }, TICK_MS);
    if (this.o.fastPath !== false) this.pollTimer = setTimeout(() => void this.pollCounters(), POLL_MIN_MS);
  }

  /** Rebuilds associations from the kernel's fast-path elements; repairs what does not fit. */
  private async adoptKernel(): Promise<void> {
    const tables: KernelTable[] = [];
    try {
      for (const f of [4, 6] as const) {
        const r = await this.o.run('nft', [
          '-j',
          'list',
          'table',
          f === 4 ? 'ip' : 'ip6',
          DEFAULT_NAMES.table,
        ]);
        if (r.code === 0) tables.push(parseFastPathTable(r.stdout, f));
      }
      const plan = planAdoption(tables, this.o.services, Date.now());
      const n = this.engine.adopt(plan.associations);
      for (const k of plan.kept) {
        this.ids.adopt(k.entry, k.mark);
        this.installed.set(tupleKey(k.entry), k.entry);
        this.last.set(tupleKey(k.entry), k.packets);
      }
      const script = plan.strayScript + fastPathScript({ add: plan.missing, remove: [] }, this.ids);
      const ok = script === '' || (await this.writer.write(script));
      if (ok) for (const e of plan.missing) this.installed.set(tupleKey(e), e);
      this.adopted = {
        associations: n,
        kept: plan.kept.length,
        added: ok ? plan.missing.length : 0,
        stray: plan.stray,
        ...(ok ? {} : { error: 'repairing the adopted fast path failed (see the log)' }),
      };
    } catch (e) {
      // Adoption is best effort: the carrier still runs; the paths it could not take stay as they are.
      this.adopted = { associations: 0, kept: 0, added: 0, stray: 0, error: String(e) };
      this.o.warn('sctp: adopting the kernel fast path failed', e);
    }
  }

  /** At most once a second, asynchronously: a /proc read, never on a packet's path. */
  private readQueueStats(): void {
    const now = Date.now();
    if (now - this.queueStatsAt < 1000) return;
    this.queueStatsAt = now;
    const read = this.o.readQueueStats ?? (() => readFile(NFQUEUE_STATS_PATH, 'utf8'));
    read().then(
      (text) => (this.kernelQueue = parseNfqueueStats(text, this.o.queueNum) ?? this.kernelQueue),
      () => undefined, // no nfnetlink_queue proc file (module not loaded yet): nothing to count
    );
  }

  setServices(services: readonly SctpService[]): void {
    this.services = services;
    this.engine.setServices([...services]);
  }

  /**
   * Hooks the Cluster's state-sync channel in (cluster/sync-contract.ts): local association changes
   * are published on `port`, peers' records installed as standby state. One channel at a time.
   */
  attachSync(port: SyncPort): SctpSync {
    this.sync = new SctpSync({
      engine: this.engine,
      port,
      install: (c) => (this.o.fastPath === false ? undefined : this.install(c)),
      services: () => this.services,
      warn: (msg) => this.o.warn(msg),
    });
    return this.sync;
  }

  status(now = Date.now()): CarrierStatus {
    return {
      // Half-open ones beyond a few are only counted: during a flood there are thousands.
      associations: this.engine.associations(now, 100),
      halfOpen: this.engine.size.halfOpen,
      rebuiltFromCookie: this.engine.size.rebuiltFromCookie,
      counts: this.engine.counts(),
      ...(this.adopted ? { adopted: this.adopted } : {}),
      stats: this.shell.stats,
      writer: this.writer.stats,
      counterPoll: this.poll,
      ...(this.kernelQueue ? { kernelQueue: this.kernelQueue } : {}),
      ...(this.sync ? { sync: { ...this.sync.stats } } : {}),
    };
  }

  /**
   * Closes the queue (held verdicts are dropped with it), then writes the mapping the engine holds
   * now: one last counter poll and re-point, so a path that recovered since the last poll is pointed
   * home in the kernel the daemon leaves behind (--keep-forwarding), and waits for writes in flight.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.shell.stop();
    if (this.o.fastPath !== false) {
      await this.polling;
      await this.pollOnce();
      this.shell.tick();
    }
    await this.writer.idle();
  }

  /**
   * Fast-path counters → liveness of client addresses and activity of associations. The listing grows
   * with the paths: the next poll waits POLL_DUTY × as long as this one took, and polls never overlap.
   */
  private async pollCounters(): Promise<void> {
    const started = Date.now();
    this.polling = this.pollOnce();
    await this.polling;
    this.polling = undefined;
    const took = Date.now() - started;
    this.poll = { lastMs: took, intervalMs: Math.max(POLL_MIN_MS, POLL_DUTY * took) };
    if (!this.stopped) this.pollTimer = setTimeout(() => void this.pollCounters(), this.poll.intervalMs);
  }

  /** One counter read; a client address heard again re-points its paths now, not at the next tick. */
  private async pollOnce(): Promise<void> {
    let heardAny = false;
    try {
      for (const f of [4, 6] as const) {
        if (this.installed.size === 0) break;
        const r = await this.o.run('nft', [
          '-j',
          'list',
          'map',
          f === 4 ? 'ip' : 'ip6',
          DEFAULT_NAMES.table,
          'pathid',
        ]);
        if (r.code !== 0) continue; // nft busy for a moment: liveness lags one period
        const now = Date.now();
        const heard: NatEntry[] = [];
        for (const [k, packets] of parseCounters(r.stdout, f)) {
          const e = this.installed.get(k);
          const delta = packets - (this.last.get(k) ?? 0);
          if (!e || delta === 0) continue;
          this.last.set(k, packets);
          // Deliveries first, then what the client sent: an answer in the same period counts.
          if (e.toward === 'endpoint') heard.push(e);
          else this.engine.delivered(e.association, e.match.dst, Math.max(1, delta), now);
        }
        for (const e of heard) this.engine.observe(e.association, e.match.src, now, e.match.dst);
        if (heard.length > 0) heardAny = true;
      }
    } catch {
      // spawn failed (EMFILE, ...): try again next period
    }
    if (heardAny && !this.stopped) this.shell.tick();
  }
}
