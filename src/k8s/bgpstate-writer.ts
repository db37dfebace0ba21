// Keeps this node's BGPSessionState objects current (see bgpstate.ts): lists them once (and again
// after a failed write), then creates, patches status and deletes from what it wrote itself — each
// agent is the only writer of its node's objects. A failed write is logged and retried next round;
// the BGP sessions never wait on the API.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { SessionStatus } from '../bgp/types.js';
import {
  BGP_SESSION_STATE as R,
  labelValue,
  NODE_LABEL,
  planSessionStates,
  statusPatch,
  type KSessionState,
} from './bgpstate.js';

const STOP_WAIT_MS = 1_000;
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface SessionStateWriterOptions {
  readonly kubeConfig: KubeConfig;
  readonly node: string;
  /** Where the objects live (the agent's own namespace). */
  readonly namespace: string;
  readonly sessions: () => readonly SessionStatus[];
  /** Between rounds (default 5 s): a state change shows within this. */
  readonly intervalMs?: number;
  readonly log: (msg: string, extra?: Record<string, unknown>) => void;
  readonly now?: () => number;
}

export class SessionStateWriter {
  private readonly api: CustomObjectsApi;
  /** This node's objects as last listed or written; undefined: list first. */
  private known: Map<string, KSessionState> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastError = '';
  writes = 0;

  constructor(private readonly o: SessionStateWriterOptions) {
    this.api = o.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  start(): void {
    this.stopped = false;
    const tick = () => {
      this.running = this.sync().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.o.intervalMs ?? 5_000);
      });
    };
    tick();
  }

  /** Waits for a round in flight at most STOP_WAIT_MS: an API server that never answers must not hold a shutdown. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.running, new Promise<void>((r) => (t = setTimeout(r, STOP_WAIT_MS)))]);
    clearTimeout(t);
  }

  /** One round: never throws (an API failure is logged and the next round lists again). */
  async sync(): Promise<void> {
    const { namespace } = this.o;
    const base = { group: R.group, version: R.version, plural: R.plural, namespace };
    try {
      if (!this.known) {
        const list = (await this.api.listNamespacedCustomObject({
          ...base,
          labelSelector: `${NODE_LABEL}=${labelValue(this.o.node)}`,
        })) as { items: KSessionState[] };
        this.known = new Map(list.items.map((i) => [i.metadata.name ?? '', i]));
      }
      const known = this.known;
      const plan = planSessionStates(
        this.o.node,
        namespace,
        this.o.sessions(),
        [...known.values()],
        (this.o.now ?? Date.now)(),
      );
      for (const body of plan.create) {
        const made = (await this.api.createNamespacedCustomObject({ ...base, body })) as KSessionState;
        known.set(made.metadata.name ?? '', made);
        this.writes++;
      }
      for (const { name, status } of plan.patchStatus) {
        const made = (await this.api.patchNamespacedCustomObjectStatus(
          { ...base, name, body: { status: statusPatch(status) } },
          MERGE,
        )) as KSessionState;
        known.set(name, made);
        this.writes++;
      }
      for (const name of plan.delete) {
        await this.api.deleteNamespacedCustomObject({ ...base, name });
        known.delete(name);
        this.writes++;
      }
      this.lastError = '';
    } catch (e) {
      this.known = undefined;
      // Logged when it changes: a cluster without the CRD would otherwise log every round.
      const error = (e as Error).message.slice(0, 300);
      if (error !== this.lastError) this.o.log('BGPSessionState not written; retrying', { error });
      this.lastError = error;
    }
  }
}
