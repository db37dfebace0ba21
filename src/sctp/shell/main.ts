// Stand-alone SCTP multihoming LB process (used by the e2e test and the benchmark until the daemon
// wires SctpQueueShell in): `node dist/src/sctp/shell/main.js CONFIG.json`. Config:
// { "queue": 7, "services": [{ "name", "vips": ["10.0.0.1", ...], "port", "endpoints": [{ "addresses": [...], "port" }] }] }
// stdin commands: "dump" → one JSON line {associations, stats}; "quit" → exit 0.
// With "sync": true, HA state sync over stdio (tests play the Cluster's channel): every message the
// SCTP producer sends is a stdout line {"sync": FromProducer}; a stdin line "sync <ToProducer JSON>"
// reaches it. Record bytes travel as {"b64": "..."}.
import { readFileSync } from 'node:fs';
import { spawnRunner } from '../../dataplane/exec.js';
import { createInterface } from 'node:readline';
import { MessageChannel } from 'node:worker_threads';
import { parseIp } from '../../net/ip.js';
import type { SctpService } from '../engine/types.js';
import { fastPathDropScript, fastPathEnsureScript, fastPathTable } from '../kernel/nft.js';
import { nftFileRunner } from '../kernel/writer.js';
import { SctpCarrier } from './carrier.js';
import { loadPacketIo } from './native.js';

interface RawConfig {
  queue: number;
  /** Install per-path nft entries so DATA/SACK/HEARTBEAT bypass userspace. */
  fastPath?: boolean;
  sync?: boolean;
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
const run = spawnRunner();
const nftRun = nftFileRunner(run);
const dropTables = () => nftRun(fastPathDropScript());
if (cfg.fastPath) {
  // Adopt what a previous run left (restart = adopt); a table of another layout is replaced.
  await nftRun(fastPathEnsureScript()).catch(async () => {
    await dropTables();
    await nftRun(fastPathTable());
  });
}
// Engine, queue, batched asynchronous fast-path writer and counter poll: the daemon's carrier.
const carrier = await SctpCarrier.start({
  queueNum: cfg.queue,
  io: loadPacketIo(),
  services,
  limits: cfg.limits ?? {},
  run,
  warn: (msg: string, err?: unknown) => process.stderr.write(`${msg}: ${String(err)}\n`),
  fastPath: cfg.fastPath ?? false,
});
const { engine, shell } = carrier;
const toJson = (_: string, v: unknown) =>
  v instanceof Uint8Array ? { b64: Buffer.from(v).toString('base64') } : v;
const fromJson = (_: string, v: unknown) =>
  typeof v === 'object' && v !== null && typeof (v as { b64?: unknown }).b64 === 'string'
    ? new Uint8Array(Buffer.from((v as { b64: string }).b64, 'base64'))
    : v;
const syncPort = cfg.sync ? new MessageChannel() : undefined;
if (syncPort) {
  syncPort.port2.on('message', (m: unknown) =>
    process.stdout.write(JSON.stringify({ sync: m }, toJson) + '\n'),
  );
  carrier.attachSync(syncPort.port1);
}
const bigints = (_: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'dump')
    process.stdout.write(
      JSON.stringify({ associations: engine.associations(Date.now()), stats: shell.stats }, bigints) + '\n',
    );
  if (cmd.startsWith('sync ') && syncPort) syncPort.port2.postMessage(JSON.parse(cmd.slice(5), fromJson));
  if (cmd === 'quit') {
    void carrier
      .stop()
      .then(() => (cfg.fastPath ? dropTables() : undefined))
      .finally(() => process.exit(0));
  }
  // Leaves the fast path in the kernel (a restart adopts it), as a crash would.
  if (cmd === 'detach') void carrier.stop().finally(() => process.exit(0));
});
process.stdout.write(JSON.stringify({ ready: true, queue: cfg.queue }) + '\n');
