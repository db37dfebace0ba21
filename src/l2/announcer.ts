// The kernel Layer 2 announcer (implements the cluster contract's Announcer). Runs in the cluster
// worker thread: only async I/O (spawned nft/ip/sysctl, AF_PACKET sends), no synchronous spawns.
//
// The kernel is the truth: every sync diffs the wanted state (plan.ts) against a model of what we
// wrote, and a periodic reconcile re-reads the kernel (nft table, proxy entries, links), repairs
// drift and notices interfaces coming and going. At start nothing is flushed: until the election
// first calls update(), the owned addresses found in the kernel are kept (restart = adopt).
// Order on takeover: the first gratuitous frame, the kernel (sets/proxy entries), the rest of the
// burst; on loss the kernel stops answering before anything else.
import type { AnnouncerStatus, Announcer, L2Candidate, OwnedAddresses } from '../cluster/contract.js';
import type { Runner } from '../dataplane/exec.js';
import { canonicalIp } from '../net/ip.js';
import { claimOf, gratuitousArp, unsolicitedNa } from './frames.js';
import type { CaptureHandle, FrameIo } from './native.js';
import {
  diffIsEmpty,
  diffKernel,
  emptyKernel,
  nftScript,
  parseLinks,
  parseNftTables,
  parseProxies,
  planKernel,
  proxyBatch,
  RULE_COUNTS,
  splitPair,
  tableScript,
  TABLE,
  type KernelL2,
  type Link,
  type L2Plan,
} from './plan.js';

export interface L2Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface KernelAnnouncerOptions {
  readonly run: Runner;
  readonly frames: FrameIo;
  readonly log: L2Log;
  /**
   * Gratuitous frames per address and interface on takeover (default 6), the gaps doubling from
   * burstIntervalMs (default 200 ms): at 0, 0.2, 0.6, 1.4, 3, 6.2 s. The late ones outlast an old owner
   * that is slow to withdraw (or dead, until its liveness timeout): a client that took its answer
   * after our first frames is corrected by the later ones.
   */
  readonly burstCount?: number;
  readonly burstIntervalMs?: number;
  /** Periodic re-announcement for switches that age their tables; 0 = off (default). */
  readonly refreshMs?: number;
  /** Kernel re-read (drift repair, links coming and going); default 2000 ms. */
  readonly reconcileMs?: number;
  /**
   * Owned-set timeout (default 5000 ms), refreshed every fifth of it (a refresh may be late by 4 s: a loaded host's nft spawns): if this thread dies or
   * stalls, the node stops answering for its addresses within this time (the others take over).
   */
  readonly livenessMs?: number;
  /** Watch ARP/NA from others for duplicate owners (default on). */
  readonly detectDuplicates?: boolean;
  /** A node that loses a duplicate contest (higher MAC) stays silent this long before retrying (default 10 s). */
  readonly yieldMs?: number;
  readonly now?: () => number;
}

export interface AnnouncerCounters {
  garpSent: number;
  naSent: number;
  sendErrors: number;
  kernelSyncs: number;
  kernelErrors: number;
  driftRepairs: number;
  duplicates: number;
}

interface Held {
  since: number;
  /** Links the burst went out on (a link appearing later gets its own burst). */
  announced: Set<string>;
  /** Yielded to another MAC until this time (duplicate contest lost). */
  yieldedUntil?: number;
  conflict?: string;
  /** Last re-assertion after a won contest (at most one burst per second). */
  reasserted?: number;
  /**
   * Found in the kernel at start (restart = adopt): kept answering, never announced with a burst.
   * The clients already point here, or — after a SIGKILL the others took over from — at the new
   * owner, and a burst from the returning node would pull them back (measured: l2-first-start e2e).
   */
  adopted?: boolean;
}

const canon = (a: string) => {
  try {
    return canonicalIp(a);
  } catch {
    return a;
  }
};

