// Raises the scheduling priority of the calling thread (Linux: setpriority on the thread's TID,
// found through /proc/thread-self). A timing-critical worker (BFD) then keeps its slot when the
// host's CPUs are busy with config work, nft, or other processes. Needs CAP_SYS_NICE (the daemon
// runs as root); without it the thread keeps the default priority and the reason is returned.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

export function raiseThreadPriority(nice: number): string | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return 'no thread id';
    setPriority(tid, nice);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
