// BFD under config load with a real BIRD2 peer (issue 16): the largest gap between ferrolb's BFD
// packets (captured in BIRD's namespace) ÷ the negotiated interval during one apply of 2,000 and of
// 10,000 services, session resets seen at BIRD, a tight probe's verdict, and /healthz latency during
// the apply. Baseline in the same run and capture: BIRD's own largest BFD TX gap.
import { runBfdLoad, type BfdLoadResult } from '../test/support/bfd-load.js';

export interface BfdBenchRow {
  readonly services: number;
  readonly applyMs: number;
  readonly applyError?: string;
  readonly windowMs: number;
  readonly intervalMs: number;
  readonly maxGapMs: Record<string, number>;
  readonly maxGapOverInterval: number;
  readonly birdMaxGapMs: number;
  readonly overBird: number;
  readonly bgpResets: number;
  readonly bfdResets: number;
  readonly probedRouteChanged: boolean;
  readonly probedEndpointState: string;
  readonly healthz: BfdLoadResult['healthz'];
  readonly goals: { readonly gap: boolean; readonly resets: boolean; readonly healthzP99: boolean };
}

export async function runBfdBench(sizes: readonly number[] = [2000, 10_000]): Promise<BfdBenchRow[]> {
  const rows: BfdBenchRow[] = [];
  for (const n of sizes) {
    const r = await runBfdLoad({ services: n, settleMs: 3000 });
    rows.push({
      services: r.services,
      applyMs: r.applyMs,
      ...(r.applyError ? { applyError: r.applyError } : {}),
      windowMs: r.windowMs,
      intervalMs: r.intervalMs,
      maxGapMs: r.maxGapMs,
      maxGapOverInterval: r.maxGapOverInterval,
      birdMaxGapMs: r.birdMaxGapMs,
      overBird: r.overBird,
      bgpResets: r.bgpResets,
      bfdResets: r.bfdResets,
      probedRouteChanged: r.probedRouteChanged,
      probedEndpointState: r.probedEndpointState,
      healthz: r.healthz,
      goals: {
        gap: r.maxGapOverInterval <= 1.5,
        resets: r.bgpResets + r.bfdResets === 0,
        healthzP99: r.healthz.p99Ms <= 50,
      },
    });
  }
  return rows;
}

export function printBfdBench(rows: readonly BfdBenchRow[]): void {
  const met = (b: boolean) => (b ? 'met' : 'NOT met');
  console.log('\nBFD under load (real BIRD2 peer, BFD 100 ms × 3 on IPv4 and IPv6, one `ferroctl apply -f`)');
  for (const r of rows) {
    console.log(
      `  ${r.services} services: apply ${r.applyMs} ms${r.applyError ? ` (ferroctl: ${r.applyError})` : ''}, measured ${r.windowMs} ms; largest ferrolb BFD TX gap ${Math.max(...Object.values(r.maxGapMs))} ms = ${r.maxGapOverInterval} × interval (goal ≤ 1.5: ${met(r.goals.gap)}); BIRD's own ${r.birdMaxGapMs} ms → ferrolb ÷ BIRD ${r.overBird}`,
    );
    console.log(
      `    session resets at BIRD: BGP ${r.bgpResets}, BFD ${r.bfdResets} (goal 0: ${met(r.goals.resets)}); probed endpoint (50 ms timeout) ${r.probedEndpointState}, route ${r.probedRouteChanged ? 'WITHDRAWN/replaced' : 'kept'}; /healthz p50 ${r.healthz.p50Ms} ms, p99 ${r.healthz.p99Ms} ms, max ${r.healthz.maxMs} ms over ${r.healthz.samples} samples (goal p99 ≤ 50 ms: ${met(r.goals.healthzP99)})`,
    );
  }
}
