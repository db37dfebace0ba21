// Worker-thread entry for cluster membership: heartbeats, failure detection, the election and the
// Announcer calls live alone on this thread's event loop, so config work, nft runs or a large API
// answer on the main thread never delay a heartbeat or a takeover.
import { parentPort } from 'node:worker_threads';
import { raiseThreadPriority } from '../threads/priority.js';
import { createAnnouncer } from './announcer.js';
import { MembershipNode } from './node.js';
import { parseToCluster, type FromCluster } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('cluster/worker.js must run as a worker thread');
const post = (m: FromCluster): void => port.postMessage(m);
const log = (level: 'info' | 'warn' | 'error', msg: string) => post({ type: 'log', level, msg });

const nice = raiseThreadPriority(-10);
if (nice) log('info', `cluster thread keeps the default priority (${nice})`);

const node = new MembershipNode(createAnnouncer({ log }), {
  log,
  owned: (owned, added, removed) => post({ type: 'owned', owned, added, removed }),
  summary: (summary) => post({ type: 'summary', summary }),
});

let started = false;
let queue: Promise<void> = Promise.resolve();
port.on('message', (raw: unknown) => {
  let m;
  try {
    m = parseToCluster(raw);
  } catch (e) {
    post({ type: 'error', message: (e as Error).message });
    return;
  }
  const msg = m;
  // Serialised: the first config binds the socket asynchronously; candidates wait for it.
  queue = queue
    .then(async () => {
      switch (msg.type) {
        case 'config': {
          const bootId = await node.configure(msg.config);
          if (!started) post({ type: 'started', bootId });
          started = true;
          break;
        }
        case 'candidates': {
          node.candidates(msg.delta, msg.full);
          // Not awaited here: status requests and configs keep flowing while the kernel is written.
          const id = msg.ack;
          if (id !== undefined) void node.settled().then(() => post({ type: 'applied', id }));
          break;
        }
        case 'status': {
          const status = node.status();
          post({
            type: 'status',
            id: msg.id,
            status: status ?? { configured: true, running: false, members: [], owners: [], owned: 0 },
          });
          break;
        }
        case 'sync-port':
          node.attachProducer(msg.port);
          break;
        case 'stop':
          await node.stop();
          post({ type: 'stopped' });
          port.close();
          break;
      }
    })
    .catch((e: unknown) => post({ type: 'error', message: (e as Error).message }));
});
