// HA connection-state sync on the main thread (issue 12): kernel conntrack replication of ferrolb's
// TCP/UDP service flows over the Cluster's authenticated sync channel. It only exists with a
// Cluster; the producer gets a fresh port into the cluster worker on each of the worker's starts.
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { MessagePort } from 'node:worker_threads';
import { CtProducer, type CtProducerCounters } from '../dataplane/ct-producer.js';
import { flowKey, isServiceFlow, parseCtLine, servicePortKey } from '../dataplane/ct-replica.js';
import { ctEntry, type CtEntryView, type CtView } from '../cluster/ct-view.js';
import { Gauge, type Registry } from 'prom-client';
import { readCounter } from './metrics.js';
import { spawnRunner, type Runner } from '../dataplane/exec.js';
import type { Snapshot } from '../state/snapshot.js';
import { SyncKind } from '../cluster/sync-contract.js';
import type { ClusterShell } from './cluster.js';
import type { SctpShell } from './sctp.js';
import { SyncRelay } from './sync-relay.js';
import type { Runtime } from './runtime.js';

/** TCP/UDP service ports of the snapshot's allocated addresses (SCTP has its own producer). */
export function servicePorts(snap: Snapshot): Set<string> {
  const out = new Set<string>();
  for (const [name, lb] of snap.state.loadBalancers) {
    const alloc = snap.allocations.get(name);
    for (const address of alloc?.addresses ?? [])
      for (const p of lb.ports)
        if (p.protocol !== 'SCTP') out.add(servicePortKey(address, p.protocol.toLowerCase(), p.port));
  }
  return out;
}

export class HaShell {
  private producer: CtProducer | undefined;
  private cache: { snap: Snapshot; ports: Set<string> } | undefined;
  private stopped = false;
  private sctpRelay: SyncRelay | undefined;

  constructor(
    private readonly opts: {
      runtime: Runtime;
      log: Logger;
      cluster: ClusterShell;
      /** SCTP associations ride the same channel (docs/ha-sctp.md), relayed between the two workers. */
      sctp?: Pick<SctpShell, 'attachSync'>;
      run?: Runner;
      /** The be_liberal sysctl (tests: a file of their own). */
      sysctlPath?: string;
    },
  ) {}

  async start(): Promise<void> {
    await this.liberalTcpTracking();
    this.opts.cluster.syncProducer((port) => this.attach(port));
    if (this.opts.sctp) {
      const relay = new SyncRelay(SyncKind.Sctp);
      this.sctpRelay = relay;
      this.opts.cluster.syncProducer((port) => relay.clusterPort(port));
      this.opts.sctp.attachSync(() => relay.open());
    }
  }

  /**
   * A replicated TCP entry carries no window-tracking data (the conntrack tool cannot set it), and
   * a returning node's own entries are stale: strict tracking would call the flow's next packets
   * INVALID, they would skip NAT and reach the local service address (a reset). conntrackd sets
   * the same per entry (IP_CT_TCP_FLAG_BE_LIBERAL); this netns-wide sysctl is what reaches it here.
   */
  private async liberalTcpTracking(): Promise<void> {
    const path = this.opts.sysctlPath ?? '/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal';
    try {
      if ((await readFile(path, 'utf8')).trim() === '1') return;
      await writeFile(path, '1\n');
      this.opts.log.info(
        { subsystem: 'ha', sysctl: path },
        'HA: TCP conntrack window tracking set liberal (nf_conntrack_tcp_be_liberal=1) so replicated flows are not INVALID on takeover',
      );
    } catch (e) {
      this.opts.log.warn(
        { subsystem: 'ha', sysctl: path },
        `HA: cannot set nf_conntrack_tcp_be_liberal=1 (${(e as Error).message}): replicated TCP flows may be reset on takeover`,
      );
    }
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.sctpRelay?.stop();
    this.producer?.stop();
    this.producer = undefined;
    return Promise.resolve();
  }

  counters(): CtProducerCounters | undefined {
    return this.producer?.counters;
  }

  /** ferrolb's service connections in this node's kernel (`ferroctl get ct`); async, never a sync spawn. */
  async connections(limit = 10_000): Promise<CtView> {
    const run = this.opts.run ?? spawnRunner();
    const replicas = this.producer?.installedKeys();
    const items: CtEntryView[] = [];
    const errors: string[] = [];
    for (const family of ['ipv4', 'ipv6']) {
      const r = await run('conntrack', ['-L', '-f', family, '-o', 'extended']).catch((e: Error) => ({
        code: 1,
        stdout: '',
        stderr: e.message,
      }));
      if (r.code !== 0) errors.push(`conntrack -L -f ${family}: ${r.stderr.trim().slice(0, 200)}`);
      for (const line of r.stdout.split('\n')) {
        const e = parseCtLine(line);
        if (!e || !isServiceFlow(e.flow, this.ports())) continue;
        if (items.length < limit) items.push(ctEntry(e.flow, replicas?.has(flowKey(e.flow)) ?? false));
      }
    }
    return { items, ...(errors.length > 0 ? { error: errors.join('; ') } : {}) };
  }

  registerMetrics(r: Registry): void {
    const c = () => this.producer?.counters;
    const counter = (name: string, help: string, read: (k: CtProducerCounters) => number) =>
      readCounter(r, name, help, () => {
        const k = c();
        return k ? read(k) : undefined;
      });
    counter(
      'ferrolb_ct_sync_published_total',
      "This node's service flow changes sent to peers",
      (k) => k.published,
    );
    counter(
      'ferrolb_ct_sync_installed_total',
      "Peers' flows installed into this node's conntrack",
      (k) => k.installed,
    );
    counter(
      'ferrolb_ct_sync_updated_total',
      "Peers' flow changes applied to installed entries",
      (k) => k.updated,
    );
    counter(
      'ferrolb_ct_sync_deleted_total',
      'Installed flows removed when their peer ended them',
      (k) => k.deleted,
    );
    counter(
      'ferrolb_ct_sync_install_failures_total',
      "Peers' flows that could not be installed (bad record, conntrack refused)",
      (k) => k.installFailures,
    );
    counter(
      'ferrolb_ct_sync_dropped_total',
      'Installs dropped: the install queue was full',
      (k) => k.dropped,
    );
    const queue = () => this.producer?.installQueue ?? 0;
    new Gauge({
      name: 'ferrolb_ct_sync_install_queue',
      help: "Peers' flow records waiting to be installed",
      registers: [r],
      collect() {
        this.set(queue());
      },
    });
  }

  /** Whole-config work, once per snapshot (cached by identity), not per flow event. */
  private ports(): Set<string> {
    const snap = this.opts.runtime.snapshot;
    if (this.cache?.snap !== snap) this.cache = { snap, ports: servicePorts(snap) };
    return this.cache.ports;
  }

  private attach(port: MessagePort): void {
    this.producer?.stop();
    if (this.stopped) {
      port.close();
      return;
    }
    this.producer = new CtProducer({
      port,
      services: () => this.ports(),
      run: this.opts.run ?? spawnRunner(),
      log: (level, msg) => this.opts.log[level]({ subsystem: 'ha' }, msg),
    });
    this.producer.start();
  }
}
