// Restart backoff for supervised workers (pure): doubles per quick death, resets after a stable run.
export interface Backoff {
  readonly minMs: number;
  readonly maxMs: number;
  /** A worker that ran at least this long before dying restarts after minMs again. */
  readonly stableMs: number;
}

export function nextBackoffMs(b: Backoff, previousMs: number, ranForMs: number): number {
  if (ranForMs >= b.stableMs || previousMs <= 0) return b.minMs;
  return Math.min(b.maxMs, Math.max(b.minMs, previousMs * 2));
}
