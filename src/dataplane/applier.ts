// The imperative shell around the compiler: reads what the kernel has (adoption), applies the diff
// atomically with `nft -f -`, plumbs VIPs, feeds leastconn from conntrack, flushes flows on request
// and reports counters. Every decision is made by the pure modules; this file only runs commands.
import { canonicalIp, parseIp } from '../net/ip.js';
import { compile, type Compiled, type CounterRef } from './compiler/compile.js';
import {
  deltaTransactionSteps,
  diffTables,
  diffTablesSteps,
  splitScript,
  type Transaction,
} from './compiler/diff.js';
import { IncrementalCompiler, type Delta } from './compiler/incremental.js';
import { CounterCache, type CounterReadOptions } from './countercache.js';
import { observeTable, parseNamedCounters, type CounterValue } from './compiler/observe.js';
import { names } from './compiler/names.js';
import { refusedFlows, tightened } from './compiler/purge.js';
import type { TableMap, TableState } from './compiler/table.js';
import {
  connKey,
  countConnections,
  flushClientFlows,
  flushEndpointFlows,
  listConntrack,
} from './conntrack.js';
import { errorSummary, implicatedText, isolate } from './containment.js';
import { FailureBook, mentions, serviceSig, type ServiceFailure } from './failures.js';
export type { ServiceFailure } from './failures.js';
import { applyHints, digestStateAsync, type DriftHint, type DriftKind } from './drift.js';
import { judgeInWorker, type Verdict } from './verify-worker.js';
import { listCountersInWorker, parseCountersAsync } from './counter-worker.js';
import { CommandError, hostRunner, runnerPrefix, type RunResult, type Runner } from './exec.js';
import { NftSession, transactionTimeoutMs } from './nftsession.js';
import { runSliced } from '../model/steps.js';
import {
  DataplaneInputError,
  type CompileOptions,
  type DataplaneGuard,
  type DataplaneService,
} from './types.js';
import {
  DEFAULT_VIP_INTERFACE,
  heldVips,
  removeVipInterface,
  syncVips,
  vipRefusal,
  type Held,
  type VipFailure,
  type VipSync,
} from './vip.js';

/**
 * `add element` lines (≤ 2000 elements each) per nft transaction: 50k elements, ≈ 2.5 MB. A cold
 * Maglev load at 10k services (630k elements) goes in 13 commits of ≈ 1 s each under load instead
 * of one that holds nft's commit lock (and any other nft user in the namespace) for a minute.
 */
const MAX_ELEMENT_LINES_PER_TX = 25;

/** Counter refs summed between two yields of counters(). */
const COUNTER_SLICE = 4096;

const COUNTER_SETS = [4, 6].flatMap((f) => [names.svcCounters(f as 4 | 6), names.epCounters(f as 4 | 6)]);

export interface ApplierOptions extends CompileOptions {
  /** Where commands run (default: host namespace). */
  readonly run?: Runner;
  /** Dummy interface carrying the VIPs; false = no VIP plumbing (another component owns it). */
  readonly vipInterface?: string | false;
  /**
   * Commit through one long-lived `nft -i` (default, for spawning runners) rather than an `nft -f`
   * process per transaction. Runners that are not spawnRunner's (fakes, wrappers) always spawn.
   */
  readonly persistentNft?: boolean;
}

/**
 * What a list given to apply() changed against `since`, an earlier list given to it: by name, the
 * service added or replaced, or undefined for one gone; every other service is the same object.
 * Used only when `since` is the list of the last apply that went through cleanly (else ignored).
 */
export interface InputHint {
  readonly since: readonly DataplaneService[];
  readonly changed: ReadonlyMap<string, DataplaneService | undefined>;
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
  /** VIPs we had plumbed before that were missing from the kernel and are back (drift). */
  readonly vipsRepaired: readonly string[];
  /** Services newly found failing in this apply (the others were programmed). */
  readonly failed: readonly ServiceFailure[];
  /** Transactions the containment tried (0 when the first one was accepted). */
  readonly attempts: number;
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
  /** Per endpoint, summed over the service's ports; `ports`: per service port (families summed). */
  readonly endpoints: readonly {
    address: string;
    packets: number;
    bytes: number;
    ports?: readonly EndpointPortCounters[];
  }[];
}

