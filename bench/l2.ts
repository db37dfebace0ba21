// `npm run bench -- l2`: Layer 2 failover interruption, ferrolb next to keepalived on the same
// topology in the same run, at equal detection budgets: ferrolb heartbeats 100 ms × 3 next to VRRPv3
// advert 100 ms (master down after 3 adverts + skew), and each at its fastest — ferrolb 10 ms × 3
// (FERROLB_L2_FAST=0 leaves it out) next to VRRPv3's 10 ms.
//
// Topology: a switch namespace (bridge), a client, a backend (TCP server) and 3 LB namespaces. The
// client opens a new TCP connection to the service address every 10 ms, each independent of the
// others (2 s timeout: a loaded 2-core machine answers late), so a lost SYN costs 10 ms of the
// measurement, not the kernel's 1 s SYN retry.
// A run: the owner NODE dies — its link goes down and its process is SIGKILLed right after
// (a dead process alone leaves a kernel that still answers and forwards, which is not a failure of
// the node) — and we measure the time to the end of the first successful connection STARTED after
// the kill; for ferrolb also the new owner's election time (its `since`): detection + election.
// Then the node comes back (ferrolb: sticky, it takes nothing back), and the next run kills the
// current owner. ferrolb: daemons with the data plane on (fullnat to the backend); keepalived: the
// address on the master's link, a TCP server on every LB node.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Topology, nsExec, waitFor } from '../test/support/netns.js';
import { startClusterNode, stopDaemon, tempDir, type Daemon } from '../test/support/daemon.js';
import type { L2View } from '../src/l2/view.js';

const NAMES = ['lb1', 'lb2', 'lb3'] as const;
const API_PORT = 11190;

export interface FailoverFigures {
  readonly runs: number;
  readonly samplesMs: number[];
  readonly p50Ms: number;
  readonly maxMs: number;
  /** Owner changes seen when a killed node returned (ferrolb: must be 0). */
  readonly movesOnReturn?: number;
  /** Runs where no new connection succeeded within 15 s (not in the samples; the series goes on). */
  readonly failedRuns: number;
  /**
   * ferrolb: link down → the new owner's election decision (its `since`), per run — detection plus
   * election; the rest of each sample is the kernel write, the gratuitous ARP and the client.
   */
  readonly decideMs?: number[];
  /** Runs left out: the new owner had decided before the kill (the victim was a standby by then). */
  readonly standbyKills?: number;
}

type Series = FailoverFigures | { readonly error: string };

export interface L2BenchResult {
  /** Heartbeat 100 ms × 3 (the default). */
  readonly ferrolb: Series;
  /** Heartbeats at keepalived's fastest advert, 10 ms × 3 (FERROLB_L2_FAST=0 leaves it out). */
  readonly ferrolbFast?: Series;
  /** VRRPv3 advert 10 ms, its fastest. */
  readonly keepalived: Series;
  /** VRRPv3 advert 100 ms: the same detection budget as ferrolb's default (3 × 100 ms + skew). */
  readonly keepalived100?: Series;
  /** ferrolb 100 ms ÷ keepalived 100 ms, p50 (equal detection budget). */
  readonly ratioP50?: number;
  /** ferrolb 10 ms ÷ keepalived 10 ms, p50 (each at the fastest setting). */
  readonly ratioFastP50?: number;
  readonly load: string;
}

