// `npm run bench -- ha`: connection-state sync lag and CPU at a rate of new connections, ferrolb
// (its own conntrack reader + the Cluster's authenticated channel + batched installs) next to
// conntrackd (FT-FW, external cache disabled so the backup injects into its kernel table at once)
// on the same two LB namespaces (bench/l2.ts's Bed) in the same run.
//
// The client opens RATE TCP connections per second for SECONDS seconds through a fullNAT service on
// the active node and holds them open. Lag of one flow = the standby's kernel NEW event for it
// minus the active's (both read with `conntrack -E -o timestamp` on one machine clock): what a
// takeover depends on, end to end (reader, channel, install). CPU = the daemons' user+system time
// during the load (ferrolb: both daemons, whole process; conntrackd: both daemons).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { nsExec, waitFor } from '../test/support/netns.js';
import { startClusterNode, stopDaemon, tempDir, type Daemon } from '../test/support/daemon.js';
import { parseCtLine, flowKey } from '../src/dataplane/ct-replica.js';
import type { ClusterStatus } from '../src/cluster/status.js';
import { Bed } from './l2.js';

const NAMES = ['lb1', 'lb2'] as const;
const API_PORT = 11190;

export interface LagFigures {
  /** Flows in the active's kernel after the load. */
  readonly flows: number;
  /** Flows the standby's kernel did not hold 10 s after the load. */
  readonly missing: number;
  /** Flows whose NEW event both readers caught (the lag figures are over these). */
  readonly lagSamples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** User+system CPU of the sync daemons (both nodes) during the load, ms. */
  readonly cpuMs: number;
}

export interface HaBenchResult {
  readonly rate: number;
  readonly seconds: number;
  readonly ferrolb: LagFigures | { readonly error: string };
  readonly conntrackd: LagFigures | { readonly error: string };
  readonly load: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number);
};
const attempt = async (f: () => Promise<LagFigures>) => {
  try {
    return await f();
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] ?? String(e) };
  }
};

/** Epoch ms of the first NEW event of each flow to `vip`:80 in `ns`. */
function newEvents(bed: Bed, ns: string, vip: string): { seen: Map<string, number>; proc: ChildProcess } {
  const proc = bed.t.spawn(ns, 'conntrack', [
    '-E',
    '-e',
    'NEW',
    '-o',
    'timestamp,extended',
    '-b',
    String(16 << 20),
  ]);
  const seen = new Map<string, number>();
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    const m = /^\[(\d+)\.(\d+)\]\s*(.*)$/.exec(l);
    if (!m) return;
    const e = parseCtLine(m[3] as string);
    if (!e || e.flow.orig.dst !== vip || e.flow.orig.dport !== 80) return;
    const k = flowKey(e.flow);
    if (!seen.has(k)) seen.set(k, Number(m[1]) * 1000 + Number((m[2] as string).padEnd(6, '0')) / 1000);
  });
  return { seen, proc };
}

/** Opens `rate` connections/s for `secs` s to vip:80 and holds them; prints "done N". */
function loader(bed: Bed, vip: string, rate: number, secs: number): ChildProcess {
  return bed.t.spawn(bed.client, process.execPath, [
    '-e',
    `const net=require('net');const keep=[];let n=0;const per=${Math.max(1, Math.round(rate / 100))};` +
      `const t=setInterval(()=>{for(let i=0;i<per;i++){const s=net.connect({host:${JSON.stringify(vip)},port:80});s.on('error',()=>{});keep.push(s);n++}},10);` +
      `setTimeout(()=>{clearInterval(t);console.log('done '+n)},${secs * 1000});`,
  ]);
}

const cpuMs = (pid: number | undefined): number => {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100; // utime+stime, USER_HZ = 100
  } catch {
    return 0;
  }
};

const cpuOf = (pids: readonly (number | undefined)[]): number => {
  let t = 0;
  for (const p of pids) t += cpuMs(p);
  return t;
};

