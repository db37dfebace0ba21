// Counter listings parsed off the event loop: at 10k services `nft -j list set` of the counted sets
// is megabytes of JSON (80k endpoint counters), a parse of 100+ ms that would stall every request
// and timer sharing the main thread. One worker, started on the first large listing and unref'd
// (an idle worker keeps nothing alive); small listings (tests, small tables) are parsed in place.
import { parentPort, Worker, isMainThread, workerData } from 'node:worker_threads';
import { parseCounters, type CounterValue } from './compiler/observe.js';
import { spawnRunner } from './exec.js';

/** Below this the parse costs less than the hand-over (a few ms). */
const INLINE_BYTES = 256 * 1024;

interface Job {
  readonly id: number;
  readonly json?: string;
  /** Or: the worker runs `nft ARGS` itself behind this prefix (the listing stays out of the main heap). */
  readonly list?: { readonly prefix: readonly string[]; readonly args: readonly string[] };
}

interface Reply {
  readonly id: number;
  /** The listing command failed (no table, counters off): no values. */
  readonly absent?: boolean;
  readonly keys?: string[];
  /** packets, bytes per key, in key order. */
  readonly values?: Float64Array;
  readonly error?: string;
}

let worker: Worker | undefined;
let nextId = 0;
const waiting = new Map<
  number,
  { resolve: (v: Map<string, CounterValue> | undefined) => void; reject: (e: Error) => void }
>();

function failAll(e: Error): void {
  worker = undefined;
  for (const w of waiting.values()) w.reject(e);
  waiting.clear();
}

function start(): Worker {
  const w = new Worker(new URL(import.meta.url), { workerData: { counterWorker: true } });
  w.unref();
  w.on('message', (r: Reply) => {
    const job = waiting.get(r.id);
    if (!job) return;
    waiting.delete(r.id);
    if (waiting.size === 0) w.unref();
    if (r.absent) {
      job.resolve(undefined);
      return;
    }
    if (r.error !== undefined || !r.keys || !r.values) {
      job.reject(new Error(r.error ?? 'counter worker: empty reply'));
      return;
    }
    const out = new Map<string, CounterValue>();
    for (let i = 0; i < r.keys.length; i++)
      out.set(r.keys[i]!, { packets: r.values[2 * i]!, bytes: r.values[2 * i + 1]! });
    job.resolve(out);
  });
  w.on('error', (e) => failAll(e));
  w.on('exit', (code) => failAll(new Error(`counter worker exited ${code}`)));
  return w;
}

/** parseCounters(json), in the worker when the listing is large. */
export function parseCountersAsync(json: string): Promise<Map<string, CounterValue>> {
  if (json.length < INLINE_BYTES) return Promise.resolve(parseCounters(json));
  return post({ json }) as Promise<Map<string, CounterValue>>;
}

/** `nft ARGS` behind `prefix`, run and parsed in the worker; undefined when the command fails. */
export function listCountersInWorker(
  prefix: readonly string[],
  args: readonly string[],
): Promise<Map<string, CounterValue> | undefined> {
  return post({ list: { prefix, args } });
}

function post(job: Omit<Job, 'id'>): Promise<Map<string, CounterValue> | undefined> {
  worker ??= start();
  const w = worker;
  w.ref(); // a listing in flight keeps the process up until it is answered
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    w.postMessage({ id, ...job } satisfies Job);
  });
}

async function jobText(job: Job): Promise<string | undefined> {
  if (!job.list) return job.json ?? '';
  const r = await spawnRunner(job.list.prefix)('nft', job.list.args);
  return r.code === 0 ? r.stdout : undefined;
}

if (!isMainThread && parentPort && (workerData as { counterWorker?: boolean } | undefined)?.counterWorker) {
  const port = parentPort;
  port.on('message', (job: Job) => void reply(job));
  const reply = async (job: Job): Promise<void> => {
    try {
      const text = await jobText(job);
      if (text === undefined) {
        port.postMessage({ id: job.id, absent: true } satisfies Reply);
        return;
      }
      const m = parseCounters(text);
      const keys = [...m.keys()];
      const values = new Float64Array(keys.length * 2);
      let i = 0;
      for (const v of m.values()) {
        values[i++] = v.packets;
        values[i++] = v.bytes;
      }
      port.postMessage({ id: job.id, keys, values } satisfies Reply, [values.buffer]);
    } catch (e) {
      port.postMessage({ id: job.id, error: (e as Error).message } satisfies Reply);
    }
  };
}
