// The kernel's NFQUEUE table: the overflow counters of our queue, nothing from another queue or junk.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseNfqueueStats } from '../../../src/sctp/kernel/queuestats.js';

// As /proc/net/netfilter/nfnetlink_queue prints it (nfnetlink_queue.c seq_show).
const PROC = [
  '    0  12345     0 2 65531     0     0        0  1',
  '    7   4127   113 2 65535  5210    17   982311  1',
  '   70   4242     1 2 65535     9     9       12  1',
  '',
].join('\n');

test('the line of our queue gives waiting, queue-full and socket-full drops', () => {
  assert.deepEqual(parseNfqueueStats(PROC, 7), { waiting: 113, queueDropped: 5210, userDropped: 17 });
  assert.deepEqual(parseNfqueueStats(PROC, 0), { waiting: 0, queueDropped: 0, userDropped: 0 });
});

test('a queue that is not bound, or text that is not the table, gives nothing', () => {
  assert.equal(parseNfqueueStats(PROC, 8), undefined);
  assert.equal(parseNfqueueStats('', 7), undefined);
  assert.equal(parseNfqueueStats('7 x 1 2 3 4 5 6 1\nqueue 7 dropped 5 0 0 0 0', 7), undefined);
});
