// HA connection-state sync on the main thread (issue 12): kernel conntrack replication of ferrolb's
// TCP/UDP service flows over the Cluster's authenticated sync channel. It only exists with a
// Cluster; the producer gets a fresh port into the cluster worker on each of the worker's starts.
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
    private readonly opts: { runtime: Runtime; log: Logger; cluster: ClusterShell; run?: Runner },
  ) {}

  start(): Promise<void> {
    this.opts.cluster.syncProducer((port) => this.attach(port));
    return Promise.resolve();
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
