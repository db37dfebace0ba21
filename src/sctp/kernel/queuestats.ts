// The kernel's own NFQUEUE counters (/proc/net/netfilter/nfnetlink_queue, per network namespace):
// packets the kernel dropped before the engine saw them, which the engine's counters cannot show.
// During an INIT flood these are the overflow: the queue full (queue_dropped) or the netlink socket
// full (user_dropped). The queue has no fail-open flag, so every overflowed packet is dropped and
// counted here (none passes untranslated).

export interface NfqueueStats {
  /** Packets waiting in the queue for a verdict now. */
  readonly waiting: number;
  /** Dropped because the queue was full (queue_maxlen). */
  readonly queueDropped: number;
  /** Dropped because the netlink socket's receive buffer was full. */
  readonly userDropped: number;
}

export const NFQUEUE_STATS_PATH = '/proc/net/netfilter/nfnetlink_queue';

/**
 * The line of queue `queueNum` (columns: queue_num peer_portid queue_total copy_mode copy_range
 * queue_dropped user_dropped id_sequence 1); undefined when the queue is not bound or the text is
 * not that table.
 */
export function parseNfqueueStats(text: string, queueNum: number): NfqueueStats | undefined {
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !f.every((x) => /^-?\d+$/.test(x))) continue;
    if (Number(f[0]) !== queueNum) continue;
    return { waiting: Number(f[2]), queueDropped: Number(f[5]), userDropped: Number(f[6]) };
  }
  return undefined;
}
