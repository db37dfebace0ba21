// BGP benchmark, against a real GoBGP in network namespaces (needs root):
//  1. service delete → withdraw seen at the peer (goal ≤ 100 ms), N repetitions;
//  2. ferrolb SIGKILL → withdraw at the peer (TCP close), and SIGSTOP (hung host, BFD 100 ms × 3);
//  3. announcing 10 000 prefixes: time until the peer has them all, and the UPDATE count.
// The peer's view is observed through `gobgp monitor global rib -j`, which streams each change as
// GoBGP applies it, so polling does not add to the numbers.
//   sudo node dist/bench/bgp.js [--json]
import { createInterface } from 'node:readline';
import { Topology, waitFor } from '../test/support/netns.js';
import { Bird, GoBgp, SpeakerProc, tempDir } from '../test/fixtures/bgp/e2e-harness.js';
import { packUpdates, encodeMessage, parsePrefix } from '../src/bgp/codec/index.js';
import type { PeerConfig } from '../src/bgp/types.js';
import type { RouteJson } from '../src/bgp/cli-run.js';

interface Monitor {
  /** Resolves when a path for `prefix` arrives (withdraw=false) or is withdrawn (withdraw=true). */
  next(prefix: string, withdraw: boolean, timeoutMs?: number): Promise<number>;
  count(): number;
}

