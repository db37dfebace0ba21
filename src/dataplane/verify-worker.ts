// Full verification off the event loop: parses `nft -j list table` (tens of MB at 10k services) and
// compares it with the model's digest in a worker thread; the main thread only gets the verdict.
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { observeTable } from './compiler/observe.js';
import { compareDigests, digestState, type DriftHint, type DriftKind, type StateDigest } from './drift.js';

interface Job {
  /** nft -j output; undefined when the table does not exist. */
  readonly json: string | undefined;
  readonly table: string;
  readonly model: StateDigest;
}

export interface Verdict {
  readonly drift: DriftKind[];
  readonly hints: DriftHint[];
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

if (parentPort && (workerData as Job | undefined)?.model) parentPort.postMessage(judge(workerData as Job));
