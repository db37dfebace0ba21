// Giving a transient heap peak's pages back (issue 16: RSS at 10k services). The cold start's
// compile and nft script, a bulk apply or a large listing lift the heap to about twice what stays
// live; once the work is over nothing allocates enough to make V8 collect old space again, so the
// process keeps the peak's pages (10k × 8: 320 MB RSS for a 107 MB live heap). The memory reducer
// does not help: its timers need an idle isolate, and probes and the API keep this one busy.
// `--max-old-space-size` and `--max-semi-space-size` bound the heap, they return nothing.
// So, once the process is quiet and the heap is much larger than what the last collection left,
// one full collection (two passes: the second compacts what the first freed) returns the pages.
// Each pass is an atomic pause of the main thread (≈ 0.1 s per 100 MB live when idle, several times
// that on a loaded machine); the passes run a loop turn apart. The timing-critical work
// (BFD, BGP timers, probes) runs in worker threads, whose isolates it does not stop.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

export interface HeapSample {
  /** Heap pages V8 holds (total_heap_size). */
  readonly heapBytes: number;
  /** Live + garbage in them (used_heap_size). */
  readonly usedBytes: number;
}

export interface SettlePolicy {
  /** Below this heap size nothing is worth a pause. */
  readonly minHeapBytes: number;
  /** Settle when the heap is this many times what the last settle left (or the first sample). */
  readonly growth: number;
  /** At most one settle this often. */
  readonly minIntervalMs: number;
  /** A periodic check settles only when the loop was busier than this share of the last interval. */
  readonly maxBusy: number;
}

export const DEFAULT_SETTLE_POLICY: SettlePolicy = {
  minHeapBytes: 96 * 2 ** 20,
  growth: 2,
  minIntervalMs: 60_000,
  maxBusy: 0.25,
};

/** Pure: whether a full collection is due now. `baseBytes`: the heap the last settle left. */
export function settleDue(
  s: HeapSample,
  baseBytes: number,
  sinceLastMs: number,
  p: SettlePolicy = DEFAULT_SETTLE_POLICY,
): boolean {
  return (
    s.heapBytes >= p.minHeapBytes && s.heapBytes >= baseBytes * p.growth && sinceLastMs >= p.minIntervalMs
  );
}

let collector: (() => void) | null | undefined;

/** V8's full collection, without --expose-gc on the command line (the flag is set for a new context). */
export function fullCollector(): (() => void) | undefined {
  if (collector === undefined) {
    try {
      const g = (globalThis as { gc?: () => void }).gc;
      if (typeof g === 'function') collector = g;
      else {
        setFlagsFromString('--expose-gc');
        collector = runInNewContext('gc') as () => void;
      }
    } catch {
      collector = null;
    }
  }
  return collector ?? undefined;
}

const sample = (): HeapSample => {
  const h = getHeapStatistics();
  return { heapBytes: h.total_heap_size, usedBytes: h.used_heap_size };
};
const mb = (b: number) => Math.round(b / 2 ** 20);

/**
 * Checks the heap every `checkMs` (unref'd timer) and right after `poke()` (the end of the start);
 * settles when settleDue says so and — periodic checks — the loop was mostly idle since the last
 * check (a bulk apply in progress grows the heap too: a pause then would add to its stalls).
 * FERROLB_HEAP_SETTLE=off turns it off.
 */
export class HeapSettler {
  private timer: ReturnType<typeof setInterval> | undefined;
  private baseBytes = 0;
  private lastAt = -Infinity;
  private readonly policy: SettlePolicy;
  private elu: EventLoopUtilization | undefined;

  constructor(
    private readonly log: Logger,
    private readonly opts: {
      checkMs?: number;
      policy?: SettlePolicy;
      now?: () => number;
      read?: () => HeapSample;
      collect?: () => void;
      /** Share of time the loop was busy since the last call (0..1). */
      busy?: () => number;
      /** Runs the second pass (default: 50 ms later). */
      defer?: (f: () => void) => void;
    } = {},
  ) {
    this.policy = opts.policy ?? DEFAULT_SETTLE_POLICY;
  }

  start(): void {
    if (this.timer || process.env.FERROLB_HEAP_SETTLE === 'off') return;
    // Nothing collected yet: the first check after start compares against nothing.
    this.baseBytes = 0;
    this.timer = setInterval(() => this.check(), this.opts.checkMs ?? 5_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Check now (after a burst of work is over), even inside the minimum interval of a periodic check. */
  poke(): void {
    if (this.timer) this.check(true);
  }

  /** One check; returns whether it collected. */
  check(forced = false): boolean {
    const now = (this.opts.now ?? Date.now)();
    const before = this.read();
    const since = forced ? Infinity : now - this.lastAt;
    const busy = this.busy();
    if (!settleDue(before, this.baseBytes, since, this.policy)) return false;
    if (!forced && busy > this.policy.maxBusy) return false;
    const collect = this.opts.collect ?? fullCollector();
    if (!collect) return false;
    // Two passes, a loop turn apart: the second compacts what the first freed; apart, the longest
    // stall is one pass (≈ half), and what waited in between (API, probe results) runs first.
    this.lastAt = now;
    const t0 = performance.now();
    collect();
    const first = performance.now() - t0;
    const second = () => {
      const t1 = performance.now();
      collect();
      const after = this.read();
      this.baseBytes = after.heapBytes;
      this.log.info(
        {
          heapMB: mb(before.heapBytes),
          usedMB: mb(before.usedBytes),
          afterMB: mb(after.heapBytes),
          liveMB: mb(after.usedBytes),
          pauseMs: Math.round(Math.max(first, performance.now() - t1)),
        },
        'heap settled',
      );
    };
    if (this.opts.defer) this.opts.defer(second);
    else setTimeout(second, 50).unref();
    return true;
  }

  private busy(): number {
    if (this.opts.busy) return this.opts.busy();
    const last = this.elu;
    this.elu = performance.eventLoopUtilization();
    return last ? performance.eventLoopUtilization(this.elu, last).utilization : 1;
  }

  private read(): HeapSample {
    return (this.opts.read ?? sample)();
  }
}