function monitor(topo: Topology, ns: string): Monitor {
  const p = topo.spawn(ns, 'gobgp', ['-u', '127.0.0.1', '-p', '50051', 'monitor', 'global', 'rib', '-j']);
  const waiters: { prefix: string; withdraw: boolean; resolve: (t: number) => void }[] = [];
  let seen = 0;
  createInterface({ input: p.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const t = performance.now();
    let paths: { nlri?: { prefix?: string }; withdrawal?: boolean }[];
    try {
      const v = JSON.parse(line) as unknown;
      paths = (Array.isArray(v) ? v : [v]) as typeof paths;
    } catch {
      return;
    }
    for (const path of paths) {
      seen++;
      const prefix = path.nlri?.prefix;
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i];
        if (w && w.prefix === prefix && w.withdraw === (path.withdrawal === true)) {
          waiters.splice(i, 1);
          w.resolve(t);
        }
      }
    }
  });
  return {
    next: (prefix, withdraw, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${withdraw ? 'withdraw' : 'announce'} of ${prefix} seen`)),
          timeoutMs,
        );
        waiters.push({
          prefix,
          withdraw,
          resolve: (t) => {
            clearTimeout(timer);
            resolve(t);
          },
        });
      }),
    count: () => seen,
  };
}

const stats = (xs: number[]): { n: number; min: number; median: number; p95: number; max: number } => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { n: s.length, min: s[0] ?? NaN, median: at(0.5), p95: at(0.95), max: s[s.length - 1] ?? NaN };
};
const round = (x: number): number => Math.round(x * 10) / 10;

/** In-process cost of planning the 10k announcement: packing and encoding only. */
function codecOnly10k(): { packEncodeMs: number; messages: number; bytes: number } {
  const routes = Array.from({ length: 10_000 }, (_, i) => ({
    prefix: parsePrefix(`10.${100 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}/32`),
    attributes: {
      origin: 'igp' as const,
      asPath: [{ type: 'sequence' as const, asns: [64512] }],
      communities: [64512 * 65536 + 1],
    },
    nextHops: [0x0a3c0001n],
  }));
  const ctx = { fourOctetAs: true, addPath: () => false };
  const t0 = performance.now();
  const msgs = packUpdates(routes, [], ctx).map((m) => encodeMessage(m, ctx));
  return {
    packEncodeMs: round(performance.now() - t0),
    messages: msgs.length,
    bytes: msgs.reduce((n, m) => n + m.length, 0),
  };
}

/** BIRD2 with BFD 100 ms × 3 and a 9 s hold time: SIGSTOP of ferrolb → route gone at BIRD. */
async function bfdWithBird(rounds: number): Promise<number[]> {
  const topo = new Topology();
  const dir = tempDir();
  try {
    const lb = await topo.addNs('lb');
    const rt = await topo.addNs('rt');
    await topo.link(lb, ['10.61.0.1/24'], rt, ['10.61.0.2/24']);
    const bird = Bird.start(topo, rt, dir.path, {
      routerId: '10.61.0.2',
      asn: 64513,
      extra:
        'protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }',
      sessions: [
        {
          name: 'ferrolb',
          local: '10.61.0.2',
          neighbor: '10.61.0.1',
          peerAsn: 64512,
          holdTime: 9,
          bfd: true,
        },
      ],
    });
    await bird.ready();
    const out: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const s = SpeakerProc.start(topo, lb, {
        peers: [
          {
            name: 'bird',
            peerAddress: '10.61.0.2',
            localAsn: 64512,
            peerAsn: 64513,
            routerId: '10.61.0.1',
            holdTimeSec: 9,
            families: [4],
            connectRetryMs: 100,
            maxBackoffMs: 500,
            bfd: { desiredMinTxMs: 100, requiredMinRxMs: 100, detectMult: 3 },
          },
        ],
        routes: [{ prefix: '192.0.2.1/32' }],
        listen: { port: 179 },
      });
      await s.ready;
      await waitFor(
        'BFD up and route at BIRD',
        async () =>
          (await s.status()).sessions[0]?.bfd === 'Up' && (await bird.routes()).has('192.0.2.1/32')
            ? true
            : undefined,
        30_000,
        50,
      );
      await new Promise((r) => setTimeout(r, 500)); // let the Poll sequence settle the 100 ms timers
      const t0 = performance.now();
      s.signal('SIGSTOP');
      await waitFor(
        'route gone',
        async () => ((await bird.routes()).has('192.0.2.1/32') ? undefined : true),
        10_000,
        5,
      );
      out.push(performance.now() - t0);
      s.signal('SIGKILL');
      await waitFor(
        'BIRD session down',
        async () =>
          /ferrolb\s+BGP\s+\S+\s+\S+\s+\S+\s+(Active|Connect|Idle)/.test(await bird.protocols())
            ? true
            : undefined,
        10_000,
        50,
      ).catch(() => undefined);
    }
    return out;
  } finally {
    await topo.cleanup();
    dir.remove();
  }
}

export async function runBgpBench(): Promise<Record<string, unknown>> {
  const gobgp = await runGobgpBench();
  const bfd = await bfdWithBird(5);
  return {
    ...gobgp,
    sigstopToWithdrawWithBfdMs: Object.fromEntries(Object.entries(stats(bfd)).map(([k, v]) => [k, round(v)])),
    // The floors these numbers are judged against: BFD detection time (100 ms × 3, the peer's side
    // after the Poll sequence) and the negotiated hold time.
    baselines: { bfdDetectionTimeMs: 300, holdTimeMs: 9000 },
    goals: { deleteToWithdrawMs: 100, bfdWithdrawMs: 1000 },
    codecOnly10k: codecOnly10k(),
  };
}

async function runGobgpBench(): Promise<Record<string, unknown>> {
  const topo = new Topology();
  const dir = tempDir();
  try {
    const lb = await topo.addNs('lb');
    const rt = await topo.addNs('rt');
    await topo.link(lb, ['10.60.0.1/24'], rt, ['10.60.0.2/24']);
    const gobgp = GoBgp.start(topo, rt, dir.path, {
      asn: 64513,
      routerId: '10.60.0.2',
      neighbors: [{ address: '10.60.0.1', peerAsn: 64512, holdTime: 9, families: ['ipv4-unicast'] }],
    });
    await gobgp.ready();
    const mon = monitor(topo, rt);
    const peer: PeerConfig = {
      name: 'gobgp',
      peerAddress: '10.60.0.2',
      localAsn: 64512,
      peerAsn: 64513,
      routerId: '10.60.0.1',
      holdTimeSec: 9,
      families: [4],
      connectRetryMs: 100,
      maxBackoffMs: 1000,
    };
    const start = async (routes: RouteJson[]): Promise<SpeakerProc> => {
      const s = SpeakerProc.start(topo, lb, { peers: [peer], routes, listen: false });
      await s.ready;
      await waitFor(
        'established',
        async () => ((await s.status()).sessions[0]?.state === 'Established' ? true : undefined),
        20_000,
        20,
      );
      return s;
    };

    // 1. delete → withdraw
    const base: RouteJson = { prefix: '198.51.100.1/32' };
    let speaker = await start([base]);
    await mon.next('198.51.100.1/32', false).catch(() => undefined);
    const withdrawMs: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r: RouteJson = { prefix: `203.0.113.${i + 1}/32` };
      const seen = mon.next(r.prefix, false);
      await speaker.setRoutes([base, r]);
      await seen;
      const gone = mon.next(r.prefix, true);
      const t0 = performance.now();
      await speaker.setRoutes([base]);
      withdrawMs.push((await gone) - t0);
    }

    // 3. 10k prefixes
    const routes: RouteJson[] = Array.from({ length: 10_000 }, (_, i) => ({
      prefix: `10.${100 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}/32`,
      communities: ['64512:1'],
    }));
    const before = (await speaker.status()).sessions[0]?.updatesOut ?? 0;
    const last = mon.next(routes[routes.length - 1]?.prefix as string, false, 60_000);
    const firstSeen = mon.count();
    const t10k = performance.now();
    await speaker.setRoutes([base, ...routes]);
    const tLast = await last;
    await waitFor('10k at GoBGP', () => (mon.count() - firstSeen >= 10_000 ? true : undefined), 60_000, 10);
    const tAll = performance.now();
    const updates = ((await speaker.status()).sessions[0]?.updatesOut ?? 0) - before;
    await speaker.setRoutes([base]);
    await mon.next(routes[routes.length - 1]?.prefix as string, true, 60_000);

    // 2a. SIGKILL (kernel closes TCP) → withdraw
    const killGone = mon.next(base.prefix, true);
    const tk = performance.now();
    speaker.signal('SIGKILL');
    const killMs = (await killGone) - tk;

    // 2b. SIGSTOP (hung host: no FIN, no keepalives) without BFD → withdraw at the 9 s hold time.
    speaker = await start([base]);
    await mon.next(base.prefix, false).catch(() => undefined);
    const stopGone = mon.next(base.prefix, true, 20_000);
    const ts = performance.now();
    speaker.signal('SIGSTOP');
    const stopMs = (await stopGone) - ts;
    speaker.signal('SIGCONT');

    return {
      peer: 'GoBGP 3.x (monitor stream)',
      deleteToWithdrawMs: Object.fromEntries(
        Object.entries(stats(withdrawMs)).map(([k, v]) => [k, round(v)]),
      ),
      announce10k: {
        lastPrefixSeenMs: round(tLast - t10k),
        allSeenMs: round(tAll - t10k),
        updateMessages: updates,
      },
      sigkillToWithdrawMs: round(killMs),
      sigstopToWithdrawNoBfdHold9sMs: round(stopMs),
    };
  } finally {
    await topo.cleanup();
    dir.remove();
  }
}

if (process.argv[1]?.endsWith('bgp.js')) {
  runBgpBench()
    .then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`))
    .catch((e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    });
}
