// Giving a transient heap peak's pages back (issue 16: RSS at 10k services) without stopping the
// main thread. The cold start's compile and nft script, a bulk apply or a large listing lift the heap
// to about twice what stays live; once the work is over nothing allocates enough to make V8 collect
// old space again, so the process keeps the peak's pages (10k × 8: 320 MB RSS for a 110 MB live
// heap). V8's memory reducer would give them back with incremental, compacting collections, but it
// waits until the allocation rate since the last collection is low — about 100 s after a start that
// allocated 90 MB after its last one. A forced `gc()` (the first version of this file) gave the
// pages back at once but as one atomic pause of 0.2–2.4 s on the loaded 2-vCPU machine (API stalled).
// So, once the process is quiet and the heap is much larger than what the last collection left, we
// ask for an *incremental* mark-compact: a large, untouched ArrayBuffer moves V8's external memory
// past its soft limit (64 MB over the last collection's), which starts incremental marking (marking
// steps in tasks and on helper threads, then a short final pause); the buffer is calloc'd pages never
// touched, so it costs no RSS. V8's memory-saving mode is on for that one collection, so it also
// compacts and shrinks the young generation as the memory reducer's own collections do.
import {
  constants as perfConstants,
  PerformanceObserver,
  performance,
  type EventLoopUtilization,
  type PerformanceEntry,
} from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import type { Logger } from 'pino';

export interface HeapSample {
  /** Heap pages V8 holds (total_heap_size). */
  readonly heapBytes: number;
  /** Live + garbage in them (used_heap_size). */
  readonly usedBytes: number;
}

export interface SettlePolicy {
  /** Below this heap size nothing is worth a collection. */
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

/** Pure: whether a collection is due now. `baseBytes`: the heap the last settle left. */
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

/**
 * More than V8's external-memory soft limit (64 MB above what the last mark-compact left) and far
 * below its hard limit (half the old generation's maximum), past which V8 would collect atomically.
 */
const NUDGE_BYTES = 128 * 2 ** 20;

let reducing = false;

/**
 * Starts an incremental mark-compact (see the file's comment); returns at once. `reduce`: V8's
 * memory-saving mode (`--optimize-for-size`) is on until `endReduce()` — the collection then also
 * compacts fragmented pages and shrinks the young generation, as the memory reducer's do (10k, two
 * passes: heap 234 → 162 → 118 MB; plain: 236 → 191 MB), at the price of longer final pauses.
 */
export function requestIncrementalCollection(reduce = false): void {
  if (reduce && !reducing) {
    setFlagsFromString('--optimize-for-size');
    reducing = true;
  }
  // Allocated and dropped: only its accounting matters. Zero-filled by the allocator's calloc,
  // which maps fresh pages for a block this large and never writes them. Stored once, so no
  // optimizing compiler can drop the allocation as unused.
  _nudge = new ArrayBuffer(NUDGE_BYTES);
  _nudge = undefined;
}
let _nudge: ArrayBuffer | undefined;

/** Back to V8's default (speed over size) once the requested collection is over. */
export function endReduce(): void {
  if (!reducing) return;
  setFlagsFromString('--no-optimize-for-size');
  reducing = false;
}

const sample = (): HeapSample => {
  const h = getHeapStatistics();
  return { heapBytes: h.total_heap_size, usedBytes: h.used_heap_size };
};
const mb = (b: number) => Math.round(b / 2 ** 20);

/** Collections per settle, this far apart (what waited for the first one runs in between). */
const PASSES = 2;
const PASS_GAP_MS = 1_000;

/** How long after a request the major collections it set off (and the reducer's) are logged. */
const REPORT_WINDOW_MS = 30_000;

/**
 * Checks the heap every `checkMs` (unref'd timer) and right after `poke()` (the end of the start);
 * asks for an incremental collection when settleDue says so and — periodic checks — the loop was
 * mostly idle since the last check (a bulk apply in progress grows the heap by itself). Each major
 * collection in the following 30 s is logged (`heap settled`: heap and live after, the pause).
 * FERROLB_HEAP_SETTLE=off turns it off.
 */
export class HeapSettler {
  private timer: ReturnType<typeof setInterval> | undefined;
  private baseBytes = 0;
  private lastAt = -Infinity;
  private readonly policy: SettlePolicy;
  private elu: EventLoopUtilization | undefined;
  private observer: PerformanceObserver | undefined;
  private reportUntil = -Infinity;
  private reduceTimer: ReturnType<typeof setTimeout> | undefined;
  private passesLeft = 0;

  constructor(
    private readonly log: Logger,
    private readonly opts: {
      checkMs?: number;
      policy?: SettlePolicy;
      now?: () => number;
      read?: () => HeapSample;
      /** Asks for a collection (default: requestIncrementalCollection). */
      collect?: () => void;
      /** Share of time the loop was busy since the last call (0..1). */
      busy?: () => number;
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
    if (!this.opts.collect) this.observe();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.observer?.disconnect();
    this.observer = undefined;
    clearTimeout(this.reduceTimer);
    endReduce();
  }

  /** Check now (after a burst of work is over), even inside the minimum interval of a periodic check. */
  poke(): void {
    if (this.timer) this.check(true);
  }

  /** One check; returns whether it asked for a collection. */
  check(forced = false): boolean {
    const now = (this.opts.now ?? Date.now)();
    const before = this.read();
    const since = forced ? Infinity : now - this.lastAt;
    const busy = this.busy();
    if (!settleDue(before, this.baseBytes, since, this.policy)) return false;
    if (!forced && busy > this.policy.maxBusy) return false;
    this.lastAt = now;
    this.reportUntil = performance.now() + REPORT_WINDOW_MS;
    // Until a collection reports what it left, the heap as it is now is the base (no repeat asks).
    this.baseBytes = before.heapBytes;
    this.log.info({ heapMB: mb(before.heapBytes), usedMB: mb(before.usedBytes) }, 'heap settle requested');
    if (this.opts.collect) this.opts.collect();
    else {
      this.passesLeft = PASSES;
      this.request();
    }
    return true;
  }

  private request(): void {
    requestIncrementalCollection(true);
    // Bounded: the flag goes back even if no collection is ever reported.
    clearTimeout(this.reduceTimer);
    this.reduceTimer = setTimeout(endReduce, REPORT_WINDOW_MS);
    this.reduceTimer.unref();
  }

  /** A major collection left `after` (the next settle waits for the heap to grow from it). */
  collected(after: HeapSample, pauseMs: number): void {
    this.baseBytes = after.heapBytes;
    this.log.info(
      { heapMB: mb(after.heapBytes), liveMB: mb(after.usedBytes), pauseMs: Math.round(pauseMs) },
      'heap settled',
    );
  }

  /** Major collections' pauses (perf_hooks 'gc' entries: the atomic part only) and what they left. */
  private observe(): void {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
        if (kind !== perfConstants.NODE_PERFORMANCE_GC_MAJOR || e.startTime > this.reportUntil) continue;
        endReduce();
        this.collected(this.read(), e.duration);
        // The first pass frees the garbage; the second compacts the pages it left sparse — only
        // if the loop stayed idle meanwhile (memory-saving mode during a bulk apply would add pauses).
        if (--this.passesLeft > 0)
          setTimeout(() => {
            if (this.busy() <= this.policy.maxBusy) this.request();
          }, PASS_GAP_MS).unref();
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
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
