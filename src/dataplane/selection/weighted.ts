// Slot tables for the non-consistent algorithms. The kernel picks a slot (numgen inc/random or
// jhash, modulo the table length) and the slot names the endpoint, so weights become repetition.

export class SelectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectionError';
  }
}

/** Longest slot table we emit for weighted/hash tables: bounds nft element count per service. */
export const MAX_WEIGHTED_SLOTS = 1024;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Integer weights reduced by their gcd and scaled down (keeping every positive weight ≥ 1) so the
 * table stays ≤ maxSlots. Zero weights stay zero.
 */
export function normaliseWeights(weights: readonly number[], maxSlots = MAX_WEIGHTED_SLOTS): number[] {
  for (const w of weights) {
    if (!(w >= 0) || !Number.isFinite(w)) throw new SelectionError(`bad weight ${w}`);
  }
  let ints = weights.map((w) => (w === 0 ? 0 : Math.max(1, Math.round(w))));
  const positive = ints.filter((w) => w > 0).length;
  if (positive > maxSlots) throw new SelectionError(`${positive} endpoints exceed ${maxSlots} slots`);
  const sum = ints.reduce((a, b) => a + b, 0);
  if (sum > maxSlots) {
    const scale = (maxSlots - positive) / sum;
    ints = ints.map((w) => (w === 0 ? 0 : Math.max(1, Math.floor(w * scale))));
  }
  const g = ints.reduce((a, b) => (b === 0 ? a : gcd(a, b)), 0);
  return g > 1 ? ints.map((w) => w / g) : ints;
}

/**
 * Smooth weighted round robin order (each step: every endpoint gains its weight, the richest is
 * picked and pays the total). Spreads an endpoint's picks evenly across the cycle, so `numgen inc`
 * over it gives short-term fairness, not bursts. Returns endpoint indices; length = Σ weights.
 */
export function smoothWeightedOrder(weights: readonly number[], maxSlots = MAX_WEIGHTED_SLOTS): number[] {
  const w = normaliseWeights(weights, maxSlots);
  const total = w.reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  const current = new Array<number>(w.length).fill(0);
  const out: number[] = [];
  for (let step = 0; step < total; step++) {
    let best = -1;
    for (let i = 0; i < w.length; i++) {
      if (w[i] === 0) continue;
      current[i]! += w[i]!;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    out.push(best);
  }
  return out;
}

/** Round robin: every endpoint once, weights ignored. */
export const roundRobinOrder = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * Least connections as weights: an endpoint's share of *new* flows is its weight divided by
 * (1 + its current connections), relative to the others. The applier refreshes the counts from
 * conntrack, so over time load converges like IPVS's wlc without a per-packet userspace decision.
 */
export function leastConnWeights(
  endpoints: readonly { weight: number; connections?: number }[],
  resolution = 64,
): number[] {
  const raw = endpoints.map((e) => (e.weight > 0 ? e.weight / (1 + Math.max(0, e.connections ?? 0)) : 0));
  const max = Math.max(0, ...raw);
  if (max === 0) return raw.map(() => 0);
  return raw.map((r) => (r === 0 ? 0 : Math.max(1, Math.round((r / max) * resolution))));
}
