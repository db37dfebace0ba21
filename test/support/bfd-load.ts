// BFD and probes under config load, against a real BIRD2 peer (the e2e test and `npm run bench --
// bfd` share this): a `ferrolb run` in an LB namespace peers with BIRD (IPv4 and IPv6 sessions, BFD
// 100 ms × 3 both ways) and announces a service whose only endpoint has a tight TCP probe (50 ms
// timeout, one failure takes it out). Then one `ferroctl apply -f` of N services, while:
//   - tcpdump in BIRD's namespace timestamps every BFD packet ferrolb sends (kernel receive times);
//   - a sampler in the LB namespace times GET /healthz back to back;
//   - BIRD's own state (`show protocols`, `show bfd sessions`, the probed route's age) is read
//     before and after: an unchanged "since" means the session (or route) was never reset.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { nsExec, waitFor, Topology } from './netns.js';
import { FERROCTL, startDaemon, stopDaemon, tempDir, type Daemon } from './daemon.js';
import { Bird } from '../fixtures/bgp/e2e-harness.js';

export interface BfdLoadOptions {
  readonly services: number;
  readonly endpointsPerService?: number;
  /** The nft data plane programs the services too (realistic load). Default on. */
  readonly dataplane?: boolean;
  /** Extra time to keep measuring after BIRD has every route (the data plane may still be busy). */
  readonly settleMs?: number;
}

export interface BirdState {
  /** protocol name → "state since info" as BIRD shows it. */
  readonly protocols: Map<string, string>;
  /** BFD peer address → "state since". */
  readonly bfd: Map<string, string>;
  /** The probed service's route line (carries its age), or undefined when BIRD has no route. */
  readonly probedRoute?: string;
}

export interface BfdLoadResult {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly applyMs: number;
  /** ferroctl apply failed (e.g. its 30 s timeout) although the daemon went on. */
  readonly applyError?: string;
  /** From the apply until BIRD had every route, plus the settle time. */
  readonly windowMs: number;
  readonly intervalMs: number;
  /** Largest gap between consecutive BFD packets from ferrolb, per session address, in the window. */
  readonly maxGapMs: Record<string, number>;
  readonly maxGapOverInterval: number;
  /** Baseline measured in the same capture: BIRD's own largest BFD TX gap, and ferrolb's ÷ BIRD's. */
  readonly birdMaxGapMs: number;
  readonly overBird: number;
  readonly bfdPackets: number;
  /** BGP sessions and BFD sessions at BIRD whose state or "since" changed across the apply. */
  readonly bgpResets: number;
  readonly bfdResets: number;
  /** The probed service's route at BIRD was withdrawn or replaced (a false probe verdict). */
  readonly probedRouteChanged: boolean;
  readonly probedEndpointState: string;
  readonly routesAtBird: number;
  readonly healthz: {
    readonly samples: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
  };
  readonly before: BirdState;
  readonly after: BirdState;
}

export const BFD_INTERVAL_MS = 100;
const PROBED_VIP = '10.96.255.254';

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(
    (s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN).toFixed(1),
  );
};

function baseConfig(): string {
  return `apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips}
spec: {addresses: ["10.96.0.0/16"]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: ${BFD_INTERVAL_MS}, transmitInterval: ${BFD_INTERVAL_MS}, detectMultiplier: 3}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rt-v4, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64600, peerAddress: 10.57.0.2, holdTime: 9s, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rt-v6, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64600, peerAddress: "fd57::2", holdTime: 9s, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: vips, namespace: metallb-system}
spec: {ipAddressPools: [vips]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: probed}
spec:
  addresses: ["${PROBED_VIP}"]
  ports: [{port: 80, targetPort: 8080}]
  endpoints: [{address: 10.57.1.2}]
  healthCheck: {type: tcp, interval: 100ms, timeout: 50ms, unhealthyThreshold: 1, healthyThreshold: 1}
`;
}

export function bulkConfig(n: number, endpoints: number): string {
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    const eps = Array.from(
      { length: endpoints },
      (_, j) => `{address: 10.58.${(i * endpoints + j) % 250}.${1 + ((i * endpoints + j) % 250)}}`,
    );
    docs.push(
      `apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: bulk-${i}}\nspec: {ports: [{port: 80}], endpoints: [${eps.join(', ')}]}\n`,
    );
  }
  return docs.join('---\n');
}

function parseBirdState(protocols: string, bfd: string, route: string): BirdState {
  const p = new Map<string, string>();
  for (const line of protocols.split('\n')) {
    const m = /^(ferrolb\S*)\s+BGP\s+\S+\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (m?.[1]) p.set(m[1], `${m[2]} ${m[3]}`);
  }
  const b = new Map<string, string>();
  for (const line of bfd.split('\n')) {
    const m = /^([0-9a-f.:]+)\s+\S+\s+(\S+)\s+(.+?)\s+[\d.]+\s+[\d.]+\s*$/.exec(line);
    if (m?.[1]) b.set(m[1], `${m[2]} ${m[3]}`);
  }
  const r = route
    .split('\n')
    .find((l) => l.includes(`${PROBED_VIP}/32`))
    ?.trim();
  return { protocols: p, bfd: b, ...(r ? { probedRoute: r } : {}) };
}

