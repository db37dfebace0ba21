// Rows for `ferroctl get cluster` (pure; the CLI renders them). Plain: one row per member; wide:
// the members with boot id and claim version, then one row per address and its owner.
import type { ClusterStatus } from './status.js';

export interface Rows {
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

const ago = (ms: number | undefined): string =>
  ms === undefined ? '-' : ms < 10_000 ? `${Math.round(ms)}ms` : `${Math.round(ms / 1000)}s`;
const yn = (b: boolean | undefined): string => (b === undefined ? '-' : b ? 'yes' : 'no');
const time = (ms: number): string => (ms > 0 ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

/** The line above the tables: cluster, this node, quorum, what it owns. */
export function clusterHeadline(st: ClusterStatus): string {
  if (!st.configured) return 'No Cluster configured: this node is alone (it owns every Layer 2 address).';
  const q = st.quorum;
  const parts = [
    `cluster ${st.name ?? '?'}`,
    `node ${st.self ?? '?'}`,
    q ? `quorum ${q.have ? 'yes' : 'NO'} (${q.alive}/${q.total} alive, ${q.needed} needed)` : 'quorum -',
    st.synced === false ? 'syncing (owns nothing yet)' : `owns ${st.owned} of ${st.owners.length} addresses`,
  ];
  return parts.join(', ') + (st.error ? `\nerror: ${st.error}` : '');
}

export function memberRows(st: ClusterStatus, wide: boolean): Rows {
  const headers = [
    'MEMBER',
    'ADDRESS',
    'STATE',
    'LAST HEARTBEAT',
    'SYNCED',
    'QUORUM',
    'CLAIMS',
    ...(wide ? ['BOOT ID', 'CLAIMS VERSION', 'PROBLEM'] : []),
  ];
  const rows = st.members.map((m) => [
    m.name,
    m.address,
    m.state,
    m.state === 'self' ? '-' : ago(m.lastHeartbeatAgoMs),
    yn(m.synced),
    yn(m.quorum),
    m.claims === undefined ? '-' : String(m.claims),
    ...(wide
      ? [
          m.bootId === undefined ? '-' : String(m.bootId),
          m.claimsVersion === undefined ? '-' : String(m.claimsVersion),
          m.problem ?? '',
        ]
      : []),
  ]);
  return { headers, rows };
}

export function ownerRows(st: ClusterStatus): Rows {
  return {
    headers: ['ADDRESS', 'OWNER', 'SINCE', 'ELIGIBLE'],
    rows: st.owners.map((o) => [o.address, o.owner ?? '<none>', time(o.since), o.nodes.join(',')]),
  };
}

/** Connection-state sync per peer (docs/ha.md): pulled = the peer's full state is here. */
export function syncRows(st: ClusterStatus): Rows {
  return {
    headers: [
      'SYNC PEER',
      'PULLED',
      'SENT',
      'RECEIVED',
      'QUEUED',
      'UNACKED',
      'RETRANSMITS',
      'DROPS',
      'LAG P99',
      'PROBLEM',
    ],
    rows: (st.sync?.peers ?? []).map((p) => [
      p.name,
      yn(p.pulled),
      String(p.sentRecords),
      String(p.receivedRecords),
      String(p.queued),
      String(p.unacked),
      String(p.retransmits),
      String(p.overflows + p.floodDrops),
      p.lag ? `${p.lag.p99Ms}ms` : '-',
      p.problem ?? '',
    ]),
  };
}
