// A delay line for tests (tc netem is not in this kernel): holds every packet of an NFQUEUE for a
// fixed time, then accepts it. `node hold-queue.js QUEUE MS` inside a test namespace; prints
// "ready" once bound and the number of packets it held on SIGTERM.
import { loadPacketIo, type NfqueueHandle } from '../../src/sctp/shell/native.js';

const [queue, ms] = process.argv.slice(2).map(Number);
if (!Number.isInteger(queue) || !Number.isInteger(ms) || (ms as number) < 0 || (ms as number) > 60_000) {
  process.stderr.write('usage: hold-queue QUEUE MS (MS ≤ 60000)\n');
  process.exit(2);
}
const io = loadPacketIo();
let held = 0;
const handle: NfqueueHandle = io.open(queue as number, (ids) => {
  for (const id of ids) {
    held++;
    setTimeout(() => io.verdict(handle, id, true), ms);
  }
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  io.close(handle);
  process.stdout.write(`held ${held}\n`);
  process.exit(0);
});