const attempt = async (f: () => Promise<FailoverFigures>) => {
  try {
    return await f();
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] ?? String(e) };
  }
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const figures = (
  samples: number[],
  failedRuns: number,
  moves?: number,
  decide?: number[],
): FailoverFigures => ({
  failedRuns,
  runs: samples.length,
  samplesMs: samples,
  p50Ms: pct(samples, 50),
  maxMs: Math.max(...samples),
  ...(moves !== undefined ? { movesOnReturn: moves } : {}),
  ...(decide ? { decideMs: decide } : {}),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Node source of a TCP server answering `text` to each connection, surviving resets. */
export function resilientServer(port: number, text: string): string {
  return (
    `require('net').createServer(s=>{s.on('error',()=>{});s.end(${JSON.stringify(text)})})` +
    `.on('error',e=>{console.error(e);process.exit(1)}).listen(${port},'0.0.0.0')`
  );
}

export class Bed {
  /** The LB nodes' names (three for the L2 bench; the HA e2e runs two). */
  constructor(readonly names: readonly string[] = NAMES) {}
  readonly t = new Topology();
  readonly net = `10.${180 + (parseInt(this.t.id.slice(0, 2), 16) % 40)}.${parseInt(this.t.id.slice(2, 4), 16)}`;
  sw = '';
  client = '';
  backend = '';
  readonly lb = new Map<string, { ns: string; dev: string; addr: string }>();

  async build(): Promise<void> {
    this.sw = await this.t.addNs('sw');
    await nsExec(this.sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await nsExec(this.sw, 'ip', ['link', 'set', 'br0', 'up']);
    const attach = async (ns: string, addr: string) => {
      const l = await this.t.link(ns, [`${addr}/24`], this.sw, []);
      await nsExec(this.sw, 'ip', ['link', 'set', l.bDev, 'master', 'br0']);
      await nsExec(this.sw, 'ip', ['link', 'set', l.bDev, 'up']);
      return l.aDev;
    };
    this.client = await this.t.addNs('c');
    await attach(this.client, `${this.net}.2`);
    this.backend = await this.t.addNs('b');
    await attach(this.backend, `${this.net}.50`);
    for (const [i, n] of this.names.entries()) {
      const ns = await this.t.addNs(n);
      const addr = `${this.net}.${11 + i}`;
      const dev = await attach(ns, addr);
      await nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      this.lb.set(n, { ns, dev, addr });
    }
  }

  /**
   * The config every node runs: a Cluster of the three nodes (key file `keyFile`), a one-address
   * pool announced at Layer 2, and the service `web` on it (by default port 80, fullnat to the
   * backend's 8080; `spec` replaces the LoadBalancer's spec).
   */
  clusterConfig(
    name: string,
    keyFile: string,
    heartbeatMs: number,
    vip: string,
    spec = `{addresses: ["${vip}"], mode: fullnat, ports: [{port: 80, targetPort: 8080}], endpoints: [{address: ${this.net}.50}]}`,
  ): string {
    return `apiVersion: ferrolb.io/v1
kind: Cluster
metadata: {name: ${name}}
spec:
  authKeyFile: ${keyFile}
  heartbeatInterval: ${heartbeatMs}ms
  nodes:
${this.names.map((m) => `    - {name: ${m}, address: ${this.lb.get(m)!.addr}}`).join('\n')}
---
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: l2}
spec: {addresses: ["${vip}/32"]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2}
spec: {ipAddressPools: [l2]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web}
spec: ${spec}
`;
  }

  /** Node `n`'s GET /api/v1/l2, asked from the client (undefined: no answer). */
  /**
   * SIGKILL leaves the kernel state (restart = adopt): the next series starts from clean nodes —
   * ferrolb's tables and dummy link, and (`conntrack`) the connection table too.
   */
  async wipeNodes(opts: { conntrack?: boolean } = {}): Promise<void> {
    const cmd = `nft delete table inet ferrolb; nft delete table arp ferrolb_l2; nft delete table ip6 ferrolb_l2; ip link del ferrolb0;${opts.conntrack ? ' conntrack -F;' : ''} true`;
    for (const lb of this.lb.values()) await nsExec(lb.ns, 'sh', ['-c', cmd]).catch(() => '');
  }

  view(n: string, port: number): Promise<L2View | undefined> {
    return this.get<L2View>(n, port, '/api/v1/l2');
  }

  /** Node `n`'s GET `path` (JSON), asked from the client (undefined: no answer). */
  async get<T>(n: string, port: number, path: string): Promise<T | undefined> {
    const r = await nsExec(this.client, 'curl', [
      '-sf',
      '--max-time',
      '2',
      `http://${this.lb.get(n)!.addr}:${port}${path}`,
    ]).catch(() => '');
    return r ? (JSON.parse(r) as T) : undefined;
  }

  /** The owner of `vip` every node in `live` names, once it announces it. */
  async agreed(live: readonly string[], vip: string, port: number): Promise<string | undefined> {
    const vs = await Promise.all(live.map((n) => this.view(n, port)));
    const owners = new Set(vs.map((v) => v?.items.find((e) => e.address === vip)?.owner));
    const o = [...owners][0];
    if (owners.size !== 1 || !o) return undefined;
    const ov = vs[live.indexOf(o)];
    return ov?.items.find((e) => e.address === vip)?.state === 'announcing' ? o : undefined;
  }

  /**
   * A TCP server in `ns` on `port` that answers every connection with `text`. A reset connection is
   * normal here (a takeover resets the flows the dead node carried): without an error listener
   * Node throws ECONNRESET and the server exits — what looked like a 30 s data-path stall after a
   * node's return in the first runs of this bench was this server gone (RST to every SYN).
   */
  serve(ns: string, port: number, text: string): ChildProcess {
    return this.t.spawn(ns, process.execPath, ['-e', resilientServer(port, text)]);
  }

  /** The client prober: prints the epoch ms of every successful new connection. */
  /** Start → end of each successful connection. */
  readonly done = new Map<number, number>();

  prober(address: string, port: number): { ok: number[]; proc: ChildProcess } {
    const done = this.done;
    const proc = this.t.spawn(this.client, process.execPath, [
      '-e',
      // A new connection every 10 ms whatever the others do (each may take up to 2 s): a slow answer
      // on a loaded machine neither counts as an outage nor delays the next probe.
      `const net=require('net');const go=()=>{const t=Date.now();const s=net.connect({host:${JSON.stringify(address)},port:${port},timeout:2000});` +
        `const end=()=>s.destroy();s.on('data',()=>{console.log('ok '+t+' '+Date.now());end()});` +
        `s.on('timeout',end);s.on('error',end)};setInterval(go,10);`,
    ]);
    const ok: number[] = [];
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      // The connection's start: one opened before the kill and finished after it proves nothing.
      const m = /^ok (\d+) (\d+)/.exec(l);
      if (m) {
        ok.push(Number(m[1]));
        done.set(Number(m[1]), Number(m[2]));
      }
    });
    return { ok, proc };
  }

  async firstOkAfter(ok: number[], t0: number, timeoutMs = 15_000): Promise<number> {
    try {
      return await waitFor(
        'a successful connection after the kill',
        () => ok.find((t) => t > t0),
        timeoutMs,
        5,
      );
    } catch (e) {
      if (process.env.FERROLB_L2_DEBUG) await this.dump();
      throw e;
    }
  }

  /** Steady state before a run: `n` successful connections started within the last 3 s. */
  async steady(ok: number[], n = 5): Promise<void> {
    try {
      await waitFor(
        'steady client connections',
        () => {
          const now = Date.now();
          return ok.filter((t) => t > now - 3000).length >= n ? true : undefined;
        },
        30_000,
        50,
      );
    } catch (e) {
      if (process.env.FERROLB_L2_DEBUG) await this.dump();
      throw e;
    }
  }

  /** What the kernel and the daemons hold (FERROLB_L2_DEBUG=1, when a run cannot start). */
  async dump(): Promise<void> {
    const q = (ns: string, cmd: string, args: string[]) =>
      nsExec(ns, cmd, args).catch((x: Error) => x.message);
    console.log('client neigh', await q(this.client, 'ip', ['neigh']));
    console.log('backend neigh', await q(this.backend, 'ip', ['neigh']));
    for (const [n, lb] of this.lb) {
      console.log(n, (await q(lb.ns, 'ip', ['-o', 'link', 'show', lb.dev])).match(/link\/ether \S+/)?.[0]);
      console.log(
        n,
        (await q(lb.ns, 'nft', ['list', 'map', 'inet', 'ferrolb', 'svc4'])).replace(/\s+/g, ' '),
      );
      console.log(n, (await q(lb.ns, 'nft', ['list', 'table', 'arp', 'ferrolb_l2'])).replace(/\s+/g, ' '));
      console.log(n, await q(lb.ns, 'curl', ['-s', `http://${lb.addr}:${API_PORT}/api/v1/l2`]));
    }
  }
}

async function ferrolbRuns(
  bed: Bed,
  runs: number,
  heartbeatMs: number,
  vip: string,
): Promise<FailoverFigures> {
  const key = randomBytes(32).toString('base64');
  const dirs = new Map(NAMES.map((n) => [n, tempDir('ferrolb-l2bench-')]));
  const daemons = new Map<string, Daemon>();
  const cfg = (n: string) =>
    bed.clusterConfig('bench', join(dirs.get(n as (typeof NAMES)[number])!.path, 'key'), heartbeatMs, vip);
  const start = async (n: string) => {
    const dir = dirs.get(n as (typeof NAMES)[number])!.path;
    writeFileSync(join(dir, 'key'), key + '\n');
    writeFileSync(join(dir, 'cfg.yaml'), cfg(n));
    const d = await startClusterNode(bed.lb.get(n)!.ns, dir, n, `${bed.lb.get(n)!.addr}:${API_PORT}`);
    daemons.set(n, d);
  };
  const view = (n: string) => bed.view(n, API_PORT);
  const agreed = (live: string[]) => bed.agreed(live, vip, API_PORT);
  const samples: number[] = [];
  const decide: number[] = [];
  let standbyKills = 0;
  let failed = 0;
  let moves = 0;
  try {
    await Promise.all(NAMES.map(start));
    let owner = await waitFor('ferrolb agreement', () => agreed([...NAMES]), 60_000, 100);
    const probe = bed.prober(vip, 80);
    await bed.steady(probe.ok);
    for (let r = 0; r < runs; r++) {
      await bed.steady(probe.ok).catch((e: Error) => {
        throw new Error(`run ${r}: ${e.message}`);
      });
      // Still the owner? (An owner change between runs would make the kill hit a standby.)
      owner = await waitFor('agreement before the kill', () => agreed([...NAMES]), 20_000, 50);
      const victim = owner;
      const lb = bed.lb.get(victim)!;
      if (process.env.FERROLB_L2_DEBUG)
        console.log(
          'run',
          r,
          'owner',
          victim,
          (await nsExec(lb.ns, 'ip', ['-o', 'link', 'show', lb.dev])).match(/link\/ether \S+/)?.[0],
          'client:',
          await nsExec(bed.client, 'ip', ['neigh', 'show', vip]),
          'backend:',
          await nsExec(bed.backend, 'ip', ['neigh', 'show', vip]),
        );
      // The node dies: link down (t0 = when the kernel says it is down: a command's spawn takes
      // tens of ms, during which the node still serves), then its process.
      await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'down']);
      const t0 = Date.now();
      daemons.get(victim)!.proc.kill('SIGKILL');
      const first = await bed.firstOkAfter(probe.ok, t0).catch(() => undefined);
      if (first === undefined) failed++;
      else samples.push((bed.done.get(first) ?? first) - t0);
      await daemons.get(victim)!.exited;
      const live = NAMES.filter((n) => n !== victim);
      owner = await waitFor('new owner', () => agreed(live), 20_000, 50);
      const since = (await view(owner))?.items.find((e) => e.address === vip)?.since;
      if (since) decide.push(since - t0);
      // Decided before the link went down: the victim was no longer the owner when it died.
      if (since && since < t0 && first !== undefined) {
        samples.pop();
        decide.pop();
        standbyKills++;
      }
      // Its daemon first, then its link: the kernel state the SIGKILL left (owned sets live 5 s)
      // cannot answer ARP before the daemon has cleared it.
      await start(victim);
      await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'up']);
      await waitFor(
        'the node to return',
        async () => ((await view(victim))?.items.find((e) => e.address === vip)?.owner ? true : undefined),
        30_000,
        100,
      );
      await sleep(1000);
      const after = await waitFor('agreement after the return', () => agreed([...NAMES]), 20_000, 100);
      if (after !== owner) {
        moves++;
        // Which node had it, which has it now, and what each node said: for the next look at a move.
        const vs = await Promise.all(NAMES.map((n) => view(n)));
        console.error(
          `l2 bench: run ${r}: ${victim} returned, ${vip} moved ${owner} → ${after}; views: ${NAMES.map((n, i) => `${n}=${vs[i]?.items.find((e) => e.address === vip)?.owner ?? '?'}@${vs[i]?.items.find((e) => e.address === vip)?.since ?? '?'}`).join(' ')}`,
        );
      }
      owner = after;
    }
    probe.proc.kill('SIGKILL');
  } finally {
    await Promise.all([...daemons.values()].map((d) => stopDaemon(d, 'SIGKILL')));
    for (const d of dirs.values()) d.remove();
    await bed.wipeNodes();
  }
  return { ...figures(samples, failed, moves, decide), ...(standbyKills ? { standbyKills } : {}) };
}

