// A stand-in for the cluster worker in Layer 2 e2e tests and benchmarks: runs the KernelAnnouncer in
// a worker thread (as the daemon does) and drives it with JSON lines on stdin:
//   {"candidates": [L2Candidate...]}   {"owned": {"10.0.0.1": ["eth0"]}}   {"status": true}
// Each command is answered with one JSON line on stdout: {"ok": true, ...} or {"error": "..."}.
// `--name N --port P` also serves TCP on P (every address) and answers each connection with N, so a
// client can tell which node it reached. Usage: node l2-harness.js --name lb1 --port 8080
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KernelAnnouncer } from '../../src/l2/announcer.js';
import { loadFrameIo } from '../../src/l2/native.js';
import { spawnRunner } from '../../src/dataplane/exec.js';
import type { L2Candidate } from '../../src/cluster/contract.js';

type Msg = { id: number; candidates?: L2Candidate[]; owned?: Record<string, string[]>; status?: boolean };

if (isMainThread) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(`--${k}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const name = arg('name') ?? 'node';
  const port = Number(arg('port') ?? 0);
  if (port) {
    // A reset (a takeover resets what the dead node carried) must not kill the server.
    const srv = createServer((s) => {
      s.on('error', () => undefined);
      s.end(`${name}\n`);
    });
    srv.listen({ port, host: '::', ipv6Only: false });
  }
  const worker = new Worker(fileURLToPath(import.meta.url), {
    workerData: {
      refreshMs: Number(arg('refresh') ?? 0),
      burstIntervalMs: Number(arg('burst-interval') ?? 200),
    },
  });
  worker.on('message', (m: unknown) => process.stdout.write(`${JSON.stringify(m)}\n`));
  worker.on('error', (e) => {
    process.stdout.write(`${JSON.stringify({ fatal: String(e) })}\n`);
    process.exit(1);
  });
  let id = 0;
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (!line.trim()) return;
    try {
      worker.postMessage({ id: ++id, ...(JSON.parse(line) as object) });
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ error: String(e) })}\n`);
    }
  });
  process.stdin.on('end', () => process.exit(0));
} else {
  const { workerData } = await import('node:worker_threads');
  const wd = workerData as { refreshMs: number; burstIntervalMs: number };
  const log = {
    info: (o: object, m: string) => parentPort!.postMessage({ log: m, ...o }),
    warn: (o: object, m: string) => parentPort!.postMessage({ log: m, level: 'warn', ...o }),
  };
  const a = new KernelAnnouncer({
    run: spawnRunner(),
    frames: loadFrameIo(),
    log,
    refreshMs: wd.refreshMs,
    burstIntervalMs: wd.burstIntervalMs,
    reconcileMs: 500,
  });
  const ready = a.start();
  parentPort!.on('message', (m: Msg) => {
    void (async () => {
      try {
        await ready;
        if (m.candidates) await a.candidates(new Map(m.candidates.map((c) => [c.address, c])));
        if (m.owned) await a.update(new Map(Object.entries(m.owned)));
        parentPort!.postMessage({
          id: m.id,
          ok: true,
          ...(m.status ? { status: a.status(), counters: a.counters } : {}),
        });
      } catch (e) {
        parentPort!.postMessage({ id: m.id, error: String((e as Error).stack ?? e) });
      }
    })();
  });
}
