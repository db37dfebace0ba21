import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NftSession, transactionTimeoutMs } from '../../../src/dataplane/nftsession.js';

describe('nft session (no kernel)', () => {
  it('a child that exits before it ever answered makes run() refuse, so the caller spawns nft -f', async () => {
    // `sh -c '…' nft -i`: stands in for an nft built without its interactive CLI.
    const s = new NftSession(['sh', '-c', 'echo "Error: interactive CLI not supported" >&2; exit 1']);
    await assert.rejects(s.run('add table inet t\n'), /nft -i unusable: .*CLI not supported/s);
    await assert.rejects(s.run('add table inet t\n'), /unusable/);
    await s.close();
  });

  it('the timeout grows with the transaction', () => {
    assert.equal(transactionTimeoutMs(0), 120_000);
    assert.equal(transactionTimeoutMs(10_000_000), 220_000);
    assert.ok(transactionTimeoutMs(30_000_000) > transactionTimeoutMs(3_000_000));
  });
});