async function keepalivedRuns(
  bed: Bed,
  runs: number,
  vip: string,
  advertMs: number,
): Promise<FailoverFigures> {
  const dir = tempDir('ferrolb-l2bench-ka-');
  const procs = new Map<string, ChildProcess>();
  const said: string[] = [];
  const prio: Record<string, number> = { lb1: 150, lb2: 100, lb3: 50 };
  // Pid files per start: a returning keepalived refused to run on the previous one's ("daemon is
  // already running") and the series ran out of backups.
  const gens = new Map<string, number>();
  const start = (n: string) => {
    const lb = bed.lb.get(n)!;
    const gen = (gens.get(n) ?? 0) + 1;
    gens.set(n, gen);
    const conf = join(dir.path, `${n}.conf`);
    writeFileSync(
      conf,
      `global_defs {\n  router_id ${n}\n  vrrp_garp_master_delay 1\n  vrrp_garp_master_repeat 3\n}\n` +
        `vrrp_instance bench {\n  state BACKUP\n  interface ${lb.dev}\n  virtual_router_id ${advertMs === 10 ? 51 : 52}\n  version 3\n` +
        `  priority ${prio[n]}\n  advert_int ${advertMs / 1000}\n  nopreempt\n  virtual_ipaddress {\n    ${vip}/24 dev ${lb.dev}\n  }\n}\n`,
    );
    const p = spawn(
      'ip',
      [
        'netns',
        'exec',
        lb.ns,
        'keepalived',
        '--dont-fork',
        '--vrrp',
        '-f',
        conf,
        '-p',
        join(dir.path, `${n}.${gen}.pid`),
        '-r',
        join(dir.path, `${n}.${gen}.vrrp.pid`),
        '--log-console',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // The last lines of each keepalived, for the error when a series cannot go on.
    for (const s of [p.stdout, p.stderr])
      if (s)
        createInterface({ input: s }).on('line', (l) => {
          said.push(`${n}: ${l}`);
          if (said.length > 40) said.shift();
        });
    procs.set(n, p);
  };
  const master = async (except?: string) => {
    for (const n of NAMES.filter((x) => x !== except)) {
      const out = await nsExec(bed.lb.get(n)!.ns, 'ip', [
        '-o',
        'addr',
        'show',
        'dev',
        bed.lb.get(n)!.dev,
      ]).catch(() => '');
      if (out.includes(` ${vip}/`)) return n;
    }
    return undefined;
  };
  const servers = NAMES.map((n) => bed.serve(bed.lb.get(n)!.ns, 80, n));
  const samples: number[] = [];
  let failed = 0;
  try {
    for (const n of NAMES) start(n);
    let owner = await waitFor('a keepalived master', master, 30_000, 50);
    const probe = bed.prober(vip, 80);
    await bed.steady(probe.ok);
    for (let r = 0; r < runs; r++) {
      await bed.steady(probe.ok).catch((e: Error) => {
        throw new Error(`run ${r}: ${e.message}`);
      });
      const lb = bed.lb.get(owner)!;
      await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'down']);
      const t0 = Date.now();
      const p = procs.get(owner)!;
      const gone = new Promise((res) => p.once('exit', res));
      p.kill('SIGKILL'); // the `ip netns exec` wrapper execs keepalived: same PID
      const first = await bed.firstOkAfter(probe.ok, t0).catch(() => undefined);
      if (first === undefined) failed++;
      else samples.push((bed.done.get(first) ?? first) - t0);
      await gone;
      // keepalived's children (the VRRP process) die with their parent's SIGKILL? Make sure.
      await nsExec(lb.ns, 'sh', [
        '-c',
        `kill -9 $(cat ${join(dir.path, `${owner}.${gens.get(owner)}.vrrp.pid`)}) 2>/dev/null; true`,
      ]);
      await nsExec(lb.ns, 'ip', ['addr', 'flush', 'dev', lb.dev, 'to', `${vip}/32`]).catch(() => '');
      const victim = owner;
      owner = await waitFor(
        'new master',
        async () => {
          const m = await master();
          return m && m !== victim ? m : undefined;
        },
        20_000,
        20,
      ).catch((e: Error) => {
        throw new Error(`run ${r}: ${e.message}; keepalived said: ${said.slice(-12).join(' | ')}`);
      });
      await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'up']);
      start(victim);
      await sleep(1500);
      owner = (await master()) ?? owner;
    }
    probe.proc.kill('SIGKILL');
  } finally {
    for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const s of servers) s.kill('SIGKILL');
    for (const n of NAMES)
      await nsExec(bed.lb.get(n)!.ns, 'sh', [
        '-c',
        `kill -9 $(cat ${join(dir.path, `${n}.*.pid`)} 2>/dev/null) 2>/dev/null; true`,
      ]).catch(() => '');
    dir.remove();
  }
  return figures(samples, failed);
}

