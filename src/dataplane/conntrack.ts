// Conntrack: connection counts per endpoint (leastconn input), deleting an endpoint's flows when
// asked to (flushOnInactive) and the flows source ranges no longer allow. Parsing is pure; running
// `conntrack` goes through the Runner.
import { canonicalIp } from '../net/ip.js';
import { CommandError, type Runner, type RunResult } from './exec.js';

export interface ConntrackEntry {
  readonly protocol: string;
  readonly state: string;
  /** The client (original source). */
  readonly origSrc: string;
  readonly origDst: string;
  readonly origDport: number;
  readonly replySrc: string;
}

/** Parses `conntrack -L` text output (one flow per line: original tuple, then reply tuple). */
export function parseConntrack(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const toks = line.trim().split(/\s+/);
    if (toks.length < 4) continue;
    const kv = (k: string) => toks.filter((t) => t.startsWith(`${k}=`)).map((t) => t.slice(k.length + 1));
    const dst = kv('dst');
    const src = kv('src');
    const dport = kv('dport');
    if (dst.length < 2 || src.length < 2 || dport.length < 1) continue;
    const state = toks.find((t) => /^[A-Z_]+$/.test(t)) ?? '';
    try {
      out.push({
        protocol: toks[0]!,
        state,
        origSrc: canonicalIp(src[0]!),
        origDst: canonicalIp(dst[0]!),
        origDport: Number(dport[0]),
        replySrc: canonicalIp(src[1]!),
      });
    } catch {
      // not an address pair we understand (e.g. a truncated line): skip it
    }
  }
  return out;
}

const CLOSED = new Set(['TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'SHUTDOWN_ACK_SENT', 'CLOSED']);

/** Live connections keyed "vip|proto|port|endpoint" (closing states excluded). */
export function countConnections(entries: readonly ConntrackEntry[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of entries) {
    if (CLOSED.has(e.state)) continue;
    const k = connKey(e.origDst, e.protocol, e.origDport, e.replySrc);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

export const connKey = (vip: string, protocol: string, port: number, endpoint: string): string =>
  `${vip}|${protocol.toLowerCase()}|${port}|${endpoint}`;

export async function listConntrack(run: Runner): Promise<ConntrackEntry[]> {
  const out: ConntrackEntry[] = [];
  for (const f of ['ipv4', 'ipv6']) {
    const r = await run('conntrack', ['-L', '-f', f]);
    // Exit status is 0 with flows and also when the table is empty; other codes mean trouble.
    if (r.code === 0) out.push(...parseConntrack(r.stdout));
  }
  return out;
}

/** Deletes the flows of one service port that go to `endpoint`; returns how many were deleted. */
export async function flushEndpointFlows(
  run: Runner,
  vip: string,
  protocol: string,
  port: number,
  endpoint: string,
): Promise<number> {
  const family = vip.includes(':') ? 'ipv6' : 'ipv4';
  const args = ['-D', '-f', family, '-p', protocol.toLowerCase(), '--orig-dst', vip];
  args.push('--orig-port-dst', String(port), '--reply-src', endpoint);
  return deleted(await run('conntrack', args), args);
}

/** Deletes every flow from `src` to one service port (original tuple); returns how many. */
export async function flushClientFlows(
  run: Runner,
  f: { protocol: string; src: string; dst: string; dport: number },
): Promise<number> {
  const family = f.dst.includes(':') ? 'ipv6' : 'ipv4';
  const args = ['-D', '-f', family, '-p', f.protocol.toLowerCase(), '--orig-src', f.src, '--orig-dst', f.dst];
  args.push('--orig-port-dst', String(f.dport));
  return deleted(await run('conntrack', args), args);
}

function deleted(r: RunResult, args: readonly string[]): number {
  // conntrack exits 1 when nothing matched; the summary line is on stderr either way.
  const m = /(\d+) flow entries have been deleted/.exec(r.stderr);
  if (!m) throw new CommandError(`conntrack ${args.join(' ')}`, r);
  return Number(m[1]);
}
