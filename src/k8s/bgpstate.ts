// BGPSessionState (ferrolb.io/v1, like MetalLB's): one object per (node, BGP peer), written by the
// agent of that node — session state, since when it is established, prefixes sent and received, BFD,
// last error — so `kubectl get bgpsessionstates` shows every node's sessions. Pure planning here;
// the writer (bgpstate-writer.ts) only lists, creates, patches status and deletes.
import type { SessionStatus } from '../bgp/types.js';
import type { KMeta } from './types.js';

export const BGP_SESSION_STATE = {
  group: 'ferrolb.io',
  version: 'v1',
  plural: 'bgpsessionstates',
  kind: 'BGPSessionState',
} as const;
export const NODE_LABEL = 'ferrolb.io/node';
export const PEER_LABEL = 'ferrolb.io/peer';

export interface SessionStateSpec {
  readonly node: string;
  readonly peer: string;
  readonly peerAddress: string;
}

export interface SessionStateStatus {
  readonly sessionState: string;
  /** RFC 3339; set while Established (kubectl shows it as an age: the uptime). */
  readonly establishedTime?: string;
  readonly prefixesSent: number;
  readonly prefixesReceived: number;
  readonly peerASN: number;
  readonly localASN: number;
  readonly bfdState?: string;
  readonly lastError?: string;
  /** When sessionState last changed. */
  readonly lastTransitionTime: string;
}

export interface KSessionState {
  apiVersion?: string;
  kind?: string;
  metadata: KMeta;
  spec?: SessionStateSpec;
  status?: Partial<SessionStateStatus>;
}

/** A DNS-1123 subdomain name for (node, peer): lower case, [a-z0-9.-], at most 253, unique by hash when cut. */
export function sessionStateName(node: string, peer: string): string {
  const clean = (x: string) =>
    x
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '');
  const n = clean(node);
  const p = clean(peer);
  const name = `${n}.${p}`;
  if (n && p && name.length <= 253) return name;
  return withHash(clean([n, p].filter(Boolean).join('-').slice(0, 240)), `${node}\0${peer}`);
}

/** A label value (≤ 63, [A-Za-z0-9._-], alphanumeric at both ends); cut ones end in a hash. */
export function labelValue(x: string): string {
  const v = x.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  if (v.length <= 63 && v === x) return v;
  return withHash(v.slice(0, 54).replace(/[^A-Za-z0-9]+$/, ''), x);
}

const withHash = (base: string, of: string) => (base ? `${base}-${hash(of)}` : hash(of));

function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

export interface SessionStateWrites {
  readonly create: KSessionState[];
  /** name → the whole status to merge. */
  readonly patchStatus: { name: string; status: SessionStateStatus }[];
  readonly delete: string[];
}

/**
 * What to write so the API holds one object per session of this node, each with its current status.
 * `current`: this node's objects (listed by label). Unchanged statuses are not written: a session
 * that stays Established costs no write however long it lives. `now`: epoch ms.
 */
export function planSessionStates(
  node: string,
  namespace: string,
  sessions: readonly SessionStatus[],
  current: readonly KSessionState[],
  now: number,
): SessionStateWrites {
  const byName = new Map(current.map((o) => [o.metadata.name ?? '', o]));
  const wanted = new Set<string>();
  const out: SessionStateWrites = { create: [], patchStatus: [], delete: [] };
  for (const s of sessions) {
    const name = sessionStateName(node, s.peer);
    wanted.add(name);
    const cur = byName.get(name);
    const status = statusOf(s, cur?.status, now);
    if (!cur) {
      out.create.push({
        apiVersion: `${BGP_SESSION_STATE.group}/${BGP_SESSION_STATE.version}`,
        kind: BGP_SESSION_STATE.kind,
        metadata: {
          name,
          namespace,
          labels: { [NODE_LABEL]: labelValue(node), [PEER_LABEL]: labelValue(s.peer) },
        },
        spec: { node, peer: s.peer, peerAddress: s.peerAddress },
      });
      out.patchStatus.push({ name, status });
    } else if (!sameStatus(cur.status, status)) out.patchStatus.push({ name, status });
  }
  for (const name of byName.keys()) if (!wanted.has(name)) out.delete.push(name);
  return out;
}

function statusOf(
  s: SessionStatus,
  prev: Partial<SessionStateStatus> | undefined,
  now: number,
): SessionStateStatus {
  const established = s.state === 'Established';
  const keepTime = established && prev?.sessionState === 'Established' && prev.establishedTime;
  const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return {
    sessionState: s.state,
    ...(established
      ? { establishedTime: keepTime ? (prev.establishedTime as string) : iso(now - (s.uptimeMs ?? 0)) }
      : {}),
    prefixesSent: s.prefixesSent,
    prefixesReceived: s.prefixesReceived,
    peerASN: s.peerAsn,
    localASN: s.localAsn,
    ...(s.bfd !== undefined ? { bfdState: s.bfd } : {}),
    ...(s.lastError !== undefined ? { lastError: s.lastError.slice(0, 1024) } : {}),
    lastTransitionTime:
      prev?.sessionState === s.state && prev.lastTransitionTime ? prev.lastTransitionTime : iso(now),
  };
}

const STATUS_KEYS = [
  'sessionState',
  'establishedTime',
  'prefixesSent',
  'prefixesReceived',
  'peerASN',
  'localASN',
  'bfdState',
  'lastError',
  'lastTransitionTime',
] as const;

function sameStatus(a: Partial<SessionStateStatus> | undefined, b: SessionStateStatus): boolean {
  return a !== undefined && STATUS_KEYS.every((k) => a[k] === b[k]);
}

/** The merge patch of a status: fields now absent are removed (null), as JSON merge patch says. */
export function statusPatch(status: SessionStateStatus): Record<string, unknown> {
  return Object.fromEntries(STATUS_KEYS.map((k) => [k, status[k] ?? null]));
}
