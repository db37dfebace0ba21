// Standalone probe runner: `node dist/src/probes/run.js` reads JSON lines on stdin, each
// `{"targets": ProbeTarget[]}` (replaces the probed set via update()), and writes one JSON line per
// event on stdout: `{"event":"change",service,endpoint,state,reason,t}` and `{"event":"ready"}` after
// each update. On stdin EOF it stops the scheduler and exits on its own — which only happens if no
// timer, socket or child outlived stop(), so the e2e tests use the exit as a leak check.
//
// Why it exists: a Node process cannot enter another network namespace, so tests (and operators
// debugging from a shell) run this under `ip netns exec`. The daemon uses ProbeScheduler directly.
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { ProbeScheduler, type ProbeTarget } from './scheduler.js';

const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');

const sched = new ProbeScheduler({
  onChange: (service, endpoint, state, reason) =>
    out({ event: 'change', service, endpoint, state, reason, t: Math.round(performance.now()) }),
  onError: (err) => out({ event: 'error', message: String(err) }),
});

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  try {
    const msg = JSON.parse(line) as { targets?: ProbeTarget[] };
    sched.update(msg.targets ?? []);
    out({ event: 'ready' });
  } catch (err) {
    out({ event: 'error', message: err instanceof Error ? err.message : String(err) });
  }
});
lines.on('close', () => {
  void sched.stop().then(() => out({ event: 'stopped' }));
});
