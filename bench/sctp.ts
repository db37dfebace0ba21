// SCTP benchmarks (issue 4 item 7). Not a test: prints numbers next to a baseline measured in the same
// run. `node dist/bench/sctp.js` (root: namespaces). Throughput is usrsctp's tsctp from a multihomed
// client namespace to an endpoint, through the LB namespace: directly to the endpoint's address
// (plain forwarding through the same namespace, the baseline) and via the primary VIP, interleaved
// round by round so drift hits both. Two LB modes: every packet through the NFQUEUE engine, and the
// nft fast path (control chunks only through the engine).
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Topology, nsExec } from '../test/support/netns.js';
import { buildSctpBed, prepareEngineLb, SCTP_V4, startEngine } from '../test/support/sctp.js';
import { SctpNatEngine } from '../src/sctp/index.js';
import { parseIp } from '../src/net/ip.js';
import {
  ChunkType,
  ParamType,
  decodeInit,
  decodeIp,
  decodeSctp,
  encodeIp,
  encodeSctp,
  freshIpHeader,
  encodeInit,
} from '../src/sctp/codec/index.js';

const TSCTP = '/usr/lib/usrsctp/tsctp';
const PLAN = SCTP_V4;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2 : NaN;
};

/** Engine-only association setup rate (pure, in-process) vs the codec's decode+encode floor. */
export function runEngineSetupBench(n = 20000): {
  associationsPerSec: number;
  codecRoundTripsPerSec: number;
} {
  const vip = parseIp('10.9.0.1');
  const ep = parseIp('10.0.2.2');
  const eng = new SctpNatEngine(
    [{ name: 'b', vips: [vip, parseIp('10.9.0.2')], port: 7, endpoints: [{ addresses: [ep], port: 7 }] }],
    {
      maxAssociations: n + 10,
      maxHalfOpen: n + 10,
    },
  );
  const pkt = (
    src: typeof vip,
    dst: typeof vip,
    sp: number,
    dp: number,
    vtag: number,
    chunks: { type: number; flags: number; body: Uint8Array }[],
  ) => encodeIp(freshIpHeader(4), src, dst, encodeSctp({ srcPort: sp, dstPort: dp, vtag, chunks }));
  const init = (tag: number, type: 1 | 2, addrs: number) =>
    encodeInit(type, {
      initiateTag: tag,
      arwnd: 1 << 17,
      outStreams: 10,
      inStreams: 10,
      initialTsn: tag,
      params: [
        ...Array.from({ length: addrs }, (_, i) => ({
          type: ParamType.IPV4_ADDRESS,
          value: Uint8Array.from([10, 0, 1 + i, 2]),
        })),
        ...(type === 2 ? [{ type: ParamType.STATE_COOKIE, value: new Uint8Array(300) }] : []),
      ],
    });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const client = { family: 4 as const, value: 0x0a640000n + BigInt(i) };
    const port = 1024 + (i % 60000);
    const tc = i + 1;
    const te = i + 0x40000000;
    const r1 = eng.handle(pkt(client, vip, port, 7, 0, [init(tc, 1, 2)]), i);
    const lb = decodeSctp(decodeIp(r1.packets[0]!.bytes).payload).srcPort;
    const r2 = eng.handle(pkt(ep, vip, 7, lb, tc, [init(te, 2, 1)]), i);
    const token = decodeInit(decodeSctp(decodeIp(r2.packets[0]!.bytes).payload).chunks[0]!).params.find(
      (p) => p.type === ParamType.STATE_COOKIE,
    )!.value;
    eng.handle(pkt(client, vip, port, 7, te, [{ type: ChunkType.COOKIE_ECHO, flags: 0, body: token }]), i);
    eng.handle(
      pkt(ep, vip, 7, lb, tc, [{ type: ChunkType.COOKIE_ACK, flags: 0, body: new Uint8Array(0) }]),
      i,
    );
  }
  const engineS = Number(process.hrtime.bigint() - t0) / 1e9;
  // Floor: decode + re-encode the same four packets per association, no engine logic.
  const sample = [
    pkt(parseIp('10.100.0.1'), vip, 5000, 7, 0, [init(1, 1, 2)]),
    pkt(ep, vip, 7, 5000, 1, [init(2, 2, 1)]),
  ];
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < n * 2; i++) {
    const d = decodeIp(sample[i & 1]!);
    const s = decodeSctp(d.payload, { verify: true });
    encodeIp(d.ip, d.ip.dst, d.ip.src, encodeSctp(s));
  }
  const codecS = Number(process.hrtime.bigint() - t1) / 1e9;
  return { associationsPerSec: Math.round(n / engineS), codecRoundTripsPerSec: Math.round((n * 2) / codecS) };
}

