// The imperative shell around the compiler: reads what the kernel has (adoption), applies the diff
// atomically with `nft -f -`, plumbs VIPs, feeds leastconn from conntrack, flushes flows on request
// and reports counters. Every decision is made by the pure modules; this file only runs commands.
import { canonicalIp, parseIp } from '../net/ip.js';
import { compile, type CounterRef } from './compiler/compile.js';
import { CounterCache, type CounterReadOptions } from './countercache.js';
import { deltaTransaction, diffTables, splitScript, type Transaction } from './compiler/diff.js';
import { IncrementalCompiler } from './compiler/incremental.js';
import { observeTable, parseCounters, parseNamedCounters, type CounterValue } from './compiler/observe.js';
import { names } from './compiler/names.js';
import { refusedFlows, tightened } from './compiler/purge.js';
import type { TableState } from './compiler/table.js';
import {
  connKey,
  countConnections,
  flushClientFlows,
  flushEndpointFlows,
  listConntrack,
} from './conntrack.js';
import { CommandError, hostRunner, type Runner } from './exec.js';
import type { CompileOptions, DataplaneGuard, DataplaneService } from './types.js';
import { DEFAULT_VIP_INTERFACE, removeVipInterface, syncVips } from './vip.js';

/** `add element` lines (≤ 2000 elements each) per nft transaction: 200k elements. */
const MAX_ELEMENT_LINES_PER_TX = 100;

const COUNTER_SETS = [4, 6].flatMap((f) => [names.svcCounters(f as 4 | 6), names.epCounters(f as 4 | 6)]);

export interface ApplierOptions extends CompileOptions {
  /** Where commands run (default: host namespace). */
  readonly run?: Runner;
  /** Dummy interface carrying the VIPs; false = no VIP plumbing (another component owns it). */
  readonly vipInterface?: string | false;
}

export interface ApplyResult {
  /** nft statements applied (0 = the kernel already matched). */
  readonly statements: number;
  /** Whole table (re)created rather than patched. */
  readonly full: boolean;
  readonly vipsAdded: readonly string[];
  readonly vipsRemoved: readonly string[];
  /** Flows deleted because their endpoint stopped being active (flushOnInactive). */
  readonly flushed: number;
  /** Established flows deleted because the source ranges no longer allow their client. */
  readonly purged: number;
  /** Services recompiled, added or removed (the others were taken from the compile cache). */
  readonly recompiled: number;
}

export interface CounterSample extends CounterRef {
  readonly packets: number;
  readonly bytes: number;
}

/** Packets dropped because their source is outside the service's source ranges, per family. */
export interface SourceRangeDrops {
  readonly family: 4 | 6;
  readonly packets: number;
  readonly bytes: number;
}

export interface ServiceCounters {
  readonly service: string;
  readonly packets: number;
  readonly bytes: number;
  /** Per service port and family. */
  readonly ports: readonly CounterSample[];
  /** Per endpoint, summed over the service's ports. */
  readonly endpoints: readonly { address: string; packets: number; bytes: number }[];
}

export class DataplaneApplyError extends Error {
  /** The rejected transaction. Not enumerable: loggers serialise errors, and it can be megabytes. */
  declare readonly script: string;
  constructor(
    message: string,
    script: string,
    /** Statements in the rejected transaction. */
    readonly statements: number,
  ) {
    super(message);
    this.name = 'DataplaneApplyError';
    Object.defineProperty(this, 'script', { value: script, enumerable: false });
  }
}

export class Applier {
  private readonly run: Runner;
  private readonly table: string;
  private readonly vipDev: string | false;
  /** What the kernel has, as far as we know; null = read it before the next diff. */
  private kernel: TableState | undefined | null = null;
  /**
   * Desired table, recompiled per changed service. While `inSync`, the kernel holds exactly what the
   * compiler held before its latest update, so that update's delta is the whole transaction.
   */
  private compiler: IncrementalCompiler;
  private inSync = false;
  /** The VIP interface holds the compiler's addresses (re-listed only when they change). */
  private vipsInSync = false;
  private last: readonly DataplaneService[] = [];
  /** Source ranges tightened and the refused clients' flows are not deleted yet. */
  private purgePending = false;

  constructor(private readonly opts: ApplierOptions = {}) {
    this.run = opts.run ?? hostRunner;
    this.table = opts.table ?? 'ferrolb';
    this.vipDev = opts.vipInterface === undefined ? DEFAULT_VIP_INTERFACE : opts.vipInterface;
    this.compiler = new IncrementalCompiler(opts);
  }

