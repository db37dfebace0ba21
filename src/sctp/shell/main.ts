// Stand-alone SCTP multihoming LB process (used by the e2e test and the benchmark until the daemon
// wires SctpQueueShell in): `node dist/src/sctp/shell/main.js CONFIG.json`. Config:
// { "queue": 7, "services": [{ "name", "vips": ["10.0.0.1", ...], "port", "endpoints": [{ "addresses": [...], "port" }] }] }
// stdin commands: "dump" → one JSON line {associations, stats}; "quit" → exit 0.
import { readFileSync } from 'node:fs';
import { spawnRunner } from '../../dataplane/exec.js';
import { createInterface } from 'node:readline';
import { parseIp } from '../../net/ip.js';
import { SctpNatEngine } from '../engine/engine.js';
import type { SctpService } from '../engine/types.js';
import { loadPacketIo } from './native.js';
import { SctpQueueShell } from './queue.js';
import {
  DEFAULT_NAMES,
  PathIds,
  fastPathScript,
  fastPathTable,
  parseCounters,
  tupleKey,
} from '../kernel/nft.js';
import type { NatEntry, PathChanges } from '../engine/types.js';
import { entryKey } from '../engine/association.js';
import { NftBatchWriter, nftFileRunner } from '../kernel/writer.js';

interface RawConfig {
  queue: number;
  /** Install per-path nft entries so DATA/SACK/HEARTBEAT bypass userspace. */
  fastPath?: boolean;
  limits?: Record<string, number>;
  services: {
    name: string;
    vips: string[];
    port: number;
    endpoints: { addresses: string[]; port: number }[];
  }[];
}

// Start-up only (before the queue opens): reading the config synchronously delays no packet.
const cfg = JSON.parse(readFileSync(process.argv[2] ?? '/dev/stdin', 'utf8')) as RawConfig;
const services: SctpService[] = cfg.services.map((s) => ({
  name: s.name,
  vips: s.vips.map(parseIp),
  port: s.port,
  endpoints: s.endpoints.map((e) => ({ addresses: e.addresses.map(parseIp), port: e.port })),
}));
const engine = new SctpNatEngine(services, cfg.limits ?? {});
const run = spawnRunner();
const nftRun = nftFileRunner(run);
const dropTables = () =>
  nftRun(
    ['ip', 'ip6']
      .map((f) => `table ${f} ${DEFAULT_NAMES.table} {}\ndelete table ${f} ${DEFAULT_NAMES.table}\n`)
      .join(''),
  );
let applyChanges: ((c: PathChanges) => Promise<boolean>) | undefined;
let pollCounters: (() => Promise<void>) | undefined;
if (cfg.fastPath) {
  await dropTables();
  await nftRun(fastPathTable());
  const ids = new PathIds();
  // Kernel key → the entry installed for it, to map counter movement back to associations.
  const installed = new Map<string, NatEntry>();
  const last = new Map<string, number>();
  // Batched and asynchronous: the queue shell holds each verdict until its entries are in.
  const writer = new NftBatchWriter(nftRun, (err) => process.stderr.write(`fast path: ${String(err)}\n`));
  applyChanges = async (c) => {
    const script = fastPathScript(c, ids);
    const ok = script === '' || (await writer.write(script));
    for (const e of c.remove) {
      const cur = installed.get(tupleKey(e));
      if (cur && entryKey(cur) === entryKey(e)) installed.delete(tupleKey(e));
    }
    if (ok) for (const e of c.add) installed.set(tupleKey(e), e);
    return ok;
  };
  pollCounters = async () => {
    for (const f of [4, 6] as const) {
      const r = await run('nft', [
        '-j',
        'list',
        'map',
        f === 4 ? 'ip' : 'ip6',
        DEFAULT_NAMES.table,
        'pathid',
      ]);
      if (r.code !== 0) continue;
      const now = Date.now();
      for (const [k, packets] of parseCounters(r.stdout, f)) {
        const e = installed.get(k);
        if (!e || packets === (last.get(k) ?? 0)) continue;
        last.set(k, packets);
        if (e.toward === 'endpoint') engine.observe(e.association, e.match.src, now);
        else engine.touch(e.association, now);
      }
    }
  };
}
const shell = new SctpQueueShell({
  queueNum: cfg.queue,
  io: loadPacketIo(),
  engine,
  ...(applyChanges ? { applyChanges } : {}),
});
shell.start();
const timer = setInterval(() => shell.tick(), 250);
// Counter polls never overlap, and wait 3 × as long as the last one took (the listing grows with paths).
let pollTimer: ReturnType<typeof setTimeout> | undefined;
const poll = async () => {
  const started = Date.now();
  await pollCounters?.().catch(() => undefined); // nft unavailable for a moment: liveness lags
  pollTimer = setTimeout(() => void poll(), Math.max(250, 3 * (Date.now() - started)));
};
if (pollCounters) pollTimer = setTimeout(() => void poll(), 250);
const bigints = (_: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'dump')
    process.stdout.write(
      JSON.stringify({ associations: engine.associations(Date.now()), stats: shell.stats }, bigints) + '\n',
    );
  if (cmd === 'quit') {
    clearInterval(timer);
    if (pollTimer) clearTimeout(pollTimer);
    shell.stop();
    void (cfg.fastPath ? dropTables() : Promise.resolve()).finally(() => process.exit(0));
  }
});
process.stdout.write(JSON.stringify({ ready: true, queue: cfg.queue }) + '\n');
