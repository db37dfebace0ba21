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

export function probePing(req: ProbeRequest, binary = PING_BINARY): Promise<ProbeResult> {
  checkRequest(req, false);
  return attempt(req, (a) => {
    const child = spawn(binary, pingArgs(req.address, req.timeoutMs), { stdio: ['ignore', 'pipe', 'pipe'] });
    a.onCleanup(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()).length > 8192 && (out = out.slice(-4096)));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()).length > 8192 && (out = out.slice(-4096)));
    child.once('error', (e) => a.finish(down('unsupported', `cannot run ${binary}: ${e.message}`)));
    child.once('close', (code) => {
      if (code === 0) return a.finish(up(`echo reply from ${req.address}`, parsePingRtt(out) ?? a.elapsed()));
      const last = out.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
      a.finish(
        code === 1 && /unreachable/i.test(out)
          ? down('unreachable', `${req.address}: ${last}`)
          : code === 1
            ? down('timeout', `no echo reply from ${req.address} within ${req.timeoutMs}ms`)
            : down('error', `${binary} exited ${code}: ${last}`),
      );
    });
  });
}
