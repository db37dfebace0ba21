// Full verification off the event loop: reads `nft -j list table` (tens of MB of JSON at 10k
// services × 8), parses it and compares it with the model's digest in a worker thread; the main
// thread only gets the verdict. With a spawning runner the worker runs nft itself, so the listing
// never enters the main heap (it used to: +120 MB RSS and a 0.3 s collection per verification).
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { observeTable } from './compiler/observe.js';
import { compareDigests, digestState, type DriftHint, type DriftKind, type StateDigest } from './drift.js';
import { spawnRunner, type RunResult } from './exec.js';

interface Job {
  /** nft -j output; undefined when the table does not exist. */
  readonly json?: string | undefined;
  /** Or: the worker lists the table itself, behind this command prefix (`ip netns exec NS`, or none). */
  readonly listPrefix?: readonly string[];
  readonly table: string;
  readonly model: StateDigest;
}

export interface Verdict {
  readonly drift: DriftKind[];
  readonly hints: DriftHint[];
  /** The listing failed (not "no such table"): its result, stdout left out. */
  readonly failed?: RunResult;
}

const NO_TABLE = /No such file or directory/i;

async function listAndJudge(job: Job): Promise<Verdict> {
  if (!job.listPrefix) return judge(job);
  const r = await spawnRunner(job.listPrefix)('nft', ['-j', 'list', 'table', 'inet', job.table]);
  if (r.code !== 0 && !NO_TABLE.test(r.stderr))
    return { drift: [], hints: [], failed: { code: r.code, stdout: '', stderr: r.stderr.slice(0, 4096) } };
  return judge({ ...job, json: r.code === 0 ? r.stdout : undefined });
}

export function judge(job: Job): Verdict {
  const observed = job.json === undefined ? undefined : digestState(observeTable(job.json, job.table));
  return compareDigests(job.model, observed);
}

/** Runs judge() in a fresh worker thread (one per verification: minutes apart, so no pool). */
export function judgeInWorker(job: Job): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: job });
    w.once('message', (v: Verdict) => resolve(v));
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`verification worker exited ${code}`));
    });
  });
}

if (parentPort && (workerData as Job | undefined)?.model) {
  const port = parentPort;
  void listAndJudge(workerData as Job).then((v) => port.postMessage(v));
}
