// The batched fast-path writer: one nft run per burst, order kept, failures isolated to their script.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NftBatchWriter } from '../../../src/sctp/kernel/writer.js';

function fakeNft(refuse: (script: string) => boolean = () => false) {
  const runs: string[] = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  return {
    runs,
    hold: () => {
      gate = new Promise<void>((r) => (release = r));
    },
    release: () => release?.(),
    run: async (script: string) => {
      runs.push(script);
      if (gate) await gate;
      gate = undefined;
      if (refuse(script)) throw new Error(`refused: ${script.trim()}`);
    },
  };
}

test('scripts queued in one tick share one nft run, in order', async () => {
  const nft = fakeNft();
  const w = new NftBatchWriter(nft.run);
  const r = await Promise.all([w.write('a\n'), w.write('b\n'), w.write('c\n')]);
  assert.deepEqual(r, [true, true, true]);
  assert.deepEqual(nft.runs, ['a\nb\nc\n']);
  assert.equal(w.stats.largestBatch, 3);
});

test('scripts queued while a run is in flight go together in the next run', async () => {
  const nft = fakeNft();
  const w = new NftBatchWriter(nft.run);
  nft.hold();
  const first = w.write('a\n');
  await new Promise((r) => setImmediate(r));
  const later = [w.write('b\n'), w.write('c\n')];
  nft.release();
  assert.deepEqual(await Promise.all([first, ...later]), [true, true, true]);
  assert.deepEqual(nft.runs, ['a\n', 'b\nc\n']);
});

test('a refused script fails alone: the batch is retried one by one', async () => {
  const errors: string[] = [];
  const nft = fakeNft((s) => s.includes('bad'));
  const w = new NftBatchWriter(nft.run, (_e, script) => errors.push(script));
  const r = await Promise.all([w.write('a\n'), w.write('bad\n'), w.write('c\n')]);
  assert.deepEqual(r, [true, false, true]);
  assert.deepEqual(nft.runs, ['a\nbad\nc\n', 'a\n', 'bad\n', 'c\n']);
  assert.deepEqual(errors, ['bad\n']);
  assert.equal(w.stats.failures, 1);
});

test('idle() waits for everything queued', async () => {
  const nft = fakeNft();
  const w = new NftBatchWriter(nft.run);
  void w.write('a\n');
  await w.idle();
  assert.deepEqual(nft.runs, ['a\n']);
  await w.idle();
});
