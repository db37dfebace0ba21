// Messages between the main thread and the membership worker (src/cluster/worker.ts). The main
// thread sends configuration and candidate deltas (O(change)); the worker answers status requests
// and pushes small summaries (metrics, log lines). Nothing the worker needs for a failover comes
// from the main thread after the candidates are in.
import type { ClusterSpec } from '../model/cluster.js';
import type { MessagePort } from 'node:worker_threads';
import type { CandidateDelta } from './contract.js';
import type { SyncCounters } from './sync-channel.js';
import type { ClusterCounters, ClusterStatus } from './status.js';

export interface WorkerConfig {
  readonly cluster: ClusterSpec;
  readonly self: string;
  /** The shared key (file content, trimmed). */
  readonly key: Uint8Array;
  /** Where the worker records its last boot id (so the next one is larger even if the clock steps back). */
  readonly stateDir: string;
}

export type ToCluster =
  | { readonly type: 'config'; readonly config: WorkerConfig }
  | {
      readonly type: 'candidates';
      readonly delta: CandidateDelta;
      readonly full: boolean;
      /** Answer `applied` with this id once the announcer has the candidates in the kernel. */
      readonly ack?: number;
    }
  | { readonly type: 'status'; readonly id: number }
  /** A state-sync producer's end of a MessageChannel (sync-contract.ts), transferred. */
  | { readonly type: 'sync-port'; readonly port: MessagePort }
  | { readonly type: 'stop' };

export interface ClusterSummary {
  readonly membersUp: number;
  readonly quorum: boolean;
  readonly synced: boolean;
  readonly owned: number;
  readonly counters: ClusterCounters;
  readonly sync: SyncCounters;
  /** Worst p99 sync lag over the peers, ms (first send → ack); undefined before any sample. */
  readonly syncLagP99Ms?: number;
}

export type FromCluster =
  | { readonly type: 'started'; readonly bootId: number }
  | { readonly type: 'applied'; readonly id: number }
  | { readonly type: 'status'; readonly id: number; readonly status: ClusterStatus }
  | { readonly type: 'summary'; readonly summary: ClusterSummary }
  | {
      readonly type: 'owned';
      readonly owned: number;
      readonly added: readonly string[];
      readonly removed: readonly string[];
    }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly msg: string }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'stopped' };

export class ClusterProtocolError extends Error {
  constructor(detail: string) {
    super(`cluster thread message: ${detail}`);
    this.name = 'ClusterProtocolError';
  }
}

const TO_TYPES = ['config', 'candidates', 'status', 'sync-port', 'stop'];
const FROM_TYPES = ['started', 'applied', 'status', 'summary', 'owned', 'log', 'error', 'stopped'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseToCluster(m: unknown): ToCluster {
  if (!isObj(m) || !TO_TYPES.includes(String(m.type)))
    throw new ClusterProtocolError(`unknown message ${JSON.stringify(isObj(m) ? m.type : m)}`);
  if (m.type === 'candidates') {
    const d = m.delta;
    if (!isObj(d) || !Array.isArray(d.upsert) || !Array.isArray(d.remove))
      throw new ClusterProtocolError('candidates: delta needs upsert and remove lists');
  }
  if (m.type === 'sync-port' && (!isObj(m.port) || typeof m.port.postMessage !== 'function'))
    throw new ClusterProtocolError('sync-port: needs a MessagePort');
  if (m.type === 'config' && (!isObj(m.config) || !(m.config.key instanceof Uint8Array)))
    throw new ClusterProtocolError('config: needs cluster, self and key');
  return m as unknown as ToCluster;
}

export function parseFromCluster(m: unknown): FromCluster {
  if (!isObj(m) || !FROM_TYPES.includes(String(m.type)))
    throw new ClusterProtocolError(`unknown message ${JSON.stringify(isObj(m) ? m.type : m)}`);
  return m as unknown as FromCluster;
}
