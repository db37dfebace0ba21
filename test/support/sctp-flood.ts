// An INIT flood against a daemon carrying a multihomed SCTP service, with the figures the flood e2e
// asserts and the benchmark reports: how long a legitimate usrsctp association takes to echo during
// the flood, how the API answers (/healthz timed by curl inside the LB namespace), the daemon's RSS,
// the half-open table, the engine's drop counters (/metrics) and the fast path's size afterwards.
// The flood (test/support/sctp_flood.py) runs in the client namespace, to a VIP, from spoofed
// sources; all of it stays inside the test's namespaces.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { nsExec, waitFor, type Topology } from './netns.js';
import { collect, USRSCTP } from './sctp.js';

const FLOOD = fileURLToPath(new URL('../../../test/support/sctp_flood.py', import.meta.url));

export interface FloodOptions {
  readonly vip: string;
  readonly port: number;
  readonly rate: number;
  readonly seconds: number;
  /** First spoofed source (a /16 counts up from it). */
  readonly spoofBase: string;
  /** Also this many INITs/s from one address (exercises the per-source limit). */
  readonly oneSource?: { readonly address: string; readonly rate: number };
  /** When the legitimate client starts, after the flood did (ms). */
  readonly legitAfterMs?: number;
}

export interface FloodFigures {
  readonly sent: number;
  readonly oneSourceSent: number;
  /** From starting usrsctp's client to its first echo; null when it never came. */
  readonly legitSetupMs: number | null;
  readonly api: {
    readonly n: number;
    readonly failures: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
  };
  readonly rssStartMb: number;
  readonly rssMaxMb: number;
  readonly halfOpenMax: number;
  readonly dropped: Record<string, number>;
  readonly engineSaw: number;
  /** INITs the kernel dropped before the engine saw them (NFQUEUE overflow), from /metrics. */
  readonly queueOverflow: { readonly queueFull: number; readonly socketFull: number };
  /** Fast-path key elements right after the flood (only established associations have any). */
  readonly pathsAfter: number;
}

const rssMb = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor(p * s.length))] as number) : NaN;
};

/** Metrics text → ferrolb_sctp_dropped_packets_total by reason. */
export function droppedFromMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^ferrolb_sctp_dropped_packets_total\{reason="([^"]+)"\} (\d+)/gm))
    out[m[1] as string] = Number(m[2]);
  return out;
}

export async function runFlood(
  topo: Topology,
  ns: { c: string; lb: string },
  daemon: { url: string; pid: number },
  o: FloodOptions,
): Promise<FloodFigures> {
  const curl = (path: string, extra: string[] = []) =>
    nsExec(ns.lb, 'curl', ['-s', '--max-time', '5', ...extra, `${daemon.url}${path}`], { timeoutMs: 10_000 });
  const rssStartMb = rssMb(daemon.pid);
  const flood = topo.spawn(ns.c, '/usr/bin/python3', [
    FLOOD,
    o.vip,
    String(o.port),
    String(o.rate),
    String(o.seconds),
    o.spoofBase,
    ...(o.oneSource ? [o.oneSource.address, String(o.oneSource.rate)] : []),
  ]);
  const floodOut = collect(flood);
  const floodDone = new Promise<void>((r) => flood.once('exit', () => r()));
  let done = false;
  void floodDone.then(() => (done = true));
  const lat: number[] = [];
  let failures = 0;
  let rssMaxMb = rssStartMb;
  let halfOpenMax = 0;
  const legitAt = Date.now() + (o.legitAfterMs ?? 2000);
  let legit: ChildProcess | undefined;
  let legitSetupMs: number | null = null;
  let legitStarted = 0;
  let legitOut: ReturnType<typeof collect> | undefined;
  for (let i = 0; !done && i < (o.seconds + 10) * 10; i++) {
    if (!legit && Date.now() >= legitAt) {
      legitStarted = Date.now();
      legit = topo.spawn(ns.c, `${USRSCTP}/client`, [o.vip, String(o.port)]);
      legitOut = collect(legit);
      legit.stdin?.write('legit-during-flood\n');
    }
    if (legit && legitSetupMs === null && legitOut?.text().includes('legit-during-flood'))
      legitSetupMs = Date.now() - legitStarted;
    try {
      const t = Number(await curl('/healthz', ['-o', '/dev/null', '-w', '%{time_total}']));
      if (Number.isFinite(t) && t > 0) lat.push(t * 1000);
      else failures++;
    } catch {
      failures++;
    }
    rssMaxMb = Math.max(rssMaxMb, rssMb(daemon.pid));
    if (i % 5 === 0) {
      try {
        const st = JSON.parse(await curl('/api/v1/sctp')) as { halfOpen?: number };
        halfOpenMax = Math.max(halfOpenMax, st.halfOpen ?? 0);
      } catch {
        failures++;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await floodDone;
  if (legit && legitSetupMs === null)
    await waitFor(
      'legit echo',
      () => (legitOut?.text().includes('legit-during-flood') ? true : undefined),
      10_000,
    )
      .then(() => (legitSetupMs = Date.now() - legitStarted))
      .catch(() => undefined);
  const sent = JSON.parse(floodOut.text().trim() || '{}') as { sent?: number; oneSource?: number };
  const metrics = await curl('/metrics');
  const engineSaw = Number(/^ferrolb_sctp_packets_total (\d+)/m.exec(metrics)?.[1] ?? 0);
  const overflow = (cause: string) =>
    Number(
      new RegExp(`^ferrolb_sctp_queue_overflow_packets_total\\{cause="${cause}"\\} (\\d+)`, 'm').exec(
        metrics,
      )?.[1] ?? 0,
    );
  const queueOverflow = { queueFull: overflow('queue-full'), socketFull: overflow('socket-full') };
  const paths = await nsExec(ns.lb, 'nft', ['-j', 'list', 'map', 'ip', 'ferrolb_sctp', 'pathid']);
  const pathsAfter = (paths.match(/"concat"/g) ?? []).length;
  if (legit) {
    legit.stdin?.end();
    await waitFor('legit client exit', () => (legit?.exitCode !== null ? true : undefined), 60_000).catch(
      () => undefined,
    );
  }
  return {
    sent: sent.sent ?? 0,
    oneSourceSent: sent.oneSource ?? 0,
    legitSetupMs,
    api: {
      n: lat.length,
      failures,
      p50Ms: +pct(lat, 0.5).toFixed(1),
      p99Ms: +pct(lat, 0.99).toFixed(1),
      maxMs: +Math.max(...lat).toFixed(1),
    },
    rssStartMb,
    rssMaxMb,
    halfOpenMax,
    dropped: droppedFromMetrics(metrics),
    engineSaw,
    queueOverflow,
    pathsAfter,
  };
}
