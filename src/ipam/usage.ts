// Address usage bookkeeping for one allocation run: who holds which address, and a lowest-free scan
// per pool range that never revisits an address (cursors only move forward within a run, which is
// what keeps 100k allocations linear).
import type { Family, IpAddr, IpRange } from '../net/ip.js';
import type { Pool } from '../model/types.js';

export interface Holder {
  readonly services: Set<string>;
  /** Defined when every holder agreed to share under this key. */
  readonly sharingKey: string | undefined;
  /**
   * "PROTO/port" → the holder using it, to refuse overlapping ports on a shared address. Per holder,
   * so a release takes that holder's ports with it (a re-claim must not clash with itself).
   */
  readonly ports: Map<string, string>;
  readonly exclusive: boolean;
}

export interface Claimant {
  readonly service: string;
  readonly sharingKey: string | undefined;
  readonly ports: readonly string[];
  /** Secondary SCTP addresses are never shared. */
  readonly exclusive: boolean;
}

export type ShareVerdict = { ok: true } | { ok: false; reason: string };

export function canShare(h: Holder, c: Claimant): ShareVerdict {
  const other = [...h.services].sort().join(', ');
  if (h.exclusive || c.exclusive) return { ok: false, reason: `in use by ${other}` };
  if (h.sharingKey === undefined || c.sharingKey === undefined || h.sharingKey !== c.sharingKey) {
    return { ok: false, reason: `in use by ${other} (sharing needs the same sharingKey on both)` };
  }
  const clash = c.ports.find((p) => h.ports.has(p));
  if (clash) return { ok: false, reason: `in use by ${other} with the same port ${clash}` };
  return { ok: true };
}

const isBuggy = (family: Family, v: bigint): boolean =>
  family === 4 && ((v & 0xffn) === 0n || (v & 0xffn) === 255n);

/** IPv4 keys are plain numbers: V8 hashes small numbers far faster than BigInts. */
type Key = number | bigint;
const keyOf = (f: Family, v: bigint): Key => (f === 4 ? Number(v) : v);

/**
 * Holders by address, copy-on-write over a frozen base: a run that follows another derives from the
 * previous run's table in O(its own changes) instead of rebuilding it from every allocation. Holders
 * of the base are never mutated (they are copied into the delta first); removals are tombstones.
 */
class Layer {
  constructor(
    readonly base: ReadonlyMap<Key, Holder> | undefined,
    readonly delta: Map<Key, Holder | null> = new Map(),
  ) {}
  get(k: Key): Holder | undefined {
    const d = this.delta.get(k);
    if (d !== undefined) return d ?? undefined;
    return this.base?.get(k);
  }
  has(k: Key): boolean {
    return this.get(k) !== undefined;
  }
  /** A holder this layer may mutate. */
  own(k: Key): Holder | undefined {
    const d = this.delta.get(k);
    if (d !== undefined) return d ?? undefined;
    const b = this.base?.get(k);
    if (!b) return undefined;
    const copy: Holder = {
      services: new Set(b.services),
      sharingKey: b.sharingKey,
      ports: new Map(b.ports),
      exclusive: b.exclusive,
    };
    this.delta.set(k, copy);
    return copy;
  }
  set(k: Key, h: Holder): void {
    this.delta.set(k, h);
  }
  delete(k: Key): void {
    if (this.base?.has(k)) this.delta.set(k, null);
    else this.delta.delete(k);
  }
  *entries(): Iterable<[Key, Holder]> {
    if (this.base) for (const [k, h] of this.base) if (!this.delta.has(k)) yield [k, h];
    for (const [k, h] of this.delta) if (h) yield [k, h];
  }
  /** One flat map (holders shared: the result is frozen, never mutated again). */
  flatten(): Map<Key, Holder> {
    return new Map(this.entries());
  }
}

/** Above this many changed addresses a derived table is flattened (amortised O(1) per change). */
const MAX_DELTA = 4096;

