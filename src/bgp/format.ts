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
  const routes = table([
    ['PREFIX', 'NEXT HOP', 'LOCAL PREF', 'MED', 'COMMUNITIES', 'PEERS'],
    ...st.routes.map((r) => [
      r.prefix,
      r.nextHop ?? '-',
      r.localPref === undefined ? '-' : String(r.localPref),
      r.med === undefined ? '-' : String(r.med),
      [...r.communities, ...r.largeCommunities.map((l) => `large:${l}`)].join(',') || '-',
      r.peers.join(','),
    ]),
  ]);
  return `${sessions}\n\n${routes}\n`;
}