async function birdState(bird: Bird): Promise<BirdState> {
  const c = (args: string[]) => nsExec(bird.ns, 'birdc', ['-s', bird.sock, ...args]);
  return parseBirdState(
    await c(['show', 'protocols']),
    await c(['show', 'bfd', 'sessions']),
    await c(['show', 'route', 'for', PROBED_VIP]),
  );
}

/** Distinct networks in BIRD's tables (IPv4 and IPv6). */
async function routeCount(bird: Bird): Promise<number> {
  const out = await nsExec(bird.ns, 'birdc', ['-s', bird.sock, 'show', 'route', 'count']);
  let n = 0;
  for (const m of out.matchAll(/for (\d+) networks/g)) n += Number(m[1]);
  return n;
}

const SAMPLER = `
const url = process.argv[1]; const samples = [];
let stop = false; process.stdin.on('data', () => { stop = true; });
(async () => {
  while (!stop) {
    const t = performance.now();
    try { await (await fetch(url, { signal: AbortSignal.timeout(30000) })).text(); } catch {}
    samples.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
  process.stdout.write(JSON.stringify(samples));
  process.exit(0);
})();
`;

/** Runs one scenario in its own namespaces; everything is removed afterwards, pass or fail. */
export async function runBfdLoad(o: BfdLoadOptions): Promise<BfdLoadResult> {
  const endpoints = o.endpointsPerService ?? 2;
  const topo = new Topology();
  const dir = tempDir('ferrolb-bfdload-');
  let daemon: Daemon | undefined;
  let tcpdump: ChildProcess | undefined;
  try {
    const lb = await topo.addNs('lb');
    const rt = await topo.addNs('rt');
    const be = await topo.addNs('be');
    const { bDev } = await topo.link(lb, ['10.57.0.1/24', 'fd57::1/64'], rt, ['10.57.0.2/24', 'fd57::2/64']);
    await topo.link(lb, ['10.57.1.1/24'], be, ['10.57.1.2/24']);
    await nsExec(be, 'ip', ['route', 'add', 'default', 'via', '10.57.1.1']);
    topo.spawn(be, process.execPath, [
      '-e',
      "require('net').createServer((s) => s.end()).listen(8080, '10.57.1.2')",
    ]);
    const bird = Bird.start(topo, rt, dir.path, {
      routerId: '10.57.0.2',
      asn: 64600,
      extra: `timeformat protocol iso long ms;\ntimeformat route iso long ms;\nprotocol bfd { interface "*" { min rx interval ${BFD_INTERVAL_MS} ms; min tx interval ${BFD_INTERVAL_MS} ms; multiplier 3; }; }`,
      sessions: [
        {
          name: 'ferrolb',
          local: '10.57.0.2',
          neighbor: '10.57.0.1',
          peerAsn: 64512,
          holdTime: 9,
          bfd: true,
          gr: true,
        },
        {
          name: 'ferrolb6',
          local: 'fd57::2',
          neighbor: 'fd57::1',
          peerAsn: 64512,
          holdTime: 9,
          bfd: true,
          gr: true,
        },
      ],
    });
    await bird.ready();
    writeFileSync(join(dir.path, 'cfg.yaml'), baseConfig());
    writeFileSync(join(dir.path, 'bulk.yaml'), bulkConfig(o.services, endpoints));
    daemon = await startDaemon(
      [
        '--config',
        join(dir.path, 'cfg.yaml'),
        '--state-dir',
        dir.path,
        '--dataplane',
        o.dataplane === false ? 'off' : 'on',
        '--probes',
        'on',
        '--router-id',
        '10.57.0.1',
      ],
      {},
      60_000,
      ['ip', 'netns', 'exec', lb],
    );
    const url = daemon.url;
    // Both sessions Established with BFD Up, and the probed route at BIRD, before the load starts.
    await waitFor(
      'BGP Established and BFD Up at BIRD, probed route announced',
      async () => {
        const s = await birdState(bird);
        const up = [...s.protocols.values()].filter(
          (v) => v.startsWith('up') && v.includes('Established'),
        ).length;
        const bfdUp = [...s.bfd.values()].filter((v) => v.startsWith('Up')).length;
        return up === 2 && bfdUp === 2 && s.probedRoute ? true : undefined;
      },
      60_000,
      250,
    );
    await new Promise((r) => setTimeout(r, 1500)); // let the sessions settle (BFD slow → fast timers)
    const before = await birdState(bird);
    const routesBefore = await routeCount(bird);

    tcpdump = topo.spawn(rt, 'tcpdump', ['-i', bDev, '-n', '-tt', '-l', '-p', 'udp dst port 3784']);
    const lines: string[] = [];
    let buf = '';
    tcpdump.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines.push(...parts);
    });
    await waitFor('tcpdump capturing', () => (lines.length >= 8 ? true : undefined), 10_000, 50);
    const sampler = topo.spawn(lb, process.execPath, ['-e', SAMPLER, `${url}/healthz`]);
    let samplerOut = '';
    sampler.stdout?.on('data', (d: Buffer) => (samplerOut += d.toString()));
    const samplerDone = new Promise((r) => sampler.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));

    const t0 = Date.now();
    // ferroctl gives up after its own 30 s; the daemon may still finish the apply, so measuring goes on.
    let applyError: string | undefined;
    await nsExec(
      lb,
      process.execPath,
      [FERROCTL, '--server', url, 'apply', '-f', join(dir.path, 'bulk.yaml')],
      {
        timeoutMs: 900_000,
      },
    ).catch(
      (e: unknown) =>
        (applyError = String((e as { stderr?: string }).stderr ?? e)
          .trim()
          .slice(0, 300)),
    );
    const applyMs = Date.now() - t0;
    const want = routesBefore + o.services; // one network per service
    await waitFor(
      'every route at BIRD',
      async () => ((await routeCount(bird)) >= want ? true : undefined),
      900_000,
      500,
    );
    await new Promise((r) => setTimeout(r, Math.max(o.settleMs ?? 3000, 0)));
    const t1 = Date.now();
    sampler.stdin?.end('stop\n');
    await samplerDone;
    const after = await birdState(bird);
    const routesAtBird = await routeCount(bird);
    const lbView = JSON.parse(
      await nsExec(
        lb,
        process.execPath,
        [FERROCTL, '--server', url, 'describe', 'lb', 'probed', '-o', 'json'],
        {
          timeoutMs: 60_000,
        },
      ),
    ) as { endpoints?: { state?: string }[] };

    // BFD TX gaps per source address, over the load window.
    const times = new Map<string, number[]>();
    for (const l of lines) {
      const m = /^(\d+\.\d+) IP6? ([0-9a-f.:]+?)\.\d+ > /.exec(l);
      if (!m?.[1] || !m[2]) continue;
      const ms = Number(m[1]) * 1000;
      if (ms < t0 - 200 || ms > t1) continue;
      const a = times.get(m[2]) ?? [];
      a.push(ms);
      times.set(m[2], a);
    }
    const maxGapMs: Record<string, number> = {};
    let packets = 0;
    for (const [addr, ts] of times) {
      packets += ts.length;
      let g = 0;
      for (let i = 1; i < ts.length; i++) g = Math.max(g, (ts[i] as number) - (ts[i - 1] as number));
      maxGapMs[addr] = Number(g.toFixed(1));
    }
    // No packet at all from a session in the window counts as a gap of the whole window.
    for (const a of ['10.57.0.1', 'fd57::1']) if (!(a in maxGapMs)) maxGapMs[a] = t1 - t0;
    const birdGap = Math.max(0, ...['10.57.0.2', 'fd57::2'].map((a) => maxGapMs[a] ?? 0));
    delete maxGapMs['10.57.0.2'];
    delete maxGapMs['fd57::2'];
    const worst = Math.max(...Object.values(maxGapMs));
    const samples = JSON.parse(samplerOut || '[]') as number[];
    const changed = (a: Map<string, string>, b: Map<string, string>) =>
      [...a.keys()].filter((k) => a.get(k) !== b.get(k)).length +
      [...b.keys()].filter((k) => !a.has(k)).length;
    return {
      services: o.services,
      endpointsPerService: endpoints,
      applyMs,
      ...(applyError ? { applyError } : {}),
      windowMs: t1 - t0,
      intervalMs: BFD_INTERVAL_MS,
      maxGapMs,
      maxGapOverInterval: Number((worst / BFD_INTERVAL_MS).toFixed(2)),
      birdMaxGapMs: birdGap,
      overBird: Number((worst / Math.max(1, birdGap)).toFixed(2)),
      bfdPackets: packets,
      bgpResets: changed(before.protocols, after.protocols),
      bfdResets: changed(before.bfd, after.bfd),
      probedRouteChanged: before.probedRoute !== after.probedRoute,
      probedEndpointState: lbView.endpoints?.[0]?.state ?? 'missing',
      routesAtBird,
      healthz: {
        samples: samples.length,
        p50Ms: pct(samples, 50),
        p99Ms: pct(samples, 99),
        maxMs: Number(Math.max(0, ...samples).toFixed(1)),
      },
      before,
      after,
    };
  } finally {
    if (daemon) await stopDaemon(daemon);
    tcpdump?.kill('SIGKILL');
    await topo.cleanup();
    dir.remove();
  }
}
