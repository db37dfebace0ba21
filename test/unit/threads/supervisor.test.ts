// The worker supervisor with real worker threads: a worker that dies is reported and restarted
// (state replayed through onStart), and stop() ends it cleanly. Bounded waits, no timing asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerSupervisor, type WorkerExit } from '../../../src/threads/supervisor.js';

// Dies with code 3 on its first run; afterwards echoes messages and leaves on "stop".
const WORKER = new URL(
  `data:text/javascript,${encodeURIComponent(`
import { parentPort, workerData } from 'node:worker_threads';
if (workerData.restart === 0) process.exit(3);
parentPort.on('message', (m) => {
  if (m === 'stop') { parentPort.postMessage('bye'); parentPort.close(); return; }
  if (m === 'crash') throw new Error('boom');
  parentPort.postMessage({ echo: m, restart: workerData.restart });
});
parentPort.postMessage('up');
`)}`,
);

function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (f()) return resolve();
      if (Date.now() > end) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

test('a dying worker is reported and restarted with its state replayed; stop ends it', async () => {
  const got: unknown[] = [];
  const exits: WorkerExit[] = [];
  const starts: number[] = [];
  const sup: WorkerSupervisor<unknown, unknown> = new WorkerSupervisor<unknown, unknown>({
    name: 'test',
    url: WORKER,
    workerData: (restart) => ({ restart }),
    onMessage: (m) => got.push(m),
    onStart: (restart) => {
      starts.push(restart);
      sup.post(`hello ${restart}`);
    },
    onExit: (x) => exits.push(x),
    backoff: { minMs: 1, maxMs: 5, stableMs: 60_000 },
    stopMessage: 'stop',
  });
  sup.start();
  await until('restart', () =>
    got.some((m) => typeof m === 'object' && (m as { restart: number }).restart === 1),
  );
  assert.equal(exits[0]?.code, 3);
  assert.equal(exits[0]?.restarts, 1);
  assert.deepEqual(starts, [0, 1]);
  assert.deepEqual(got.at(-1), { echo: 'hello 1', restart: 1 });
  // An uncaught error is reported with its message, and the worker comes back again.
  sup.post('crash');
  await until('second restart', () => exits.length === 2 && sup.status().running);
  assert.match(exits[1]?.error ?? '', /boom/);
  assert.equal(sup.status().restarts, 2);
  await sup.stop();
  assert.equal(sup.status().running, false);
  assert.equal(got.at(-1), 'bye');
  assert.equal(exits.length, 2, 'a clean stop is not reported as a death');
  assert.equal(sup.post('late'), false);
});

test('stop() terminates a worker that ignores the stop message', async () => {
  const stubborn = new URL(`data:text/javascript,${encodeURIComponent('setInterval(() => {}, 1000);')}`);
  const sup = new WorkerSupervisor<unknown, unknown>({
    name: 'stubborn',
    url: stubborn,
    workerData: () => undefined,
    onMessage: () => undefined,
    stopMessage: 'stop',
    stopGraceMs: 50,
  });
  sup.start();
  await sup.stop();
  assert.equal(sup.status().running, false);
});
