// Helpers for prober unit tests: servers on loopback ports the test opens itself, and a check that a
// probe left no socket, timer or child process behind.
import { once } from 'node:events';

/** Handle types a prober could leak; the test's own servers are closed before the check. */
const LEAKABLE = new Set([
  'TCPSocketWrap',
  'TCPWRAP',
  'UDPWrap',
  'UDPWRAP',
  'Timeout',
  'ProcessWrap',
  'TLSWrap',
  'PipeWrap',
]);

export function leakable(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (LEAKABLE.has(r)) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

/** Asserts nothing leakable is left beyond `before`, letting already-closed handles finish closing. */
export async function assertNoLeaks(before: Map<string, number>): Promise<void> {
  // Closing handles disappear on a later turn of the loop; poll a bounded number of turns.
  for (let i = 0; i < 50; i++) {
    const now = leakable();
    const extra = [...now].filter(([k, n]) => n > (before.get(k) ?? 0));
    if (extra.length === 0) return;
    if (i === 49) throw new Error(`leaked handles: ${JSON.stringify(extra)}`);
    await new Promise((r) => setImmediate(r));
  }
}

export async function closeServer(s: { close(cb?: (err?: Error) => void): unknown }): Promise<void> {
  await new Promise<void>((r) => s.close(() => r()));
}

export { once };
