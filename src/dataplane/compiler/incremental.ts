// Incremental compiler: keeps the assembled table and one Fragment per service, and on each update
// recompiles only the services whose input changed (a service whose input is unchanged is neither
// recompiled nor re-hashed), patches the assembled table in place and records what it touched as a
// Delta, from which diff.ts writes a transaction proportional to the change. The result is always
// the table a fresh compile() of the same input gives (property-tested). An update that throws
// leaves the compiler exactly as it was: every check runs before the first mutation.
import type { CompileOptions, DataplaneGuard, DataplaneService } from '../types.js';
import { DataplaneInputError } from '../types.js';
import {
  filterCounters,
  filterObjects,
  guardRestrictions,
  restrictionElements,
  type Restriction,
} from './filter.js';
import {
  compileService,
  counterRefsOf,
  FAMILIES,
  type CounterRef,
  type Fragment,
  type SharedMapDecl,
  forgetAddresses,
} from './fragment.js';
import { baseObjects } from './base.js';
import { names } from './names.js';
import type { TableChain, TableMap, TableState } from './table.js';
import { runSync, STEP, type Steps } from '../../model/steps.js';

/** A map as it was before the update (its elements are in Delta.elements). */
export type MapHead = Omit<TableMap, 'elements'>;

/** What an update touched, with the values before it (the values after are in the state). */
export interface Delta {
  /** map → key → value before ('' for sets; undefined: absent). */
  readonly elements: ReadonlyMap<string, ReadonlyMap<string, string | undefined>>;
  /** map → its head before (undefined: absent). */
  readonly maps: ReadonlyMap<string, MapHead | undefined>;
  readonly chains: ReadonlyMap<string, TableChain | undefined>;
  readonly counters: ReadonlyMap<string, string | undefined>;
  /** Source-filter sets before the update, when they changed (purge.ts compares them). */
  readonly filterBefore: TableState | undefined;
  readonly addressesChanged: boolean;
  /** False when the update was told not to record elements (then only a whole diff can follow). */
  readonly tracked: boolean;
  /** Services recompiled (changed, added) and removed. */
  readonly recompiled: number;
  readonly removed: number;
}

interface MutableMap extends MapHead {
  readonly elements: Map<string, string>;
}

const FILTER_SETS = new Set(
  FAMILIES.flatMap((f) => [
    names.srcRestricted(f),
    names.srcAllowed(f),
    names.guardRestricted(f),
    names.guardAllowed(f),
  ]),
);

