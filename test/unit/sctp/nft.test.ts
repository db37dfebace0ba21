import test from 'node:test';
import assert from 'node:assert/strict';
import { PathIds, fastPathScript, fastPathTable } from '../../../src/sctp/kernel/nft.js';
import type { NatEntry } from '../../../src/sctp/index.js';
import { ip } from './build.js';

const entry = (src: string, dst: string, vtag: number, to: string, association = 1): NatEntry => ({
  association,
  toward: 'endpoint',
  match: { src: ip(src), dst: ip(dst), srcPort: 5000, dstPort: 7, vtag },
  rewrite: { src: ip(dst), dst: ip(to), srcPort: 5000, dstPort: 7 },
});

test('the fast-path table skips every control chunk and rewrites all four fields', () => {
  const t = fastPathTable();
  for (const c of [
    'init',
    'init-ack',
    'abort',
    'shutdown-complete',
    'cookie-echo',
    'cookie-ack',
    'asconf',
    'asconf-ack',
  ])
    assert.ok(t.includes(`sctp chunk ${c} missing`), c);
  for (const f of ['ip saddr set', 'ip daddr set', 'sctp sport set', 'sctp dport set', 'ip6 saddr set'])
    assert.ok(t.includes(f), f);
});

test('adds write the rewrites before the key; removals delete the key first', () => {
  const ids = new PathIds();
  const e = entry('10.0.1.2', '10.9.0.1', 0x1234, '10.0.2.2');
  const add = fastPathScript({ add: [e], remove: [] }, ids)
    .trim()
    .split('\n');
  assert.equal(add.length, 5);
  assert.match(
    add[4]!,
    /^add element ip ferrolb_sctp pathid \{ 10\.0\.1\.2 \. 10\.9\.0\.1 \. 5000 \. 7 : 0x5c000001 \}$/,
  );
  assert.match(add[1]!, /ndaddr \{ 0x5c000001 : 10\.0\.2\.2 \}/);
  const rm = fastPathScript({ add: [], remove: [e] }, ids)
    .trim()
    .split('\n');
  assert.match(rm[0]!, /^delete element ip ferrolb_sctp pathid/);
  assert.equal(ids.size, 0);
  assert.equal(fastPathScript({ add: [], remove: [e] }, ids), '', 'removing twice is a no-op');
});

test('a restart sharing a 5-tuple takes over the key; removing the old association leaves it alone', () => {
  const ids = new PathIds();
  const old = entry('10.0.1.2', '10.9.0.1', 1, '10.0.2.2', 1);
  const neu = entry('10.0.1.2', '10.9.0.1', 2, '10.0.2.2', 2);
  fastPathScript({ add: [old], remove: [] }, ids);
  const s = fastPathScript({ add: [neu], remove: [] }, ids);
  assert.ok(!s.includes('add element ip ferrolb_sctp pathid'), 'key kept, values rewritten in place');
  assert.ok(s.includes('delete element ip ferrolb_sctp nsaddr'));
  assert.equal(fastPathScript({ add: [], remove: [old] }, ids), '');
  assert.ok(
    fastPathScript({ add: [], remove: [neu] }, ids).includes('delete element ip ferrolb_sctp pathid'),
  );
});

test('IPv6 entries go to the ip6 table', () => {
  const s = fastPathScript(
    { add: [entry('fd00:1::2', 'fd00:9::1', 1, 'fd00:2::2')], remove: [] },
    new PathIds(),
  );
  assert.ok(
    s
      .split('\n')
      .filter(Boolean)
      .every((l) => l.startsWith('add element ip6 ferrolb_sctp')),
  );
});

test('kernel counters from nft -j map back to the kernel keys of the entries', async () => {
  const { parseCounters, tupleKey } = await import('../../../src/sctp/kernel/nft.js');
  const e = entry('10.0.1.2', '10.9.0.1', 1, '10.0.2.2');
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      {
        map: {
          family: 'ip',
          name: 'pathid',
          elem: [
            [
              {
                elem: {
                  val: { concat: ['10.0.1.2', '10.9.0.1', 5000, 7] },
                  counter: { packets: 42, bytes: 4200 },
                },
              },
              5,
            ],
            [{ elem: { val: { concat: ['bad'] }, counter: { packets: 1 } } }, 6],
          ],
        },
      },
    ],
  });
  const c = parseCounters(json, 4);
  assert.equal(c.size, 1);
  assert.equal(c.get(tupleKey(e)), 42);
  assert.equal(parseCounters('not json', 4).size, 0);
});
