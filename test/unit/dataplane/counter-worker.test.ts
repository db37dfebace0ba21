import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCounters } from '../../../src/dataplane/compiler/observe.js';
import { parseCountersAsync } from '../../../src/dataplane/counter-worker.js';

/** A counted set as `nft -j list set` prints it, with n endpoint counters. */
const listing = (n: number) =>
  JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6', json_schema_version: 1 } },
      {
        set: {
          family: 'inet',
          name: 'epcnt4',
          table: 'ferrolb',
          type: ['ipv4_addr', 'inet_proto', 'inet_service', 'ipv4_addr'],
          handle: 3,
          flags: ['dynamic'],
          elem: Array.from({ length: n }, (_, i) => ({
            elem: {
              val: {
                concat: [
                  `10.200.${(i >> 8) & 255}.${i & 255}`,
                  'tcp',
                  80,
                  `10.0.${(i >> 8) & 255}.${i & 255}`,
                ],
              },
              counter: { packets: i * 3, bytes: i * 180 + (i % 2) },
            },
          })),
        },
      },
    ],
  });

describe('counter listings off the event loop', () => {
  it('a large listing parsed in the worker gives what the parse in place gives', async () => {
    const json = listing(20_000); // ≈ 2.5 MB: over the in-place limit
    assert.ok(json.length > 256 * 1024);
    const inWorker = await parseCountersAsync(json);
    assert.equal(inWorker.size, 20_000);
    assert.deepEqual(inWorker, parseCounters(json));
  });

  it('small listings are parsed in place; several large ones in flight get their own answers', async () => {
    assert.deepEqual(await parseCountersAsync(listing(3)), parseCounters(listing(3)));
    const [a, b] = await Promise.all([
      parseCountersAsync(listing(9_000)),
      parseCountersAsync(listing(11_000)),
    ]);
    assert.equal(a.size, 9_000);
    assert.equal(b.size, 11_000);
  });
});