export async function runL2Bench(runs = Number(process.env.FERROLB_L2_RUNS ?? 10)): Promise<L2BenchResult> {
  const bed = new Bed();
  try {
    await bed.build();
    bed.serve(bed.backend, 8080, 'backend');
    const loadBefore = (await nsExec(bed.client, 'cat', ['/proc/loadavg'])).split(' ').slice(0, 3).join(' ');
    // Interleaved: each ferrolb series next to the keepalived one at the comparable setting.
    const ferrolb = await attempt(() => ferrolbRuns(bed, runs, 100, `${bed.net}.100`));
    const keepalived100 = await attempt(() => keepalivedRuns(bed, runs, `${bed.net}.103`, 100));
    const ferrolbFast =
      process.env.FERROLB_L2_FAST !== '0'
        ? await attempt(() => ferrolbRuns(bed, runs, 10, `${bed.net}.101`))
        : undefined;
    const keepalived = await attempt(() => keepalivedRuns(bed, runs, `${bed.net}.102`, 10));
    const loadAfter = (await nsExec(bed.client, 'cat', ['/proc/loadavg'])).split(' ').slice(0, 3).join(' ');
    const ratio = (a: Series | undefined, b: Series | undefined) =>
      a && b && 'p50Ms' in a && 'p50Ms' in b ? Math.round((a.p50Ms / b.p50Ms) * 100) / 100 : undefined;
    const r100 = ratio(ferrolb, keepalived100);
    const r10 = ratio(ferrolbFast, keepalived);
    return {
      ferrolb,
      ...(ferrolbFast ? { ferrolbFast } : {}),
      keepalived,
      keepalived100,
      ...(r100 !== undefined ? { ratioP50: r100 } : {}),
      ...(r10 !== undefined ? { ratioFastP50: r10 } : {}),
      load: `${loadBefore} → ${loadAfter}`,
    };
  } finally {
    await bed.t.cleanup();
  }
}