export class KernelAnnouncer implements Announcer {
  private cands = new Map<string, L2Candidate>();
  private owned: Map<string, readonly string[]> | undefined;
  private links = new Map<string, Link>();
  private applied: KernelL2 = emptyKernel();
  private plan: L2Plan | undefined;
  private readonly held = new Map<string, Held>();
  private readonly withdrawnSince = new Map<string, number>();
  private readonly errors = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sysctlDone = new Map<string, number>();
  private chain: Promise<void> = Promise.resolve();
  private dirty = false;
  private running = false;
  private closed = false;
  private started = false;
  private capture: CaptureHandle | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private refreshDue = false;
  readonly counters: AnnouncerCounters = {
    garpSent: 0,
    naSent: 0,
    sendErrors: 0,
    kernelSyncs: 0,
    kernelErrors: 0,
    driftRepairs: 0,
    duplicates: 0,
  };

  constructor(private readonly opts: KernelAnnouncerOptions) {}

  private get liveness(): number {
    return this.opts.livenessMs ?? 5000;
  }

  private get now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Creates the tables (keeping set contents), reads the kernel, starts the timers (also on first use). */
  start(): Promise<void> {
    this.starting ??= this.startOnce();
    return this.starting;
  }
  private starting: Promise<void> | undefined;

  private async startOnce(): Promise<void> {
    this.started = true;
    await this.reread(true);
    const every = this.opts.reconcileMs ?? 2000;
    this.reconcileTimer = setInterval(() => void this.schedule(true), every);
    this.reconcileTimer.unref();
    this.livenessTimer = setInterval(() => {
      if (this.applied.ownedAny4.size + this.applied.ownedIf4.size + this.applied.owned6.size === 0) return;
      this.refreshDue = true;
      void this.schedule(false);
    }, this.liveness / 5);
    this.livenessTimer.unref();
    const refresh = this.opts.refreshMs ?? 0;
    if (refresh > 0) {
      this.refreshTimer = setInterval(() => this.refresh(), refresh);
      this.refreshTimer.unref();
    }
    if (this.opts.detectDuplicates ?? true) {
      try {
        this.capture = this.opts.frames.openCapture((frames, ix) => this.onFrames(frames, ix));
      } catch (e) {
        this.opts.log.warn({ err: String(e) }, 'l2: duplicate detection unavailable');
      }
    }
    await this.schedule(false);
  }

  async candidates(all: ReadonlyMap<string, L2Candidate>): Promise<void> {
    this.cands = new Map([...all].map(([a, c]) => [canon(a), c]));
    if (!this.started) return this.start();
    await this.schedule(false);
  }

  async update(owned: OwnedAddresses): Promise<void> {
    const next = new Map([...owned].map(([a, i]) => [canon(a), i]));
    const t = this.now;
    for (const a of this.owned?.keys() ?? this.held.keys())
      if (!next.has(a)) {
        this.held.delete(a);
        this.withdrawnSince.set(a, t);
      }
    for (const a of next.keys()) {
      const h = this.held.get(a);
      if (!h) this.held.set(a, { since: t, announced: new Set() });
      // Confirmed by the election: ours from here on (a link that appears later gets its burst).
      else h.adopted = undefined;
    }
    this.owned = next;
    if (!this.started) return this.start();
    await this.schedule(false);
  }