async function measure(
  bed: Bed,
  active: string,
  standby: string,
  vip: string,
  rate: number,
  secs: number,
  pids: () => (number | undefined)[],
): Promise<LagFigures> {
  const a = newEvents(bed, active, vip);
  const b = newEvents(bed, standby, vip);
  await sleep(500);
  const cpu0 = cpuOf(pids());
  const load = loader(bed, vip, rate, secs);
  const out: string[] = [];
  createInterface({ input: load.stdout! }).on('line', (l) => out.push(l));
  await waitFor(
    'the load',
    () => (out.some((l) => l.startsWith('done')) ? true : undefined),
    (secs + 30) * 1000,
    100,
  );
  const keysIn = async (ns: string) =>
    new Set(
      (
        await nsExec(ns, 'conntrack', ['-L', '-o', 'extended', '-p', 'tcp', '--orig-dst', vip]).catch(
          () => '',
        )
      )
        .split('\n')
        .flatMap((l) => {
          const e = parseCtLine(l);
          return e ? [flowKey(e.flow)] : [];
        }),
    );
  // Settle: the standby's kernel catches up (bounded). Missing = in the active's kernel, not in the
  // standby's (the event readers may drop events of a burst; the tables do not).
  const t0 = Date.now();
  let missing = 0;
  let activeKeys = new Set<string>();
  for (;;) {
    activeKeys = await keysIn(active);
    const standbyKeys = await keysIn(standby);
    missing = [...activeKeys].filter((k) => !standbyKeys.has(k)).length;
    if (missing === 0 || Date.now() - t0 > 10_000) break;
    await sleep(500);
  }
  const cpu1 = cpuOf(pids());
  const lags: number[] = [];
  for (const [k, t] of a.seen) {
    const u = b.seen.get(k);
    if (u !== undefined) lags.push(Math.max(0, u - t));
  }
  for (const p of [a.proc, b.proc, load]) p.kill('SIGKILL');
  if (activeKeys.size === 0) throw new Error(`no flow on the active (${out.join(' ')})`);
  return {
    flows: activeKeys.size,
    lagSamples: lags.length,
    missing,
    p50Ms: Math.round(pct(lags, 50) * 10) / 10,
    p99Ms: Math.round(pct(lags, 99) * 10) / 10,
    maxMs: Math.round(Math.max(...lags) * 10) / 10,
    cpuMs: Math.round(cpu1 - cpu0),
  };
}

async function ferrolbRun(bed: Bed, vip: string, rate: number, secs: number): Promise<LagFigures> {
  const key = randomBytes(32).toString('base64');
  const dirs = new Map(NAMES.map((n) => [n, tempDir('ferrolb-habench-')]));
  const daemons = new Map<string, Daemon>();
  try {
    await Promise.all(
      NAMES.map(async (n) => {
        const dir = dirs.get(n)!.path;
        writeFileSync(join(dir, 'key'), key + '\n');
        writeFileSync(join(dir, 'cfg.yaml'), bed.clusterConfig('habench', join(dir, 'key'), 100, vip));
        daemons.set(
          n,
          await startClusterNode(bed.lb.get(n)!.ns, dir, n, `${bed.lb.get(n)!.addr}:${API_PORT}`),
        );
      }),
    );
    const owner = await waitFor(
      'one owner, both synced',
      async () => {
        const sts = await Promise.all(
          NAMES.map((n) => bed.get<ClusterStatus>(n, API_PORT, '/api/v1/cluster')),
        );
        const o = sts[0]?.owners.find((x) => x.address === vip)?.owner;
        return o && sts.every((s) => s?.synced && s.owners.find((x) => x.address === vip)?.owner === o)
          ? o
          : undefined;
      },
      60_000,
      100,
    );
    const standby = NAMES.find((n) => n !== owner)!;
    const r = await measure(bed, bed.lb.get(owner)!.ns, bed.lb.get(standby)!.ns, vip, rate, secs, () =>
      [...daemons.values()].map((d) => d.proc.pid),
    );
    if (process.env.FERROLB_HA_DEBUG)
      for (const n of [owner, standby]) {
        const m = await nsExec(bed.client, 'curl', [
          '-sf',
          `http://${bed.lb.get(n)!.addr}:${API_PORT}/metrics`,
        ]);
        console.log(
          n,
          m
            .split('\n')
            .filter((l) => /^ferrolb_(ct_sync|sync)/.test(l))
            .join(' | '),
        );
        console.log(n, JSON.stringify((await bed.get<ClusterStatus>(n, API_PORT, '/api/v1/cluster'))?.sync));
        console.log(
          n,
          daemons
            .get(n)!
            .logs.filter((l) => /conntrack/.test(l))
            .slice(-5)
            .join('\n'),
        );
      }
    return r;
  } finally {
    await Promise.all([...daemons.values()].map((d) => stopDaemon(d, 'SIGKILL')));
    for (const d of dirs.values()) d.remove();
    await bed.wipeNodes({ conntrack: true });
  }
}

const ctdConfig = (dir: string, self: string, peer: string, dev: string, ignore: string[]) => `Sync {
  Mode FTFW {
    DisableExternalCache On
  }
  UDP {
    IPv4_address ${self}
    IPv4_Destination_Address ${peer}
    Port 3780
    Interface ${dev}
    Checksum on
  }
}
General {
  HashSize 32768
  HashLimit 262144
  LogFile ${join(dir, 'log')}
  Syslog off
  LockFile ${join(dir, 'lock')}
  UNIX {
    Path ${join(dir, 'ctl')}
  }
  NetlinkBufferSize 2097152
  NetlinkBufferSizeMaxGrowth 8388608
  Filter From Userspace {
    Protocol Accept {
      TCP
      UDP
    }
    Address Ignore {
${ignore.map((a) => `      IPv4_address ${a}`).join('\n')}
    }
  }
}
`;

