// SCTP benchmarks beyond bulk throughput (issue 13): association setup rate through the LB next to
// direct (a new usrsctp association each: `client` connects, echoes one line, shuts down), added
// latency (echo round trip via the VIP ÷ direct, one association each, lines interleaved), and the
// INIT-flood figures against the daemon (test/support/sctp-flood.ts). Not a test: prints numbers
// next to a baseline measured in the same run. Root only (namespaces).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Topology, nsExec, waitFor } from '../test/support/netns.js';
import {
  buildSctpBed,
  collect,
  prepareEngineLb,
  startEngine,
  USRSCTP,
  type SctpPlan,
  multihomedConfig,
} from '../test/support/sctp.js';
import { startDaemon, stopDaemon, tempDir } from '../test/support/daemon.js';
import { runFlood, type FloodFigures } from '../test/support/sctp-flood.js';

const PLAN: SctpPlan = {
  family: 4,
  client: ['10.211.1.2', '10.211.3.2'],
  lbSide: ['10.211.1.1', '10.211.3.1', '10.211.2.1'],
  endpoint: '10.211.2.2',
  vips: ['10.211.9.1', '10.211.9.2', '10.211.9.3'],
  vipNet: '10.211.9.0/24',
  plen: 24,
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2 : NaN;
};

export interface SetupResult {
  readonly rounds: number;
  readonly perRound: number;
  readonly directPerSec: number;
  readonly viaVipPerSec: number;
  readonly ratio: number;
  /** Process start → association up → first echo (median), the setup latency without teardown. */
  readonly firstEchoDirectMs: number;
  readonly firstEchoViaVipMs: number;
  readonly firstEchoRatio: number;
  readonly rttDirectMs: number;
  readonly rttViaVipMs: number;
  readonly rttRatio: number;
  readonly pings: number;
}

/**
 * `n` associations one after another, each a fresh usrsctp client process: connect, echo one line,
 * close stdin (SHUTDOWN), exit. Associations/s, process start-up included (the same for both sides).
 */
async function setupRate(
  topo: Topology,
  ns: string,
  dst: string,
  n: number,
): Promise<{ perSec: number; firstEchoMs: number[] }> {
  const t0 = process.hrtime.bigint();
  const firstEchoMs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t1 = process.hrtime.bigint();
    const p = topo.spawn(ns, `${USRSCTP}/client`, [dst, '7']);
    const out = collect(p);
    const exited = new Promise((r) => p.once('exit', r));
    p.stdin?.write(`setup-${i}\n`);
    await waitFor(
      `echo from ${dst}`,
      () => (out.text().includes(`setup-${i}`) ? true : undefined),
      20_000,
      2,
    );
    firstEchoMs.push(Number(process.hrtime.bigint() - t1) / 1e6);
    p.stdin?.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  }
  return { perSec: n / (Number(process.hrtime.bigint() - t0) / 1e9), firstEchoMs };
}

