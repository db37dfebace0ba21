// `ferrolb agent`'s Kubernetes side: the same caches as the controller, turned into the agent's model
// on every change (coalesced) and handed to `onModel` — the daemon's data plane, announcers and probes
// take it from there. Read-only towards the API: the agent never allocates and never writes Services.
import type { KubeConfig } from '@kubernetes/client-node';
import { agentModel, type AgentModel } from './agent.js';
import type { AgentClusterOptions } from './cluster.js';
import { makeCaches, type WatchOptions } from './caches.js';
import type { CoreConfig } from './core.js';
import { DEFAULT_MAPPING } from './mapping.js';

export interface AgentWatchOptions {
  readonly kubeConfig: KubeConfig;
  readonly config?: Partial<CoreConfig>;
  readonly watch?: WatchOptions;
  readonly debounceMs?: number;
  /** Form the Layer 2 Cluster from the Nodes (absent: no Cluster). */
  readonly cluster?: AgentClusterOptions;
  /** Called with each new model, never concurrently; a rejected promise is retried on the next change. */
  readonly onModel: (m: AgentModel) => Promise<void> | void;
  readonly log?: (msg: string, extra?: Record<string, unknown>) => void;
}

export interface AgentWatch {
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export function runAgentWatch(opts: AgentWatchOptions): AgentWatch {
  const cfg: CoreConfig = { ...DEFAULT_MAPPING, metallbCompat: false, ...(opts.config ?? {}) };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let dirty = false;
  let stopped = false;
  // stop() must not wait for caches that never sync (API server unreachable).
  let halt: () => void = () => undefined;
  const halted = new Promise<void>((r) => (halt = r));
  const kick = () => {
    dirty = true;
    if (timer || running || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      dirty = false;
      running = (async () => {
        await Promise.race([caches.ready, halted]);
        if (stopped) return;
        try {
          await opts.onModel(agentModel(caches.view(), cfg, opts.cluster));
        } catch (e) {
          opts.log?.('agent model not applied', { error: (e as Error).message });
        }
      })().finally(() => {
        running = undefined;
        if (dirty) kick();
      });
    }, opts.debounceMs ?? 20);
  };
  const caches = makeCaches(
    opts.kubeConfig,
    cfg.metallbCompat,
    opts.watch ?? {},
    () => kick(),
    opts.log ?? (() => undefined),
  );
  caches.start();
  return {
    ready: caches.ready,
    async stop() {
      stopped = true;
      halt();
      clearTimeout(timer);
      await running;
      await caches.stop();
    },
  };
}