export interface EndpointPortCounters {
  readonly port: number;
  readonly protocol: string;
  readonly packets: number;
  readonly bytes: number;
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

/** Compiled.counters of commits through the incremental compiler (counters() asks the compiler). */
const EMPTY_REFS: ReadonlyMap<string, CounterRef> = new Map();

export class Applier {
  private readonly run: Runner;
  private readonly table: string;
  private readonly vipDev: string | false;
  /** What the kernel has, as far as we know; undefined = read it before the next diff. */
  private kernel: TableState | undefined | null = null;
  private compiled: Compiled | undefined;
  /**
   * Desired table, recompiled per changed service. While `this.kernel === this.compiler.state` (set
   * only by a commit through it), the kernel holds what the compiler held before its next update,
   * so that update's delta is the whole transaction (O(change)). Any other model of the kernel
   * (adoption, a drift absorbed, a refusal) means a whole diff first.
   */
  private compiler: IncrementalCompiler;
  private last: readonly DataplaneService[] = [];
  /** The caller's list of the last apply the compiler took as it was (hints are against it). */
  private cleanInput: readonly DataplaneService[] | undefined;
  private cleanRevision = -1;
  /** Whether that list had a leastconn service (its connection counts are read at every apply). */
  private cleanLeastconn = true;
  /** Source ranges tightened and the refused clients' flows are not deleted yet. */
  private purgePending = false;
  /** Services not (fully) programmed, by name. */
  private readonly failures = new FailureBook();
  /** VIPs the last VIP sync left in place (to tell a repaired VIP from a new one), canonical. */
  private vipsHeld = new Set<string>();
  /**
   * What the VIP interface holds, as we left it (undefined: list it from the kernel at the next
   * sync). Dropped on a VIP event (`ip monitor`: deleted, link down) or a verification that finds
   * the kernel different, so an apply never lists every VIP route (10k: tens of ms per change).
   */
  private vipModel: Held | undefined;
  /** compiler.addressVersion the VIP model was synced for, and that sync's failures. */
  private vipVersion = -1;
  private vipFailures: VipFailure[] = [];
  /** Process ids of our recent nft transactions (the monitor tells ours from others' by them). */
  private readonly ownPids: number[] = [];
  /** Bumped by every commit: a full read that overlapped one is stale. */
  private version = 0;
  /** An apply is between its diff and its commit: a full read must not replace the model now. */
  private applying = false;

  constructor(private readonly opts: ApplierOptions = {}) {
    this.run = opts.run ?? hostRunner;
    this.table = opts.table ?? 'ferrolb';
    this.vipDev = opts.vipInterface === undefined ? DEFAULT_VIP_INTERFACE : opts.vipInterface;
    this.compiler = new IncrementalCompiler(opts);
    const prefix = runnerPrefix(this.run);
    this.session = prefix && opts.persistentNft !== false ? new NftSession(prefix) : undefined;
  }

  private readonly session: NftSession | undefined;

  /** One atomic transaction (`nft -f` semantics), through the session when there is one. */
  private async transact(script: string): Promise<RunResult> {
    // The session rejects only before it sent anything (its file could not be written): spawn then.
    const r =
      (this.session && (await this.session.run(script).catch(() => undefined))) ??
      (await this.run('nft', ['-f', '-'], script, { timeoutMs: transactionTimeoutMs(script.length) }));
    if (r.pid !== undefined && this.ownPids.at(-1) !== r.pid && this.ownPids.push(r.pid) > 64)
      this.ownPids.shift();
    return r;
  }

