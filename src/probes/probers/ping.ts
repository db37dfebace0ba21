// ICMP echo probe. Node has no ICMP sockets, so this runs iputils `ping` once, bounded twice: ping's
// own -W and our hard deadline (SIGKILL of the child we spawned). The exit status decides; the RTT is
// parsed from its output when present.
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import type { ProbeRequest, ProbeResult } from '../types.js';
import { attempt, checkRequest, down, up } from './common.js';

export const PING_BINARY = 'ping';

export const parsePingRtt = (out: string): number | undefined => {
  const m = /time[=<]([\d.]+) ?ms/.exec(out);
  return m ? Number(m[1]) : undefined;
};

export function pingArgs(address: string, timeoutMs: number): string[] {
  // iputils accepts fractional seconds for -W; keep at least 1 ms.
  const w = Math.max(timeoutMs, 1) / 1000;
  return [isIP(address) === 6 ? '-6' : '-4', '-n', '-c', '1', '-W', w.toFixed(3), address];
}

/** Judges a finished ping run; undefined means success (the caller adds the RTT). Pure. */
export function pingVerdict(
  code: number | null,
  out: string,
  req: Pick<ProbeRequest, 'address' | 'timeoutMs'>,
  binary = PING_BINARY,
): ProbeResult | undefined {
  if (code === 0) return undefined;
  const last = out.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
  // iputils: 1 = no reply (possibly with an ICMP error from a router), 2 = any other error.
  if (code === 1 && /unreachable/i.test(out)) return down('unreachable', `${req.address}: ${last}`);
  if (code === 1) return down('timeout', `no echo reply from ${req.address} within ${req.timeoutMs}ms`);
  if (/not permitted|permission denied/i.test(out))
    return down('unsupported', `${binary} lacks permission (needs CAP_NET_RAW or ping_group_range): ${last}`);
  return down('error', `${binary} exited ${code ?? 'by signal'}: ${last}`);
}

export function probePing(req: ProbeRequest, binary = PING_BINARY): Promise<ProbeResult> {
  checkRequest(req, false);
  return attempt(req, (a) => {
    const child = spawn(binary, pingArgs(req.address, req.timeoutMs), { stdio: ['ignore', 'pipe', 'pipe'] });
    a.onCleanup(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    // Only the tail matters (summary line, error text); bound it whatever ping prints.
    const keep = (d: Buffer): void => {
      out = (out + d.toString()).slice(-4096);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (e) => a.finish(down('unsupported', `cannot run ${binary}: ${e.message}`)));
    child.once('close', (code) =>
      a.finish(
        pingVerdict(code, out, req, binary) ??
          up(`echo reply from ${req.address}`, parsePingRtt(out) ?? a.elapsed()),
      ),
    );
  });
}
