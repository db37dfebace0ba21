// Joins a state-sync producer that lives on a worker of its own (the SCTP carrier thread) to the
// Cluster's sync channel (another worker). Either side restarts on its own: the cluster worker
// hands a fresh port on each of its starts (ClusterShell.syncProducer), the producer's worker asks
// for one on each of its starts (SctpThread.attachSync). The relay keeps one of each and forwards
// both ways; a new cluster port hears the producer's last hello again. While no producer runs (no
// SCTP service on this node), a peer's full-state pull is answered empty, so it never waits for a
// producer that is not there.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { FromProducer, SyncKind, ToProducer } from '../cluster/sync-contract.js';

export class SyncRelay {
  private cluster: MessagePort | undefined;
  private producer: MessagePort | undefined;
  private hello: FromProducer | undefined;
  /** Messages forwarded each way (status/tests). */
  readonly counts = { toCluster: 0, toProducer: 0, answeredEmpty: 0 };

  constructor(private readonly kind: SyncKind) {}

  /** The cluster side: a fresh port after every start of the cluster worker. */
  clusterPort(port: MessagePort): void {
    this.cluster?.close();
    this.cluster = port;
    port.on('message', (m: ToProducer) => this.toProducer(m));
    if (this.hello) port.postMessage(this.hello);
  }

  /** The producer side: a fresh port for a (re)started producer worker; the other end goes there. */
  open(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.producer?.close();
    this.producer = port2;
    port2.on('message', (m: FromProducer) => {
      if (m.type === 'hello') this.hello = m;
      this.counts.toCluster++;
      this.cluster?.postMessage(m);
    });
    port2.once('close', () => {
      if (this.producer === port2) this.producer = undefined;
    });
    return port1;
  }

  /** The producer's worker stopped for good (its service is gone). */
  producerGone(): void {
    this.producer?.close();
    this.producer = undefined;
  }

  stop(): void {
    this.producerGone();
    this.cluster?.close();
    this.cluster = undefined;
  }

  private toProducer(m: ToProducer): void {
    if (m.kind !== this.kind) return;
    if (this.producer) {
      this.counts.toProducer++;
      this.producer.postMessage(m);
    } else if (m.type === 'snapshot' && this.hello) {
      this.counts.answeredEmpty++;
      this.cluster?.postMessage({ type: 'snapshot', kind: this.kind, id: m.id, records: [], done: true });
    }
  }
}
