// Counter values read from the kernel, kept for reads. Listing the counted sets costs nft seconds at
// 10k services (it dumps every element, even for one service: `nft get element` fetches the whole
// set too), so a read takes the last listing when it is recent enough, or starts one (one at a
// time) and waits for it only a bounded time — not at all when it has older values and the last
// listing took longer than that wait (at scale). Reads then cost O(what they show), never a listing.
import type { CounterValue } from './compiler/observe.js';

export interface CounterReadOptions {
  /** Only this service's counters. */
  readonly service?: string;
  /** Only these services' counters (one page of a listing). */
  readonly services?: readonly string[];
  /**
   * Accept values listed at most this long ago — and never older than the last listing took; absent:
   * list now and wait (exact, slow at scale).
   */
  readonly maxAgeMs?: number;
  /** With maxAgeMs: how long a read waits for a listing it started; then it takes what there is. */
  readonly waitMs?: number;
}

export class CounterCache {
  private values: ReadonlyMap<string, CounterValue> | undefined;
  private at = 0;
  /** How long the last listing took. */
  private tookMs = 0;
  private inflight: Promise<ReadonlyMap<string, CounterValue>> | undefined;

  constructor(
    private readonly list: () => Promise<ReadonlyMap<string, CounterValue>>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Values per counterKey; undefined when none have been listed yet and the wait ran out. */
  async get(o: CounterReadOptions): Promise<ReadonlyMap<string, CounterValue> | undefined> {
    if (o.maxAgeMs === undefined) return this.refresh();
    // Values are reused only while younger than a listing takes (capped at maxAgeMs): at a few
    // services a read always lists (milliseconds), at 10k it reuses values seconds old.
    if (this.values && this.now() - this.at <= Math.min(o.maxAgeMs, this.tookMs)) return this.values;
    const p = this.refresh();
    const waitMs = o.waitMs ?? 0;
    if (this.values && this.tookMs > waitMs) return this.values;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), waitMs)));
    try {
      return (await Promise.race([p, timeout])) ?? this.values;
    } finally {
      clearTimeout(timer);
    }
  }

  private refresh(): Promise<ReadonlyMap<string, CounterValue>> {
    const started = this.now();
    this.inflight ??= this.list()
      .then((v) => {
        this.values = v;
        this.at = this.now();
        this.tookMs = this.at - started;
        return v;
      })
      .finally(() => (this.inflight = undefined));
    // A failed background listing must not surface as an unhandled rejection.
    this.inflight.catch(() => undefined);
    return this.inflight;
  }

  clear(): void {
    this.values = undefined;
    this.at = 0;
  }
}
