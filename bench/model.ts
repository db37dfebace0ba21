// Control-plane core per change: one PUT at 10,000 services × 8 endpoints (transition alone and
// through the Runtime with a real state file), one unrelated PUT next to a 40,000-endpoint LB, and
// event-loop delay while one 10,000-object apply runs. Baseline in the same run: what the old path
// did per change — whole-set validation + whole-set allocation — so the figures read as ratios.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pino from 'pino';
import { allocate } from '../src/ipam/allocator.js';
import { buildDesiredState } from '../src/model/validate.js';
import type { RawObject } from '../src/model/types.js';
import { emptySnapshot, transition, type Snapshot } from '../src/state/snapshot.js';
import { StateStore } from '../src/state/persist.js';
import { Runtime } from '../src/shell/runtime.js';
import { ApiServer } from '../src/api/server.js';

export interface ModelBenchResult {
  services: number;
  endpointsPerService: number;
  putTransition: { p50Ms: number; p99Ms: number };
  putRuntime: { p50Ms: number; p99Ms: number };
  /** PUT /api/v1/loadbalancers/NAME over HTTP (in-process API server, loopback). */
  putHttp: { p50Ms: number; p99Ms: number };
  /** GET /healthz while one 10k-object apply runs through the API. */
  healthzDuringApply: { p50Ms: number; p99Ms: number; maxMs: number };
  baselineWholeSetMs: number;
  putOverBaselineP50: number;
  bigLb: { endpoints: number; unrelatedPutP99Ms: number };
  bulkApply: {
    objects: number;
    totalMs: number;
    loopDelayP99Ms: number;
    loopDelayMaxMs: number;
    blockingSyncMs: number;
  };
  goals: { put50ms: boolean; healthz50ms: boolean };
}

const pool: RawObject = {
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name: 'big' },
  spec: { addresses: ['10.64.0.0/14'] },
};
const lb = (i: number, port = 80, endpoints = 8): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'LoadBalancer',
  metadata: { name: `svc-${i}` },
  spec: {
    ports: [{ port }],
    endpoints: Array.from({ length: endpoints }, (_, j) => ({
      address: `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${(i & 255) ^ j}`,
    })),
  },
});
const bigLb = (n: number): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'LoadBalancer',
  metadata: { name: 'huge' },
  spec: {
    ports: [{ port: 443 }],
    endpoints: Array.from({ length: n }, (_, j) => ({
      address: `100.${64 + (j >> 16)}.${(j >> 8) & 255}.${j & 255}`,
    })),
  },
});

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? 0) * 100) / 100;
};
const must = (t: ReturnType<typeof transition>): Snapshot => {
  if (!t.ok) throw new Error(JSON.stringify(t.issues.slice(0, 3)));
  return t.next;
};

