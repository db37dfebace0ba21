// Long pure computations (a 10,000-object apply) written as generators that yield every few units
// of work: run to completion at once (runSync), or in slices that give the event loop back whenever
// a time budget is spent (runSliced), so /healthz, probes and BGP timers are not starved.
import { performance } from 'node:perf_hooks';

export type Steps<T> = Generator<void, T, void>;

/** Units of work between two yields (cheap: the driver decides whether to pause). */
export const STEP = 64;

export function runSync<T>(g: Steps<T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

const breathe = () => new Promise<void>((r) => setImmediate(r));

/** Runs `g`, pausing for one event-loop turn whenever `budgetMs` of work has been done. */
export async function runSliced<T>(g: Steps<T>, budgetMs = 8): Promise<T> {
  let until = performance.now() + budgetMs;
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
    if (performance.now() >= until) {
      await breathe();
      until = performance.now() + budgetMs;
    }
  }
}