/** Echo round trips on two long-lived associations, one line at a time, alternating. */
async function rtts(topo: Topology, ns: string, dsts: readonly string[], pings: number): Promise<number[][]> {
  const clients = dsts.map((d) => {
    const p: ChildProcess = topo.spawn(ns, `${USRSCTP}/client`, [d, '7']);
    return { p, out: collect(p) };
  });
  const times: number[][] = dsts.map(() => []);
  try {
    for (const [k, c] of clients.entries()) {
      c.p.stdin?.write(`warm-${k}\n`);
      await waitFor('warm-up echo', () => (c.out.text().includes(`warm-${k}`) ? true : undefined), 20_000, 5);
    }
    for (let i = 0; i < pings; i++)
      for (const [k, c] of clients.entries()) {
        const line = `ping-${k}-${i}`;
        const t0 = process.hrtime.bigint();
        c.p.stdin?.write(`${line}\n`);
        await waitFor('echo', () => (c.out.text().includes(line) ? true : undefined), 10_000, 1);
        (times[k] as number[]).push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
  } finally {
    for (const c of clients) c.p.stdin?.end();
  }
  return times;
}

export async function runSctpSetupBench(rounds = 3, perRound = 10, pings = 30): Promise<SetupResult> {
  const topo = new Topology();
  const dir = tempDir('ferrolb-sctp-setup-bench-');
  try {
    const { c, lb, b } = await buildSctpBed(topo, PLAN);
    // Baseline: the endpoint's own address, forwarded by the same LB namespace (SCTP untracked).
    await nsExec(c, 'ip', ['route', 'add', '10.211.2.0/24', 'via', PLAN.lbSide[0]]);
    await prepareEngineLb(lb, PLAN, 13);
    await startEngine(topo, lb, dir.path, {
      queue: 13,
      fastPath: true,
      limits: { closeLingerMs: 200 },
      services: [
        { name: 'echo', vips: PLAN.vips, port: 7, endpoints: [{ addresses: [PLAN.endpoint], port: 7 }] },
      ],
    });
    topo.spawn(b, 'sh', ['-c', `exec ${USRSCTP}/echo_server >/dev/null 2>&1`]);
    await new Promise((r) => setTimeout(r, 800));
    const direct: number[] = [];
    const via: number[] = [];
    const directFirst: number[] = [];
    const viaFirst: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const d = await setupRate(topo, c, PLAN.endpoint, perRound);
      const v = await setupRate(topo, c, PLAN.vips[0], perRound);
      direct.push(d.perSec);
      via.push(v.perSec);
      directFirst.push(...d.firstEchoMs);
      viaFirst.push(...v.firstEchoMs);
    }
    const [rd, rv] = await rtts(topo, c, [PLAN.endpoint, PLAN.vips[0]], pings);
    const d = median(direct);
    const v = median(via);
    const md = median(rd as number[]);
    const mv = median(rv as number[]);
    return {
      rounds,
      perRound,
      directPerSec: +d.toFixed(2),
      viaVipPerSec: +v.toFixed(2),
      ratio: +(v / d).toFixed(3),
      firstEchoDirectMs: +median(directFirst).toFixed(1),
      firstEchoViaVipMs: +median(viaFirst).toFixed(1),
      firstEchoRatio: +(median(viaFirst) / median(directFirst)).toFixed(3),
      rttDirectMs: +md.toFixed(2),
      rttViaVipMs: +mv.toFixed(2),
      rttRatio: +(mv / md).toFixed(3),
      pings,
    };
  } finally {
    await topo.cleanup();
    dir.remove();
  }
}

const FLOOD_CONFIG = (p: SctpPlan) => multihomedConfig(p, 'echo');

export interface FloodBenchResult extends FloodFigures {
  readonly rate: number;
  readonly seconds: number;
  /** /healthz with no flood, same daemon, just before: the API's own baseline. */
  readonly idleApiP50Ms: number;
}

/** 2,000 INITs/s for 10 s from spoofed sources against `ferrolb run` (default limits). */
export async function runSctpFloodBench(rate = 2000, seconds = 10): Promise<FloodBenchResult> {
  const topo = new Topology();
  const dir = tempDir('ferrolb-sctp-flood-bench-');
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  try {
    const { c, lb, b } = await buildSctpBed(topo, PLAN);
    writeFileSync(join(dir.path, 'cfg.yaml'), FLOOD_CONFIG(PLAN));
    daemon = await startDaemon(
      [
        '--config',
        join(dir.path, 'cfg.yaml'),
        '--state-dir',
        dir.path,
        '--dataplane',
        'on',
        '--probes',
        'off',
      ],
      {},
      30_000,
      ['ip', 'netns', 'exec', lb],
    );
    topo.spawn(b, 'sh', ['-c', `exec ${USRSCTP}/echo_server >/dev/null 2>&1`]);
    await new Promise((r) => setTimeout(r, 800));
    const idle: number[] = [];
    for (let i = 0; i < 20; i++)
      idle.push(
        1000 *
          Number(
            await nsExec(lb, 'curl', [
              '-s',
              '-o',
              '/dev/null',
              '-w',
              '%{time_total}',
              `${daemon.url}/healthz`,
            ]),
          ),
      );
    const f = await runFlood(
      topo,
      { c, lb },
      { url: daemon.url, pid: daemon.proc.pid as number },
      {
        vip: PLAN.vips[0],
        port: 7,
        rate,
        seconds,
        spoofBase: '10.212.0.1',
      },
    );
    return { ...f, rate, seconds, idleApiP50Ms: +median(idle).toFixed(1) };
  } finally {
    if (daemon) await stopDaemon(daemon, 'SIGKILL').catch(() => undefined);
    await topo.cleanup();
    dir.remove();
  }
}
