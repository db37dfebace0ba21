// Text rendering of the speaker status for `ferroctl get bgp`, pure. JSON/YAML output should use the
// BgpStatus object itself.
import type { BgpStatus } from './types.js';

const table = (rows: string[][]): string => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
};

export function formatUptime(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d${h}h` : h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m${s % 60}s` : `${s}s`;
}

export function formatBgpStatus(st: BgpStatus, wide = false): string {
  // Two header-only tables say nothing; say what is (not) there instead.
  if (st.sessions.length === 0 && st.routes.length === 0)
    return 'No BGP peers configured and no routes advertised.\n';
  const sessions = table([
    [
      'PEER',
      'ADDRESS',
      'AS',
      'STATE',
      'UPTIME',
      'MSG IN/OUT',
      'SENT',
      'RCVD',
      'BFD',
      ...(wide ? ['FAILURES'] : []),
      'LAST ERROR',
    ],
    ...st.sessions.map((s) => [
      s.peer,
      s.peerAddress,
      String(s.peerAsn),
      s.state,
      formatUptime(s.uptimeMs),
      `${s.messagesIn}/${s.messagesOut}`,
      String(s.prefixesSent),
      `${s.prefixesReceived}${s.receivedTruncated ? '+' : ''}`,
      s.bfd ?? '-',
      ...(wide ? [String(s.connectFailures)] : []),
      s.lastError ?? '',
    ]),
  ]);
  // Each session announces its own next hop: one row per (prefix, next hop) with the peers that get it.
  const routes = table([
    ['PREFIX', 'NEXT HOP', 'LOCAL PREF', 'MED', 'COMMUNITIES', 'PEERS'],
    ...st.routes.flatMap((r) => {
      const byHop = new Map<string, string[]>();
      for (const h of r.nextHops ?? []) byHop.set(h.nextHop, [...(byHop.get(h.nextHop) ?? []), h.peer]);
      const rows = byHop.size > 0 ? [...byHop] : [[r.nextHop ?? '-', [...r.peers]] as [string, string[]]];
      return rows.map(([hop, peers]) => [
        r.prefix,
        hop,
        r.localPref === undefined ? '-' : String(r.localPref),
        r.med === undefined ? '-' : String(r.med),
        [...r.communities, ...r.largeCommunities.map((l) => `large:${l}`)].join(',') || '-',
        peers.join(','),
      ]);
    }),
  ]);
  const notSent = st.sessions.flatMap((s) => [
    ...s.skipped.map((x) => [s.peer, x.prefix, 'skipped', x.reason]),
    ...(s.rejected ?? []).map((x) => [s.peer, x.prefix, 'peer would reject', x.reason]),
  ]);
  const tail =
    notSent.length > 0 ? `\n\n${table([['PEER', 'PREFIX', 'NOT SENT', 'REASON'], ...notSent])}` : '';
  return `${sessions}\n\n${routes}${tail}\n`;
}
