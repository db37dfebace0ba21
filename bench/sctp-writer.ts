// Fast-path entry writes (issue 16 item 2): a burst of associations getting their kernel entries, as
// after a burst of INIT-ACKs. Baseline in the same run: the old way, one synchronous `nft -f` per
// association (the event loop blocked for each). Now: the batched asynchronous writer. Reports the
// total time until every entry is in the kernel and the event loop's longest stall meanwhile.
import { execFileSync } from 'node:child_process';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Topology } from '../test/support/netns.js';
import { netnsRunner } from '../src/dataplane/exec.js';
import { parseIp } from '../src/net/ip.js';
import { fastPathScript, fastPathTable, PathIds } from '../src/sctp/kernel/nft.js';
import { NftBatchWriter, nftFileRunner } from '../src/sctp/kernel/writer.js';
import type { NatEntry, PathChanges } from '../src/sctp/engine/types.js';

export interface WriterBenchResult {
  readonly associations: number;
  readonly sync: Measured;
  readonly batched: Measured & { readonly nftRuns: number };
  readonly stallRatio: number;
}

interface Measured {
  readonly totalMs: number;
  readonly maxLoopStallMs: number;
  /** Time the event loop was busy (not waiting for I/O) meanwhile. */
  readonly loopBusyMs: number;
}

/** One association's entries: both directions of one path (what an INIT-ACK installs per path). */
function changes(i: number): PathChanges {
  const c = (a: number) => parseIp(`10.${100 + (a >> 16)}.${(a >> 8) & 255}.${a & 255}`);
  const e = (toward: 'endpoint' | 'client', n: number): NatEntry => ({
    association: i,
    toward,
    match: { src: c(n), dst: parseIp('10.9.0.1'), srcPort: 5000 + (i % 60000), dstPort: 38412, vtag: i },
    rewrite: { src: parseIp('10.9.0.1'), dst: c(n + 1), srcPort: 6000, dstPort: 38412 },
  });
  return { add: [e('endpoint', 2 * i), e('client', 2 * i + 1)], remove: [] };
}

async function measure(f: () => Promise<void>): Promise<Measured> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const elu = performance.eventLoopUtilization();
  const t = performance.now();
  await f();
  const totalMs = performance.now() - t;
  const busy = performance.eventLoopUtilization(elu);
  h.disable();
  return {
    totalMs: Number(totalMs.toFixed(1)),
    maxLoopStallMs: Number((h.max / 1e6).toFixed(1)),
    loopBusyMs: Number(busy.active.toFixed(1)),
  };
}

export async function runSctpWriterBench(associations = 200): Promise<WriterBenchResult> {
  const topo = new Topology();
  try {
    const ns = await topo.addNs('w');
    const run = netnsRunner(ns);
    const nft = nftFileRunner(run);
    const reset = async () => {
      await nft(`table ip ferrolb_sctp {}\ndelete table ip ferrolb_sctp\n`);
      await nft(fastPathTable());
    };
    await reset();
    const ids1 = new PathIds();
    const sync = await measure(async () => {
      for (let i = 0; i < associations; i++) {
        // What every INIT-ACK used to do, blocking the loop for the whole spawn.
        execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], {
          input: fastPathScript(changes(i), ids1),
        });
        await new Promise((r) => setImmediate(r)); // packets arrive over time; let the loop turn
      }
    });
    await reset();
    const ids2 = new PathIds();
    const writer = new NftBatchWriter(nft);
    const batched = await measure(async () => {
      const all: Promise<boolean>[] = [];
      for (let i = 0; i < associations; i++) {
        all.push(writer.write(fastPathScript(changes(i), ids2)));
        await new Promise((r) => setImmediate(r));
      }
      const ok = await Promise.all(all);
      if (ok.some((x) => !x)) throw new Error('the batched writer refused entries');
    });
    const count =
      (await run('nft', ['-j', 'list', 'map', 'ip', 'ferrolb_sctp', 'pathid'])).stdout.split('"elem"')
        .length - 1;
    if (count < associations * 2)
      throw new Error(`only ${count} path keys in the kernel after the batched writes`);
    return {
      associations,
      sync,
      batched: { ...batched, nftRuns: writer.stats.writes },
      stallRatio: Number((sync.maxLoopStallMs / Math.max(0.1, batched.maxLoopStallMs)).toFixed(1)),
    };
  } finally {
    await topo.cleanup();
  }
}
