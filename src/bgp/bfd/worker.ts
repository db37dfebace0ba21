// Worker-thread entry for BFD: the sessions, their sockets and timers live alone on this thread's
// event loop, so neither config work on the main thread nor route churn in the BGP speaker can delay
// a control packet (BFD at 100 ms × 3 tolerates no pause of even 0.3 s).
import { parentPort } from 'node:worker_threads';
import { parseToBfd, type FromBfd } from '../thread/protocol.js';
import { raiseThreadPriority } from '../../threads/priority.js';
import { BfdManager } from './shell.js';

const port = parentPort;
if (!port) throw new Error('bfd/worker.js must run as a worker thread');
const post = (m: FromBfd): void => port.postMessage(m);

const mgr = new BfdManager({
  onDown: (peerAddress, diag) => post({ type: 'down', peerAddress, diag }),
  onUp: (peerAddress) => post({ type: 'up', peerAddress }),
  onTransition: () => post({ type: 'states', states: mgr.states() }),
  log: (msg) => post({ type: 'log', msg }),
});

// Readlink + setpriority are one-off start-up calls on this thread, never on the packet path.
const nice = raiseThreadPriority(-10);
if (nice) post({ type: 'log', msg: `BFD thread keeps the default priority (${nice})` });

let queue: Promise<void> = Promise.resolve();
const starting = mgr.start().then(
  () => post({ type: 'started' }),
  (e: unknown) => {
    post({ type: 'start-failed', message: (e as Error).message });
    throw e;
  },
);

port.on('message', (raw: unknown) => {
  const m = parseToBfd(raw);
  // Serialised: a setPeers binds sockets asynchronously and must not interleave with the next one.
  queue = queue
    .then(() => starting)
    .then(async () => {
      if (m.type === 'peers') {
        await mgr.setPeers(m.peers);
        post({ type: 'states', states: mgr.states() });
      } else {
        mgr.close();
        post({ type: 'stopped' });
        port.close();
      }
    })
    .catch((e: unknown) => post({ type: 'log', msg: `BFD: ${(e as Error).message}` }));
});