  /** Reads the kernel's table (adoption). Returns whether one existed. */
  async observe(): Promise<boolean> {
    // A listing's time grows with the table: 120 s plus 1 s per 10k elements we may have written.
    let elements = 0;
    for (const m of this.compiler.state.maps.values()) elements += m.elements.size;
    const timeoutMs = 120_000 + Math.ceil(elements / 10_000) * 1_000;
    const r = await this.run('nft', ['-j', 'list', 'table', 'inet', this.table], undefined, { timeoutMs });
    if (r.code !== 0) {
      if (!/No such file or directory/i.test(r.stderr)) throw new CommandError('nft -j list table', r);
      this.kernel = undefined;
      return false;
    }
    this.kernel = observeTable(r.stdout, this.table);
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
   * Idempotent: a second call with the same input runs nothing. A service the compiler or the kernel
   * refuses is isolated (see containment.ts): it keeps its last good version (or stays out), is
   * reported by failures(), and is retried once its content changes; every other one is programmed.
   * Throws only when even the last good state cannot be committed.
   */
  async apply(
    services: readonly DataplaneService[],
    guards: readonly DataplaneGuard[] = [],
    /** What differs from an earlier call's list (see InputHint): lets the compiler skip the rest. */
    hint?: InputHint,
  ): Promise<ApplyResult> {
    this.applying = true;
    try {
      return await this.applyNow(services, guards, hint);
    } finally {
      this.applying = false;
    }
  }

  private async applyNow(
    services: readonly DataplaneService[],
    guards: readonly DataplaneGuard[],
    hint: InputHint | undefined,
  ): Promise<ApplyResult> {
    if (this.kernel === null) await this.observe();
    // No leastconn service last time and none among the changed ones: no need to look at every one.
    const noLeastconn =
      hint !== undefined &&
      hint.since === this.cleanInput &&
      !this.cleanLeastconn &&
      ![...hint.changed.values()].some((s) => s?.algorithm === 'leastconn');
    const input = noLeastconn ? services : await this.withConnections(services);
    const fresh: ServiceFailure[] = [];
    // The hint holds when it is against the list of the last clean apply, nothing rewrote the input
    // since (leastconn counts, screened failures) and the compiler has seen no other input.
    const clean =
      hint !== undefined &&
      hint.since === this.cleanInput &&
      input === services &&
      this.failures.all.size === 0 &&
      this.compiler.revision === this.cleanRevision;
    const candidate = this.failures.screen(input, () => this.lastByName());
    // The model may be the compiler's own state, patched in place by the commit: keep its filter sets.
    const before =
      this.kernel === this.compiler.state ? this.compiler.filterState() : (this.kernel ?? undefined);
    this.cleanInput = undefined;
    const first = await this.tryCommit(candidate, guards, fresh, false, clean ? hint.changed : undefined);
    if (!('refused' in first) && fresh.length === 0 && this.failures.all.size === 0 && input === services) {
      this.cleanInput = services;
      this.cleanRevision = this.compiler.revision;
      this.cleanLeastconn = noLeastconn ? false : services.some((s) => s.algorithm === 'leastconn');
    }
    const done =
      'refused' in first
        ? await this.contain(first.list, guards, first.refused, fresh)
        : { ...first, attempts: 0 };
    const { statements, full, attempts } = done;
    const applied = done.list;
    const next = this.compiled!;
    // After the commit, so no refused client can open a new flow while we look. Pending until it
    // succeeds: a failed purge is retried by the next apply, even one that changes nothing.
    if (tightened(before, next.state)) this.purgePending = true;
    const purged = this.purgePending ? await this.purgeRefused(next.state) : 0;
    const { vips, vipsRepaired } = await this.plumbVips(next.addresses);
    fresh.push(...this.failures.noteVips(applied, vips.failed));
    const flushed = await this.flushInactive(this.last, applied);
    this.last = applied;
    return {
      statements,
      full,
      vipsAdded: vips.added,
      vipsRemoved: vips.removed,
      flushed,
      purged,
      vipsRepaired,
      failed: fresh,
      attempts,
    };
  }

  /** Whether an apply has compiled a desired state (repair() needs one). */
  hasCompiled(): boolean {
    return this.compiled !== undefined;
  }

  /**
   * Converges the kernel to the last applied desired state without compiling it again (drift
   * repair: the input did not change, the kernel did). O(diff), not O(services) of compile work.
   */
  async repair(): Promise<ApplyResult> {
    const next = this.compiled;
    if (!next) throw new Error('repair() before the first apply()');
    this.applying = true;
    try {
      if (this.kernel === null) await this.observe();
      const tx = diffTables(this.kernel ?? undefined, next.state);
      if (tx.statements > 0) {
        const r = await this.transact(tx.script);
        if (r.code !== 0) {
          this.kernel = null;
          throw new DataplaneApplyError(
            `nft rejected the repair: ${r.stderr.trim().slice(0, 2000)}`,
            tx.script,
            tx.statements,
          );
        }
        this.version++;
      }
      this.kernel = next.state;
      const { vips, vipsRepaired } = await this.plumbVips(next.addresses);
      return {
        statements: tx.statements,
        full: tx.full,
        vipsAdded: vips.added,
        vipsRemoved: vips.removed,
        flushed: 0,
        purged: 0,
        vipsRepaired,
        failed: [],
        attempts: 0,
      };
    } finally {
      this.applying = false;
    }
  }

  /** Services not (fully) programmed, and why; cleared when they are programmed or deleted. */
  failed(): ReadonlyMap<string, ServiceFailure> {
    return this.failures.all;
  }

  private lastByName(): Map<string, DataplaneService> {
    return new Map(this.last.map((s) => [s.name, s]));
  }

  /**
   * compile + diff + one nft transaction. Services the compiler refuses are dropped (their last good
   * version kept when that compiles) and recorded; a kernel refusal is returned, not thrown.
   */
  private async tryCommit(
    list: readonly DataplaneService[],
    guards: readonly DataplaneGuard[],
    fresh: ServiceFailure[],
    /** `nft -c`: the kernel checks the transaction without committing it. */
    dryRun = false,
    /** The services that differ from the compiler's last input (the rest are the same objects). */
    changed?: ReadonlyMap<string, DataplaneService | undefined>,
  ): Promise<
    | { list: DataplaneService[]; statements: number; full: boolean }
    | { list: DataplaneService[]; refused: DataplaneApplyError }
  > {
    let cur = [...list];
    let gs = [...guards];
    let next: Compiled | undefined;
    // Fast path: the incremental compiler (commits only; dry runs compile afresh and leave it alone).
    const inSync = this.kernel !== null && this.kernel === this.compiler.state;
    let delta: Delta | undefined;
    if (!dryRun) {
      if (!inSync) this.detachKernel();
      try {
        // throws before changing anything
        delta = await runSliced(this.compiler.updateSteps(cur, gs, inSync, inSync ? changed : undefined));
      } catch (e) {
        if (!(e instanceof DataplaneInputError)) throw e;
      }
    }
    let prevMemo: Map<string, DataplaneService> | undefined;
    const prevOf = (name: string) => (prevMemo ??= this.lastByName()).get(name);
    for (let i = 0; !delta && !next; i++) {
      try {
        next = compile(cur, this.opts, gs);
      } catch (e) {
        if (!(e instanceof DataplaneInputError) || i > 1000) throw e;
        const at = cur.findIndex((s) => s.name === e.service);
        if (at < 0) {
          const g = gs.findIndex((x) => x.name === e.service);
          if (g < 0) throw e;
          gs = gs.filter((_, k) => k !== g); // an SCTP engine service: its filter stays out
          continue;
        }
        const bad = cur[at]!;
        const orig = list.find((s) => s.name === bad.name) ?? bad;
        if (!this.failures.has(bad.name)) fresh.push(this.failures.record(orig, 'input', e.message));
        const old = prevOf(bad.name);
        cur = old && old !== bad ? cur.map((s, k) => (k === at ? old : s)) : cur.filter((_, k) => k !== at);
      }
    }
    // The list that compiled goes through the compiler too, so the next apply is incremental again.
    // (The first update threw and changed nothing, so this one's delta is still against the kernel.)
    if (!dryRun && !delta) delta = await runSliced(this.compiler.updateSteps(cur, gs, inSync));
    const state = delta ? this.compiler.state : next!.state;
    let tx: Transaction | undefined =
      delta && inSync ? await runSliced(deltaTransactionSteps(state, delta)) : undefined;
    // In sync but only a whole diff can make this change (a set changes type): read the kernel.
    if (!tx && inSync) await this.observe();
    tx ??= await runSliced(diffTablesSteps(this.kernel ?? undefined, state));
    if (tx.statements > 0) {
      // Huge transactions (a cold start of millions of Maglev slots) go in parts; see splitScript.
      const parts = dryRun ? [tx.script] : splitScript(tx.script, MAX_ELEMENT_LINES_PER_TX);
      for (const part of parts) {
        const r = dryRun
          ? await this.run('nft', ['-c', '-f', '-'], part, { timeoutMs: transactionTimeoutMs(part.length) })
          : await this.transact(part);
        if (r.code !== 0) {
          // nft -f is atomic: the kernel is as before. Parts may have been committed: read it then;
          // else when the model was the compiler's state (patched in place), put the old values back.
          if (!dryRun && parts.length > 1) await this.observe();
          else if (!dryRun && delta && this.kernel === this.compiler.state)
            this.kernel = this.compiler.before(delta);
          return {
            list: cur,
            refused: new DataplaneApplyError(
              `nft rejected the transaction: ${r.stderr.trim().slice(0, 2000)}`,
              part,
              tx.statements,
            ),
          };
        }
      }
      if (dryRun) return { list: cur, statements: tx.statements, full: tx.full };
      this.version++;
    }
    if (dryRun) return { list: cur, statements: tx.statements, full: tx.full };
    this.kernel = this.compiler.state;
    this.compiled = {
      state: this.compiler.state,
      counters: EMPTY_REFS,
      addresses: this.compiler.addresses(),
    };
    this.counterCache.clear();
    return { list: cur, statements: tx.statements, full: tx.full };
  }

  /**
   * A model of the kernel that is not the compiler's state may still share map objects with it (a
   * drift absorbed copies the table shallowly): copy those, since the compiler patches its maps in place.
   */
  private detachKernel(): void {
    const k = this.kernel;
    if (!k) return;
    const mine = this.compiler.state.maps;
    let maps: Map<string, TableMap> | undefined;
    for (const [n, m] of k.maps) {
      if (mine.get(n) !== m) continue;
      maps ??= new Map(k.maps);
      maps.set(n, { ...m, elements: new Map(m.elements) });
    }
    if (maps) this.kernel = { ...k, maps, chains: new Map(k.chains), counters: new Map(k.counters) };
  }

  /**
   * The kernel refused `list`. Find the changed services it cannot take with dry runs (`nft -c`: the
   * kernel checks, nothing is committed, so live traffic never sees a trial), record them as failed
   * (their last good version stays), and commit everything else in one transaction.
   */
  private async contain(
    list: readonly DataplaneService[],
    guards: readonly DataplaneGuard[],
    refused: DataplaneApplyError,
    fresh: ServiceFailure[],
  ): Promise<{ list: DataplaneService[]; attempts: number; statements: number; full: boolean }> {
    const prev = this.lastByName();
    const changed = list.filter((s) => {
      const p = prev.get(s.name);
      return !p || serviceSig(p) !== serviceSig(s);
    });
    const changedNames = new Set(changed.map((s) => s.name));
    const current = new Map<string, DataplaneService>();
    for (const s of list) {
      const p = prev.get(s.name);
      if (!changedNames.has(s.name)) current.set(s.name, s);
      else if (p) current.set(s.name, p);
    }
    const ordered = () => list.flatMap((s) => (current.has(s.name) ? [current.get(s.name)!] : []));
    const why = (e: DataplaneApplyError) =>
      errorSummary(e.message.replace(/^nft rejected the transaction: /, ''));
    const text = implicatedText(refused.message, refused.script);
    const suspects = new Set(changed.filter((s) => mentions(text, s)));
    let committed: { list: DataplaneService[]; statements: number; full: boolean } | undefined;
    const result = await isolate(
      changed,
      suspects,
      async (group, final) => {
        const saved = group.map((s) => [s.name, current.get(s.name)] as const);
        for (const s of group) current.set(s.name, s);
        // A trial that would be the final state anyway is committed for real (one transaction less).
        const r = await this.tryCommit(ordered(), guards, fresh, !final);
        if (!('refused' in r)) {
          if (final) committed = r;
          return undefined;
        }
        for (const [n, s] of saved)
          if (s) current.set(n, s);
          else current.delete(n);
        return why(r.refused);
      },
      why(refused),
    );
    if (result.accepted.length === 0) {
      // Nothing changed was accepted: is even the last good state refused? Then no service explains
      // the refusal (the kernel itself is the problem) and nothing is marked failed.
      const base = await this.tryCommit(ordered(), guards, fresh, true);
      if ('refused' in base) {
        this.kernel = null; // re-read before the next diff
        throw refused;
      }
    }
    for (const { item, reason } of result.culprits)
      fresh.push(this.failures.record(item, 'rules', `nft refused its rules: ${reason}`));
    const done = committed ?? (await this.tryCommit(ordered(), guards, fresh));
    if ('refused' in done) {
      this.kernel = null;
      throw done.refused;
    }
    const commits = committed ? 0 : 1;
    return {
      list: done.list,
      attempts: result.attempts + commits,
      statements: done.statements,
      full: done.full,
    };
  }

  /** Whether a monitored nft transaction was one of ours (by the committing process id). */
  isOwnTransaction(pid: number): boolean {
    return this.ownPids.includes(pid);
  }

  /**
   * Someone else changed the objects `hints` name: update the model of the kernel so the next apply
   * re-adds what went missing. Reads only the maps whose elements changed.
   */
  async absorb(hints: readonly DriftHint[]): Promise<void> {
    if (this.kernel === null || hints.length === 0) return;
    // Table deleted: read it (cheap when it is gone; right when someone restored one meanwhile).
    if (hints.some((h) => h.kind === 'table')) {
      this.kernel = null;
      return;
    }
    const reread = new Map<string, TableMap | undefined>();
    for (const h of hints) {
      if (h.kind !== 'element' || reread.has(h.name)) continue;
      const m = this.kernel?.maps.get(h.name);
      if (!m) continue;
      const r = await this.run('nft', ['-j', 'list', m.sig.split('|')[0]!, 'inet', this.table, h.name]);
      reread.set(h.name, r.code === 0 ? observeTable(r.stdout, this.table).maps.get(h.name) : undefined);
    }
    this.kernel = applyHints(this.kernel, hints, reread);
  }

  /**
   * Full verification: reads the whole table and compares it with the model (JSON parse and compare
   * in a worker thread). Returns the drift and the hints that repair it, for the shell to absorb
   * between applies. `stale`: a commit overlapped the read (the verdict may be about our own change).
   */
  async verify(): Promise<{ drift: DriftKind[]; hints: DriftHint[]; stale: boolean }> {
    const expected = this.kernel;
    const v0 = this.version;
    if (expected === null || this.applying) return { drift: [], hints: [], stale: true };
    const model = await digestStateAsync(
      expected ?? { table: this.table, chains: new Map(), maps: new Map(), counters: new Map() },
    );
    const prefix = runnerPrefix(this.run);
    let v: Verdict;
    if (prefix) {
      // The worker lists the table itself: the listing never enters this heap.
      v = await judgeInWorker({ listPrefix: prefix, table: this.table, model });
      if (v.failed) throw new CommandError('nft -j list table', v.failed);
    } else {
      const r = await this.run('nft', ['-j', 'list', 'table', 'inet', this.table]);
      if (r.code !== 0 && !/No such file or directory/i.test(r.stderr))
        throw new CommandError('nft -j list table', r);
      if (this.applying || this.version !== v0 || this.kernel !== expected)
        return { drift: [], hints: [], stale: true };
      v = await judgeInWorker({ json: r.code === 0 ? r.stdout : undefined, table: this.table, model });
    }
    if (this.applying || this.version !== v0 || this.kernel !== expected)
      return { drift: [], hints: [], stale: true };
    if (expected === undefined) return { drift: [], hints: [], stale: false }; // nothing programmed yet
    const drift = (await this.vipsMatch()) ? v.drift : [...v.drift, 'vip' as const];
    return { drift, hints: v.hints, stale: this.version !== v0 };
  }

  /** Whether the kernel's VIPs are the model's (else the model is dropped: the next sync repairs). */
  private async vipsMatch(): Promise<boolean> {
    const model = this.vipModel;
    if (!this.vipDev || !model) return true;
    const have = await heldVips(this.run, this.vipDev);
    if (this.vipModel !== model) return true; // a sync ran meanwhile
    const want = new Set([...model.addresses, ...model.routes]);
    const same = have !== undefined && have.size === want.size && [...want].every((a) => have.has(a));
    if (!same) this.vipModel = undefined;
    return same;
  }

  /** The VIPs may have changed behind our back: the next sync lists them from the kernel. */
  vipsDrifted(): void {
    this.vipModel = undefined;
  }

  /**
   * Puts `addresses` on the VIP interface; `vipsRepaired`: ones we had held before (drift). O(1)
   * when the served addresses did not change since the last sync and none is waiting for a retry.
   */
  private async plumbVips(addresses: readonly string[]): Promise<{ vips: VipSync; vipsRepaired: string[] }> {
    if (!this.vipDev) return { vips: { added: [], removed: [], failed: [] }, vipsRepaired: [] };
    const version = this.compiler.addressVersion;
    // A VIP the kernel refused is tried again by every apply; one we refuse up front never is.
    const retry = this.vipFailures.some((f) => vipRefusal(f.address) === undefined);
    if (this.vipModel && version === this.vipVersion && !retry)
      return { vips: { added: [], removed: [], failed: this.vipFailures }, vipsRepaired: [] };
    const known = this.vipModel;
    this.vipModel = undefined; // a sync that throws leaves the kernel unknown
    const vips = await syncVips(this.run, this.vipDev, addresses, 'route', known);
    this.vipModel = vips.held;
    this.vipVersion = version;
    this.vipFailures = vips.failed;
    const vipsRepaired = vips.added.filter((a) => this.vipsHeld.has(a));
    // Held now: everything wanted except what failed (adopted VIPs included, so their loss counts).
    const failed = new Set(vips.failed.map((f) => f.address));
    this.vipsHeld = new Set(addresses.filter((a) => !failed.has(a)));
    return { vips, vipsRepaired };
  }

  /** Where the applier runs its commands. */
  get runner(): Runner {
    return this.run;
  }

  /** VIP interface the applier plumbs (false: none). */
  get vipInterface(): string | false {
    return this.vipDev;
  }

  /** Addresses of the families the last apply serves (for the forwarding sysctls). */
  families(): Set<4 | 6> {
    const list = this.compiled?.addresses ?? [];
    // Per loop and per sysctl check: recomputed only when the address list changed.
    if (this.familyMemo?.list !== list)
      this.familyMemo = { list, families: new Set(list.map((a) => (a.includes(':') ? 6 : 4))) };
    return new Set(this.familyMemo.families);
  }
  private familyMemo: { list: readonly string[]; families: Set<4 | 6> } | undefined;

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
    const prefix = runnerPrefix(this.run);
    for (const set of COUNTER_SETS) {
      const args = ['-j', 'list', 'set', 'inet', this.table, set];
      // A spawning runner: the worker runs nft, so megabytes of JSON never enter this heap.
      let listed: Map<string, CounterValue> | undefined;
      if (prefix) listed = await listCountersInWorker(prefix, args);
      else {
        const r = await this.run('nft', args);
        listed = r.code === 0 ? await parseCountersAsync(r.stdout) : undefined;
      }
      // undefined: counters disabled, or the table is gone
      for (const [k, v] of listed ?? []) values.set(k, v);
    }
    return values;
  });

