import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { SyncRelay } from '../../../src/shell/sync-relay.js';
import type { FromProducer, ToProducer } from '../../../src/cluster/sync-contract.js';

const next = <T>(port: MessagePort) => new Promise<T>((r) => port.once('message', r));

describe('sync relay between the cluster worker and a producer worker', () => {
  it('forwards both ways, repeats the hello to a new cluster port, answers pulls empty without a producer', async () => {
    const relay = new SyncRelay('sctp');
    const c1 = new MessageChannel();
    relay.clusterPort(c1.port2);
    const producer = relay.open();
    producer.postMessage({ type: 'hello', kind: 'sctp', version: 1 } satisfies FromProducer);
    assert.deepEqual(await next(c1.port1), { type: 'hello', kind: 'sctp', version: 1 });
    c1.port1.postMessage({ type: 'apply', kind: 'sctp', from: 'lb2', records: [] } satisfies ToProducer);
    assert.equal((await next<ToProducer>(producer)).type, 'apply');
    // The cluster worker restarted: its new port hears the producer's hello again.
    const c2 = new MessageChannel();
    relay.clusterPort(c2.port2);
    assert.deepEqual(await next(c2.port1), { type: 'hello', kind: 'sctp', version: 1 });
    // The producer is gone: a peer's pull is answered empty and done, not left waiting.
    producer.close();
    relay.producerGone();
    c2.port1.postMessage({ type: 'snapshot', kind: 'sctp', id: 7 } satisfies ToProducer);
    assert.deepEqual(await next(c2.port1), {
      type: 'snapshot',
      kind: 'sctp',
      id: 7,
      records: [],
      done: true,
    });
    // Another kind's messages are not this relay's.
    c2.port1.postMessage({ type: 'snapshot', kind: 'conntrack', id: 8 } satisfies ToProducer);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(relay.counts.answeredEmpty, 1);
    relay.stop();
    c1.port1.close();
    c2.port1.close();
  });
});
