// Worker-thread entry for the SCTP carrier: the NFQUEUE, the engine, fast-path writes and counter
// polls run here, so a packet's verdict never waits behind config work on the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { hostRunner } from '../../dataplane/exec.js';
import { SctpCarrier } from '../shell/carrier.js';
import { loadPacketIo } from '../shell/native.js';
import { checkServices, parseToSctp, type FromSctp, type SctpWorkerData } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('sctp/thread/worker.js must run as a worker thread');
const data = workerData as SctpWorkerData;
const post = (m: FromSctp): void => port.postMessage(m);

let carrier: SctpCarrier;
try {
  // A restart after a death (or of the daemon) adopts the fast path the dead worker left: its
  // associations keep their paths (SctpCarrier.start rebuilds them from the kernel).
  carrier = await SctpCarrier.start({
    queueNum: data.queueNum,
    io: loadPacketIo(),
    services: checkServices(data.services),
    limits: data.limits,
    run: hostRunner,
    warn: (msg: string, err?: unknown) =>
      post({ type: 'warn', msg, ...(err === undefined ? {} : { err: String(err) }) }),
  });
} catch (e) {
  post({ type: 'start-failed', message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
}
post({ type: 'started' });
const publish = () => post({ type: 'status', status: carrier.status() });
const timer = setInterval(publish, data.statusIntervalMs);
publish();

port.on('message', (raw: unknown) => {
  const m = parseToSctp(raw);
  if (m.type === 'services') {
    carrier.setServices(m.services);
    publish();
    return;
  }
  if (m.type === 'status') {
    publish();
    return;
  }
  if (m.type === 'sync') {
    carrier.attachSync(m.port);
    return;
  }
  clearInterval(timer);
  void carrier.stop().then(() => {
    post({ type: 'stopped' });
    port.close();
  });
});