export class Usage {
  private readonly held: [Layer, Layer];
  private readonly cursors = new Map<IpRange, bigint>();

  /** An empty table, or one that starts as a copy of `from` (which is frozen from then on). */
  constructor(from?: Usage) {
    const derive = (l: Layer | undefined): Layer => {
      if (!l) return new Layer(undefined);
      // Without a base the delta holds no tombstones: it becomes the new base as it is.
      if (!l.base) return new Layer(l.delta as Map<Key, Holder>);
      if (l.delta.size > MAX_DELTA) return new Layer(l.flatten());
      return new Layer(l.base, new Map(l.delta));
    };
    this.held = [derive(from?.held[0]), derive(from?.held[1])];
    // Every address below a cursor is held (release moves it back), so a derived table keeps them:
    // the next pick starts where the last one stopped instead of walking every held address again.
    if (from) for (const [r, v] of from.cursors) this.cursors.set(r, v);
  }

  private map(f: Family): Layer {
    return this.held[f === 4 ? 0 : 1];
  }

  holder(ip: IpAddr): Holder | undefined {
    return this.map(ip.family).get(keyOf(ip.family, ip.value));
  }

  /** Claims ip for the claimant, sharing when allowed. */
  claim(ip: IpAddr, c: Claimant): ShareVerdict {
    const m = this.map(ip.family);
    const k = keyOf(ip.family, ip.value);
    const seen = m.get(k);
    if (seen) {
      if (seen.services.has(c.service)) return { ok: true };
      const v = canShare(seen, c);
      if (!v.ok) return v;
      const h = m.own(k) as Holder;
      h.services.add(c.service);
      for (const p of c.ports) h.ports.set(p, c.service);
      return v;
    }
    m.set(k, {
      services: new Set([c.service]),
      sharingKey: c.sharingKey,
      ports: new Map(c.ports.map((p) => [p, c.service])),
      exclusive: c.exclusive,
    });
    return { ok: true };
  }

  release(ip: IpAddr, service: string): void {
    const m = this.map(ip.family);
    const k = keyOf(ip.family, ip.value);
    if (!m.get(k)?.services.has(service)) return;
    const h = m.own(k) as Holder;
    h.services.delete(service);
    for (const [p, by] of h.ports) if (by === service) h.ports.delete(p);
    if (h.services.size === 0) {
      m.delete(k);
      // Let the scan find it again in this run.
      for (const [r, cur] of this.cursors) {
        if (r.family === ip.family && ip.value >= r.first && ip.value < cur) this.cursors.set(r, ip.value);
      }
    }
  }
  /** Addresses held with a sharing key, for services that want to join one. */
  *shared(family: Family, key: string): Iterable<[bigint, Holder]> {
    for (const [v, h] of this.map(family).entries()) if (h.sharingKey === key) yield [BigInt(v), h];
  }

  /** Lowest free address of `family` in `pool`, or undefined when the pool has none left. */
  lowestFree(pool: Pool, family: Family): IpAddr | undefined {
    const m = this.map(family);
    for (const r of pool.ranges) {
      if (r.family !== family) continue;
      let v = this.cursors.get(r) ?? r.first;
      while (v <= r.last && (m.has(keyOf(family, v)) || (pool.avoidBuggyIPs && isBuggy(family, v)))) v++;
      this.cursors.set(r, v);
      if (v <= r.last) return { family, value: v };
    }
    return undefined;
  }

  /** How many addresses of each family are held inside `pool`. */
  countIn(pool: Pool): { 4: bigint; 6: bigint } {
    const n = { 4: 0n, 6: 0n };
    for (const family of [4, 6] as const) {
      for (const [k] of this.map(family).entries()) {
        const v = BigInt(k);
        if (pool.ranges.some((r) => r.family === family && v >= r.first && v <= r.last)) n[family]++;
      }
    }
    return n;
  }
}
