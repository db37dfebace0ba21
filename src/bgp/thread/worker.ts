// Worker-thread entry for the BGP speaker: sessions, their sockets, keepalive/hold timers and
// Adj-RIB-Out work run here, away from config work on the main thread; BFD runs on a thread of its
// own (BfdThread) so that route churn in this loop cannot delay a BFD packet either.
import { parentPort, workerData } from 'node:worker_threads';
import { BfdThread } from '../bfd/thread.js';
import { BgpSpeaker } from '../speaker.js';
import { parseToSpeaker, type FromSpeaker, type SpeakerWorkerData } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('bgp/thread/worker.js must run as a worker thread');
const data = workerData as SpeakerWorkerData;
const post = (m: FromSpeaker): void => port.postMessage(m);

const speaker = new BgpSpeaker({
  listen: data.listen,
  restarting: data.restarting,
  log: (msg) => post({ type: 'log', msg }),
  bfd: (events) => new BfdThread(events),
});

// Status is published when it changed (uptimes aside: the main thread advances those itself). The
// route list is only rebuilt when a session's figures moved or new routes/peers arrived, so a speaker
// with 10,000 routes does no per-route work while nothing happens.
let lastKey = '';
let inputs = 0;
const publish = (): void => {
  const sessions = speaker.sessionsStatus();
  const key = `${inputs} ${JSON.stringify(sessions, (k, v: unknown) => (k === 'uptimeMs' ? undefined : v))}`;
  if (key === lastKey) return;
  lastKey = key;
  post({ type: 'status', status: speaker.status(), at: Date.now() });
};
const timer = setInterval(publish, data.statusIntervalMs);

const starting = speaker.start().then(
  (p) => {
    post(p === undefined ? { type: 'started' } : { type: 'started', port: p });
    publish();
  },
  (e: unknown) => {
    post({ type: 'start-failed', message: (e as Error).message });
    // Exit non-zero: the supervisor restarts this thread with backoff (e.g. port 179 still taken).
    clearInterval(timer);
    process.exit(1);
  },
);

let queue: Promise<void> = Promise.resolve();
port.on('message', (raw: unknown) => {
  queue = queue
    .then(() => starting)
    .then(async () => {
      const m = parseToSpeaker(raw);
      switch (m.type) {
        case 'peers':
          speaker.setPeers(m.peers);
          break;
        case 'routes':
          speaker.setRoutes(m.routes);
          break;
        case 'stop':
          clearInterval(timer);
          await speaker.close({ graceful: m.graceful ?? false });
          post({ type: 'stopped' });
          port.close();
          return;
      }
      inputs++;
      setImmediate(publish);
    })
    .catch((e: unknown) => post({ type: 'error', message: (e as Error).message }));
});
