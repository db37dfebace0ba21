// A persistent (immutable, structurally shared) map for the snapshot's per-service tables: a new
// version after one change costs O(changes since the last flatten), not a copy of 10,000 entries.
// Two layers: a frozen base and a small delta of changed entries (removals as tombstones); once the
// delta is large (a bulk change, or many single ones) it is folded into a new base — amortised O(1)
// per change. Reads look at the delta first, then the base.
//
// Iteration order: the base's entries not overridden (in its order), then the delta's. It is
// deterministic but, unlike Map, a replaced key moves to the end: callers that need an order sort.

const TOMB: unique symbol = Symbol('removed');
type Slot<V> = V | typeof TOMB;

/** Delta entries above which a version is flattened (and at least this share of the base). */
const MIN_FLATTEN = 256;

export class PMap<K, V> implements ReadonlyMap<K, V> {
  private constructor(
    /** Never mutated once a PMap holds it. */
    private readonly base: ReadonlyMap<K, V>,
    private readonly delta: ReadonlyMap<K, Slot<V>>,
    readonly size: number,
  ) {}

  private static readonly none = new Map<never, never>();

  static empty<K, V>(): PMap<K, V> {
    return new PMap<K, V>(PMap.none, PMap.none, 0);
  }

  /**
   * A PMap of `m`. A PMap is returned as it is; a plain Map is taken as the base without copying,
   * so its owner must never mutate it again (the snapshot's maps are frozen by convention).
   */
  static of<K, V>(m: ReadonlyMap<K, V>): PMap<K, V> {
    return m instanceof PMap ? (m as PMap<K, V>) : new PMap<K, V>(m, PMap.none, m.size);
  }

  get(k: K): V | undefined {
    const d = this.delta.get(k);
    if (d !== undefined) return d === TOMB ? undefined : d;
    return this.base.get(k);
  }

  has(k: K): boolean {
    const d = this.delta.get(k);
    if (d !== undefined) return d !== TOMB;
    return this.base.has(k);
  }

  *entries(): MapIterator<[K, V]> {
    const delta = this.delta;
    if (delta.size === 0) {
      yield* this.base.entries();
      return;
    }
    for (const e of this.base) if (!delta.has(e[0])) yield e;
    for (const [k, v] of delta) if (v !== TOMB) yield [k, v];
  }

  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  /** The fast way through every entry (no iterator objects): same order as entries(). */
  forEach(cb: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    const delta = this.delta;
    this.base.forEach((v, k) => {
      if (delta.size === 0 || !delta.has(k)) cb.call(thisArg, v, k, this);
    });
    delta.forEach((v, k) => {
      if (v !== TOMB) cb.call(thisArg, v, k, this);
    });
  }

  /** A mutable draft starting from this version; `done()` gives the new version. */
  edit(): PMapDraft<K, V> {
    return new PMapDraft(this.base, this.delta, this.size);
  }

  /** The new version after `changes` (set to a value, or removed with undefined). */
  with(changes: Iterable<readonly [K, V | undefined]>): PMap<K, V> {
    const d = this.edit();
    for (const [k, v] of changes) {
      if (v === undefined) d.delete(k);
      else d.set(k, v);
    }
    return d.done();
  }

  /** @internal */
  static make<K, V>(base: ReadonlyMap<K, V>, delta: ReadonlyMap<K, Slot<V>>, size: number): PMap<K, V> {
    if (delta.size === 0) return new PMap<K, V>(base, PMap.none, size);
    if (delta.size > MIN_FLATTEN && delta.size * 8 > base.size) {
      const flat = new Map<K, V>();
      for (const [k, v] of base) if (!delta.has(k)) flat.set(k, v);
      for (const [k, v] of delta) if (v !== TOMB) flat.set(k, v);
      return new PMap(flat, PMap.none, flat.size);
    }
    return new PMap(base, delta, size);
  }
}

/** Map-like writer over a PMap version; the version it came from is never changed. */
export class PMapDraft<K, V> {
  private delta: Map<K, Slot<V>> | undefined;
  private sealed = false;
  constructor(
    private readonly base: ReadonlyMap<K, V>,
    private readonly from: ReadonlyMap<K, Slot<V>>,
    private count: number,
  ) {}

  get size(): number {
    return this.count;
  }

  private own(): Map<K, Slot<V>> {
    if (this.sealed) throw new Error('PMapDraft used after done()');
    // Copy-on-first-write: the delta is small (see MIN_FLATTEN), so this is cheap.
    return (this.delta ??= new Map(this.from));
  }

  private slot(k: K): Slot<V> | undefined {
    const d = (this.delta ?? this.from).get(k);
    if (d !== undefined) return d;
    return this.base.get(k);
  }

  get(k: K): V | undefined {
    const v = this.slot(k);
    return v === TOMB ? undefined : v;
  }

  has(k: K): boolean {
    const v = this.slot(k);
    return v !== undefined && v !== TOMB;
  }

  set(k: K, v: V): this {
    if (!this.has(k)) this.count++;
    this.own().set(k, v);
    return this;
  }

  delete(k: K): boolean {
    if (!this.has(k)) return false;
    this.count--;
    const d = this.own();
    if (this.base.has(k)) d.set(k, TOMB);
    else d.delete(k);
    return true;
  }

  /** Every entry as it is now (base order, then the delta). */
  *values(): IterableIterator<V> {
    const delta = this.delta ?? this.from;
    for (const [k, v] of this.base) if (!delta.has(k)) yield v;
    for (const v of delta.values()) if (v !== TOMB) yield v;
  }

  done(): PMap<K, V> {
    this.sealed = true;
    return PMap.make(this.base, this.delta ?? this.from, this.count);
  }
}