export function formatL2(r: L2BenchResult): string {
  const line = (name: string, f: Series) =>
    'error' in f
      ? `  ${name.padEnd(34)} FAILED: ${f.error}`
      : `  ${name.padEnd(34)} p50 ${String(f.p50Ms).padStart(5)} ms  max ${String(f.maxMs).padStart(5)} ms  (${f.runs} runs${f.failedRuns ? `, ${f.failedRuns} without a connection in 15 s` : ''}${f.movesOnReturn !== undefined ? `, ${f.movesOnReturn} moves on return` : ''}${f.standbyKills ? `, ${f.standbyKills} left out: owner changed before the kill` : ''})  [${f.samplesMs.join(', ')}]` +
        (f.decideMs
          ? `\n  ${''.padEnd(34)} decided (detection + election) p50 ${pct(f.decideMs, 50)} ms [${f.decideMs.join(', ')}]`
          : '');
  const met = 'maxMs' in r.ferrolb ? (r.ferrolb.maxMs <= 1000 ? 'met' : 'NOT met') : 'not measured';
  return [
    '\nLayer 2 failover: owner node dies (SIGKILL + link down) → first new client TCP connection',
    line('ferrolb (heartbeat 100 ms × 3)', r.ferrolb),
    ...(r.keepalived100 ? [line('keepalived VRRPv3 (advert 100 ms)', r.keepalived100)] : []),
    ...(r.ferrolbFast ? [line('ferrolb (heartbeat 10 ms × 3)', r.ferrolbFast)] : []),
    line('keepalived VRRPv3 (advert 10 ms)', r.keepalived),
    `  ferrolb ÷ keepalived (p50): ${r.ratioP50 ?? '-'} at 100 ms, ${r.ratioFastP50 ?? '-'} at 10 ms — goal max ≤ 1000 ms: ${met}; load ${r.load}`,
  ].join('\n');
}
