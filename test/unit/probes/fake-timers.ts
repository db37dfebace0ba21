// Deterministic virtual time for scheduler tests: no wall clock, every callback runs at its due time
// in order, and promise continuations are flushed between callbacks.
import type { Timers } from '../../../src/probes/scheduler.js';

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeTimers implements Timers {
  private t = 0;
  private seq = 0;
  private pending: Pending[] = [];
  created = 0;

  now = (): number => this.t;

  setTimeout = (fn: () => void, ms: number): unknown => {
    const p = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
    this.pending.push(p);
    this.created++;
    return p.id;
  };

  clearTimeout = (h: unknown): void => {
    this.pending = this.pending.filter((p) => p.id !== h);
  };

  get count(): number {
    return this.pending.length;
  }

  /** Runs everything due up to now + ms, in time order, settling promises after each callback. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (;;) {
      this.pending.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.pending[0];
      if (!next || next.at > end) break;
      this.pending.shift();
      this.t = next.at;
      next.fn();
      await flush();
    }
    this.t = end;
  }
}

/** Lets chains of resolved promises run to completion (bounded). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