export async function runModelBench(services = 10_000, puts = 200): Promise<ModelBenchResult> {
  const objects = [pool, ...Array.from({ length: services }, (_, i) => lb(i))];

  // Baseline: whole-set validation + allocation, as every change used to cost.
  let snap = must(transition(emptySnapshot(), { type: 'apply', objects }));
  const base: number[] = [];
  for (let r = 0; r < 3; r++) {
    const all = snap.objects.map((s) => ({ origin: s.origin, object: structuredClone(s.object) }));
    const t0 = performance.now();
    const built = buildDesiredState(all);
    if (built.state) allocate(built.state, snap.allocations);
    base.push(performance.now() - t0);
  }
  const baselineWholeSetMs = pct(base, 50);

  const tr: number[] = [];
  for (let k = 0; k < puts; k++) {
    const t0 = performance.now();
    snap = must(transition(snap, { type: 'apply', objects: [lb((k * 37) % services, 1000 + k)] }));
    tr.push(performance.now() - t0);
  }

  // Through the Runtime: sliced transition + durable save (fsync) before the acknowledgement.
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-bench-model-'));
  const lag = monitorEventLoopDelay({ resolution: 1 });
  let bulk: ModelBenchResult['bulkApply'];
  const rt: number[] = [];
  const http: number[] = [];
  const hz: number[] = [];
  try {
    const runtime = new Runtime({ store: new StateStore(dir), log: pino({ level: 'silent' }) });
    await runtime.start();
    lag.enable();
    const t0 = performance.now();
    const t = await runtime.submit({ type: 'apply', objects: objects.map((o) => structuredClone(o)) });
    const totalMs = performance.now() - t0;
    lag.disable();
    if (!t.ok) throw new Error('bulk apply refused');
    // The same apply run synchronously: how long it would hold the loop without slicing.
    const s0 = performance.now();
    must(transition(emptySnapshot(), { type: 'apply', objects: objects.map((o) => structuredClone(o)) }));
    const blockingSyncMs = performance.now() - s0;
    bulk = {
      objects: objects.length,
      totalMs: Math.round(totalMs),
      loopDelayP99Ms: Math.round(lag.percentile(99) / 1e4) / 100,
      loopDelayMaxMs: Math.round(lag.max / 1e4) / 100,
      blockingSyncMs: Math.round(blockingSyncMs),
    };
    for (let k = 0; k < puts; k++) {
      const p0 = performance.now();
      const r = await runtime.submit({ type: 'apply', objects: [lb((k * 41) % services, 2000 + k)] });
      rt.push(performance.now() - p0);
      if (!r.ok) throw new Error('PUT refused');
    }
    // Over HTTP: what a client sees (request parsing, the change, the response body).
    const server = new ApiServer({ runtime, log: pino({ level: 'silent' }) });
    const addr = await server.listen('127.0.0.1', 0);
    const base = `http://127.0.0.1:${addr.port}`;
    try {
      for (let k = 0; k < puts; k++) {
        const i = (k * 43) % services;
        const body = JSON.stringify({ spec: lb(i, 4000 + k).spec as object });
        const p0 = performance.now();
        const r = await fetch(`${base}/api/v1/loadbalancers/svc-${i}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body,
        });
        await r.arrayBuffer();
        http.push(performance.now() - p0);
        if (r.status !== 200) throw new Error(`PUT ${r.status}`);
      }
      // /healthz while 10,000 new services arrive in one apply body.
      const more = Array.from({ length: services }, (_, i) => lb(services + i));
      let done = false;
      const apply = fetch(`${base}/api/v1/apply`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(more),
      }).then(async (r) => {
        await r.arrayBuffer();
        done = true;
        if (r.status !== 200) throw new Error(`apply ${r.status}`);
      });
      while (!done) {
        const h0 = performance.now();
        await (await fetch(`${base}/healthz`)).arrayBuffer();
        hz.push(performance.now() - h0);
        await new Promise((r) => setTimeout(r, 5));
      }
      await apply;
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // One LB with 40k endpoints, then unrelated PUTs.
  let big = must(
    transition(emptySnapshot(), {
      type: 'apply',
      objects: [pool, bigLb(40_000), ...Array.from({ length: 1000 }, (_, i) => lb(i))],
    }),
  );
  const bg: number[] = [];
  for (let k = 0; k < 50; k++) {
    const t0 = performance.now();
    big = must(transition(big, { type: 'apply', objects: [lb(k % 1000, 3000 + k)] }));
    bg.push(performance.now() - t0);
  }

  const putRuntime = { p50Ms: pct(rt, 50), p99Ms: pct(rt, 99) };
  return {
    services,
    endpointsPerService: 8,
    putTransition: { p50Ms: pct(tr, 50), p99Ms: pct(tr, 99) },
    putRuntime,
    putHttp: { p50Ms: pct(http, 50), p99Ms: pct(http, 99) },
    healthzDuringApply: { p50Ms: pct(hz, 50), p99Ms: pct(hz, 99), maxMs: pct(hz, 100) },
    baselineWholeSetMs: Math.round(baselineWholeSetMs),
    putOverBaselineP50: Math.round((pct(tr, 50) / baselineWholeSetMs) * 1000) / 1000,
    bigLb: { endpoints: 40_000, unrelatedPutP99Ms: pct(bg, 99) },
    bulkApply: bulk,
    goals: { put50ms: pct(http, 99) <= 50, healthz50ms: pct(hz, 99) <= 50 },
  };
}
