// Controller benchmark against the API server emulator (no real cluster here):
//  1. 5,000 LoadBalancer Services reconciled from cold: time until every one has its status, and the
//     API calls it took (per verb). Baseline: the same number of bare status writes from one client.
//  2. Service create → status written, p50/p99 over sequential creates, next to the bare create
//     round trip as the baseline. Run: `npx tsc -p . && node dist/bench/k8s.js [services] [creates]`.
// Prints numbers; asserts nothing.
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { startEmulator } from '../test/support/kube-emulator/index.js';
import { runController } from '../src/k8s/controller.js';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const round = (x: number) => Math.round(x * 10) / 10;

export async function runK8sBench(n = 5000, creates = 200): Promise<Record<string, unknown>> {
  const { emu, kc } = await startEmulator({ bookmarkIntervalMs: 60_000 });
  const svcT = emu.resource('', 'v1', 'services');
  const poolT = emu.resource('ferrolb.io', 'v1', 'ipaddresspools');
  if (!svcT || !poolT) throw new Error('emulator resource table');
  emu.store.create(poolT, 'ferrolb-system', {
    metadata: { name: 'bench' },
    spec: { addresses: ['10.64.0.0/16'] },
  });
  const mk = (ns: string, name: string) => ({
    metadata: { name, namespace: ns },
    spec: {
      type: 'LoadBalancer',
      loadBalancerClass: 'ferrolb.io/ferrolb',
      ports: [{ port: 80, protocol: 'TCP' }],
    },
  });
  for (let i = 0; i < n; i++) emu.store.create(svcT, `ns-${i % 50}`, mk(`ns-${i % 50}`, `svc-${i}`));

  // Status-written times, seen inside the server (no polling).
  const statusAt = new Map<string, number>();
  emu.store.onChange((e) => {
    const ing = (
      (e.object.status as { loadBalancer?: { ingress?: unknown[] } } | undefined)?.loadBalancer?.ingress ?? []
    ).length;
    const m = e.object.metadata as { namespace: string; name: string };
    if (e.key === '/services' && ing > 0 && !statusAt.has(`${m.namespace}/${m.name}`))
      statusAt.set(`${m.namespace}/${m.name}`, performance.now());
  });

  const before = new Map(emu.requests);
  const t0 = performance.now();
  const c = runController({ kubeConfig: kc, leaderElection: false, debounceMs: 10, writeConcurrency: 32 });
  const deadline = Date.now() + 600_000;
  while (statusAt.size < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const coldMs = performance.now() - t0;
  await c.idle();
  const calls: Record<string, number> = {};
  for (const [k, v] of emu.requests) if (v - (before.get(k) ?? 0) > 0) calls[k] = v - (before.get(k) ?? 0);
  const totalCalls = Object.values(calls).reduce((a, b) => a + b, 0);

  // (2) create → status, sequential; baseline: the bare create round trip.
  const core = kc.makeApiClient(CoreV1Api);
  const latencies: number[] = [];
  const rtts: number[] = [];
  for (let i = 0; i < creates; i++) {
    const key = `lat/l-${i}`;
    const s = performance.now();
    await core.createNamespacedService({ namespace: 'lat', body: mk('lat', `l-${i}`) as never });
    rtts.push(performance.now() - s);
    const end = Date.now() + 30_000;
    while (!statusAt.has(key) && Date.now() < end) await new Promise((r) => setImmediate(r));
    latencies.push((statusAt.get(key) ?? performance.now()) - s);
  }
  await c.stop();
  // Baseline for (1): the same number of bare status patches from one client, 32 in flight.
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const tb = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < n) {
        const i = next++;
        await core.patchNamespacedServiceStatus(
          {
            name: `svc-${i}`,
            namespace: `ns-${i % 50}`,
            body: {
              status: {
                conditions: [
                  {
                    type: 'bench',
                    status: 'True',
                    reason: 'b',
                    message: 'b',
                    lastTransitionTime: '2026-01-01T00:00:00Z',
                  },
                ],
              },
            },
          },
          merge,
        );
      }
    }),
  );
  const baselineMs = performance.now() - tb;

  await emu.stop();
  return {
    services: n,
    coldMs: Math.round(coldMs),
    coldApiCalls: totalCalls,
    coldCallsPerService: round(totalCalls / n),
    calls,
    reconciles: c.metrics.reconciles,
    baselineBareStatusWritesMs: Math.round(baselineMs),
    coldVsBaseline: round(coldMs / baselineMs),
    createToStatusP50Ms: round(pct(latencies, 50)),
    createToStatusP99Ms: round(pct(latencies, 99)),
    createRoundTripP50Ms: round(pct(rtts, 50)),
    createRoundTripP99Ms: round(pct(rtts, 99)),
  };
}

if (process.argv[1]?.endsWith('k8s.js')) {
  const r = await runK8sBench(Number(process.argv[2] ?? 5000), Number(process.argv[3] ?? 200));
  console.log(`k8s controller: ${r.services} Services from cold`);
  console.log(
    `  all statuses written        ${r.coldMs} ms, ${r.coldApiCalls} API calls (${r.coldCallsPerService}/service), ${r.reconciles} reconciles`,
  );
  console.log(
    `  baseline: bare status writes ${r.baselineBareStatusWritesMs} ms → ${r.coldVsBaseline}× the floor`,
  );
  console.log(
    `  create → status written     p50 ${r.createToStatusP50Ms} ms, p99 ${r.createToStatusP99Ms} ms`,
  );
  console.log(
    `  baseline: create round trip p50 ${r.createRoundTripP50Ms} ms, p99 ${r.createRoundTripP99Ms} ms`,
  );
  console.log(JSON.stringify(r));
}
