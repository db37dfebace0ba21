// Cluster membership on the main thread: follows the snapshot's Cluster object (start, reconfigure,
// stop the membership worker), checks this node's name and the key file, and turns snapshots into
// Layer 2 candidate deltas for the worker. Nothing here is on the failover path: the worker detects
// deaths, elects and announces on its own.
import { readFile } from 'node:fs/promises';
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { readCounter } from './metrics.js';
import { candidateSource, type CandidateSource } from '../cluster/candidates.js';
import type { WorkerConfig } from '../cluster/protocol.js';
import type { CandidateDelta } from '../cluster/contract.js';
import type { ClusterStatus } from '../cluster/status.js';
import { ClusterThread } from '../cluster/thread.js';
import { DROP_REASONS } from '../cluster/wire.js';
import { clusterKeyIssue, nodeNameIssue, trimKey, type ClusterSpec } from '../model/cluster.js';
import { formatIssue, type ConfigIssue } from '../model/issues.js';
import { StartupError, type Runtime } from './runtime.js';
import type { Snapshot } from '../state/snapshot.js';

export interface ClusterShellOptions {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly stateDir: string;
  /** This node's name in the Cluster (`--node-name`, default the hostname). */
  readonly nodeName: string;
  readonly source?: CandidateSource;
  /**
   * The addresses this node announces (and on which interfaces), after each change of its owned
   * set (coalesced): the agent's ServiceL2Status. Never on the failover path.
   */
  readonly onOwned?: (owned: ReadonlyMap<string, readonly string[]>) => void;
}

class ClusterConfigError extends Error {
  constructor(readonly issue: ConfigIssue) {
    super(formatIssue(issue));
    this.name = 'ClusterConfigError';
  }
}

export class ClusterShell {
  private thread: ClusterThread | undefined;
  private readonly producers: ((port: MessagePort) => void)[] = [];
  private spec: ClusterSpec | undefined;
  private key: Uint8Array | undefined;
  private error: string | undefined;
  private source: CandidateSource;
  private pending: ReturnType<typeof setImmediate> | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Candidates gone from the configuration, posted once the data plane applied that generation. */
  private readonly removals = new Map<string, number>();
  private readonly onSnapshot = (): void => this.schedule();
  private removeCheck: (() => void) | undefined;
  /** The key read by the change check, used by the converge that follows (one read per change). */
  private checked: { spec: ClusterSpec; key: Uint8Array } | undefined;

  constructor(private readonly opts: ClusterShellOptions) {
    this.source = opts.source ?? candidateSource();
  }

  /** At start a Cluster this node cannot join (name, key) refuses the start, naming field and value. */
  async start(): Promise<void> {
    const spec = this.opts.runtime.snapshot.state.cluster;
    if (spec) {
      try {
        await this.converge(spec);
      } catch (e) {
        if (e instanceof ClusterConfigError)
          throw new StartupError('cluster configuration refused', [e.issue]);
        throw e;
      }
    }
    this.opts.runtime.on('snapshot', this.onSnapshot);
    this.removeCheck = this.opts.runtime.addCheck((next, before) => this.check(next, before));
  }

  /**
   * A changed Cluster this node cannot use (its name gone, the key file missing or short) refuses
   * the whole change (SIGHUP says so, naming field and value): the running cluster keeps its key.
   */
  private async check(next: Snapshot, before: Snapshot): Promise<readonly ConfigIssue[]> {
    const spec = next.state.cluster;
    if (!spec || spec === before.state.cluster) return [];
    const issue = nodeNameIssue(spec, this.opts.nodeName);
    if (issue) return [issue];
    try {
      this.checked = { spec, key: await this.readKey(spec) };
      return [];
    } catch (e) {
      if (e instanceof ClusterConfigError) return [e.issue];
      throw e;
    }
  }

  /**
   * The data plane's gate before it applies a snapshot: every candidate of the current snapshot is
   * in the worker and its suppression sets in the kernel, so a service address the data plane adds
   * next is silent on the nodes that do not own it from its first moment.
   */
  async prepared(): Promise<void> {
    if (this.stopped) return;
    this.queue = this.queue.then(() => this.sync());
    await this.queue;
    await this.thread?.applied();
  }

  /**
   * The data plane applied `generation`: the addresses removed by then are no longer routed here,
   * so their suppression can go (lifted before, a non-owner would answer for them meanwhile).
   */
  dataplaneApplied(generation: number): void {
    const gone = [...this.removals].filter(([, g]) => g <= generation).map(([a]) => a);
    if (gone.length === 0 || !this.thread) return;
    for (const a of gone) this.removals.delete(a);
    this.thread.update({ upsert: [], remove: gone });
  }

