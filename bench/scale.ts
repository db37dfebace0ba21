// Whole-daemon scaling benchmark (issue 16): a real `ferrolb run` from a config file, in its own
// network namespace, data plane on, at N services × 8 endpoints for each N of the sizes asked for:
//   • cold start: spawn → the first "data plane applied" (the kernel serves every service);
//   • RSS after start (and the peak, VmHWM);
//   • per change: an API PUT of one LB → acknowledged, and → in the kernel (the daemon's own
//     "data plane applied" log line after the PUT); one endpoint turning inactive (a TCP probe on one
//     service, its listener killed) → in the kernel;
//   • one `ferroctl apply -f` changing every service, /healthz polled back to back meanwhile, and the
//     daemon's own event-loop delay over it (monitorEventLoopDelay, read from its /metrics);
//   • warm restart (adopting the table: a no-op re-sync) → applied;
//   • reads: `ferroctl get lb`, `get lb NAME`, `get lb -o wide`, run as a user would (a fresh CLI
//     process inside the namespace), with their exit status (a crash or a timeout is a result).
// Growth factors are against the smallest size of the same run; goal lines say met / NOT met.
// Sizes: FERROLB_SCALE_SIZES=1000,10000 (default 1000,5000,10000,20000); FERROLB_SCALE_ALGO=maglev
// (FERROLB_SCALE_MAGLEV_SIZE=61: the services' Maglev table size);
// FERROLB_SCALE_PROF=DIR writes the daemons' CPU profiles there.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Topology, nsExec } from '../test/support/netns.js';
import { FERROCTL, FERROLB, tempDir } from '../test/support/daemon.js';

export const DEFAULT_SIZES = [1000, 5000, 10000, 20000];
const EPS = 8;
const API = 'http://127.0.0.1:11111';
/** The one service with a health check: its endpoint is a real listener in the backend namespace. */
const PROBED = 'probed';
const BACKEND = '10.201.2.2';

export interface ScalePoint {
  services: number;
  coldSeconds: number;
  /** Of the cold start: the data plane's own apply (compile + diff + nft + VIPs), from its log. */
  coldApplySeconds: number;
  rssMB: number;
  peakRssMB: number;
  /** Longest pause of the collections that gave the start's peak back (null: none logged). */
  settlePauseMaxMs: number | null;
  putAckMs: number[];
  putKernelMs: number[];
  /** The data plane's own apply time for each PUT (its log's ms), the rest is the control plane's. */
  putApplyMs: number[];
  endpointInactiveKernelMs: number | null;
  warmRestartSeconds: number;
  warmRestartStatements: number | null;
  gets: Record<'plain' | 'one' | 'wide', { seconds: number; ok: boolean; error?: string; bytes: number }>;
  /** `ferroctl apply -f` of every service changed (target port): /healthz polled back to back meanwhile. */
  bulk?: BulkApply;
}

export interface BulkApply {
  applySeconds: number;
  healthz: { n: number; p50: number; p99: number; max: number };
  /** The daemon's own event-loop delay over the apply (monitorEventLoopDelay via its /metrics). */
  loopLagMaxMs: number;
  loopLagP99Ms: number;
}