  /** Reads the kernel's table (adoption). Returns whether one existed. */
  async observe(): Promise<boolean> {
    const r = await this.run('nft', ['-j', 'list', 'table', 'inet', this.table]);
    if (r.code !== 0) {
      if (!/No such file or directory/i.test(r.stderr)) throw new CommandError('nft -j list table', r);
      this.kernel = undefined;
      this.inSync = false;
      return false;
    }
    this.kernel = observeTable(r.stdout, this.table);
    this.inSync = false;
    return true;
  }

  /** Transaction that apply(services, guards) would run now (for dry runs and tests). */
  async plan(
    services: readonly DataplaneService[],
    guards: readonly DataplaneGuard[] = [],
  ): Promise<Transaction> {
    if (this.kernel === null) await this.observe();
    return diffTables(
      this.kernel ?? undefined,
      compile(await this.withConnections(services), this.opts, guards).state,
    );
  }

  /**
   * Converges the kernel to `services` (and the source filters of `guards`, the SCTP engine's services).
   * Idempotent: a second call with the same input runs nothing.
   */
  async apply(
    services: readonly DataplaneService[],
    guards: readonly DataplaneGuard[] = [],
  ): Promise<ApplyResult> {
    if (this.kernel === null) await this.observe();
    const input = await this.withConnections(services);
    // Throws on input that cannot be compiled, and then the compiler has not changed.
    const delta = this.compiler.update(input, guards, this.inSync);
    const next = this.compiler.state;
    let tx = this.inSync ? deltaTransaction(next, delta) : undefined;
    // Out of sync (start, adoption, a failed transaction) or a change only a whole diff can make:
    // diff against what the kernel really has.
    if (!tx && this.inSync) await this.observe();
    const full = !tx;
    const before = full ? (this.kernel ?? undefined) : delta.filterBefore;
    tx ??= diffTables(this.kernel ?? undefined, next);
    // Huge transactions (a cold start of millions of Maglev slots) go in parts; see splitScript.
    for (const part of tx.statements > 0 ? splitScript(tx.script, MAX_ELEMENT_LINES_PER_TX) : []) {
      const r = await this.run('nft', ['-f', '-'], part);
      if (r.code !== 0) {
        this.kernel = null; // unknown now: re-read before the next diff
        this.inSync = false;
        throw new DataplaneApplyError(
          `nft rejected the transaction: ${r.stderr.trim().slice(0, 2000)}`,
          part,
          tx.statements,
        );
      }
    }
    this.kernel = next;
    this.inSync = true;
    // After the commit, so no refused client can open a new flow while we look. Pending until it
    // succeeds: a failed purge is retried by the next apply, even one that changes nothing.
    if ((full || before) && tightened(before, next)) this.purgePending = true;
    const purged = this.purgePending ? await this.purgeRefused(next) : 0;
    let vips: { added: string[]; removed: string[] } = { added: [], removed: [] };
    if (this.vipDev && (delta.addressesChanged || !this.vipsInSync)) {
      this.vipsInSync = false;
      vips = await syncVips(this.run, this.vipDev, this.compiler.addresses());
      this.vipsInSync = true;
    }
    const flushed = await this.flushInactive(this.last, input);
    this.last = input;
    return {
      statements: tx.statements,
      full: tx.full,
      recompiled: delta.recompiled + delta.removed,
      vipsAdded: vips.added,
      vipsRemoved: vips.removed,
      flushed,
      purged,
    };
  }

  /** Deletes the established flows of clients the source filter now refuses (see purge.ts). */
  private async purgeRefused(state: TableState): Promise<number> {
    let n = 0;
    for (const f of refusedFlows(await listConntrack(this.run), state))
      n += await flushClientFlows(this.run, f);
    this.purgePending = false;
    return n;
  }

  /** leastconn needs current connection counts: fill them from conntrack. */
  private async withConnections(services: readonly DataplaneService[]): Promise<readonly DataplaneService[]> {
    if (!services.some((s) => s.algorithm === 'leastconn')) return services;
    const counts = countConnections(await listConntrack(this.run));
    return services.map((s) => {
      if (s.algorithm !== 'leastconn') return s;
      const endpoints = s.endpoints.map((e) => {
        let n = 0;
        for (const vip of s.addresses)
          for (const p of s.ports)
            n += counts.get(connKey(canonicalIp(vip), p.protocol, p.port, canonicalIp(e.address))) ?? 0;
        return { ...e, connections: n };
      });
      return { ...s, endpoints };
    });
  }

