// HA connection-state sync on the main thread (issue 12): kernel conntrack replication of ferrolb's
// TCP/UDP service flows over the Cluster's authenticated sync channel. It only exists with a
// Cluster; the producer gets a fresh port into the cluster worker on each of the worker's starts.
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { MessagePort } from 'node:worker_threads';
import { CtProducer, type CtProducerCounters } from '../dataplane/ct-producer.js';
import { servicePortKey } from '../dataplane/ct-replica.js';
import { spawnRunner, type Runner } from '../dataplane/exec.js';
import type { Snapshot } from '../state/snapshot.js';
import type { ClusterShell } from './cluster.js';
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

  constructor(
    private readonly opts: {
      runtime: Runtime;
      log: Logger;
      cluster: ClusterShell;
      run?: Runner;
      /** The be_liberal sysctl (tests: a file of their own). */
      sysctlPath?: string;
    },
  ) {}

  async start(): Promise<void> {
    await this.liberalTcpTracking();
    this.opts.cluster.syncProducer((port) => this.attach(port));
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
    this.producer?.stop();
    this.producer = undefined;
    return Promise.resolve();
  }

  counters(): CtProducerCounters | undefined {
    return this.producer?.counters;
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
