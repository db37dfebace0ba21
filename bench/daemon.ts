// Change latency through the whole daemon (issue 3): time from a REST API change to traffic
// following it, measured from the client namespace. Baseline in the same run: the API round trip
// alone (validation + IPAM + durable write), so the ratio shows what programming the kernel adds.
import { join } from 'node:path';
import { nsExec, Topology } from '../test/support/netns.js';
import { startDaemon, stopDaemon, tempDir } from '../test/support/daemon.js';
import { buildLbTopology } from '../test/e2e/support-dataplane/topo.js';
import { writeFileSync } from 'node:fs';

export interface ChangeLatencyResult {
  changes: number;
  apiP50Ms: number;
  apiP99Ms: number;
  trafficP50Ms: number;
  trafficP99Ms: number;
  trafficOverApiP50: number;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN).toFixed(1));
};

export async function runChangeLatencyBench(changes = 60): Promise<ChangeLatencyResult> {
  const topo = new Topology();
  const dir = tempDir('ferrolb-bench-');
  try {
    const t = await buildLbTopology(topo, { backends: 1 });
    const cfg = join(dir.path, 'cfg.yaml');
    writeFileSync(
      cfg,
      'apiVersion: ferrolb.io/v1\nkind: IPAddressPool\nmetadata: {name: vips}\nspec: {addresses: ["10.200.0.0/24"]}\n',
    );
    // The API listens on the LB's client-side address so one client process drives and measures.
    const d = await startDaemon(
      [
        '--config',
        cfg,
        '--state-dir',
        dir.path,
        '--dataplane',
        'on',
        '--probes',
        'off',
        '--api',
        '10.201.1.1:11111',
      ],
      {},
      20_000,
      ['ip', 'netns', 'exec', t.lb],
    );
    try {
      const out = await nsExec(
        t.client,
        process.execPath,
        [join(import.meta.dirname, 'change-probe.js'), 'http://10.201.1.1:11111', String(changes)],
        { timeoutMs: 300_000 },
      );
      const r = JSON.parse(out.trim().split('\n').pop() as string) as {
        apiMs: number[];
        trafficMs: number[];
      };
      return {
        changes,
        apiP50Ms: pct(r.apiMs, 50),
        apiP99Ms: pct(r.apiMs, 99),
        trafficP50Ms: pct(r.trafficMs, 50),
        trafficP99Ms: pct(r.trafficMs, 99),
        trafficOverApiP50: Number((pct(r.trafficMs, 50) / pct(r.apiMs, 50)).toFixed(2)),
      };
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await topo.cleanup();
    dir.remove();
  }
}