  private schedule(): void {
    if (this.pending || this.stopped) return;
    this.pending = setImmediate(() => {
      this.pending = undefined;
      this.queue = this.queue.then(() => this.sync());
    });
  }

  /** A later change that cannot be used keeps the last good cluster running and says why. */
  private async sync(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.converge(this.opts.runtime.snapshot.state.cluster);
      this.error = undefined;
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
      this.opts.log.error(
        { err: this.error },
        'cluster change refused; the last good cluster configuration keeps running',
      );
    }
  }

  private async readKey(spec: ClusterSpec): Promise<Uint8Array> {
    const content = await readFile(spec.authKeyFile).then(
      (b) => new Uint8Array(b),
      (e: NodeJS.ErrnoException) => ({ error: e.code === 'ENOENT' ? 'no such file' : e.message }),
    );
    const issue = clusterKeyIssue(spec, content);
    if (issue) throw new ClusterConfigError(issue);
    return new Uint8Array(trimKey(content as Uint8Array));
  }

  private async converge(spec: ClusterSpec | undefined): Promise<void> {
    if (!spec) {
      if (this.thread) {
        this.opts.log.info(
          { cluster: this.spec?.name },
          'cluster removed from the configuration; leaving it',
        );
        const t = this.thread;
        this.thread = undefined;
        this.spec = undefined;
        this.source = this.opts.source ?? candidateSource();
        this.removals.clear();
        await t.stop();
      }
      return;
    }
    const issue = nodeNameIssue(spec, this.opts.nodeName);
    if (issue) throw new ClusterConfigError(issue);
    // The key is re-read when the Cluster changes (a rotated key: change the object, then SIGHUP).
    const key =
      spec === this.spec && this.key
        ? this.key
        : this.checked?.spec === spec
          ? this.checked.key
          : await this.readKey(spec);
    this.checked = undefined;
    const config: WorkerConfig = {
      cluster: spec,
      self: this.opts.nodeName,
      key,
      stateDir: this.opts.stateDir,
    };
    const snap = this.opts.runtime.snapshot;
    const delta = this.deferRemovals(this.source.update(snap, spec, this.opts.nodeName), snap.generation);
    if (!this.thread) {
      const thread = new ClusterThread({
        log: (level, msg) => this.opts.log[level]({ subsystem: 'cluster' }, msg),
        owned: (owned, added, removed) => {
          for (const a of added) this.owned.add(a);
          for (const a of removed) this.owned.delete(a);
          this.reportOwned();
          this.opts.log.info(
            {
              owned,
              added: added.slice(0, 20),
              removed: removed.slice(0, 20),
              addedCount: added.length,
              removedCount: removed.length,
            },
            'cluster: owned addresses changed',
          );
        },
      });
      for (const p of this.producers) thread.syncProducer(p);
      await thread.start(config, delta).catch(async (e: unknown) => {
        await thread.stop();
        throw new StartupError(`cluster membership cannot start on this node: ${(e as Error).message}`);
      });
      this.thread = thread;
      this.opts.log.info(
        {
          cluster: spec.name,
          node: this.opts.nodeName,
          nodes: spec.nodes.length,
          heartbeatMs: spec.heartbeatIntervalMs,
          bootId: thread.bootId,
        },
        'cluster membership started',
      );
    } else {
      if (spec !== this.spec || key !== this.key) this.thread.reconfigure(config);
      this.thread.update(delta);
    }
    this.spec = spec;
    this.key = key;
  }

  private readonly owned = new Set<string>();
  private ownedTimer: NodeJS.Timeout | undefined;

  /** Coalesced (100 ms): the interfaces come from the worker's announcer status. */
  private reportOwned(): void {
    const report = this.opts.onOwned;
    if (!report || this.ownedTimer) return;
    this.ownedTimer = setTimeout(() => {
      this.ownedTimer = undefined;
      void this.status().then((st) => {
        const ifs = new Map((st.announcer ?? []).map((a) => [a.address, a.interfaces]));
        report(new Map([...this.owned].map((a) => [a, ifs.get(a) ?? []])));
      });
    }, 100);
    this.ownedTimer.unref();
  }

  private deferRemovals(delta: CandidateDelta, generation: number): CandidateDelta {
    for (const c of delta.upsert) this.removals.delete(c.address);
    for (const a of delta.remove) this.removals.set(a, generation);
    return { upsert: delta.upsert, remove: [] };
  }

  /** A connection-state producer (sync-contract.ts): gets a port into the cluster worker on each of its starts. */
  syncProducer(onPort: (port: MessagePort) => void): void {
    this.producers.push(onPort);
    this.thread?.syncProducer(onPort);
  }

  /** Why the component is not ready: the membership thread is down (restarting). */
  notReady(): string | undefined {
    if (this.thread?.down) return this.thread.down;
    // A (re)starting node takes no address before it holds its live peers' claims and connection state.
    const s = this.thread?.summary;
    if (s && !s.synced)
      return s.quorum
        ? 'cluster: not synced with its live peers yet (claims and connection state)'
        : 'cluster: no quorum';
    return undefined;
  }

  async status(): Promise<ClusterStatus> {
    const base = {
      configured: this.spec !== undefined,
      ...(this.error ? { error: this.error } : {}),
    };
    if (!this.thread) return { ...base, running: false, members: [], owners: [], owned: 0 };
    const st = await this.thread.status();
    if (!st)
      return {
        ...base,
        name: this.spec?.name,
        self: this.opts.nodeName,
        running: false,
        error: this.thread.down ?? 'the cluster thread did not answer',
        members: [],
        owners: [],
        owned: 0,
      };
    return { ...st, ...base };
  }

  registerMetrics(r: Registry): void {
    const summary = () => this.thread?.summary;
    type S = NonNullable<ReturnType<typeof summary>>;
    const counter = (name: string, help: string, read: (s: S) => number) =>
      readCounter(r, name, help, () => {
        const s = summary();
        return s ? read(s) : undefined;
      });
    const gauge = (name: string, help: string, read: (s: S) => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          const s = summary();
          this.set(s ? read(s) : 0);
        },
      });
    counter(
      'ferrolb_cluster_heartbeats_sent_total',
      'Membership heartbeats sent (to all peers)',
      (s) => s.counters.heartbeatsSent,
    );
    counter(
      'ferrolb_cluster_heartbeats_received_total',
      'Authenticated membership heartbeats received',
      (s) => s.counters.heartbeatsReceived,
    );
    counter(
      'ferrolb_cluster_claims_sent_total',
      'Extra claim chunks sent (large owned sets, peers catching up)',
      (s) => s.counters.claimsSent,
    );
    counter(
      'ferrolb_cluster_owner_changes_total',
      'Address owner changes this node has seen',
      (s) => s.counters.ownerChanges,
    );
    gauge(
      'ferrolb_cluster_members_up',
      'Cluster nodes this node sees alive, itself included',
      (s) => s.membersUp,
    );
    gauge(
      'ferrolb_cluster_quorum',
      '1 when this node sees a majority of the cluster (it may own addresses)',
      (s) => (s.quorum ? 1 : 0),
    );
    gauge('ferrolb_cluster_owned_addresses', 'Addresses this node owns (announces)', (s) => s.owned);
    gauge(
      'ferrolb_cluster_synced',
      "1 once this node holds every live peer's claims and connection state (it may own addresses)",
      (s) => (s.synced ? 1 : 0),
    );
    counter(
      'ferrolb_sync_records_received_total',
      'Connection-state records received from peers',
      (s) => s.sync.received,
    );
    counter(
      'ferrolb_sync_records_applied_total',
      'Received records handed to their producer to install',
      (s) => s.sync.applied,
    );
    gauge(
      'ferrolb_sync_lag_seconds',
      "Connection-state sync lag, worst peer: p99 of a batch's first send to the peer's ack (recent batches)",
      (s) => (s.syncLagP99Ms ?? 0) / 1000,
    );
    counter(
      'ferrolb_sync_malformed_total',
      'Authenticated sync messages that did not parse',
      (s) => s.sync.malformed,
    );
    counter(
      'ferrolb_sync_version_refused_total',
      'Sync messages refused: another sync version',
      (s) => s.sync.versionRefused,
    );
    new Counter({
      name: 'ferrolb_cluster_dropped_messages_total',
      help: 'Membership datagrams dropped, by reason (auth: wrong key; replay; version: another wire version; ...)',
      labelNames: ['reason'],
      registers: [r],
      collect() {
        this.reset();
        const s = summary();
        for (const reason of DROP_REASONS) this.inc({ reason }, s?.counters.drops[reason] ?? 0);
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pending) clearImmediate(this.pending);
    if (this.ownedTimer) clearTimeout(this.ownedTimer);
    this.opts.runtime.off('snapshot', this.onSnapshot);
    this.removeCheck?.();
    await this.queue;
    await this.thread?.stop();
    this.thread = undefined;
  }
}
