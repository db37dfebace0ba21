// What GET /api/v1/l2 and `ferroctl get l2` show: one row per Layer 2 candidate, from this node's
// view — the owner the election chose (cluster worker) merged with this node's announcer state.
// Pure (the API and the CLI share it).
import type { ClusterStatus } from '../cluster/status.js';

/** announcing/failed: this node owns it; standby: another node does; unowned: nobody may (no quorum, no eligible node alive). */
export type L2State = 'announcing' | 'failed' | 'standby' | 'unowned' | 'withdrawn';

export interface L2Entry {
  readonly address: string;
  readonly owner: string | null;
  /** Interfaces this node announces it on (when it owns it). */
  readonly interfaces: readonly string[];
  /** Epoch ms: when the owner took it (or this node's announcer state began). */
  readonly since: number;
  readonly state: L2State;
  readonly eligible: readonly string[];
  readonly error?: string;
}

export interface L2View {
  readonly node?: string;
  readonly configured: boolean;
  readonly running: boolean;
  readonly error?: string;
  readonly items: readonly L2Entry[];
}

export function l2View(st: ClusterStatus): L2View {
  const ann = new Map((st.announcer ?? []).map((a) => [a.address, a]));
  const items: L2Entry[] = [];
  const seen = new Set<string>();
  for (const o of st.owners) {
    seen.add(o.address);
    const a = ann.get(o.address);
    const mine = o.owner !== null && o.owner === st.self;
    const state: L2State = mine
      ? a?.state === 'failed'
        ? 'failed'
        : 'announcing'
      : o.owner
        ? 'standby'
        : 'unowned';
    items.push({
      address: o.address,
      owner: o.owner,
      interfaces: mine ? (a?.interfaces ?? []) : [],
      since: o.since,
      state,
      eligible: o.nodes,
      ...(mine && a?.error ? { error: a.error } : {}),
      ...(mine && !a ? { error: 'owned, but the announcer has not reported it yet' } : {}),
    });
  }
  // The announcer may hold addresses the election no longer lists (adopted at restart, withdrawing).
  for (const a of st.announcer ?? [])
    if (!seen.has(a.address))
      items.push({
        address: a.address,
        owner: a.state === 'withdrawn' ? null : (st.self ?? null),
        interfaces: a.interfaces,
        since: a.since,
        state: a.state,
        eligible: [],
        ...(a.error ? { error: a.error } : {}),
      });
  items.sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
  return {
    ...(st.self ? { node: st.self } : {}),
    configured: st.configured,
    running: st.running,
    ...(st.error ? { error: st.error } : {}),
    items,
  };
}

const time = (ms: number): string => (ms > 0 ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

export function l2Rows(v: L2View, wide: boolean): { headers: string[]; rows: string[][] } {
  const headers = ['ADDRESS', 'OWNER', 'INTERFACE', 'SINCE', 'STATE', ...(wide ? ['ELIGIBLE', 'ERROR'] : [])];
  const rows = v.items.map((e) => [
    e.address,
    e.owner ?? '<none>',
    e.interfaces.length > 0 ? e.interfaces.join(',') : '-',
    time(e.since),
    e.state,
    ...(wide ? [e.eligible.join(',') || '-', e.error ?? ''] : []),
  ]);
  return { headers, rows };
}