  private async flushInactive(
    before: readonly DataplaneService[],
    after: readonly DataplaneService[],
  ): Promise<number> {
    let n = 0;
    // Runs on every apply: only services that ask for it are looked at (usually none).
    const now = new Map<string, DataplaneService>();
    for (const s of after) if (s.flushOnInactive) now.set(s.name, s);
    if (now.size === 0) return 0;
    for (const old of before) {
      const cur = now.get(old.name);
      if (!cur) continue;
      const stillActive = new Set(
        cur.endpoints.filter((e) => e.state === 'active').map((e) => canonicalIp(e.address)),
      );
      for (const e of old.endpoints) {
        const a = canonicalIp(e.address);
        if (e.state !== 'active' || stillActive.has(a)) continue;
        for (const vip of old.addresses) {
          if (parseIp(vip).family !== parseIp(a).family) continue;
          for (const p of old.ports) {
            n += await flushEndpointFlows(this.run, canonicalIp(vip), p.protocol, p.port, a);
          }
        }
      }
    }
    return n;
  }

  private readonly counterCache = new CounterCache(async () => {
    const values = new Map<string, CounterValue>();
    for (const set of COUNTER_SETS) {
      const r = await this.run('nft', ['-j', 'list', 'set', 'inet', this.table, set]);
      if (r.code !== 0) continue; // counters disabled, or the table is gone
      for (const [k, v] of parseCounters(r.stdout)) values.set(k, v);
    }
    return values;
  });

  /**
   * Packet/byte counters per service (and its ports and endpoints) since the counters were made.
   * Without options: listed from the kernel now. With maxAgeMs: see CounterCache (reads at scale).
   */
  async counters(o: CounterReadOptions = {}): Promise<ServiceCounters[]> {
    const refs: Iterable<readonly [string, CounterRef]> =
      o.service !== undefined ? this.compiler.serviceCounters(o.service) : this.compiler.counterRefs();
    const values = await this.counterCache.get(o);
    if (!values) return [];
    const bySvc = new Map<
      string,
      { ports: CounterSample[]; eps: Map<string, { packets: number; bytes: number }> }
    >();
    for (const [key, ref] of refs) {
      const v = values.get(key) ?? { packets: 0, bytes: 0 };
      const entry = bySvc.get(ref.service) ?? { ports: [] as CounterSample[], eps: new Map() };
      bySvc.set(ref.service, entry);
      if (ref.endpoint === undefined) entry.ports.push({ ...ref, ...v });
      else {
        const e = entry.eps.get(ref.endpoint) ?? { packets: 0, bytes: 0 };
        entry.eps.set(ref.endpoint, { packets: e.packets + v.packets, bytes: e.bytes + v.bytes });
      }
    }
    return [...bySvc].map(([service, { ports, eps }]) => ({
      service,
      packets: ports.reduce((a, p) => a + p.packets, 0),
      bytes: ports.reduce((a, p) => a + p.bytes, 0),
      ports,
      endpoints: [...eps].map(([address, v]) => ({ address, ...v })),
    }));
  }

  /** Packets dropped by source ranges since the table was made (both hooks and the SCTP guard). */
  async sourceRangeDrops(): Promise<SourceRangeDrops[]> {
    const r = await this.run('nft', ['-j', 'list', 'counters', 'table', 'inet', this.table]);
    if (r.code !== 0) return []; // no table (yet, or any more)
    const values = parseNamedCounters(r.stdout);
    return ([4, 6] as const).flatMap((family) => {
      const v = values.get(names.srcDrops(family));
      return v ? [{ family, ...v }] : []; // counters: false
    });
  }

  /**
   * Stops managing the data plane. keepForwarding: leave table and VIPs so traffic keeps flowing
   * (a restart adopts them); otherwise remove both.
   */
  async shutdown(keepForwarding: boolean): Promise<void> {
    if (keepForwarding) return;
    const r = await this.run('nft', ['delete', 'table', 'inet', this.table]);
    if (r.code !== 0 && !/No such file or directory/i.test(r.stderr))
      throw new CommandError('nft delete table', r);
    if (this.vipDev) await removeVipInterface(this.run, this.vipDev);
    this.kernel = undefined;
    this.compiler = new IncrementalCompiler(this.opts);
    this.inSync = false;
    this.vipsInSync = false;
    this.counterCache.clear();
    this.last = [];
  }
}
