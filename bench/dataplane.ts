// Data plane benchmark (not a test): on the e2e topology (client — LB — backend), measure
//   • connections/s (wrk, one request per connection) and bulk TCP throughput (iperf3)
//     direct to the backend (routed through the LB namespace, no NAT) vs via the VIP (ferrolb's nft
//     table) vs through HAProxy (mode tcp) in the LB namespace — same run, same hosts; plus the VIP
//     on ports of a service with source ranges (the filter's per-packet cost);
//   • cold programming of 10k services × 8 endpoints through the Applier (compile + nft + VIPs),
//     then a one-endpoint incremental change and a no-op re-sync by a fresh (restarted) applier;
//   • the same 10k services each with source ranges (3 CIDRs, two overlapping → 2 interval elements):
//     cold, no-op re-sync by a fresh applier, one service's ranges changed.
// Goals (issue 3): VIP ≥ 0.90 × direct; VIP ≥ 1.5 × HAProxy; cold programming ≤ 5 s.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { nsExec, Topology, waitFor } from '../test/support/netns.js';
import { buildLbTopology, VIP4, type LbTopo } from '../test/e2e/support-dataplane/topo.js';
import { Applier } from '../src/dataplane/applier.js';
import { netnsRunner } from '../src/dataplane/exec.js';
import { syncVips } from '../src/dataplane/vip.js';
import type { DataplaneService } from '../src/dataplane/types.js';

export interface PathNumbers {
  direct: number;
  vip: number;
  haproxy: number;
  /** Via the VIP, to a service with source ranges (the client inside them). */
  ranged: number;
  vipOverDirect: number;
  vipOverHaproxy: number;
  rangedOverVip: number;
}

export interface DataplaneBenchResult {
  durationSeconds: number;
  connectionsPerSecond: PathNumbers;
  throughputGbps: PathNumbers;
  /** seconds: nft table (compile + transaction); vipSeconds: putting the VIPs on ferrolb0. */
  cold: {
    services: number;
    endpointsPerService: number;
    seconds: number;
    vipSeconds: number;
    statements: number;
  };
  incremental: { seconds: number; statements: number };
  resyncNoop: { seconds: number; statements: number };
  /** 10k services × 8 endpoints, every one with source ranges. */
  sourceRanges: {
    cold: { seconds: number; statements: number };
    resyncNoop: { seconds: number; statements: number };
    change: { seconds: number; statements: number };
  };
  goals: { vipOverDirect090: boolean; vipOverHaproxy150: boolean; cold5s: boolean };
}

const HAPROXY_BACKEND = `global
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend web
  # One port per path (8080 direct, 8081 VIP, 8082 HAProxy, 8083 VIP with source ranges): the paths never share a 4-tuple, so a
  # TIME_WAIT left by one path (with another TCP timestamp offset) never stalls the next one's SYN.
  bind :8080
  bind :8081
  bind :8082
  bind :8083
  http-request return status 200 content-type text/plain string ok hdr connection close
`;

const haproxyLb = (backend: string) => `global
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen http
  bind 10.201.1.1:81
  server b ${backend}:8082
listen bulk
  bind 10.201.1.1:5202
  server b ${backend}:5203
`;

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const paths = (x: Record<keyof typeof PATHS, number[]>): PathNumbers => ({
  direct: round(median(x.direct)),
  vip: round(median(x.vip)),
  haproxy: round(median(x.haproxy)),
  ranged: round(median(x.ranged)),
  vipOverDirect: round(median(x.vip.map((v, i) => v / x.direct[i]!)), 3),
  vipOverHaproxy: round(median(x.vip.map((v, i) => v / x.haproxy[i]!)), 3),
  rangedOverVip: round(median(x.ranged.map((v, i) => v / x.vip[i]!)), 3),
});

/** Where each path's traffic goes (distinct backend ports, see HAPROXY_BACKEND). */
const PATHS = {
  direct: { url: (b: string) => `http://${b}:8080/`, iperf: (b: string) => [b, 5201] as const },
  vip: { url: () => `http://${VIP4}:80/`, iperf: () => [VIP4, 5201] as const },
  haproxy: { url: () => 'http://10.201.1.1:81/', iperf: () => ['10.201.1.1', 5202] as const },
  ranged: { url: () => `http://${VIP4}:82/`, iperf: () => [VIP4, 5204] as const },
};

