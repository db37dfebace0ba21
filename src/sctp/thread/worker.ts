// Worker-thread entry for the SCTP carrier: the NFQUEUE, the engine, fast-path writes and counter
// polls run here, so a packet's verdict never waits behind config work on the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { hostRunner } from '../../dataplane/exec.js';
import { SctpCarrier } from '../shell/carrier.js';
import { DEFAULT_NAMES, fastPathTable } from '../kernel/nft.js';
import { nftFileRunner } from '../kernel/writer.js';
import { loadPacketIo } from '../shell/native.js';
import { checkServices, parseToSctp, type FromSctp, type SctpWorkerData } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('sctp/thread/worker.js must run as a worker thread');
const data = workerData as SctpWorkerData;
const post = (m: FromSctp): void => port.postMessage(m);

let carrier: SctpCarrier;
try {
  if (data.restart > 0) {
    // The kernel entries of the dead worker name path ids this one does not know: start clean.
    const nft = nftFileRunner(hostRunner);
    await nft(
      ['ip', 'ip6']
        .map((f) => `table ${f} ${DEFAULT_NAMES.table} {}\ndelete table ${f} ${DEFAULT_NAMES.table}\n`)
        .join(''),
    );
    await nft(fastPathTable());
  }
  carrier = new SctpCarrier({
    queueNum: data.queueNum,
    io: loadPacketIo(),
    services: checkServices(data.services),
    limits: data.limits,
    run: hostRunner,
    warn: (msg, err) => post({ type: 'warn', msg, ...(err === undefined ? {} : { err: String(err) }) }),
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
  clearInterval(timer);
  void carrier.stop().then(() => {
    post({ type: 'stopped' });
    port.close();
  });
});