  /**
   * Packet/byte counters per service (and its ports and endpoints) since the counters were made.
   * Without options: listed from the kernel now. With maxAgeMs: see CounterCache (reads at scale).
   */
  async counters(o: CounterReadOptions = {}): Promise<ServiceCounters[]> {
    if (!this.compiled) return [];
    const refs: Iterable<readonly [string, CounterRef]> =
      o.service !== undefined
        ? this.compiler.serviceCounters(o.service)
        : o.services !== undefined
          ? o.services.flatMap((n) => this.compiler.serviceCounters(n))
          : this.compiler.counterRefs();
    const values = await this.counterCache.get(o);
    if (!values) return [];
    // Accumulated in place (a wide listing at 10k sums 90k counters: no copy per counter).
    type Sum = { port: number; protocol: string; packets: number; bytes: number };
    const bySvc = new Map<
      string,
      {
        ports: CounterSample[];
        eps: Map<string, { packets: number; bytes: number; ports: Map<string, Sum> }>;
      }
    >();
    let n = 0;
    for (const [key, ref] of refs) {
      // Every service's counters (a /metrics scrape: 90k at 10k × 8) are summed in slices.
      if (++n % COUNTER_SLICE === 0) await new Promise<void>((r) => setImmediate(r));
      const v = values.get(key) ?? { packets: 0, bytes: 0 };
      let entry = bySvc.get(ref.service);
      if (!entry) bySvc.set(ref.service, (entry = { ports: [], eps: new Map() }));
      if (ref.endpoint === undefined) entry.ports.push({ ...ref, ...v });
      else {
        let e = entry.eps.get(ref.endpoint);
        if (!e) entry.eps.set(ref.endpoint, (e = { packets: 0, bytes: 0, ports: new Map() }));
        const pk = `${ref.port}/${ref.protocol}`;
        let p = e.ports.get(pk);
        if (!p) e.ports.set(pk, (p = { port: ref.port, protocol: ref.protocol, packets: 0, bytes: 0 }));
        p.packets += v.packets;
        p.bytes += v.bytes;
        e.packets += v.packets;
        e.bytes += v.bytes;
      }
    }
    return [...bySvc].map(([service, { ports, eps }]) => ({
      service,
      packets: ports.reduce((a, p) => a + p.packets, 0),
      bytes: ports.reduce((a, p) => a + p.bytes, 0),
      ports,
      endpoints: [...eps].map(([address, v]) => ({ address, ...v, ports: [...v.ports.values()] })),
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
    await this.session?.close();
    if (keepForwarding) return;
    const r = await this.run('nft', ['delete', 'table', 'inet', this.table]);
    if (r.code !== 0 && !/No such file or directory/i.test(r.stderr))
      throw new CommandError('nft delete table', r);
    if (this.vipDev) await removeVipInterface(this.run, this.vipDev);
    this.kernel = undefined;
    this.compiled = undefined;
    this.compiler = new IncrementalCompiler(this.opts);
    this.counterCache.clear();
    this.last = [];
    this.vipModel = undefined;
    this.vipFailures = [];
  }
}