const lbName = (i: number) => `svc-${String(i).padStart(5, '0')}`;
const ep = (i: number, k: number) => {
  const n = i * EPS + k; // 10.128.0.0/10 holds 4M endpoints
  return `10.${128 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
};

export function scaleConfig(n: number, algorithm: string): string {
  // FERROLB_SCALE_MAGLEV_SIZE=61: every service's Maglev table size (spec.maglevTableSize).
  const m = process.env.FERROLB_SCALE_MAGLEV_SIZE;
  const maglev = m && algorithm === 'maglev' ? `, maglevTableSize: ${Number(m)}` : '';
  const out = [
    'apiVersion: ferrolb.io/v1\nkind: IPAddressPool\nmetadata: {name: vips}\nspec: {addresses: ["10.64.0.0/14"]}\n',
  ];
  for (let i = 0; i < n; i++) {
    const eps = Array.from({ length: EPS }, (_, k) => `{address: ${ep(i, k)}}`).join(', ');
    out.push(
      `apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: ${lbName(i)}}\n` +
        `spec: {ports: [{port: 80, protocol: TCP, targetPort: 8080}], mode: fullnat, algorithm: ${algorithm}${maglev}, endpoints: [${eps}]}\n`,
    );
  }
  out.push(
    `apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: ${PROBED}}\n` +
      `spec: {ports: [{port: 80, protocol: TCP, targetPort: 8080}], mode: fullnat, endpoints: [{address: ${BACKEND}}], ` +
      `healthCheck: {type: tcp, interval: 100ms, timeout: 100ms, unhealthyThreshold: 1, healthyThreshold: 1}}\n`,
  );
  return out.join('---\n');
}

interface LogLine {
  msg?: string;
  time?: string;
  statements?: number;
  ms?: number;
  state?: string;
  service?: string;
  heapMB?: number;
  liveMB?: number;
  pauseMs?: number;
}

class DaemonProc {
  readonly lines: LogLine[] = [];
  readonly proc: ChildProcess;
  readonly spawnedAt = Date.now();
  private buf = '';
  constructor(ns: string, args: string[]) {
    // FERROLB_SCALE_PROF=DIR: each daemon writes a CPU profile there when it stops (node --cpu-prof).
    const prof = process.env.FERROLB_SCALE_PROF;
    const node = prof ? [process.execPath, '--cpu-prof', `--cpu-prof-dir=${prof}`] : [process.execPath];
    this.proc = spawn('ip', ['netns', 'exec', ns, ...node, FERROLB, 'run', ...args], {
      env: { ...process.env, FERROLB_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          /* not JSON */
        }
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  }
  /** First log line after `from` (epoch ms) that matches; bounded wait. */
  async waitLog(match: (l: LogLine) => boolean, from: number, timeoutMs: number): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const l = this.lines.find((x) => x.time !== undefined && Date.parse(x.time) >= from && match(x));
      if (l) return l;
      if (this.proc.exitCode !== null) throw new Error(`ferrolb exited ${this.proc.exitCode}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for a log line`);
  }
  rss(): { rssMB: number; peakMB: number } {
    const s = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
    return { rssMB: Math.round(kb('VmRSS') / 1024), peakMB: Math.round(kb('VmHWM') / 1024) };
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 120_000);
    await exited;
    clearTimeout(t);
  }
}

const applied = (l: LogLine) => l.msg === 'data plane applied';
const seconds = (ms: number) => Number((ms / 1000).toFixed(2));

function ferroctl(ns: string, args: string[]) {
  const t0 = performance.now();
  const r = spawnSync(
    'ip',
    ['netns', 'exec', ns, process.execPath, FERROCTL, '--server', API, 'get', 'lb', ...args],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 30 },
  );
  const s = seconds(performance.now() - t0);
  const ok = r.status === 0;
  const error = ok ? undefined : (r.stderr || String(r.error ?? r.signal)).split('\n')[0];
  return { seconds: s, ok, bytes: r.stdout?.length ?? 0, ...(error ? { error } : {}) };
}

function curlPut(ns: string, name: string, body: string): number {
  const r = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{time_total}',
      '-X',
      'PUT',
      '-H',
      'content-type: application/json',
      '--data-binary',
      body,
      `${API}/api/v1/loadbalancers/${name}`,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  const [code, t] = r.stdout.trim().split(' ');
  if (code !== '200') throw new Error(`PUT ${name}: ${code} ${r.stderr}`);
  return Number((Number(t) * 1000).toFixed(1));
}

// Polls /healthz back to back (keep-alive, one at a time) until SIGTERM; writes the latencies (ms)
// to the file argv[2] (printing them to a pipe before exit() cut long lists, e.g. at 20k).
const POLLER = `const http=require('http');const a=new http.Agent({keepAlive:true,maxSockets:1});const l=[];let stop=false;
process.on('SIGTERM',()=>{stop=true});
(function one(){if(stop){require('fs').writeFileSync(process.argv[2],JSON.stringify(l));process.exit(0)}const t=performance.now();
http.get(process.argv[1],{agent:a},r=>{r.resume();r.on('end',()=>{l.push(performance.now()-t);setTimeout(one,5)})}).on('error',()=>setTimeout(one,5))})();`;

/** The daemon's event-loop delay since the last scrape (prom-client resets it per collection), ms. */
function loopLag(ns: string): { maxMs: number; p99Ms: number } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'curl', '-s', `${API}/metrics`], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 1 << 28, // 20k services × 8: several MB of series
  });
  const v = (k: string) =>
    Number(new RegExp(`^ferrolb_nodejs_eventloop_lag_${k}_seconds (\\S+)`, 'm').exec(r.stdout)?.[1]);
  return { maxMs: Math.round(v('max') * 1000), p99Ms: Math.round(v('p99') * 1000) };
}

const pct = (xs: readonly number[], q: number) =>
  Number(
    ([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN).toFixed(1),
  );

async function bulkApply(ns: string, d: DaemonProc, file: string): Promise<BulkApply> {
  const samples = `${file}.healthz.json`;
  const poller = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '-e', POLLER, `${API}/healthz`, samples],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise((r) => poller.once('exit', r));
  let applySeconds: number;
  let lag: { maxMs: number; p99Ms: number };
  try {
    await new Promise((r) => setTimeout(r, 500));
    loopLag(ns); // resets the daemon's histogram
    const t0 = Date.now();
    const r = spawnSync(
      'ip',
      ['netns', 'exec', ns, process.execPath, FERROCTL, '--server', API, 'apply', '-f', file],
      {
        encoding: 'utf8',
        timeout: 300_000,
        maxBuffer: 1 << 28,
      },
    );
    if (r.status !== 0) throw new Error(`bulk apply: ${r.stderr.split('\n')[0]}`);
    await d.waitLog(applied, t0, 300_000);
    applySeconds = seconds(Date.now() - t0);
    lag = loopLag(ns);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    poller.kill('SIGTERM');
    await exited;
  }
  const l = JSON.parse(readFileSync(samples, 'utf8')) as number[];
  return {
    applySeconds,
    healthz: { n: l.length, p50: pct(l, 0.5), p99: pct(l, 0.99), max: Math.round(Math.max(...l)) },
    loopLagMaxMs: lag.maxMs,
    loopLagP99Ms: lag.p99Ms,
  };
}

export async function runScalePoint(n: number, algorithm = 'roundrobin'): Promise<ScalePoint> {
  const topo = new Topology();
  const dir = tempDir('ferrolb-scale-');
  let d: DaemonProc | undefined;
  try {
    const lb = await topo.addNs('lb');
    const be = await topo.addNs('be');
    await topo.link(lb, ['10.201.2.1/24'], be, [`${BACKEND}/24`]);
    const listener = topo.spawn(be, process.execPath, [
      '-e',
      `require('net').createServer((s) => s.end()).listen(8080, '${BACKEND}')`,
    ]);
    const cfg = join(dir.path, 'cfg.yaml');
    writeFileSync(cfg, scaleConfig(n, algorithm));
    const args = ['--config', cfg, '--state-dir', dir.path, '--api', '127.0.0.1:11111', '--bgp-port', 'off'];
    const daemonArgs = [...args, '--dataplane', 'on', '--probes', 'on', '--keep-forwarding'];
    d = new DaemonProc(lb, daemonArgs);
    const first = await d.waitLog(applied, d.spawnedAt, 900_000);
    const coldSeconds = seconds(Date.parse(first.time!) - d.spawnedAt);
    const coldApplySeconds = seconds(first.ms ?? NaN);
    await d.waitLog((l) => l.msg === 'ferrolb running', d.spawnedAt, 900_000);
    // The probed endpoint goes active first (its probe's first verdict), then settles.
    await new Promise((r) => setTimeout(r, 1500));
    // RSS once the daemon has given the start's peak back (src/shell/memory.ts): its incremental
    // collection, then V8's memory reducer's (≈ 10–30 s later) leave the heap near its live size.
    await d
      .waitLog(
        (l) => l.msg === 'heap settled' && (l.heapMB ?? Infinity) <= 1.25 * (l.liveMB ?? 0),
        d.spawnedAt,
        60_000,
      )
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    const { rssMB, peakMB } = d.rss();
    const pauses = d.lines.filter((l) => l.msg === 'heap settled').map((l) => l.pauseMs ?? 0);
    const settlePauseMaxMs = pauses.length > 0 ? Math.max(...pauses) : null;

    const gets = {
      plain: ferroctl(lb, []),
      one: ferroctl(lb, [lbName(Math.floor(n / 2))]),
      wide: ferroctl(lb, ['-o', 'wide']),
    };

    const putAckMs: number[] = [];
    const putKernelMs: number[] = [];
    const putApplyMs: number[] = [];
    for (let r = 0; r < 10; r++) {
      const i = Math.floor((n * (r + 1)) / 11);
      // One endpoint replaced (10.127/16 is outside every service's own endpoint range).
      const eps = Array.from({ length: EPS }, (_, k) => ({
        address: k === 0 ? `10.127.${r}.${(i % 250) + 1}` : ep(i, k),
      }));
      const body = JSON.stringify({
        spec: {
          ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
          mode: 'fullnat',
          algorithm,
          ...(process.env.FERROLB_SCALE_MAGLEV_SIZE && algorithm === 'maglev'
            ? { maglevTableSize: Number(process.env.FERROLB_SCALE_MAGLEV_SIZE) }
            : {}),
          endpoints: eps,
        },
      });
      const t0 = Date.now();
      putAckMs.push(curlPut(lb, lbName(i), body));
      const a = await d.waitLog(applied, t0, 300_000);
      putKernelMs.push(Date.parse(a.time!) - t0);
      putApplyMs.push(a.ms ?? NaN);
    }

    // One endpoint turning inactive: kill the listener; the probe's verdict → the kernel.
    let endpointInactiveKernelMs: number | null = null;
    try {
      const t0 = Date.now();
      listener.kill('SIGKILL');
      const change = await d.waitLog(
        (l) => l.msg === 'endpoint state changed' && l.service === PROBED && l.state === 'inactive',
        t0,
        60_000,
      );
      const a = await d.waitLog(applied, Date.parse(change.time!), 300_000);
      endpointInactiveKernelMs = Date.parse(a.time!) - Date.parse(change.time!);
    } catch (e) {
      console.error(`  endpoint state change not measured: ${(e as Error).message}`);
    }

    // Every service changed in one apply (the probed one's listener is gone by now).
    let bulk: BulkApply | undefined;
    try {
      const changed = join(dir.path, 'changed.yaml');
      writeFileSync(changed, scaleConfig(n, algorithm).replaceAll('targetPort: 8080', 'targetPort: 8081'));
      bulk = await bulkApply(lb, d, changed);
    } catch (e) {
      console.error(`  bulk apply not measured: ${(e as Error).message}`);
    }

    // Warm restart: the kernel keeps the table (--keep-forwarding); the new daemon adopts it.
    await d.stop();
    const w = new DaemonProc(lb, daemonArgs);
    d = w;
    const run = await w.waitLog((l) => l.msg === 'ferrolb running', w.spawnedAt, 900_000);
    const warmApplied = w.lines.find((l) => applied(l));
    const warmRestartSeconds = seconds(Date.parse(run.time!) - w.spawnedAt);
    return {
      services: n,
      coldSeconds,
      coldApplySeconds,
      rssMB,
      peakRssMB: peakMB,
      settlePauseMaxMs,
      putAckMs,
      putKernelMs,
      putApplyMs,
      endpointInactiveKernelMs,
      warmRestartSeconds,
      warmRestartStatements: warmApplied?.statements ?? 0,
      gets,
      ...(bulk ? { bulk } : {}),
    };
  } finally {
    await d?.stop();
    await nsExec(topo.ns('lb'), 'nft', ['delete', 'table', 'inet', 'ferrolb']).catch(() => undefined);
    await topo.cleanup();
    dir.remove();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');

/** Human-readable report with growth factors against the first point and the goal lines. */
export function formatScale(points: readonly ScalePoint[], algorithm: string): string {
  const base = points[0];
  if (!base) return '';
  const g = (v: number, b: number) => (b > 0 ? `×${(v / b).toFixed(1)}` : '');
  const lines = [
    `\nWhole daemon at scale (services × ${EPS} endpoints, ${algorithm}; growth vs ${base.services})`,
  ];
  for (const p of points) {
    const goalStart = p.services <= 10000 ? 5 : p.services <= 20000 ? 10 : Infinity;
    const gets = (['plain', 'one', 'wide'] as const)
      .map((k) => `${k} ${p.gets[k].ok ? `${p.gets[k].seconds} s` : `FAILED (${p.gets[k].error})`}`)
      .join(', ');
    lines.push(
      `  ${p.services}: cold ${p.coldSeconds} s ${g(p.coldSeconds, base.coldSeconds)} (data plane apply ${p.coldApplySeconds} s ${g(p.coldApplySeconds, base.coldApplySeconds)})` +
        (goalStart < Infinity ? ` (goal ≤ ${goalStart} s: ${mark(p.coldSeconds <= goalStart)})` : ''),
      `      RSS ${p.rssMB} MB (peak ${p.peakRssMB}) ${g(p.rssMB, base.rssMB)}, longest settle pause ${p.settlePauseMaxMs ?? 'n/a'} ms` +
        (p.services === 10000 ? ` (goal ≤ 200 MB: ${mark(p.rssMB <= 200)})` : ''),
      `      PUT one LB: ack p50 ${median(p.putAckMs)} ms p99 ${pct(p.putAckMs, 0.99)} ms, in kernel p50 ${median(p.putKernelMs)} ms max ${Math.max(...p.putKernelMs)} ms (data plane apply p50 ${median(p.putApplyMs)} ms)` +
        (p.services === 10000
          ? ` (goal ack ≤ 50 ms: ${mark(Math.max(...p.putAckMs) <= 50)}; served ≤ 100 ms: ${mark(Math.max(...p.putKernelMs) <= 100)})`
          : ''),
      `      endpoint → inactive in kernel ${p.endpointInactiveKernelMs ?? 'n/a'} ms` +
        (p.services === 10000 && p.endpointInactiveKernelMs !== null
          ? ` (goal ≤ 50 ms: ${mark(p.endpointInactiveKernelMs <= 50)})`
          : ''),
      `      warm restart (adopt, no-op re-sync) ${p.warmRestartSeconds} s, ${p.warmRestartStatements} statements`,
      p.bulk
        ? `      bulk apply of all ${p.services}: ${p.bulk.applySeconds} s; /healthz p50 ${p.bulk.healthz.p50} / p99 ${p.bulk.healthz.p99} / max ${p.bulk.healthz.max} ms (${p.bulk.healthz.n} samples); daemon loop delay max ${p.bulk.loopLagMaxMs} ms, p99 ${p.bulk.loopLagP99Ms} ms` +
            (p.services === 10000 ? ` (goal /healthz p99 ≤ 50 ms: ${mark(p.bulk.healthz.p99 <= 50)})` : '')
        : '      bulk apply: not measured',
      `      ferroctl get lb: ${gets}` +
        (p.services === 10000
          ? ` (goal ≤ 1 s: ${mark((['plain', 'wide'] as const).every((k) => p.gets[k].ok && p.gets[k].seconds <= 1))})`
          : ''),
    );
  }
  return lines.join('\n');
}

export function scaleSizes(): number[] {
  const env = process.env.FERROLB_SCALE_SIZES;
  if (!env) return DEFAULT_SIZES;
  return env.split(',').map((s) => {
    const v = Number(s.replace(/k$/i, '000'));
    if (!Number.isInteger(v) || v < 1 || v > 200_000) throw new Error(`FERROLB_SCALE_SIZES: bad size "${s}"`);
    return v;
  });
}

export async function runScaleBench(): Promise<{ algorithm: string; points: ScalePoint[] }> {
  const algorithm = process.env.FERROLB_SCALE_ALGO ?? 'roundrobin';
  const points: ScalePoint[] = [];
  for (const n of scaleSizes()) {
    console.error(`  scale: ${n} services…`);
    points.push(await runScalePoint(n, algorithm));
    // Each point as soon as it is measured: the 50k point can take many minutes.
    console.error(`  ${JSON.stringify(points[points.length - 1])}`);
  }
  return { algorithm, points };
}