async function wrk(t: LbTopo, url: string, seconds: number): Promise<number> {
  const out = await nsExec(
    t.client,
    'wrk',
    ['-t2', '-c64', `-d${seconds}s`, '-H', 'Connection: close', url],
    { timeoutMs: (seconds + 30) * 1000 },
  );
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!m) throw new Error(`wrk output not understood: ${out}`);
  return Number(m[1]);
}

async function iperf(t: LbTopo, host: string, port: number, seconds: number): Promise<number> {
  const out = await nsExec(
    t.client,
    'iperf3',
    ['-c', host, '-p', String(port), '-t', String(seconds), '-J'],
    {
      timeoutMs: (seconds + 30) * 1000,
    },
  );
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

/** 10k services × 8 endpoints, the model's default algorithm (roundrobin), fullnat. */
export function bigServiceSet(services: number, endpoints: number): DataplaneService[] {
  return Array.from({ length: services }, (_, i) => ({
    name: `bench/svc-${i}`,
    addresses: [`10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`],
    ports: [{ port: 80, protocol: 'TCP' as const, targetPort: 8080 }],
    mode: 'fullnat' as const,
    algorithm: 'roundrobin' as const,
    endpoints: Array.from({ length: endpoints }, (_, k) => {
      const j = i * endpoints + k;
      return {
        address: `172.${16 + (j >> 16)}.${(j >> 8) & 255}.${j & 255}`,
        weight: 1,
        state: 'active' as const,
      };
    }),
  }));
}

const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const r = await f();
  return [r, round((performance.now() - t0) / 1000, 3)];
};

/** Every service restricted: a shared office network plus its own /24, with an overlapping /25 inside. */
const withRanges = (s: DataplaneService, i: number, extra = ''): DataplaneService => ({
  ...s,
  sourceRanges: [
    '10.128.0.0/16',
    `192.168.${i & 255}.0/24`,
    `192.168.${i & 255}.128/25`,
    ...(extra ? [extra] : []),
  ],
});

async function rangesProgramming(topo: Topology, services: number, endpoints: number) {
  const run = netnsRunner(await topo.addNs('ranges'));
  const desired = bigServiceSet(services, endpoints).map((s, i) => withRanges(s, i));
  const [cold, coldS] = await timed(() => new Applier({ run, vipInterface: false }).apply(desired));
  const restarted = new Applier({ run, vipInterface: false });
  const [noop, noopS] = await timed(() => restarted.apply(desired));
  const changed = desired.map((s, i) => (i === services >> 1 ? withRanges(s, i, '172.31.0.0/16') : s));
  const [chg, chgS] = await timed(() => restarted.apply(changed));
  return {
    cold: { seconds: coldS, statements: cold.statements },
    resyncNoop: { seconds: noopS, statements: noop.statements },
    change: { seconds: chgS, statements: chg.statements },
  };
}

async function programming(topo: Topology, services: number, endpoints: number) {
  const ns = await topo.addNs('cold');
  const run = netnsRunner(ns);
  const desired = bigServiceSet(services, endpoints);
  // The table (compile + diff + one nft transaction), then the VIPs (one `ip -batch`), separately:
  // nodes that announce VIPs without owning them locally skip the second part.
  const [cold, coldS] = await timed(() => new Applier({ run, vipInterface: false }).apply(desired));
  const addresses = desired.flatMap((s) => s.addresses);
  const [, vipS] = await timed(() => syncVips(run, 'ferrolb0', addresses));
  // Restart: a fresh applier reads the table back (adoption) and finds nothing to do.
  const restarted = new Applier({ run });
  const [noop, noopS] = await timed(() => restarted.apply(desired));
  const changed = desired.map((s, i) =>
    i === services >> 1
      ? { ...s, endpoints: s.endpoints.map((e, k) => (k === 3 ? { ...e, state: 'inactive' as const } : e)) }
      : s,
  );
  const [inc, incS] = await timed(() => restarted.apply(changed));
  return {
    cold: {
      services,
      endpointsPerService: endpoints,
      seconds: coldS,
      vipSeconds: vipS,
      statements: cold.statements,
    },
    incremental: { seconds: incS, statements: inc.statements },
    resyncNoop: { seconds: noopS, statements: noop.statements },
  };
}

