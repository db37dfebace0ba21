// Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4): every endpoint walks its own
// permutation of the M table slots and claims the next free one in turn until the table is full.
// The table depends only on the endpoint names, their weights and M — never on input order or on
// the instance computing it — so every LB instance builds the same table, and removing one
// endpoint moves (almost) only the slots it owned.
import { createHash } from 'node:crypto';

export interface MaglevBackend {
  /** Stable identity (the endpoint address); hashed for the permutation. */
  readonly name: string;
  /** Relative weight (> 0). */
  readonly weight: number;
}

export class MaglevError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MaglevError';
  }
}

/** Doubling ladder of primes; table sizes come from here so small endpoint-count changes keep M. */
export const MAGLEV_SIZES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521] as const;

/** Slots per endpoint the default size aims for: the paper's balance argument wants M ≫ N. */
const SLOTS_PER_ENDPOINT = 64;

/**
 * Default table size for a service port with `listed` endpoints (all states, so health changes keep
 * M — changing M reshuffles everything).
 */
export function maglevSizeFor(listed: number): number {
  const want = Math.max(1, listed) * SLOTS_PER_ENDPOINT;
  return MAGLEV_SIZES.find((p) => p >= want) ?? MAGLEV_SIZES[MAGLEV_SIZES.length - 1]!;
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

function offsetSkip(name: string, m: number): { offset: number; skip: number } {
  const h = createHash('sha256').update(name).digest();
  return { offset: h.readUInt32BE(0) % m, skip: (h.readUInt32BE(4) % (m - 1)) + 1 };
}

/**
 * Builds the lookup table: entry[slot] = index into `backends` (as given). Weighted by letting a
 * backend claim a slot each time its accumulated credit reaches the largest weight, so shares follow
 * the weights while the permutation walk (and thus consistency) stays the paper's.
 */
export function maglevTable(backends: readonly MaglevBackend[], m: number): Int32Array {
  if (!isPrime(m)) throw new MaglevError(`table size ${m} is not prime`);
  if (backends.length === 0) throw new MaglevError('no backends');
  if (backends.length > m) throw new MaglevError(`${backends.length} backends exceed table size ${m}`);
  const names = new Set<string>();
  for (const b of backends) {
    if (!(b.weight > 0) || !Number.isFinite(b.weight)) throw new MaglevError(`bad weight for ${b.name}`);
    if (names.has(b.name)) throw new MaglevError(`duplicate backend ${b.name}`);
    names.add(b.name);
  }
  // Walk backends in name order: the result must not depend on the caller's ordering.
  const order = backends.map((b, i) => ({ b, i })).sort((x, y) => (x.b.name < y.b.name ? -1 : 1));
  const perm = order.map(({ b }) => offsetSkip(b.name, m));
  const next = new Array<number>(order.length).fill(0);
  const credit = new Array<number>(order.length).fill(0);
  const maxW = Math.max(...order.map(({ b }) => b.weight));
  const entry = new Int32Array(m).fill(-1);
  let filled = 0;
  while (filled < m) {
    for (let k = 0; k < order.length && filled < m; k++) {
      credit[k]! += order[k]!.b.weight;
      if (credit[k]! < maxW) continue;
      credit[k]! -= maxW;
      const { offset, skip } = perm[k]!;
      let c = (offset + next[k]! * skip) % m;
      while (entry[c]! >= 0) {
        next[k]!++;
        c = (offset + next[k]! * skip) % m;
      }
      entry[c] = order[k]!.i;
      next[k]!++;
      filled++;
    }
  }
  return entry;
}
