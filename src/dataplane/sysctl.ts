// Kernel switches the nft data plane depends on: DNAT to an endpoint is forwarding, so the family's
// forwarding switch must be on while the node serves VIPs of that family. Read and set through the
// runner (the data plane's network namespace); what we set is left on at shutdown, like the rules.
import type { Runner } from './exec.js';

export const FORWARDING: Readonly<Record<4 | 6, string>> = {
  4: 'net.ipv4.ip_forward',
  6: 'net.ipv6.conf.all.forwarding',
};

/** The sysctls (key → value) the data plane needs for the families it serves. */
export function wantedSysctls(families: ReadonlySet<4 | 6>): Map<string, string> {
  return new Map([...families].sort().map((f) => [FORWARDING[f], '1']));
}

/** Parses `sysctl KEY...` output ("key = value" lines). */
export function parseSysctl(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

/** Sets every wanted sysctl that differs; returns the keys it changed (one read, writes only on change). */
export async function ensureSysctls(run: Runner, want: ReadonlyMap<string, string>): Promise<string[]> {
  if (want.size === 0) return [];
  const r = await run('sysctl', [...want.keys()]);
  const have = parseSysctl(r.stdout);
  const changed: string[] = [];
  for (const [k, v] of want) {
    if (have.get(k) === v) continue;
    const w = await run('sysctl', ['-qw', `${k}=${v}`]);
    if (w.code === 0) changed.push(k);
  }
  return changed;
}
