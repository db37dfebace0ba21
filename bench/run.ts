// `npm run bench`: every benchmark, each reported next to a baseline measured in the same run.
// Not a test: it asserts nothing about wall-clock time; it prints numbers and the goals they meet.
import { cpus } from 'node:os';
import { runIpamBench } from './ipam.js';
import { runChangeLatencyBench } from './daemon.js';
import { runBgpBench } from './bgp.js';
import { runDataplaneBench } from './dataplane.js';
import { runK8sBench } from './k8s.js';
import { formatScale, runScaleBench } from './scale.js';
import { runEngineSetupBench, runSctpThroughputBench } from './sctp.js';

async function main(): Promise<void> {
  const only = process.argv[2];
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`;
  console.log(`ferrolb benchmarks — ${new Date().toISOString()} — ${machine}`);
  const results: Record<string, unknown> = {};
  if (!only || only === 'ipam') {
    const r = runIpamBench();
    results.ipam = r;
    console.log(`\nIPAM: ${r.services} services from a /15 (${r.poolSize} addresses)`);
    console.log(`  validate whole config      ${r.validateMs} ms`);
    console.log(
      `  allocate cold              ${r.allocateColdMs} ms (${r.coldPerAllocationUs} µs each) — goal < 1000 ms: ${r.allocateColdMs < 1000 ? 'met' : 'NOT met'}`,
    );
    console.log(`  allocate on restart        ${r.allocateRestartMs} ms (every address kept)`);
    console.log(
      `  baseline: bare bigint walk ${r.baselineWalkMs} ms → allocator costs ${r.coldVsBaseline}× the floor`,
    );
  }
  if ((!only || only === 'dataplane') && process.getuid?.() === 0) {
    const r = await runDataplaneBench();
    results.dataplane = r;
    const c = r.connectionsPerSecond;
    const t = r.throughputGbps;
    console.log(`\nData plane (client → LB → backend in namespaces, ${r.durationSeconds} s per measurement)`);
    console.log(
      `  connections/s   direct ${c.direct}, via VIP ${c.vip}, via HAProxy ${c.haproxy} → VIP ÷ direct ${c.vipOverDirect} (goal ≥ 0.90: ${r.goals.vipOverDirect090 ? 'met' : 'NOT met'}), VIP ÷ HAProxy ${c.vipOverHaproxy} (goal ≥ 1.5: ${r.goals.vipOverHaproxy150 ? 'met' : 'NOT met'})`,
    );
    console.log(
      `  throughput Gb/s direct ${t.direct}, via VIP ${t.vip}, via HAProxy ${t.haproxy} → VIP ÷ direct ${t.vipOverDirect}, VIP ÷ HAProxy ${t.vipOverHaproxy}`,
    );
    console.log(
      `  via a VIP with source ranges: ${c.ranged} connections/s (÷ VIP ${c.rangedOverVip}), ${t.ranged} Gb/s (÷ VIP ${t.rangedOverVip})`,
    );
    console.log(
      `  cold programming ${r.cold.services} services × ${r.cold.endpointsPerService} endpoints: ${r.cold.seconds} s nft + ${r.cold.vipSeconds} s VIPs (goal ≤ 5 s: ${r.goals.cold5s ? 'met' : 'NOT met'}); one endpoint change ${r.incremental.seconds} s (${r.incremental.statements} statements); no-op resync ${r.resyncNoop.seconds} s (${r.resyncNoop.statements} statements)`,
    );
    const sr = r.sourceRanges;
    console.log(
      `  the same, every service with source ranges: cold ${sr.cold.seconds} s (${sr.cold.statements} statements); no-op resync ${sr.resyncNoop.seconds} s (${sr.resyncNoop.statements} statements); one service's ranges changed ${sr.change.seconds} s (${sr.change.statements} statements)`,
    );
  }
  if ((!only || only === 'change') && process.getuid?.() === 0) {
    const r = await runChangeLatencyBench();
    results.changeLatency = r;
    console.log(
      `\nAPI change → traffic follows (${r.changes} new services, measured from the client namespace)`,
    );
    console.log(`  API round trip (baseline)  p50 ${r.apiP50Ms} ms, p99 ${r.apiP99Ms} ms`);
    console.log(
      `  until traffic flows        p50 ${r.trafficP50Ms} ms, p99 ${r.trafficP99Ms} ms — goal p99 ≤ 100 ms: ${r.trafficP99Ms <= 100 ? 'met' : 'NOT met'}`,
    );
    console.log(`  traffic ÷ API round trip   ${r.trafficOverApiP50}× at p50`);
  }
  if ((!only || only === 'bgp') && process.getuid?.() === 0) {
    const r = await runBgpBench();
    results.bgp = r;
    console.log('\nBGP (real GoBGP / BIRD2 peers in namespaces)');
    console.log(`  ${JSON.stringify(r)}`);
  }
  if (!only || only === 'sctp') {
    const e = runEngineSetupBench();
    results.sctpEngine = e;
    console.log(
      `\nSCTP engine (pure): ${e.associationsPerSec} new associations/s, ${e.codecRoundTripsPerSec} codec round trips/s`,
    );
    if (process.getuid?.() === 0) {
      const r = await runSctpThroughputBench();
      results.sctpThroughput = r;
      console.log('SCTP throughput (usrsctp tsctp) via the service ÷ direct (goal ≥ 0.80):');
      for (const x of r) console.log(`  ${JSON.stringify(x)}`);
    }
  }
  if ((!only || only === 'scale') && process.getuid?.() === 0) {
    const r = await runScaleBench();
    results.scale = r;
    console.log(formatScale(r.points, r.algorithm));
  }
  if (!only || only === 'k8s') {
    const r = await runK8sBench();
    results.k8s = r;
    console.log('\nKubernetes controller against the API server emulator');
    console.log(`  ${JSON.stringify(r)}`);
  }
  console.log(`\n${JSON.stringify(results)}`);
}

void main();
