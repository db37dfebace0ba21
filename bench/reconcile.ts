// Reconcile loop benchmark (not a test), in a scratch network namespace:
//   • one full kernel verification at 10k services × 8 endpoints (nft -j list table + parse +
//     compare with the model): what pacing the periodic verification needs (≤ 1 % of a core);
//   • a targeted repair (one dispatch element deleted by someone else): read of that map + repair
//     (diff against the last compiled state, one statement);
//   • the whole table flushed: re-created from the last compiled state;
//   • containment: a cold start with one service nft refuses, against the same cold start without it;
//   • VIP plumbing, 10k and 20k VIPs: local routes (the data plane's choice) vs interface addresses
//     (the baseline: what earlier versions did), each into a fresh namespace.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Topology } from '../test/support/netns.js';
import { Applier } from '../src/dataplane/applier.js';
import { netnsRunner } from '../src/dataplane/exec.js';
import { syncVips, type VipMode } from '../src/dataplane/vip.js';
import { bigServiceSet } from './dataplane.js';

export interface ReconcileBenchResult {
  services: number;
  endpointsPerService: number;
  fullVerifySeconds: number;
  /** Largest event-loop stall during it (the JSON parse runs in a worker thread). */
  verifyMaxLoopLagMs: number;
  /** Pacing the Reconciler picks for that cost (max(30 s, 100 × cost)). */
  verifyIntervalSeconds: number;
  elementRepair: { readSeconds: number; applySeconds: number; statements: number };
  /** `nft flush ruleset` at this size: the table re-created (no recompile). */
  tableRepair: { seconds: number; statements: number };
  /** Cold apply with one service the kernel refuses vs the same cold apply without it (baseline). */
  containment: { coldSeconds: number; withOneBadSeconds: number; attempts: number; ratio: number };
  vips: { count: number; routeSeconds: number; addressSeconds: number; addressOverRoute: number }[];
}

const secs = (t0: number) => Math.round(performance.now() - t0) / 1000;

async function vipTime(topo: Topology, count: number, mode: VipMode): Promise<number> {
  const run = netnsRunner(await topo.addNs(`v${mode[0]}${count}`));
  const addrs = Array.from({ length: count }, (_, i) => `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
  const t0 = performance.now();
  await syncVips(run, 'ferrolb0', addrs, mode);
  return secs(t0);
}

export async function runReconcileBench(
  opts: { services?: number; endpoints?: number; vipCounts?: number[] } = {},
): Promise<ReconcileBenchResult> {
  const services = opts.services ?? 10_000;
  const endpoints = opts.endpoints ?? 8;
  const topo = new Topology();
  try {
    const run = netnsRunner(await topo.addNs('verify'));
    const desired = bigServiceSet(services, endpoints);
    const ap = new Applier({ run, vipInterface: false });
    let t0 = performance.now();
    await ap.apply(desired);
    const coldSeconds = secs(t0);
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    t0 = performance.now();
    const v = await ap.verify();
    const fullVerifySeconds = secs(t0);
    lag.disable();
    const verifyMaxLoopLagMs = Math.round(lag.max / 1e6);
    if (v.drift.length > 0) throw new Error(`unexpected drift right after apply: ${v.drift.join(',')}`);
    // Someone deletes one dispatch element; the monitor hint makes the shell read that map only.
    const vip = desired[services >> 1]!.addresses[0]!;
    await run('nft', ['delete', 'element', 'inet', 'ferrolb', 'svc4', `{ ${vip} . tcp . 80 }`]);
    t0 = performance.now();
    await ap.absorb([{ kind: 'element', name: 'svc4' }]);
    const readSeconds = secs(t0);
    t0 = performance.now();
    // What the shell runs for drift alone: diff against the last compiled state, no recompile.
    const r = await ap.repair();
    const applySeconds = secs(t0);
    if (r.statements !== 1) throw new Error(`repair ran ${r.statements} statements, expected 1`);
    // The whole table deleted (nft flush ruleset): re-created from the last compiled state.
    await run('nft', ['flush', 'ruleset']);
    t0 = performance.now();
    await ap.absorb([{ kind: 'table' }]);
    const t = await ap.repair();
    const tableRepairSeconds = secs(t0);
    // Containment: the same cold start with one service nft refuses (persist timeout too large).
    const crun = netnsRunner(await topo.addNs('contain'));
    const withBad = desired.map((x, i) =>
      i === services >> 1
        ? { ...x, algorithm: 'persist' as const, persistTimeoutSeconds: 99_999_999 * 3600 }
        : x,
    );
    t0 = performance.now();
    const c = await new Applier({ run: crun, vipInterface: false }).apply(withBad);
    const containSeconds = secs(t0);
    if (c.failed.length !== 1)
      throw new Error(`containment isolated ${c.failed.length} services, expected 1`);
    const vips = [];
    for (const count of opts.vipCounts ?? [10_000, 20_000]) {
      const routeSeconds = await vipTime(topo, count, 'route');
      const addressSeconds = await vipTime(topo, count, 'address');
      vips.push({
        count,
        routeSeconds,
        addressSeconds,
        addressOverRoute: Math.round((addressSeconds / Math.max(routeSeconds, 0.001)) * 10) / 10,
      });
    }
    return {
      services,
      endpointsPerService: endpoints,
      fullVerifySeconds,
      verifyMaxLoopLagMs,
      verifyIntervalSeconds: Math.max(30, Math.round(fullVerifySeconds * 100)),
      elementRepair: { readSeconds, applySeconds, statements: r.statements },
      tableRepair: { seconds: tableRepairSeconds, statements: t.statements },
      containment: {
        coldSeconds,
        withOneBadSeconds: containSeconds,
        attempts: c.attempts,
        ratio: Math.round((containSeconds / coldSeconds) * 10) / 10,
      },
      vips,
    };
  } finally {
    await topo.cleanup();
  }
}