async function conntrackdRun(bed: Bed, vip: string, rate: number, secs: number): Promise<LagFigures> {
  const [a, b] = NAMES.map((n) => bed.lb.get(n)!);
  const nat = `table ip ctdbench {
  chain pre { type nat hook prerouting priority dstnat; ip daddr ${vip} tcp dport 80 dnat to ${bed.net}.50:8080; }
  chain post { type nat hook postrouting priority srcnat; ct status dnat ip daddr ${bed.net}.50 snat to ${vip}; }
}
`;
  const dirs = NAMES.map(() => tempDir('ferrolb-habench-ctd-'));
  const procs: ChildProcess[] = [];
  try {
    for (const lb of [a!, b!]) await nsExec(lb.ns, 'sh', ['-c', `printf '%s' '${nat}' | nft -f -`]);
    await nsExec(a!.ns, 'ip', ['addr', 'add', `${vip}/32`, 'dev', a!.dev]);
    await nsExec(a!.ns, 'arping', ['-U', '-c', '1', '-I', a!.dev, vip]).catch(() => '');
    for (const [i, lb] of [a!, b!].entries()) {
      const peer = [a!, b!][1 - i]!;
      const conf = join(dirs[i]!.path, 'conntrackd.conf');
      writeFileSync(
        conf,
        ctdConfig(dirs[i]!.path, lb.addr, peer.addr, lb.dev, ['127.0.0.1', a!.addr, b!.addr]),
      );
      procs.push(spawn('ip', ['netns', 'exec', lb.ns, 'conntrackd', '-C', conf], { stdio: 'ignore' }));
    }
    await sleep(1500);
    for (const p of procs)
      if (p.exitCode !== null) throw new Error(`conntrackd exited (${p.exitCode}): ${readLog(dirs)}`);
    return await measure(bed, a!.ns, b!.ns, vip, rate, secs, () => procs.map((p) => p.pid));
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    for (const lb of [a!, b!])
      await nsExec(lb.ns, 'sh', [
        '-c',
        `nft delete table ip ctdbench; ip addr del ${vip}/32 dev ${lb.dev}; conntrack -F; true`,
      ]).catch(() => '');
    for (const d of dirs) d.remove();
  }
}

const readLog = (dirs: { path: string }[]) =>
  dirs.map((d) => {
    try {
      return readFileSync(join(d.path, 'log'), 'utf8').slice(-300);
    } catch {
      return '';
    }
  });

export async function runHaBench(
  rate = Number(process.env.FERROLB_HA_RATE ?? 2000),
  seconds = Number(process.env.FERROLB_HA_SECONDS ?? 3),
): Promise<HaBenchResult> {
  const bed = new Bed(NAMES);
  try {
    await bed.build();
    bed.t.spawn(bed.backend, process.execPath, [
      '-e',
      `require('net').createServer(s=>{s.on('error',()=>{});s.pipe(s)}).listen(8080,'0.0.0.0')`,
    ]);
    const loadavg = async () =>
      (await nsExec(bed.client, 'cat', ['/proc/loadavg'])).split(' ').slice(0, 3).join(' ');
    const before = await loadavg();
    const conntrackd = process.env.FERROLB_HA_ONLY_FERROLB
      ? { error: 'skipped' }
      : await attempt(() => conntrackdRun(bed, `${bed.net}.201`, rate, seconds));
    const ferrolb = await attempt(() => ferrolbRun(bed, `${bed.net}.200`, rate, seconds));
    return { rate, seconds, ferrolb, conntrackd, load: `${before} → ${await loadavg()}` };
  } finally {
    await bed.t.cleanup();
  }
}

export function formatHa(r: HaBenchResult): string {
  const line = (name: string, f: LagFigures | { readonly error: string }) =>
    'error' in f
      ? `  ${name.padEnd(30)} FAILED: ${f.error}`
      : `  ${name.padEnd(30)} lag p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  max ${f.maxMs} ms  (${f.flows} flows, ${f.missing} not on the standby, lag over ${f.lagSamples})  CPU ${f.cpuMs} ms`;
  const ratio =
    'p99Ms' in r.ferrolb && 'p99Ms' in r.conntrackd && r.conntrackd.p99Ms > 0
      ? Math.round((r.ferrolb.p99Ms / r.conntrackd.p99Ms) * 100) / 100
      : '-';
  return [
    `\nHA sync: ${r.rate} new TCP connections/s for ${r.seconds} s, active NEW → standby kernel NEW`,
    line('ferrolb (channel + installs)', r.ferrolb),
    line('conntrackd FT-FW (no ext cache)', r.conntrackd),
    `  ferrolb ÷ conntrackd (p99): ${ratio}; load ${r.load}`,
  ].join('\n');
}
