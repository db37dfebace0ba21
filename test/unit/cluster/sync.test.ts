import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  cutBatches,
  decodeBatch,
  decodeControl,
  encodeBatch,
  encodeControl,
  SyncFormatError,
  SyncVersionError,
} from '../../../src/cluster/sync-codec.js';
import { InStream, OutStream, type OutBatch, type StreamLimits } from '../../../src/cluster/sync-stream.js';
import { SyncKind, type SyncRecord } from '../../../src/cluster/sync-contract.js';

const arbRecord: fc.Arbitrary<SyncRecord> = fc.oneof(
  fc.record({ key: fc.string({ minLength: 1, maxLength: 20 }), data: fc.uint8Array({ maxLength: 90 }) }),
  fc.record({ key: fc.string({ minLength: 1, maxLength: 20 }), deleted: fc.constant(true as const) }),
);
const plain = (r: SyncRecord) =>
  r.deleted ? { key: r.key, deleted: true } : { key: r.key, data: [...(r.data ?? [])] };

describe('sync codec', () => {
  it('round-trips batches and cuts them below the body limit, in order', () => {
    fc.assert(
      fc.property(
        fc.array(arbRecord, { maxLength: 80 }),
        fc.integer({ min: 200, max: 1400 }),
        (records, max) => {
          const batches = cutBatches(records, max);
          assert.deepEqual(batches.flat().map(plain), records.map(plain));
          batches.forEach((rs, i) => {
            const body = encodeBatch({ seq: i + 1, records: rs });
            assert.ok(body.length <= max, `${body.length} > ${max}`);
            const d = decodeBatch(body);
            assert.equal(d.seq, i + 1);
            assert.deepEqual(d.records.map(plain), rs.map(plain));
          });
        },
      ),
    );
  });

  it('refuses a record that cannot fit, another sync version by name, and truncation', () => {
    assert.throws(() => cutBatches([{ key: 'k', data: new Uint8Array(2000) }], 1200), SyncFormatError);
    const body = encodeBatch({ seq: 1, records: [{ key: 'a', data: new Uint8Array([1, 2]) }] });
    body[0] = 2;
    assert.throws(
      () => decodeBatch(body),
      (e: unknown) => e instanceof SyncVersionError && /sync version 2/.test(e.message),
    );
    body[0] = 1;
    assert.throws(() => decodeBatch(body.subarray(0, body.length - 1)), SyncFormatError);
    assert.equal(decodeControl(encodeControl(77)), 77);
    assert.throws(() => decodeControl(new Uint8Array([9, 0, 0, 0, 1])), SyncVersionError);
  });
});

const LIMITS: StreamLimits = { maxBody: 300, window: 8, maxPending: 10_000, rtoMs: 100 };

describe('sync stream', () => {
  it('converges over a lossy, duplicating, reordering link: the peer ends with the sender state, each batch delivered once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(arbRecord, { maxLength: 15 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.constantFrom('pass', 'drop', 'dup', 'swap'), { minLength: 50, maxLength: 50 }),
        (rounds, fate) => {
          const out = new OutStream(LIMITS);
          const inn = new InStream(LIMITS);
          const truth = new Map<string, SyncRecord>();
          const seen = new Map<string, SyncRecord>();
          const delivered = new Set<number>();
          let t = 0;
          let f = 0;
          const link = (bs: OutBatch[]) => {
            const wire: OutBatch[] = [];
            for (const b of bs) {
              const what = fate[f++ % fate.length];
              if (what === 'drop') continue;
              wire.push(b);
              if (what === 'dup') wire.push(b);
              if (what === 'swap' && wire.length > 1) wire.unshift(wire.pop() as OutBatch);
            }
            for (const b of wire) {
              const r = inn.receive(b);
              for (const d of r.deliver) {
                assert.ok(!delivered.has(d.seq), `batch ${d.seq} delivered twice`);
                delivered.add(d.seq);
                for (const rec of d.records) seen.set(rec.key, rec);
              }
              out.ack(r.ack);
            }
          };
          for (const rs of rounds) {
            out.offer(SyncKind.Conntrack, rs);
            for (const r of rs) truth.set(r.key, r);
            link(out.flush((t += 10)));
          }
          // Bounded: the link heals; every retransmission timeout lets the stream move on.
          for (let i = 0; i < 500 && (out.unacked > 0 || out.queued > 0); i++) {
            t += LIMITS.rtoMs;
            const bs = out.flush(t);
            for (const b of bs) {
              const r = inn.receive(b);
              for (const d of r.deliver) {
                assert.ok(!delivered.has(d.seq));
                delivered.add(d.seq);
                for (const rec of d.records) seen.set(rec.key, rec);
              }
              out.ack(r.ack);
            }
          }
          assert.equal(out.unacked, 0);
          assert.equal(out.queued, 0);
          assert.deepEqual(
            [...seen].map(([k, r]) => [k, plain(r)]).sort(),
            [...truth].map(([k, r]) => [k, plain(r)]).sort(),
          );
        },
      ),
    );
  });

  it('coalesces by key, keeps at most a window in flight and bounds the queue (counted, re-sync due)', () => {
    const out = new OutStream({ ...LIMITS, maxPending: 100 });
    for (let i = 0; i < 50; i++) out.offer(SyncKind.Conntrack, [{ key: 'same', data: new Uint8Array([i]) }]);
    assert.equal(out.queued, 1);
    const first = out.flush(0);
    assert.equal(first.length, 1);
    assert.deepEqual([...(first[0]?.records[0]?.data ?? [])], [49]);
    out.offer(
      SyncKind.Conntrack,
      Array.from({ length: 90 }, (_, i) => ({ key: `k${i}`, data: new Uint8Array(40) })),
    );
    const bs = out.flush(1);
    assert.equal(out.unacked, LIMITS.window);
    assert.equal(bs.length, LIMITS.window - 1);
    assert.ok(out.queued > 0);
    out.offer(
      SyncKind.Conntrack,
      Array.from({ length: 200 }, (_, i) => ({ key: `f${i}` })),
    );
    assert.equal(out.overflows, 1);
    assert.equal(out.resyncDue, true);
    assert.equal(out.queued, 0);
  });

  it('a receiver drops batches beyond its window (a flood) and counts them', () => {
    const inn = new InStream(LIMITS);
    const r = inn.receive({ kind: SyncKind.Conntrack, seq: 1000, records: [] });
    assert.equal(r.deliver.length, 0);
    assert.equal(inn.dropped, 1);
    assert.equal(inn.receive({ kind: SyncKind.Conntrack, seq: 1, records: [] }).ack, 1);
  });
});
