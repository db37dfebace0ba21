import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { APPLY_RATE, SyncChannel, type SyncSend } from '../../../src/cluster/sync-channel.js';
import { encodeBatch } from '../../../src/cluster/sync-codec.js';
import { SyncKind, SyncWireOffset, type SyncRecord } from '../../../src/cluster/sync-contract.js';
import { MsgType } from '../../../src/cluster/wire.js';
import { syncRows } from '../../../src/cluster/view.js';

/** Two channels and a producer each that answers snapshots from its own table and applies what arrives. */
class Pair {
  t = 0;
  readonly ch = { a: new SyncChannel(), b: new SyncChannel() };
  readonly table = { a: new Map<string, SyncRecord>(), b: new Map<string, SyncRecord>() };
  readonly applied = { a: new Map<string, string>(), b: new Map<string, string>() };
  drop = (_s: SyncSend) => false;

  constructor() {
    this.ch.a.fromProducer({ type: 'hello', kind: SyncKind.Conntrack, version: 1 });
    this.ch.b.fromProducer({ type: 'hello', kind: SyncKind.Conntrack, version: 1 });
  }

  step(): void {
    for (const me of ['a', 'b'] as const) {
      const other = me === 'a' ? 'b' : 'a';
      const ch = this.ch[me];
      for (const { msg } of ch.drainProducerMessages()) {
        if (msg.type === 'snapshot')
          ch.fromProducer({
            type: 'snapshot',
            kind: msg.kind,
            id: msg.id,
            records: [...this.table[me].values()],
            done: true,
          });
        if (msg.type === 'apply')
          for (const r of msg.records)
            this.applied[me].set(r.key, r.deleted ? 'deleted' : Buffer.from(r.data ?? []).toString());
      }
      const sends = ch.tick(this.t);
      const more = [...sends];
      while (more.length > 0) {
        const s = more.shift() as SyncSend;
        if (this.drop(s)) continue;
        const back = this.ch[other].receive(me, s.type, s.body, this.t);
        for (const r of back) if (!this.drop(r)) ch.receive(other, r.type, r.body, this.t);
      }
    }
    this.t += 10;
  }

  run(steps: number): void {
    for (let i = 0; i < steps; i++) this.step();
  }
}

const rec = (key: string, v: string): SyncRecord => ({ key, data: Buffer.from(v) });

describe('sync channel', () => {
  it('a rejoining node pulls the full state and is ready only once the pull is delivered', () => {
    const p = new Pair();
    for (let i = 0; i < 3000; i++) p.table.a.set(`c${i}`, rec(`c${i}`, `v${i}`));
    p.ch.a.peerUp('b', 0);
    p.ch.b.peerUp('a', 0);
    assert.equal(p.ch.b.ready(['a']), false);
    let lossy = true;
    let n = 0;
    p.drop = (s) => lossy && s.type !== MsgType.SyncBase + SyncWireOffset.PullRequest && n++ % 3 === 0;
    p.run(20);
    assert.equal(p.ch.b.ready(['a']), false, 'not ready while batches are lost');
    lossy = false;
    for (let i = 0; i < 500 && !p.ch.b.ready(['a']); i++) p.step();
    assert.equal(p.ch.b.ready(['a']), true);
    assert.equal(p.applied.b.size, 3000);
    assert.equal(p.applied.b.get('c2999'), 'v2999');
    const st = p.ch.a.status().peers.find((x) => x.name === 'b');
    assert.ok((st?.retransmits ?? 0) > 0);
    // Changes after the pull flow on the same stream.
    p.ch.a.fromProducer({
      type: 'publish',
      kind: SyncKind.Conntrack,
      records: [rec('c1', 'new'), { key: 'c2', deleted: true }],
    });
    p.run(3);
    assert.equal(p.applied.b.get('c1'), 'new');
    assert.equal(p.applied.b.get('c2'), 'deleted');
    // `ferroctl get cluster` shows the per-peer sync state.
    const rows = syncRows({
      configured: true,
      running: true,
      members: [],
      owners: [],
      owned: 0,
      sync: p.ch.b.status(),
    });
    assert.deepEqual(rows.rows[0]?.slice(0, 2), ['a', 'yes']);
    assert.equal(rows.rows[0]?.[3], String(3002));
  });

  it('a peer that saw this node die and return is served its new pull; this node stays synced', () => {
    const p = new Pair();
    p.table.a.set('c1', rec('c1', 'v1'));
    p.ch.a.peerUp('b', 0);
    p.ch.b.peerUp('a', 0);
    for (let i = 0; i < 100 && !(p.ch.a.ready(['b']) && p.ch.b.ready(['a'])); i++) p.step();
    assert.ok(p.ch.a.ready(['b']) && p.ch.b.ready(['a']));
    // Only b saw a go and come back (a's heartbeats were lost one way): b starts over with a.
    p.ch.b.peerDown('a');
    p.ch.b.peerUp('a', p.t);
    p.applied.b.clear();
    p.table.a.set('c2', rec('c2', 'v2'));
    let aAlwaysReady = true;
    for (let i = 0; i < 100 && !p.ch.b.ready(['a']); i++) {
      p.step();
      aAlwaysReady &&= p.ch.a.ready(['b']);
    }
    assert.equal(p.ch.b.ready(['a']), true, 'b’s new pull is answered');
    assert.ok(aAlwaysReady, 'a never lost its own synced state');
    assert.deepEqual([...p.applied.b.keys()].sort(), ['c1', 'c2']);
    // The streams both ways start over together: later changes flow, nothing taken as a duplicate.
    p.ch.a.fromProducer({ type: 'publish', kind: SyncKind.Conntrack, records: [rec('c3', 'v3')] });
    p.ch.b.fromProducer({ type: 'publish', kind: SyncKind.Conntrack, records: [rec('d1', 'w1')] });
    p.run(5);
    assert.equal(p.applied.b.get('c3'), 'v3');
    assert.equal(p.applied.a.get('d1'), 'w1');
    // A retried request of the same pull is not served twice.
    const served = p.ch.a.status().peers.find((x) => x.name === 'b')?.sentRecords;
    p.run(30);
    assert.equal(p.ch.a.status().peers.find((x) => x.name === 'b')?.sentRecords, served);
  });

  it('refuses another sync version by name, counts malformed bodies, and bounds a flood', () => {
    const ch = new SyncChannel();
    ch.fromProducer({ type: 'hello', kind: SyncKind.Conntrack, version: 1 });
    ch.peerUp('b', 0);
    const body = encodeBatch({ seq: 1, records: [rec('x', 'y')] });
    body[0] = 7;
    assert.deepEqual(ch.receive('b', MsgType.SyncBase, body, 0), []);
    assert.match(ch.status().peers[0]?.problem ?? '', /sync version 7; this node speaks sync version 1/);
    assert.equal(ch.status().counters.versionRefused, 1);
    ch.receive('b', MsgType.SyncBase, new Uint8Array([1, 0]), 0);
    assert.equal(ch.status().counters.malformed, 1);
    // A peer pushing far more than APPLY_RATE records in one instant: the excess is refused un-acked.
    const big = Array.from({ length: 100 }, (_, i) => ({ key: `k${i}` }));
    let acked = 0;
    for (let seq = 1; seq <= APPLY_RATE / 100 + 50; seq++)
      acked += ch.receive('b', MsgType.SyncBase, encodeBatch({ seq, records: big }), 0).length;
    assert.equal(acked, APPLY_RATE / 100);
    assert.equal(ch.status().peers[0]?.floodDrops, 50);
    ch.drainProducerMessages();
    assert.equal(ch.status().counters.applied, APPLY_RATE);
  });
});
