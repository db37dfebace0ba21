// HA state sync of SCTP associations, engine level: an association built on engine A with real
// packets is published over a real MessagePort; the test plays the Cluster's channel (publish on A →
// apply on B). B installs it (engine + its kernel fast path) and forwards the association's DATA,
// SACK and HEARTBEAT as A would; A's failover and A's end reach B; a rejoining node pulls a
// snapshot; bad records are refused and counted, the rest still apply.
import test from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { formatIp } from '../../../src/net/ip.js';
import { SctpNatEngine } from '../../../src/sctp/index.js';
import { entryKey } from '../../../src/sctp/engine/association.js';
import { PathIds, fastPathScript } from '../../../src/sctp/kernel/nft.js';
import { SctpSync } from '../../../src/sctp/shell/sync.js';
import { ChunkType, FLAG_T } from '../../../src/sctp/codec/index.js';
import type { FromProducer, SyncRecord } from '../../../src/cluster/sync-contract.js';
import { AUTH_PARAMS, chunk, packet } from './build.js';
import { V4 as BED, establish, out } from './establish.js';
import { FakeNft } from './fakenft.js';

interface Node {
  name: string;
  eng: SctpNatEngine;
  nft: FakeNft;
  ids: PathIds;
  sync: SctpSync;
  /** The channel's end of the producer's port. */
  channel: MessagePort;
  published: FromProducer[];
}

function node(name: string): Node {
  const eng = new SctpNatEngine([BED.svc]);
  const nft = new FakeNft();
  const ids = new PathIds();
  const { port1, port2 } = new MessageChannel();
  const published: FromProducer[] = [];
  port2.on('message', (m: FromProducer) => published.push(m));
  const sync = new SctpSync({
    engine: eng,
    port: port1,
    install: (c) => nft.apply(fastPathScript(c, ids)),
    services: () => [BED.svc],
  });
  return { name, eng, nft, ids, sync, channel: port2, published };
}

/** Lets MessagePort deliveries happen, until `done` (bounded). */
async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(done(), `timed out waiting for ${what}`);
}

/** The channel: every record `from` published since `seen` goes to `to` as an 'apply'. */
function relay(from: Node, to: Node, seen: number): number {
  const msgs = from.published.slice(seen);
  for (const m of msgs)
    if (m.type === 'publish' || m.type === 'snapshot')
      to.channel.postMessage({ type: 'apply', kind: 'sctp', from: from.name, records: m.records });
  return from.published.length;
}

const withoutId = (e: ReturnType<SctpNatEngine['natEntries']>[number]) => entryKey(e).replace(/^\d+\|/, '');
const kernelOf = (n: Node) => n.eng.natEntries().map(withoutId).sort();

