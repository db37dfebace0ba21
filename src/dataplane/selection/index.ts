// Algorithm → slot plan: how the kernel picks a slot (a per-rule counter, or a hash of the flow's
// source) and which active endpoint each slot names.
import type { DataplaneAlgorithm } from '../types.js';
import { maglevSizeFor, maglevTable } from './maglev.js';
import { leastConnWeights, roundRobinOrder, smoothWeightedOrder } from './weighted.js';

export { maglevTable, maglevSizeFor, MAGLEV_SIZES, isPrime, MaglevError } from './maglev.js';
export {
  smoothWeightedOrder,
  roundRobinOrder,
  leastConnWeights,
  normaliseWeights,
  SelectionError,
} from './weighted.js';

export interface Candidate {
  /** Stable identity (address): Maglev hashes it. */
  readonly name: string;
  readonly weight: number;
  readonly connections?: number;
}

export interface SlotPlan {
  /** inc: `numgen inc` cycles the slots; jhash: a hash of source address and port picks one. */
  readonly picker: 'inc' | 'jhash';
  /** slot → index into the candidates given. Empty when no candidate may take new flows. */
  readonly slots: readonly number[];
}

/**
 * @param candidates active endpoints only
 * @param listed number of endpoints configured (all states): sizes Maglev so health flaps keep M
 */
export function slotPlan(
  algorithm: DataplaneAlgorithm,
  candidates: readonly Candidate[],
  listed: number,
  maglevSize?: number,
): SlotPlan {
  const weights = candidates.map((c) => c.weight);
  switch (algorithm) {
    case 'roundrobin':
      return { picker: 'inc', slots: roundRobinOrder(candidates.length) };
    case 'weighted':
    case 'persist':
      return { picker: 'inc', slots: smoothWeightedOrder(weights) };
    case 'leastconn':
      return { picker: 'inc', slots: smoothWeightedOrder(leastConnWeights(candidates)) };
    case 'hash':
      return { picker: 'jhash', slots: smoothWeightedOrder(weights) };
    case 'maglev': {
      const live = candidates.map((c, i) => ({ c, i })).filter(({ c }) => c.weight > 0);
      if (live.length === 0) return { picker: 'jhash', slots: [] };
      const table = maglevTable(
        live.map(({ c }) => ({ name: c.name, weight: c.weight })),
        maglevSize ?? maglevSizeFor(listed),
      );
      return { picker: 'jhash', slots: Array.from(table, (k) => live[k]!.i) };
    }
  }
}