async function tsctp(topo: Topology, ns: string, dst: string, seconds: number): Promise<number> {
  const out = await nsExec(ns, TSCTP, ['-T', String(seconds), '-l', '1400', dst], {
    timeoutMs: (seconds + 10) * 1000,
  });
  const m = /Throughput was ([\d.]+) Byte\/sec/.exec(out);
  if (!m) throw new Error(`tsctp printed no throughput: ${out.slice(-300)}`);
  void topo;
  return Number(m[1]);
}

export interface ThroughputResult {
  mode: string;
  directMBps: number;
  viaVipMBps: number;
  ratio: number;
  rounds: number;
}

export async function runSctpThroughputBench(rounds = 5, seconds = 2): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  for (const fastPath of [false, true]) {
    const topo = new Topology();
    const dir = mkdtempSync(join(tmpdir(), 'ferrolb-sctp-bench-'));
    try {
      const { c, lb, b } = await buildSctpBed(topo, PLAN);
      // The baseline: the client reaches the endpoint's own address through the same LB namespace.
      await nsExec(c, 'ip', ['route', 'add', '10.201.2.0/24', 'via', PLAN.lbSide[0]]);
      // Same conntrack treatment for both paths: SCTP untracked in the LB namespace.
      await prepareEngineLb(lb, PLAN, 7);
      await startEngine(topo, lb, dir, {
        queue: 7,
        fastPath,
        limits: { closeLingerMs: 200 },
        services: [
          {
            name: 'ts',
            vips: PLAN.vips,
            port: 5001,
            endpoints: [{ addresses: [PLAN.endpoint], port: 5001 }],
          },
        ],
      });
      // tsctp logs every send; an unread pipe would fill and stall the server.
      topo.spawn(b, 'sh', ['-c', `exec ${TSCTP} >/dev/null 2>&1`]);
      await new Promise((r) => setTimeout(r, 800));
      const direct: number[] = [];
      const via: number[] = [];
      for (let i = 0; i < rounds; i++) {
        direct.push(await tsctp(topo, c, PLAN.endpoint, seconds));
        via.push(await tsctp(topo, c, PLAN.vips[0], seconds));
      }
      const d = median(direct) / 1e6;
      const v = median(via) / 1e6;
      results.push({
        mode: fastPath ? 'nft fast path + NFQUEUE control' : 'all packets through NFQUEUE engine',
        directMBps: +d.toFixed(2),
        viaVipMBps: +v.toFixed(2),
        ratio: +(v / d).toFixed(3),
        rounds,
      });
    } finally {
      await topo.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}

async function main(): Promise<void> {
  const e = runEngineSetupBench();
  console.log(
    `SCTP engine: ${e.associationsPerSec} association setups/s (4 control packets each, pure, one core)`,
  );
  console.log(`  baseline: codec decode+verify+encode alone ${e.codecRoundTripsPerSec} packets/s`);
  if (process.getuid?.() !== 0 || !existsSync(TSCTP)) {
    console.log('SCTP throughput: skipped (needs root and usrsctp tsctp)');
    return;
  }
  for (const r of await runSctpThroughputBench()) {
    console.log(
      `SCTP throughput (${r.mode}): via VIP ${r.viaVipMBps} MB/s ÷ direct ${r.directMBps} MB/s = ${r.ratio} (median of ${r.rounds} interleaved rounds) — goal ≥ 0.80: ${r.ratio >= 0.8 ? 'met' : 'NOT met'}`,
    );
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main();