export async function runDataplaneBench(
  opts: { seconds?: number; rounds?: number; services?: number; endpoints?: number } = {},
): Promise<DataplaneBenchResult> {
  if (process.getuid?.() !== 0) throw new Error('the data plane benchmark needs root (network namespaces)');
  const seconds = opts.seconds ?? 5;
  const topo = new Topology();
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-bench-'));
  try {
    const t = await buildLbTopology(topo, { backends: 1, servers: false });
    const b = t.backends[0]!;
    await nsExec(t.client, 'ip', ['route', 'add', '10.201.2.0/24', 'via', '10.201.1.1']);
    for (const kv of ['net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1'])
      await nsExec(t.client, 'sysctl', ['-qw', kv]);
    writeFileSync(join(dir, 'backend.cfg'), HAPROXY_BACKEND);
    writeFileSync(join(dir, 'lb.cfg'), haproxyLb(b.v4));
    topo.spawn(b.ns, 'haproxy', ['-db', '-f', join(dir, 'backend.cfg')]);
    for (const port of ['5201', '5202', '5203', '5204']) topo.spawn(b.ns, 'iperf3', ['-s', '-p', port]);
    topo.spawn(t.lb, 'haproxy', ['-db', '-f', join(dir, 'lb.cfg')]);
    const applier = new Applier({ run: t.run });
    await applier.apply([
      {
        name: 'bench',
        addresses: [VIP4],
        ports: [
          { port: 80, protocol: 'TCP', targetPort: 8081 },
          { port: 5201, protocol: 'TCP', targetPort: 5202 },
        ],
        mode: 'default',
        algorithm: 'roundrobin',
        endpoints: [{ address: b.v4, weight: 1, state: 'active' }],
      },
      {
        // The client (10.201.1.2) is inside: each new connection pays the filter's two lookups.
        name: 'bench-ranged',
        addresses: [VIP4],
        ports: [
          { port: 82, protocol: 'TCP', targetPort: 8083 },
          { port: 5204, protocol: 'TCP', targetPort: 5204 },
        ],
        mode: 'default',
        algorithm: 'roundrobin',
        endpoints: [{ address: b.v4, weight: 1, state: 'active' }],
        sourceRanges: ['10.201.1.0/24', '192.168.0.0/16', '172.16.0.0/12', 'fd01:1::/64'],
      },
    ]);
    const direct = `http://${b.v4}:8080/`;
    await waitFor('servers', async () => ((await wrk(t, direct, 1)) > 0 ? true : undefined), 15_000, 300);
    await waitFor(
      'haproxy on the LB',
      async () => ((await wrk(t, 'http://10.201.1.1:81/', 1)) > 0 ? true : undefined),
      15_000,
      300,
    );
    // Interleave the paths so background noise hits all of them alike; each ratio is the median of
    // per-round ratios (the paths of one round run back to back), absolute numbers are medians.
    const rounds = opts.rounds ?? 5;
    const cps: Record<keyof typeof PATHS, number[]> = { direct: [], vip: [], haproxy: [], ranged: [] };
    const bw: Record<keyof typeof PATHS, number[]> = { direct: [], vip: [], haproxy: [], ranged: [] };
    const order = ['direct', 'vip', 'haproxy', 'ranged'] as const;
    for (let r = 0; r < rounds; r++) {
      for (const k of order) cps[k].push(await wrk(t, PATHS[k].url(b.v4), seconds));
      for (const k of order) {
        const [host, port] = PATHS[k].iperf(b.v4);
        bw[k].push(await iperf(t, host, port, seconds));
      }
    }
    const prog = await programming(topo, opts.services ?? 10_000, opts.endpoints ?? 8);
    const sourceRanges = await rangesProgramming(topo, opts.services ?? 10_000, opts.endpoints ?? 8);
    const connectionsPerSecond = paths(cps);
    const throughputGbps = paths(bw);
    return {
      durationSeconds: seconds,
      connectionsPerSecond,
      throughputGbps,
      ...prog,
      sourceRanges,
      goals: {
        vipOverDirect090: connectionsPerSecond.vipOverDirect >= 0.9 && throughputGbps.vipOverDirect >= 0.9,
        vipOverHaproxy150: connectionsPerSecond.vipOverHaproxy >= 1.5 && throughputGbps.vipOverHaproxy >= 1.5,
        cold5s: prog.cold.seconds <= 5,
      },
    };
  } finally {
    await topo.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node dist/bench/dataplane.js` runs it alone and prints JSON.
if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runDataplaneBench(), null, 2));
}
