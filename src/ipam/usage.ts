// Address usage bookkeeping for one allocation run: who holds which address, and a lowest-free scan
// per pool range that never revisits an address (cursors only move forward within a run, which is
// what keeps 100k allocations linear).
import type { Family, IpAddr, IpRange } from '../net/ip.js';
import type { Pool } from '../model/types.js';

export interface Holder {
  readonly services: Set<string>;
  /** Defined when every holder agreed to share under this key. */
  readonly sharingKey: string | undefined;
  /** "PROTO/port" of every holder, to refuse overlapping ports on a shared address. */
  readonly ports: Set<string>;
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

export class Usage {
  private readonly held: [Map<Key, Holder>, Map<Key, Holder>] = [new Map(), new Map()];
  private readonly cursors = new Map<IpRange, bigint>();

  private map(f: Family): Map<Key, Holder> {
    return this.held[f === 4 ? 0 : 1];
  }

  holder(ip: IpAddr): Holder | undefined {
    return this.map(ip.family).get(keyOf(ip.family, ip.value));
  }

  /** Claims ip for the claimant, sharing when allowed. */
  claim(ip: IpAddr, c: Claimant): ShareVerdict {
    const m = this.map(ip.family);
    const k = keyOf(ip.family, ip.value);
    const h = m.get(k);
    if (h) {
      if (h.services.has(c.service)) return { ok: true };
      const v = canShare(h, c);
      if (!v.ok) return v;
      h.services.add(c.service);
      for (const p of c.ports) h.ports.add(p);
      return v;
    }
    m.set(k, {
      services: new Set([c.service]),
      sharingKey: c.sharingKey,
      ports: new Set(c.ports),
      exclusive: c.exclusive,
    });
    return { ok: true };
  }

  release(ip: IpAddr, service: string): void {
    const m = this.map(ip.family);
    const k = keyOf(ip.family, ip.value);
    const h = m.get(k);
    if (!h) return;
    h.services.delete(service);
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
    for (const [v, h] of this.map(family)) if (h.sharingKey === key) yield [BigInt(v), h];
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
      for (const k of this.map(family).keys()) {
        const v = BigInt(k);
        if (pool.ranges.some((r) => r.family === family && v >= r.first && v <= r.last)) n[family]++;
      }
    }
    return n;
  }
}
