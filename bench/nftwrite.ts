// `npm run bench -- nftwrite`: the kernel write path at scale, Applier alone in a namespace.
//  1. One endpoint turning inactive (and back) at N services × 8: the persistent `nft -i` session
//     against an `nft -f` process per transaction (the baseline), interleaved in the same run.
//  2. A cold Maglev load at N services (table size FERROLB_NFTWRITE_MAGLEV_SIZE, default 61): time,
//     transactions, the longest one, kernel slab growth, and one endpoint change after it.
// N: FERROLB_NFTWRITE_SERVICES (default 10000). Needs root.
import { readFileSync } from 'node:fs';
import { Applier } from '../src/dataplane/applier.js';
import { netnsRunner, type Runner } from '../src/dataplane/exec.js';
import type { DataplaneService } from '../src/dataplane/types.js';
import { bigServiceSet } from './dataplane.js';
import { Topology } from '../test/support/netns.js';

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN);
};
const slabMb = () => {
  const m = /^Slab:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** `s` with its 4th endpoint inactive (or every endpoint as given). */
const toggled = (list: readonly DataplaneService[], at: number, off: boolean) =>
  list.map((s, i) =>
    i === at && off
      ? { ...s, endpoints: s.endpoints.map((e, k) => (k === 3 ? { ...e, state: 'inactive' as const } : e)) }
      : s,
  );

export interface NftWriteResult {
  services: number;
  load: { start: string; end: string };
  change: {
    rounds: number;
    sessionMs: { p50: number; p90: number };
    spawnMs: { p50: number; p90: number };
    /** session ÷ spawn at p50 (same run, interleaved). */
    ratioP50: number;
    /** Every apply, in order (session, spawn). */
    samplesMs: { session: number[]; spawn: number[] };
  };
  maglev: {
    tableSize: number;
    ok: boolean;
    error?: string;
    coldS: number;
    transactions: number;
    longestTransactionS: number;
    slabGrowthMb: number;
    changeMs?: number;
  };
}

async function changeLatency(topo: Topology, services: number, rounds: number) {
  const run = netnsRunner(await topo.addNs('nftw'));
  const desired = bigServiceSet(services, 8);
  const session = new Applier({ run, vipInterface: false });
  await session.apply(desired);
  // A second applier adopts the same table and writes with a process per transaction. Each round
  // turns one endpoint inactive and back with each, so both models stay the kernel's.
  const spawned = new Applier({ run, vipInterface: false, persistentNft: false });
  await spawned.apply(desired);
  const out = { session: [] as number[], spawn: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    const at = (services >> 1) + r;
    for (const [k, a] of [
      ['session', session],
      ['spawn', spawned],
    ] as const) {
      for (const off of [true, false]) {
        const t0 = performance.now();
        const res = await a.apply(toggled(desired, at, off));
        if (res.statements === 0) throw new Error('a change wrote nothing');
        out[k].push(performance.now() - t0);
      }
    }
  }
  await session.shutdown(true);
  return out;
}

async function maglevCold(topo: Topology, services: number, size: number) {
  const base = netnsRunner(await topo.addNs('nftwm'));
  let transactions = 0;
  let longest = 0;
  // Times each transaction: a wrapped runner is not a spawnRunner, so this applier runs `nft -f`
  // per transaction (a cold load is a few big ones; the session saves nothing there).
  const run: Runner = async (cmd, args, input, o) => {
    const t0 = performance.now();
    const r = await base(cmd, args, input, o);
    if (cmd === 'nft' && args.includes('-f')) {
      transactions++;
      longest = Math.max(longest, performance.now() - t0);
    }
    return r;
  };
  const desired = bigServiceSet(services, 8).map((s) => ({
    ...s,
    algorithm: 'maglev' as const,
    maglevTableSize: size,
  }));
  const a = new Applier({ run, vipInterface: false });
  const s0 = slabMb();
  const t0 = performance.now();
  try {
    await a.apply(desired);
  } catch (e) {
    return {
      tableSize: size,
      ok: false,
      error: (e as Error).message.slice(0, 300),
      coldS: round((performance.now() - t0) / 1000, 2),
      transactions,
      longestTransactionS: round(longest / 1000, 2),
      slabGrowthMb: round(slabMb() - s0),
    };
  }
  const coldS = round((performance.now() - t0) / 1000, 2);
  const slabGrowthMb = round(slabMb() - s0);
  const t1 = performance.now();
  await a.apply(toggled(desired, services >> 1, true));
  return {
    tableSize: size,
    ok: true,
    coldS,
    transactions,
    longestTransactionS: round(longest / 1000, 2),
    slabGrowthMb,
    changeMs: round(performance.now() - t1),
  };
}

export async function runNftWriteBench(
  o: { services?: number; rounds?: number; maglevSize?: number } = {},
): Promise<NftWriteResult> {
  if (process.getuid?.() !== 0) throw new Error('the nft write benchmark needs root (network namespaces)');
  const services = o.services ?? Number(process.env.FERROLB_NFTWRITE_SERVICES ?? 10_000);
  const rounds = o.rounds ?? 10;
  const size = o.maglevSize ?? Number(process.env.FERROLB_NFTWRITE_MAGLEV_SIZE ?? 61);
  const topo = new Topology();
  const start = load();
  try {
    const c = await changeLatency(topo, services, rounds);
    const maglev = await maglevCold(topo, services, size);
    const sessionMs = { p50: pct(c.session, 50), p90: pct(c.session, 90) };
    const spawnMs = { p50: pct(c.spawn, 50), p90: pct(c.spawn, 90) };
    return {
      services,
      load: { start, end: load() },
      change: {
        rounds,
        sessionMs,
        spawnMs,
        ratioP50: round(sessionMs.p50 / spawnMs.p50, 2),
        samplesMs: { session: c.session.map((x) => round(x)), spawn: c.spawn.map((x) => round(x)) },
      },
      maglev,
    };
  } finally {
    await topo.cleanup();
  }
}

export function formatNftWrite(r: NftWriteResult): string {
  const c = r.change;
  const m = r.maglev;
  return [
    `\nKernel write path at ${r.services} services × 8 (load ${r.load.start} → ${r.load.end})`,
    `  endpoint change → kernel (${c.rounds * 2} applies each, interleaved): nft -i session p50 ${c.sessionMs.p50} ms, p90 ${c.sessionMs.p90} ms; nft -f per change p50 ${c.spawnMs.p50} ms, p90 ${c.spawnMs.p90} ms; ratio ${c.ratioP50} — goal ≤ 50 ms: ${c.sessionMs.p50 <= 50 ? 'met' : 'NOT met'} (p50)`,
    m.ok
      ? `  Maglev cold, table size ${m.tableSize}: ${m.coldS} s in ${m.transactions} transactions (longest ${m.longestTransactionS} s), kernel slab +${m.slabGrowthMb} MB; one endpoint change after it ${m.changeMs} ms`
      : `  Maglev cold, table size ${m.tableSize}: FAILED after ${m.coldS} s (${m.transactions} transactions): ${m.error}`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(formatNftWrite(await runNftWriteBench()));
}
