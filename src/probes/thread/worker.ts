// Worker-thread entry for health probes: timers, sockets and verdicts live on this thread, so a
// busy main thread (a bulk apply) cannot stretch a probe past its timeout and fail a healthy endpoint.
import { parentPort } from 'node:worker_threads';
import { ProbeScheduler } from '../scheduler.js';
import { parseToProbes, type FromProbes } from './protocol.js';
import { checkKey } from '../../state/health.js';

const port = parentPort;
if (!port) throw new Error('probes/thread/worker.js must run as a worker thread');
const post = (m: FromProbes): void => port.postMessage(m);

const sched = new ProbeScheduler({
  onChange: (service, endpoint, state, reason, t) =>
    post({
      type: 'change',
      service,
      endpoint,
      state,
      reason,
      check: t ? checkKey(t.check, t.targetPort) : '',
    }),
  onError: (err) => post({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
});

port.on('message', (raw: unknown) => {
  try {
    const m = parseToProbes(raw);
    if (m.type === 'patch') sched.patch(m.upsert, m.remove);
    else
      void sched.stop().then(() => {
        post({ type: 'stopped' });
        port.close();
      });
  } catch (e) {
    post({ type: 'error', message: (e as Error).message });
  }
});