  status(): readonly AnnouncerStatus[] {
    const out: AnnouncerStatus[] = [];
    const addrs = new Set([...this.cands.keys(), ...this.held.keys()]);
    for (const address of [...addrs].sort()) {
      const h = this.held.get(address);
      const p = this.plan?.owned.get(address);
      const interfaces = p?.links ?? this.cands.get(address)?.interfaces ?? [];
      if (!h) {
        out.push({ address, interfaces, state: 'withdrawn', since: this.withdrawnSince.get(address) ?? 0 });
        continue;
      }
      const err = this.errors.get(address);
      const missing =
        p && p.missing.length > 0 ? `interface ${p.missing.join(', ')} not present on this node` : undefined;
      const failed =
        err !== undefined || (p !== undefined && p.links.length === 0) || h.yieldedUntil !== undefined;
      const error = [
        err,
        h.conflict,
        missing,
        p && p.links.length === 0 && !missing ? 'no usable interface (none up)' : undefined,
      ]
        .filter(Boolean)
        .join('; ');
      out.push({
        address,
        interfaces,
        state: failed ? 'failed' : 'announcing',
        since: h.since,
        ...(error ? { error } : {}),
      });
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    if (this.capture) this.opts.frames.closeCapture(this.capture);
    this.capture = undefined;
    // The kernel state stays: a restart adopts it (the data plane's rule, too).
    await this.chain;
  }

  /** Coalesces syncs: callers wait for a sync that started after their change. */
  private schedule(reread: boolean): Promise<void> {
    if (this.closed || !this.started) return Promise.resolve();
    if (reread) this.rereadWanted = true;
    this.dirty = true;
    if (this.running) return this.chain;
    this.running = true;
    this.chain = (async () => {
      try {
        while (this.dirty && !this.closed) {
          this.dirty = false;
          if (this.rereadWanted) {
            this.rereadWanted = false;
            await this.reread(false);
          }
          await this.sync();
        }
      } finally {
        this.running = false;
      }
    })();
    return this.chain;
  }
  private rereadWanted = false;

  /** Reads the kernel: links, our nft table (recreated when missing or its rules differ), proxies. */
  private async reread(initial: boolean): Promise<void> {
    const { run } = this.opts;
    const links = await run('ip', ['-j', 'link', 'show']);
    if (links.code === 0) this.links = parseLinks(links.stdout);
    const list = async () => {
      const a = await run('nft', ['-j', 'list', 'table', 'arp', TABLE]);
      const b = await run('nft', ['-j', 'list', 'table', 'ip6', TABLE]);
      return a.code === 0 && b.code === 0 ? parseNftTables(`${a.stdout}\n${b.stdout}`) : undefined;
    };
    let parsed = await list();
    const rulesOk = parsed && Object.entries(RULE_COUNTS).every(([k, n]) => parsed!.rules[k] === n);
    if (!rulesOk) {
      if (!initial) {
        this.counters.driftRepairs++;
        this.opts.log.warn({ table: TABLE }, 'l2: nft tables missing or changed; rebuilt');
      }
      const r = await run('nft', ['-f', '-'], tableScript());
      if (r.code !== 0) {
        this.counters.kernelErrors++;
        this.opts.log.warn({ err: r.stderr.trim() }, 'l2: cannot create the nft tables');
        return;
      }
      parsed = await list();
    }
    const proxies = await run('ip', ['-j', '-6', 'neigh', 'show', 'proxy']);
    const proxy6 = proxies.code === 0 ? parseProxies(proxies.stdout, canon) : new Set<string>();
    const k = parsed?.kernel ?? emptyKernel();
    const seen: KernelL2 = { ...k, proxy6 };
    if (!initial && this.plan) {
      const d = diffKernel(this.applied, seen);
      if (!diffIsEmpty(d)) {
        this.counters.driftRepairs++;
        this.opts.log.warn({}, 'l2: kernel state drifted from ours; repairing');
      }
    }
    if (initial && this.owned === undefined) {
      // Adopt: what the kernel says we own stays owned until the election speaks.
      const adopted = new Map<string, string[]>();
      for (const a of k.ownedAny4) adopted.set(a, []);
      for (const key of k.ownedIf4) {
        const [i, a] = splitPair(key);
        adopted.set(a, [...(adopted.get(a) ?? []), i]);
      }
      for (const a of k.owned6) adopted.set(a, []);
      for (const key of proxy6) {
        const [i, a] = splitPair(key);
        if (k.owned6.has(a)) adopted.set(a, [...(adopted.get(a) ?? []), i]);
      }
      const t = this.now;
      for (const a of adopted.keys()) this.held.set(a, { since: t, announced: new Set(), adopted: true });
      this.adopted = adopted;
    }
    this.applied = seen;
  }
  private adopted = new Map<string, readonly string[]>();

  private ownedNow(): OwnedAddresses {
    const base = this.owned ?? this.adopted;
    const t = this.now;
    const out = new Map<string, readonly string[]>();
    for (const [a, ifs] of base) {
      const h = this.held.get(a);
      if (h?.yieldedUntil !== undefined && h.yieldedUntil > t) continue;
      if (h?.yieldedUntil !== undefined) {
        h.yieldedUntil = undefined;
        h.conflict = undefined;
        h.announced.clear();
      }
      out.set(a, ifs);
    }
    return out;
  }

  /** One convergence step: first frames of a takeover, the kernel, then the rest of the bursts. */
  private async sync(): Promise<void> {
    const plan = planKernel(this.cands, this.ownedNow(), this.links);
    if (plan.kernel.cand4.size > 0 && !this.arpAnnounceSet) await this.arpAnnounce();
    // Proxy entries for addresses that are not candidates are someone else's: never touched.
    const ours = (a: string) => plan.kernel.cand6.has(a) || this.applied.cand6.has(a);
    const have: KernelL2 = {
      ...this.applied,
      proxy6: new Set([...this.applied.proxy6].filter((k) => ours(splitPair(k)[1]))),
    };
    const d = diffKernel(have, plan.kernel);
    // A takeover's first gratuitous frame goes out before the kernel write (an nft spawn: 10-35 ms
    // on a loaded host): clients that still point at the dead owner re-point at once, and the data
    // plane already serves the address on every node. Only answering ARP/NS waits for the sets.
    const early = new Set<string>();
    for (const [address, p] of plan.owned) {
      const h = this.held.get(address);
      if (!h || h.adopted || h.yieldedUntil !== undefined) continue;
      for (const l of p.links)
        if (!h.announced.has(l)) {
          this.send(address, l);
          early.add(`${address}|${l}`);
        }
    }
    const refresh = this.refreshDue;
    this.refreshDue = false;
    if (!diffIsEmpty(d) || refresh) {
      this.counters.kernelSyncs++;
      const script = nftScript(d, plan.kernel, refresh, this.liveness);
      if (script) {
        const r = await this.opts.run('nft', ['-f', '-'], script);
        if (r.code !== 0) {
          // Our model was wrong (someone changed the sets): re-read and try again on the next pass.
          this.counters.kernelErrors++;
          this.opts.log.warn({ err: r.stderr.trim().slice(0, 500) }, 'l2: nft update refused; re-reading');
          this.rereadWanted = true;
          this.dirty = true;
          return;
        }
      }
      const batch = proxyBatch(d);
      if (batch.length > 0) await this.proxies(batch, d.add.proxy6);
      this.applied = {
        ...plan.kernel,
        proxy6: new Set(
          [...this.applied.proxy6].filter((k) => !ours(splitPair(k)[1])).concat([...plan.kernel.proxy6]),
        ),
      };
    }
    this.plan = plan;
    for (const [address, p] of plan.owned) {
      const h = this.held.get(address);
      if (!h || h.yieldedUntil !== undefined) continue;
      if (h.adopted) {
        for (const l of p.links) h.announced.add(l);
        continue;
      }
      for (const l of [...h.announced]) if (!p.links.includes(l)) h.announced.delete(l);
      for (const l of p.links)
        if (!h.announced.has(l)) {
          h.announced.add(l);
          this.burst(address, l, early.has(`${address}|${l}`));
        }
    }
  }

  /**
   * ARP requests a node sends carry, by default, the source address of the packet that needs them —
   * a service address when it forwards fullnat traffic — and every receiver then points that
   * address at the sender (measured: a former owner resolving the endpoint re-pointed the backend's
   * entry for the service address to itself after the takeover). arp_announce=2: the sender is
   * the interface's own address, never a service address.
   */
  private async arpAnnounce(): Promise<void> {
    this.arpAnnounceSet = true;
    const r = await this.opts.run('sysctl', ['-qw', 'net.ipv4.conf.all.arp_announce=2']);
    if (r.code !== 0)
      this.opts.log.warn({ err: r.stderr.trim() }, 'l2: cannot set net.ipv4.conf.all.arp_announce=2');
  }
  private arpAnnounceSet = false;

  private async proxies(batch: string[], added: ReadonlySet<string>): Promise<void> {
    const ifs = new Set([...added].map((k) => splitPair(k)[0]));
    const keys: string[] = [];
    for (const i of ifs) {
      const l = this.links.get(i);
      if (!l || this.sysctlDone.get(i) === l.index) continue;
      const s = i.replace(/\./g, '/');
      keys.push(
        `net/ipv6/conf/${s}/proxy_ndp=1`,
        `net/ipv6/neigh/${s}/proxy_delay=0`,
        `net/ipv6/conf/${s}/forwarding=1`,
      );
      this.sysctlDone.set(i, l.index);
    }
    if (keys.length > 0) {
      const r = await this.opts.run('sysctl', ['-qw', ...keys]);
      if (r.code !== 0) this.opts.log.warn({ err: r.stderr.trim() }, 'l2: proxy NDP sysctls refused');
    }
    const r = await this.opts.run('ip', ['-force', '-batch', '-'], batch.join('\n') + '\n');
    if (r.code !== 0) {
      this.counters.kernelErrors++;
      this.opts.log.warn(
        { err: r.stderr.trim().slice(0, 500) },
        'l2: some proxy entries refused; re-reading',
      );
      this.rereadWanted = true;
    }
  }

  private send(address: string, link: string): void {
    const l = this.links.get(link);
    if (!l || !l.ether) return;
    try {
      if (address.includes(':')) {
        this.opts.frames.sendFrame(l.index, unsolicitedNa(l.mac, address));
        this.counters.naSent++;
      } else {
        for (const f of gratuitousArp(l.mac, address)) this.opts.frames.sendFrame(l.index, f);
        this.counters.garpSent += 2;
      }
      this.errors.delete(address);
    } catch (e) {
      this.counters.sendErrors++;
      this.errors.set(
        address,
        `gratuitous ${address.includes(':') ? 'NA' : 'ARP'} on ${link}: ${String((e as Error).message ?? e)}`,
      );
    }
  }

  private stillOwned(address: string, link: string): boolean {
    const h = this.held.get(address);
    return !this.closed && !!h && h.yieldedUntil === undefined && h.announced.has(link);
  }

  /** The takeover burst: the first frame now, the others spaced (a lost first frame is common). */
  private burst(address: string, link: string, firstSent = false): void {
    if (!firstSent) this.send(address, link);
    const n = this.opts.burstCount ?? 6;
    const every = this.opts.burstIntervalMs ?? 200;
    for (let i = 1; i < n; i++) {
      const t = setTimeout(
        () => {
          this.timers.delete(t);
          if (this.stillOwned(address, link)) this.send(address, link);
        },
        every * (2 ** i - 1),
      );
      this.timers.add(t);
    }
  }

  private refresh(): void {
    for (const [address, h] of this.held)
      if (h.yieldedUntil === undefined) for (const l of h.announced) this.send(address, l);
  }

  /**
   * Duplicate detection: another MAC claims an address we announce. Deterministic: the lower MAC
   * keeps it and re-asserts; the higher one yields for yieldMs (two ferrolb nodes that both think
   * they own it — a 2-node partition — settle on the same winner without talking).
   */
  private onFrames(frames: Buffer[], ixs: number[]): void {
    const ours = new Set([...this.links.values()].map((l) => l.mac));
    frames.forEach((f, i) => {
      const c = claimOf(f);
      if (!c || ours.has(c.mac)) return;
      const address = canon(c.address);
      const h = this.held.get(address);
      if (!h || h.yieldedUntil !== undefined || h.announced.size === 0) return;
      // Just taken over: the old owner's kernel may answer until its owned set times out.
      if (this.now < h.since + this.liveness + 1000) return;
      const link = [...this.links.values()].find((l) => l.index === ixs[i]);
      if (!link || !h.announced.has(link.name)) return;
      this.counters.duplicates++;
      const weWin = link.mac < c.mac;
      h.conflict = `duplicate: ${c.mac} also claims ${address} on ${link.name} (${weWin ? 'lower MAC keeps it' : 'yielded to the lower MAC'})`;
      this.opts.log.warn(
        { address, interface: link.name, other: c.mac, ours: link.mac, kept: weWin },
        'l2: duplicate owner',
      );
      if (weWin) {
        if (h.reasserted === undefined || this.now - h.reasserted >= 1000) {
          h.reasserted = this.now;
          this.burst(address, link.name);
        }
        return;
      }
      const yieldMs = this.opts.yieldMs ?? 10_000;
      h.yieldedUntil = this.now + yieldMs;
      const t = setTimeout(() => {
        this.timers.delete(t);
        void this.schedule(false);
      }, yieldMs + 1);
      this.timers.add(t);
      void this.schedule(false);
    });
  }
}