test('records of an association built on A let B forward its DATA, SACK and HEARTBEAT; failover and end follow', async () => {
  const a = node('a');
  const b = node('b');
  await until('hello', () => a.published.length === 1);
  assert.deepEqual(a.published[0], { type: 'hello', kind: 'sctp', version: 1 });
  const P = BED.svc.port;
  const { lbPort } = establish(a.eng, BED, a.nft, a.ids, AUTH_PARAMS(1), AUTH_PARAMS(2));
  // What the carrier does with every change: the COOKIE-ACK's added the association's paths.
  a.sync.changed({ add: a.eng.natEntries(), remove: [] });
  await until('publish', () => a.published.length === 2);
  const pub = a.published[1]!;
  assert.equal(pub.type === 'publish' && pub.records.length, 1, 'one record for one association');
  let seen = relay(a, b, 1);
  await until('apply on B', () => b.sync.stats.applied === 1);

  assert.equal(b.eng.associations(10).length, 1);
  assert.equal(b.sync.stats.standby, 1);
  assert.deepEqual(kernelOf(b), kernelOf(a), 'B holds the same fast-path entries (its own marks and id)');
  assert.equal(b.nft.size('ip', 'pathid'), a.nft.size('ip', 'pathid'));

  // DATA from the client's second address to a secondary VIP, as A would translate it.
  const data = out(
    b.eng.handle(
      packet(BED.C[1]!, BED.V[1]!, 5000, P, 0x2222, [chunk(ChunkType.DATA, new Uint8Array(9))]),
      20,
    ),
  );
  assert.deepEqual(
    [formatIp(data.ip.src), formatIp(data.ip.dst), data.sctp.srcPort, data.sctp.dstPort, data.sctp.vtag],
    ['10.9.0.2', '10.0.2.2', lbPort, 7, 0x2222],
  );
  // The endpoint's SACK on the primary VIP goes back to the client's home address for it.
  const sack = out(
    b.eng.handle(
      packet(BED.E, BED.V[0]!, P, lbPort, 0x1111, [chunk(ChunkType.SACK, new Uint8Array(12))]),
      21,
    ),
  );
  assert.deepEqual(
    [formatIp(sack.ip.src), formatIp(sack.ip.dst), sack.sctp.srcPort, sack.sctp.dstPort, sack.sctp.vtag],
    ['10.9.0.1', '10.0.1.2', 7, 5000, 0x1111],
  );
  const hb = out(
    b.eng.handle(
      packet(BED.C[0]!, BED.V[2]!, 5000, P, 0x2222, [chunk(ChunkType.HEARTBEAT, new Uint8Array(8))]),
      22,
    ),
  );
  assert.deepEqual([formatIp(hb.ip.src), formatIp(hb.ip.dst)], ['10.9.0.3', '10.0.2.2']);
  // Held for A: B does not idle it out while A is up, and ages it by its own traffic once A is down.
  assert.equal(b.eng.tick(10_000_000).remove.length, 0);

  // A fails the primary VIP's return path over to C1: B's kernel follows.
  const id = a.eng.associations(30)[0]!.id;
  a.eng.delivered(id, BED.V[0]!, 3, 100);
  a.eng.observe(id, BED.C[1]!, 1000, BED.V[1]!);
  const moved = a.eng.tick(2000);
  assert.ok(moved.add.length > 0);
  a.sync.changed(moved);
  await until('failover published', () => a.published.length === 3);
  seen = relay(a, b, seen);
  await until('failover applied', () => b.sync.stats.applied === 2);
  assert.deepEqual(kernelOf(b), kernelOf(a));
  const sack2 = out(
    b.eng.handle(
      packet(BED.E, BED.V[0]!, P, lbPort, 0x1111, [chunk(ChunkType.SACK, new Uint8Array(12))]),
      2001,
    ),
  );
  assert.equal(formatIp(sack2.ip.dst), '10.0.3.2');

  // A rejoining node pulls A's state (snapshot) and holds the same.
  const c = node('c');
  a.channel.postMessage({ type: 'snapshot', kind: 'sctp', id: 5 });
  await until('snapshot', () => a.published.some((m) => m.type === 'snapshot'));
  const snap = a.published.find((m) => m.type === 'snapshot');
  assert.deepEqual(snap && snap.type === 'snapshot' && [snap.id, snap.done, snap.records.length], [
    5,
    true,
    1,
  ]);
  seen = relay(a, c, seen);
  await until('snapshot applied', () => c.sync.stats.applied === 1);
  assert.deepEqual(kernelOf(c), kernelOf(a));

  // The client aborts through A: B removes the association and every kernel entry it installed.
  const abort = a.eng.handle(
    packet(BED.C[0]!, BED.V[0]!, 5000, P, 0x1111, [chunk(ChunkType.ABORT, [], FLAG_T)]),
    3000,
  );
  a.sync.changed(abort.changes);
  await until('end published', () => a.published.length === 5);
  const end = a.published[4]!;
  assert.deepEqual(end.type === 'publish' && end.records.map((r) => r.deleted), [true]);
  relay(a, b, seen);
  await until('end applied', () => b.sync.stats.applied === 3);
  assert.equal(b.eng.associations(4000).length, 0);
  assert.equal(b.nft.size('ip', 'pathid'), 0);
  for (const n of [a, b, c]) n.channel.close();
});

test('bad records are refused and counted with the reason; the good ones in the same batch apply', async () => {
  const a = node('a');
  const b = node('b');
  establish(a.eng, BED, a.nft, a.ids, [], []);
  a.sync.changed({ add: a.eng.natEntries(), remove: [] });
  await until('publish', () => a.published.length === 2);
  const good = (a.published[1] as Extract<FromProducer, { type: 'publish' }>).records[0] as SyncRecord;
  const skew = good.data!.slice();
  skew[1] = 9;
  b.channel.postMessage({
    type: 'apply',
    kind: 'sctp',
    from: 'a',
    records: [
      { key: 'x', data: Uint8Array.from([1, 2, 3]) },
      { key: good.key, data: skew },
      { key: 'wrong-key', data: good.data },
      good,
    ],
  });
  await until('applied', () => b.sync.stats.received === 4);
  assert.equal(b.sync.stats.rejected, 3);
  assert.equal(b.sync.stats.applied, 1);
  assert.equal(b.eng.associations(0).length, 1);
  b.channel.postMessage({ type: 'apply', kind: 'sctp', from: 'a', records: [{ key: good.key, data: skew }] });
  await until('skew refused', () => b.sync.stats.rejected === 4);
  assert.equal(b.sync.stats.lastError, 'sctp replica record: version: 9 (this node speaks 1)');
  b.channel.postMessage({ type: 'nonsense', kind: 'sctp' });
  await until('nonsense refused', () => b.sync.stats.rejected === 5);
  assert.match(b.sync.stats.lastError ?? '', /message\.type: unknown message type "nonsense"/);
  // A peer that leaves: what was held for it ages by this node's own activity from now on.
  b.channel.postMessage({ type: 'peer-down', kind: 'sctp', node: 'a' });
  await until('released', () => b.sync.stats.standby === 0);
  assert.equal(b.eng.tick(Date.now() + 10_000_000).remove.length > 0, true);
  for (const n of [a, b]) n.channel.close();
});