function sameService(a: DataplaneService, b: DataplaneService): boolean {
  if (a === b) return true;
  if (
    a.name !== b.name ||
    a.mode !== b.mode ||
    a.algorithm !== b.algorithm ||
    a.persistTimeoutSeconds !== b.persistTimeoutSeconds ||
    a.maglevTableSize !== b.maglevTableSize ||
    a.flushOnInactive !== b.flushOnInactive ||
    !sameList(a.addresses, b.addresses) ||
    !sameList(a.snatAddresses ?? [], b.snatAddresses ?? []) ||
    !sameList(a.sourceRanges ?? [], b.sourceRanges ?? []) ||
    a.ports.length !== b.ports.length ||
    a.endpoints.length !== b.endpoints.length
  )
    return false;
  for (let i = 0; i < a.ports.length; i++) {
    const p = a.ports[i]!;
    const q = b.ports[i]!;
    if (p.port !== q.port || p.protocol !== q.protocol || p.targetPort !== q.targetPort) return false;
  }
  for (let i = 0; i < a.endpoints.length; i++) {
    const e = a.endpoints[i]!;
    const f = b.endpoints[i]!;
    if (e.address !== f.address || e.weight !== f.weight || e.state !== f.state) return false;
    if (e.connections !== f.connections) return false;
  }
  return true;
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

export class IncrementalCompiler {
  private readonly chains = new Map<string, TableChain>();
  private readonly maps = new Map<string, MutableMap>();
  private readonly counters = new Map<string, string>();
  /** The table as it is after the last update; mutated in place by the next one. */
  readonly state: TableState;
  /**
   * The input of every service in the table. Its Fragment is not kept: compileService() is pure, so
   * removing a service compiles its input again (O(change)); keeping them cost ≈ 7 KB per service
   * (70 MB at 10k × 8 endpoints, most of the daemon's heap).
   */
  private readonly inputs = new Map<string, DataplaneService>();
  /** (address . proto . port) → owning service. */
  private readonly owner = new Map<string, string>();
  private readonly sharedRefs = new Map<string, number>();
  private readonly addressRefs = new Map<string, number>();
  /** Bumped by an update that changes the set of served addresses (VIP plumbing skips the rest). */
  addressVersion = 0;
  /** Bumped by every update (callers tell whether it saw other input than theirs). */
  revision = 0;
  private tracked = 0;
  private d = this.newDelta();
  private readonly withCounters: boolean;
  private track = true;

  constructor(private readonly opts: CompileOptions = {}) {
    this.withCounters = opts.counters ?? true;
    this.state = {
      table: opts.table ?? 'ferrolb',
      chains: this.chains,
      maps: this.maps,
      counters: this.counters,
    };
    const base = baseObjects(this.withCounters);
    for (const c of base.chains) this.setChain(c);
    for (const m of base.maps) this.declare(m);
    for (const [n, c] of [...base.counters, ...filterCounters(this.withCounters)]) this.setCounter(n, c);
    this.d = this.newDelta();
  }

  /** Canonical service addresses (for VIP plumbing). */
  addresses(): readonly string[] {
    if (this.addressList?.version !== this.addressVersion)
      this.addressList = { version: this.addressVersion, list: [...this.addressRefs.keys()] };
    return this.addressList.list;
  }
  private addressList: { version: number; list: readonly string[] } | undefined;

  /** counterKey → what it counts, for every service (derived from the inputs: no index to keep). */
  *counterRefs(): Generator<readonly [string, CounterRef]> {
    for (const input of this.inputs.values()) yield* counterRefsOf(input, this.opts);
  }

  /** Counter keys of one service (empty when unknown). */
  serviceCounters(name: string): readonly (readonly [string, CounterRef])[] {
    const input = this.inputs.get(name);
    return input ? counterRefsOf(input, this.opts) : [];
  }

  /**
   * Converges the assembled table to `services` and `guards`. Throws DataplaneInputError (and then
   * changes nothing) when the input cannot be compiled.
   */
  update(
    services: readonly DataplaneService[],
    guards: readonly DataplaneGuard[] = [],
    /** Record touched elements (off when the caller will diff the whole table anyway: less memory). */
    track = true,
    /**
     * The services of `services` that differ from the last update's input, by name (undefined: gone);
     * the caller vouches that every other one is unchanged. Spares looking at every service.
     */
    hint?: ReadonlyMap<string, DataplaneService | undefined>,
  ): Delta {
    return runSync(this.updateSteps(services, guards, track, hint));
  }

  /**
   * update() in resumable steps (model/steps.ts): a bulk change (10,000 new services) gives the event
   * loop back while it compiles and patches. The caller must not start another update, nor read the
   * table, before it finishes (the applier serialises its applies).
   */
  *updateSteps(
    services: readonly DataplaneService[],
    guards: readonly DataplaneGuard[] = [],
    track = true,
    hint?: ReadonlyMap<string, DataplaneService | undefined>,
  ): Steps<Delta> {
    let n = 0;
    // Phase 1: compile what changed and check every relation; nothing is mutated yet.
    const changed: { input: DataplaneService; frag: Fragment }[] = [];
    let removed: string[];
    if (hint) {
      removed = [];
      for (const [name, s] of hint) {
        const cur = this.inputs.get(name);
        if (!s) {
          if (cur) removed.push(name);
          continue;
        }
        if (cur && sameService(cur, s)) continue;
        changed.push({ input: s, frag: compileService(s, this.opts) });
        if (++n % STEP === 0) yield;
      }
    } else {
      const seen = new Set<string>();
      for (const s of services) {
        if (seen.has(s.name)) throw new DataplaneInputError(s.name, 'name', s.name, 'duplicate service name');
        seen.add(s.name);
        const cur = this.inputs.get(s.name);
        if (cur && sameService(cur, s)) continue;
        changed.push({ input: s, frag: compileService(s, this.opts) });
        if (++n % STEP === 0) yield;
      }
      removed = [...this.inputs.keys()].filter((name) => !seen.has(name));
    }
    this.revision++;
    const released = new Set([...removed, ...changed.map((c) => c.input.name)]);
    const pending = new Map<string, string>();
    const ownerOf = (key: string) => {
      const p = pending.get(key);
      if (p !== undefined) return p;
      const o = this.owner.get(key);
      return o !== undefined && !released.has(o) ? o : undefined;
    };
    const claim = (key: string, name: string) => {
      const prev = ownerOf(key);
      if (prev !== undefined)
        throw new DataplaneInputError(name, 'ports', key, `already used by service "${prev}"`);
      pending.set(key, name);
    };
    for (const c of changed) for (const k of c.frag.claims) claim(k, c.input.name);
    // Guards claim after the services (as in a fresh compile) and are re-checked on every update.
    const guarded = guardRestrictions(guards, claim);

    // Phase 2: patch the table (cannot fail).
    this.d = this.newDelta();
    this.track = track;
    for (const name of removed) {
      this.removeFragment(name);
      if (++n % STEP === 0) yield;
    }
    for (const c of changed) {
      if (!this.inputs.has(c.input.name)) continue;
      // Each removal compiles the old input again: 10k changed services were ≈ 0.75 s in one piece.
      this.removeFragment(c.input.name);
      if (++n % STEP === 0) yield;
    }
    for (const c of changed) {
      this.addFragment(c.input, c.frag);
      if (++n % STEP === 0) yield;
    }
    this.syncGuards(guarded);
    const filterChanged = [...this.d.elements.keys()].some((m) => FILTER_SETS.has(m));
    const addressesChanged = [...this.d.addresses].some(([a, was]) => this.addressRefs.has(a) !== was);
    if (addressesChanged) this.addressVersion++; // net change only: a recompiled service keeps its VIPs
    forgetAddresses();
    return {
      ...this.d,
      addressesChanged,
      tracked: track,
      filterBefore: filterChanged ? this.filterBefore() : undefined,
      recompiled: changed.length,
      removed: removed.length,
    };
  }

  private newDelta() {
    return {
      elements: new Map<string, Map<string, string | undefined>>(),
      maps: new Map<string, MapHead | undefined>(),
      chains: new Map<string, TableChain | undefined>(),
      counters: new Map<string, string | undefined>(),
      /** Address → whether it was served before the update (net change decided at the end). */
      addresses: new Map<string, boolean>(),
    };
  }

  /** A copy of the filter sets as they are now (purge.ts compares them after a commit). */
  filterState(): TableState {
    const maps = new Map<string, TableMap>();
    for (const n of FILTER_SETS) {
      const m = this.maps.get(n);
      if (m) maps.set(n, { ...headOf(m), elements: new Map(m.elements) });
    }
    return { table: this.state.table, chains: new Map(), maps, counters: new Map() };
  }

  /** The filter sets as they were before this update. */
  private filterBefore(): TableState {
    return this.before(this.d, FILTER_SETS);
  }

  /**
   * The table as it was before the update that returned `d` (a tracked one), as a new TableState:
   * today's objects with the delta's old values put back. Untouched maps are shared with the
   * compiler's state (which patches them in place later: copy before keeping it across an update).
   * `only`: just these maps (and no chains or counters).
   */
  before(
    d: Pick<Delta, 'maps' | 'elements' | 'chains' | 'counters'>,
    only?: ReadonlySet<string>,
  ): TableState {
    const maps = new Map<string, TableMap>();
    const touched = new Set([...d.maps.keys(), ...d.elements.keys()]);
    if (!only) for (const [n, m] of this.maps) if (!touched.has(n)) maps.set(n, m);
    for (const n of touched) {
      if (only && !only.has(n)) continue;
      const head = d.maps.has(n) ? d.maps.get(n) : this.maps.get(n);
      if (!head) continue;
      const els = new Map(this.maps.get(n)?.elements ?? []);
      for (const [k, old] of d.elements.get(n) ?? []) {
        if (old === undefined) els.delete(k);
        else els.set(k, old);
      }
      maps.set(n, { ...headOf(head), elements: els });
    }
    if (only) for (const n of only) if (!touched.has(n) && this.maps.has(n)) maps.set(n, this.maps.get(n)!);
    const chains = new Map<string, TableChain>(only ? [] : this.chains);
    const counters = new Map<string, string>(only ? [] : this.counters);
    if (!only) {
      for (const [n, old] of d.chains) {
        if (old) chains.set(n, old);
        else chains.delete(n);
      }
      for (const [n, old] of d.counters) {
        if (old !== undefined) counters.set(n, old);
        else counters.delete(n);
      }
    }
    return { table: this.state.table, chains, maps, counters };
  }

  // --- mutations, each recorded in the delta -------------------------------------------------

  private setChain(c: TableChain): void {
    if (!this.d.chains.has(c.name)) this.d.chains.set(c.name, this.chains.get(c.name));
    this.chains.set(c.name, c);
  }
  private deleteChain(name: string): void {
    if (!this.d.chains.has(name)) this.d.chains.set(name, this.chains.get(name));
    this.chains.delete(name);
  }
  private setCounter(name: string, comment: string): void {
    if (!this.d.counters.has(name)) this.d.counters.set(name, this.counters.get(name));
    this.counters.set(name, comment);
  }
  private declare(m: MapHead & { elements?: ReadonlyMap<string, string> }): void {
    if (!this.maps.has(m.name)) {
      if (!this.d.maps.has(m.name)) this.d.maps.set(m.name, undefined);
      const { elements: _e, ...head } = m;
      this.maps.set(m.name, { ...head, elements: new Map() });
    } else {
      const cur = this.maps.get(m.name)!;
      if (cur.sig !== m.sig || cur.decl !== m.decl || cur.dynamic !== m.dynamic) {
        // Same name, another type (a persist timeout changed): the delta keeps the old head so the
        // transaction writer sees the incompatibility.
        if (!this.d.maps.has(m.name)) this.d.maps.set(m.name, headOf(cur));
        this.maps.set(m.name, {
          name: m.name,
          decl: m.decl,
          sig: m.sig,
          dynamic: m.dynamic,
          elements: cur.elements,
        });
      }
    }
    for (const [k, v] of m.elements ?? []) this.setElem(m.name, k, v);
  }
  private undeclare(name: string): void {
    const m = this.maps.get(name);
    if (!m) return;
    for (const k of [...m.elements.keys()]) this.delElem(name, k);
    if (!this.d.maps.has(name)) this.d.maps.set(name, headOf(m));
    this.maps.delete(name);
  }
  private setElem(map: string, key: string, value: string): void {
    const els = this.maps.get(map)!.elements;
    const old = els.get(key);
    if (old === value) return;
    this.recordElem(map, key, old);
    els.set(key, value);
  }
  private delElem(map: string, key: string): void {
    const els = this.maps.get(map)?.elements;
    if (!els?.has(key)) return;
    this.recordElem(map, key, els.get(key));
    els.delete(key);
  }
  private recordElem(map: string, key: string, old: string | undefined): void {
    if (!this.track) return;
    let r = this.d.elements.get(map);
    if (!r) this.d.elements.set(map, (r = new Map()));
    if (!r.has(key)) r.set(key, old);
  }

  // --- fragments -------------------------------------------------------------------------------

  private addFragment(input: DataplaneService, f: Fragment): void {
    this.inputs.set(f.name, input);
    for (const m of f.shared) {
      const n = this.sharedRefs.get(m.name) ?? 0;
      if (n === 0) this.declare(m);
      this.sharedRefs.set(m.name, n + 1);
    }
    for (const m of f.maps) this.declare(m);
    for (const c of f.chains) this.setChain(c);
    for (const [m, k, v] of f.elements) this.setElem(m, k, v);
    for (const k of f.claims) this.owner.set(k, f.name);
    for (const a of f.addresses) {
      const n = this.addressRefs.get(a) ?? 0;
      if (n === 0 && !this.d.addresses.has(a)) this.d.addresses.set(a, false);
      this.addressRefs.set(a, n + 1);
    }
    if (f.restrictions.length > 0) {
      if (this.tracked === 0) for (const o of this.trackedObjects()) this.addObject(o);
      this.tracked += f.restrictions.length;
      this.restrict(f.restrictions, true);
    }
  }

  private removeFragment(name: string): void {
    const input = this.inputs.get(name);
    if (!input) return;
    const f = compileService(input, this.opts); // the fragment addFragment() applied (pure)
    this.inputs.delete(name);
    for (const [m, k] of f.elements) this.delElem(m, k);
    for (const c of f.chains) this.deleteChain(c.name);
    for (const m of f.maps) this.undeclare(m.name);
    for (const m of f.shared) {
      const n = (this.sharedRefs.get(m.name) ?? 1) - 1;
      if (n === 0) {
        this.sharedRefs.delete(m.name);
        this.undeclare(m.name);
      } else this.sharedRefs.set(m.name, n);
    }
    for (const k of f.claims) if (this.owner.get(k) === name) this.owner.delete(k);
    for (const a of f.addresses) {
      const n = (this.addressRefs.get(a) ?? 1) - 1;
      if (n === 0) {
        this.addressRefs.delete(a);
        if (!this.d.addresses.has(a)) this.d.addresses.set(a, true);
      } else this.addressRefs.set(a, n);
    }
    if (f.restrictions.length > 0) {
      this.restrict(f.restrictions, false);
      this.tracked -= f.restrictions.length;
      if (this.tracked === 0) for (const o of this.trackedObjects()) this.removeObject(o);
    }
  }

  private trackedObjects() {
    const o = filterObjects('tracked', this.withCounters);
    return [...o.chains.map((c) => ({ chain: c })), ...o.maps.map((m) => ({ map: m }))];
  }
  private addObject(o: { chain?: TableChain; map?: TableMap }): void {
    if (o.chain) this.setChain(o.chain);
    if (o.map) this.declare(o.map);
  }
  private removeObject(o: { chain?: TableChain; map?: TableMap }): void {
    if (o.chain) this.deleteChain(o.chain.name);
    if (o.map) this.undeclare(o.map.name);
  }

  private restrict(list: readonly Restriction[], add: boolean): void {
    for (const f of FAMILIES) {
      const { restricted, allowed } = restrictionElements(list, f);
      for (const [set, keys] of [
        [names.srcRestricted(f), restricted],
        [names.srcAllowed(f), allowed],
      ] as const)
        for (const k of keys) {
          if (add) this.setElem(set, k, '');
          else this.delElem(set, k);
        }
    }
  }

  /** Guards are few (the SCTP engine's services): their sets are rebuilt and diffed each update. */
  private syncGuards(guarded: readonly Restriction[]): void {
    const objs = filterObjects('guarded', this.withCounters);
    if (guarded.length === 0) {
      for (const c of objs.chains) if (this.chains.has(c.name)) this.deleteChain(c.name);
      for (const m of objs.maps) this.undeclare(m.name);
      return;
    }
    for (const c of objs.chains) if (!this.chains.has(c.name)) this.setChain(c);
    for (const f of FAMILIES) {
      const { restricted, allowed } = restrictionElements(guarded, f);
      for (const [name, want] of [
        [names.guardRestricted(f), restricted],
        [names.guardAllowed(f), allowed],
      ] as const) {
        const decl = objs.maps.find((m) => m.name === name)!;
        this.declare(decl);
        const keep = new Set(want);
        for (const k of [...this.maps.get(name)!.elements.keys()]) if (!keep.has(k)) this.delElem(name, k);
        for (const k of want) this.setElem(name, k, '');
      }
    }
  }
}

const headOf = (m: MapHead): MapHead => ({ name: m.name, decl: m.decl, sig: m.sig, dynamic: m.dynamic });

export type { SharedMapDecl };
