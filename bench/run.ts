// `npm run bench`: every benchmark, each reported next to a baseline measured in the same run.
// Not a test: it asserts nothing about wall-clock time; it prints numbers and the goals they meet.
import { runBgpPlanBench } from './bgp-plan.js';
import { cpus } from 'node:os';
import { runIpamBench } from './ipam.js';
import { runModelBench } from './model.js';
import { runChangeLatencyBench } from './daemon.js';
import { runBgpBench } from './bgp.js';
import { printBfdBench, runBfdBench } from './bfd.js';
import { runDataplaneBench } from './dataplane.js';
import { runReconcileBench } from './reconcile.js';
import { runK8sBench } from './k8s.js';
import { formatScale, runScaleBench } from './scale.js';
import { formatNftWrite, runNftWriteBench } from './nftwrite.js';
import { runEngineSetupBench, runSctpThroughputBench } from './sctp.js';
import { runSctpWriterBench } from './sctp-writer.js';
import { formatL2, runL2Bench } from './l2.js';
import { formatHa, runHaBench } from './ha.js';
import { runSctpFloodBench, runSctpSetupBench } from './sctp-setup.js';

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
  if (!only || only === 'bgp-plan') {
    const r = runBgpPlanBench();
    results.bgpPlan = r;
    console.log(
      `\nBGP plan + per-service advertisement history, ${r.services} services: plan ${r.planMs} ms, history ${r.historyMs} ms (history ÷ plan ${r.ratio})`,
    );
  }
  if (!only || only === 'model') {
    const r = await runModelBench();
    results.model = r;
    console.log(
      `\nControl-plane core per change: ${r.services} services × ${r.endpointsPerService} endpoints`,
    );
    console.log(
      `  PUT of one LB: transition p50 ${r.putTransition.p50Ms} ms, p99 ${r.putTransition.p99Ms} ms; through the Runtime (incl. durable save) p50 ${r.putRuntime.p50Ms} ms, p99 ${r.putRuntime.p99Ms} ms`,
    );
    console.log(
      `  PUT over HTTP (acknowledged)  p50 ${r.putHttp.p50Ms} ms, p99 ${r.putHttp.p99Ms} ms — goal p99 ≤ 50 ms: ${r.goals.put50ms ? 'met' : 'NOT met'}`,
    );
    console.log(
      `  baseline: whole-set validation + allocation ${r.baselineWholeSetMs} ms → one PUT costs ${r.putOverBaselineP50}× of it (p50)`,
    );
    console.log(
      `  unrelated PUT next to one LB of ${r.bigLb.endpoints} endpoints: p99 ${r.bigLb.unrelatedPutP99Ms} ms`,
    );
    const b = r.bulkApply;
    console.log(
      `  one apply of ${b.objects} objects: ${b.totalMs} ms in slices, event-loop delay p99 ${b.loopDelayP99Ms} ms, max ${b.loopDelayMaxMs} ms (unsliced it would block ${b.blockingSyncMs} ms)`,
    );
    const h = r.healthzDuringApply;
    console.log(
      `  /healthz during a ${r.services}-LB apply over HTTP: p50 ${h.p50Ms} ms, p99 ${h.p99Ms} ms, max ${h.maxMs} ms — goal p99 ≤ 50 ms: ${r.goals.healthz50ms ? 'met' : 'NOT met'}`,
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
  if ((!only || only === 'reconcile') && process.getuid?.() === 0) {
    const r = await runReconcileBench();
    results.reconcile = r;
    console.log(`\nReconcile loop (${r.services} services × ${r.endpointsPerService} endpoints)`);
    console.log(
      `  one full kernel verification ${r.fullVerifySeconds} s (largest event-loop stall ${r.verifyMaxLoopLagMs} ms) → paced every ${r.verifyIntervalSeconds} s (≤ 1 % of a core); events repair in between`,
    );
    console.log(
      `  one deleted dispatch element: map read ${r.elementRepair.readSeconds} s + repair ${r.elementRepair.applySeconds} s (${r.elementRepair.statements} statement) — goal ≤ 2 s: ${r.elementRepair.readSeconds + r.elementRepair.applySeconds <= 2 ? 'met' : 'NOT met'}`,
    );
    console.log(
      `  nft flush ruleset: table re-created in ${r.tableRepair.seconds} s (${r.tableRepair.statements} statements) — goal ≤ 2 s: ${r.tableRepair.seconds <= 2 ? 'met' : 'NOT met'}`,
    );
    console.log(
      `  cold start with one service nft refuses: ${r.containment.withOneBadSeconds} s (${r.containment.attempts} transactions) vs ${r.containment.coldSeconds} s without it → ${r.containment.ratio}×; every other service programmed`,
    );
    for (const v of r.vips)
      console.log(
        `  ${v.count} VIPs: local routes ${v.routeSeconds} s vs interface addresses (baseline) ${v.addressSeconds} s → ${v.addressOverRoute}× faster`,
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
  if ((!only || only === 'bfd') && process.getuid?.() === 0) {
    // `npm run bench -- bfd 2000` runs one size only.
    const sizes = only === 'bfd' && process.argv[3] ? process.argv.slice(3).map(Number) : undefined;
    const r = await runBfdBench(sizes);
    results.bfd = r;
    printBfdBench(r);
  }
  if (!only || only === 'sctp') {
    const e = runEngineSetupBench();
    results.sctpEngine = e;
    console.log(
      `\nSCTP engine (pure): ${e.associationsPerSec} new associations/s, ${e.codecRoundTripsPerSec} codec round trips/s`,
    );
    if (process.getuid?.() === 0) {
      const w = await runSctpWriterBench();
      results.sctpWriter = w;
      console.log(
        `SCTP fast-path writes for ${w.associations} associations: one synchronous nft each (baseline) ${w.sync.totalMs} ms, event loop busy ${w.sync.loopBusyMs} ms, longest stall ${w.sync.maxLoopStallMs} ms; batched asynchronous writer ${w.batched.totalMs} ms in ${w.batched.nftRuns} nft runs, loop busy ${w.batched.loopBusyMs} ms, longest stall ${w.batched.maxLoopStallMs} ms`,
      );
      const r = await runSctpThroughputBench();
      results.sctpThroughput = r;
      console.log('SCTP throughput (usrsctp tsctp) via the service ÷ direct (goal ≥ 0.80):');
      for (const x of r) console.log(`  ${JSON.stringify(x)}`);
      const su = await runSctpSetupBench();
      results.sctpSetup = su;
      console.log(
        `SCTP association setup (a new usrsctp client process and association each, ${su.rounds}×${su.perRound}, teardown included): via VIP ${su.viaVipPerSec}/s ÷ direct ${su.directPerSec}/s = ${su.ratio}; start → first echo median via VIP ${su.firstEchoViaVipMs} ms ÷ direct ${su.firstEchoDirectMs} ms = ${su.firstEchoRatio}`,
      );
      console.log(
        `SCTP echo RTT (${su.pings} pings, interleaved): via VIP ${su.rttViaVipMs} ms ÷ direct ${su.rttDirectMs} ms = ${su.rttRatio}`,
      );
      const fl = await runSctpFloodBench();
      results.sctpFlood = fl;
      console.log(
        `SCTP INIT flood ${fl.rate}/s × ${fl.seconds} s (sent ${fl.sent}): legitimate association echoed after ${fl.legitSetupMs} ms (goal < 1000); /healthz p50 ${fl.api.p50Ms} ms, p99 ${fl.api.p99Ms} ms, max ${fl.api.maxMs} ms (idle p50 ${fl.idleApiP50Ms} ms; goal < 100); RSS ${fl.rssStartMb} → max ${fl.rssMaxMb} MB; half-open max ${fl.halfOpenMax}; engine packets ${fl.engineSaw}; kernel queue overflow ${fl.queueOverflow.queueFull} queue-full + ${fl.queueOverflow.socketFull} socket-full; dropped ${JSON.stringify(fl.dropped)}; fast-path keys after ${fl.pathsAfter}`,
      );
    }
  }
  if ((!only || only === 'scale') && process.getuid?.() === 0) {
    const r = await runScaleBench();
    results.scale = r;
    console.log(formatScale(r.points, r.algorithm));
  }
  if ((!only || only === 'nftwrite') && process.getuid?.() === 0) {
    const r = await runNftWriteBench();
    results.nftwrite = r;
    console.log(formatNftWrite(r));
  }
  if ((!only || only === 'l2') && process.getuid?.() === 0) {
    const r = await runL2Bench();
    results.l2 = r;
    console.log(formatL2(r));
  }
  if ((!only || only === 'ha') && process.getuid?.() === 0) {
    const r = await runHaBench();
    results.ha = r;
    console.log(formatHa(r));
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
