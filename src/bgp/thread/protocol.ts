// Messages between the main thread and the BGP speaker / BFD worker threads (pure). Everything that
// crosses a thread boundary is checked here, so a malformed message is a typed error naming the
// field, never a crash deep inside a session. Payloads are structured-clone data (bigint allowed).
import type { BfdPeerConfig } from '../bfd/shell.js';
import type { AdvertisedRoute } from '../ribout.js';
import type { BgpStatus, PeerConfig } from '../types.js';

export class ThreadProtocolError extends Error {
  constructor(
    readonly channel: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${channel} message: ${field}: ${detail}`);
    this.name = 'ThreadProtocolError';
  }
}

/** Given to the speaker worker at each (re)start. */
export interface SpeakerWorkerData {
  readonly listen: false | { readonly port?: number; readonly host?: string };
  /** Peers learn from the graceful-restart R bit that we are coming back (crash or worker restart). */
  readonly restarting: boolean;
  /** How often the worker publishes its status when something may have changed. */
  readonly statusIntervalMs: number;
}

export type ToSpeaker =
  | { readonly type: 'peers'; readonly peers: readonly PeerConfig[] }
  | { readonly type: 'routes'; readonly routes: readonly AdvertisedRoute[] }
  /** graceful: a planned restart (sessions with graceful restart end without a Cease). */
  | { readonly type: 'stop'; readonly graceful?: boolean };

export type FromSpeaker =
  | { readonly type: 'started'; readonly port?: number }
  | { readonly type: 'start-failed'; readonly message: string }
  | { readonly type: 'status'; readonly status: BgpStatus; readonly at: number }
  | { readonly type: 'log'; readonly msg: string }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'stopped' };

export type ToBfd =
  { readonly type: 'peers'; readonly peers: readonly BfdPeerConfig[] } | { readonly type: 'stop' };

export type FromBfd =
  | { readonly type: 'started' }
  | { readonly type: 'start-failed'; readonly message: string }
  | { readonly type: 'states'; readonly states: readonly (readonly [string, string])[] }
  | { readonly type: 'up'; readonly peerAddress: string }
  | { readonly type: 'down'; readonly peerAddress: string; readonly diag: number }
  | { readonly type: 'log'; readonly msg: string }
  | { readonly type: 'stopped' };

type Obj = Record<string, unknown>;

function obj(channel: string, m: unknown): Obj {
  if (typeof m !== 'object' || m === null || Array.isArray(m))
    throw new ThreadProtocolError(
      channel,
      'message',
      `expected an object, got ${m === null ? 'null' : typeof m}`,
    );
  return m as Obj;
}

function str(channel: string, m: Obj, field: string): string {
  const v = m[field];
  if (typeof v !== 'string')
    throw new ThreadProtocolError(channel, field, `expected a string, got ${typeof v}`);
  return v;
}

function num(channel: string, m: Obj, field: string): number {
  const v = m[field];
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ThreadProtocolError(channel, field, `expected a finite number, got ${String(v)}`);
  return v;
}

function arr(channel: string, m: Obj, field: string): unknown[] {
  const v = m[field];
  if (!Array.isArray(v)) throw new ThreadProtocolError(channel, field, `expected an array, got ${typeof v}`);
  return v;
}

function unknownType(channel: string, t: unknown): never {
  throw new ThreadProtocolError(channel, 'type', `unknown message type ${JSON.stringify(t)}`);
}

function peerConfig(channel: string, v: unknown, i: number): PeerConfig {
  const p = obj(channel, v);
  const at = `peers[${i}]`;
  for (const f of ['name', 'peerAddress', 'routerId'])
    if (typeof p[f] !== 'string') throw new ThreadProtocolError(channel, `${at}.${f}`, 'expected a string');
  for (const f of ['localAsn', 'peerAsn'])
    if (typeof p[f] !== 'number') throw new ThreadProtocolError(channel, `${at}.${f}`, 'expected a number');
  return p as unknown as PeerConfig;
}

function route(channel: string, v: unknown, i: number): AdvertisedRoute {
  const r = obj(channel, v);
  const p = r.prefix;
  if (typeof p !== 'object' || p === null)
    throw new ThreadProtocolError(channel, `routes[${i}].prefix`, 'expected an object');
  const pf = p as Obj;
  if ((pf.family !== 4 && pf.family !== 6) || typeof pf.addr !== 'bigint' || typeof pf.len !== 'number')
    throw new ThreadProtocolError(
      channel,
      `routes[${i}].prefix`,
      'expected { family: 4|6, addr: bigint, len: number }',
    );
  return r as unknown as AdvertisedRoute;
}

export function parseToSpeaker(m: unknown): ToSpeaker {
  const c = 'to-speaker';
  const o = obj(c, m);
  switch (o.type) {
    case 'peers':
      return { type: 'peers', peers: arr(c, o, 'peers').map((p, i) => peerConfig(c, p, i)) };
    case 'routes':
      return { type: 'routes', routes: arr(c, o, 'routes').map((r, i) => route(c, r, i)) };
    case 'stop':
      if (o.graceful !== undefined && typeof o.graceful !== 'boolean')
        throw new ThreadProtocolError(c, 'graceful', `expected a boolean, got ${typeof o.graceful}`);
      return o.graceful ? { type: 'stop', graceful: true } : { type: 'stop' };
    default:
      return unknownType(c, o.type);
  }
}

export function parseFromSpeaker(m: unknown): FromSpeaker {
  const c = 'from-speaker';
  const o = obj(c, m);
  switch (o.type) {
    case 'started':
      return o.port === undefined ? { type: 'started' } : { type: 'started', port: num(c, o, 'port') };
    case 'start-failed':
    case 'error':
      return { type: o.type, message: str(c, o, 'message') };
    case 'status': {
      const s = obj(c, o.status);
      if (!Array.isArray(s.sessions) || !Array.isArray(s.routes))
        throw new ThreadProtocolError(c, 'status', 'expected { sessions: [], routes: [] }');
      return { type: 'status', status: s as unknown as BgpStatus, at: num(c, o, 'at') };
    }
    case 'log':
      return { type: 'log', msg: str(c, o, 'msg') };
    case 'stopped':
      return { type: 'stopped' };
    default:
      return unknownType(c, o.type);
  }
}

function bfdPeer(channel: string, v: unknown, i: number): BfdPeerConfig {
  const p = obj(channel, v);
  if (typeof p.peerAddress !== 'string')
    throw new ThreadProtocolError(channel, `peers[${i}].peerAddress`, 'expected a string');
  for (const f of ['desiredMinTxMs', 'requiredMinRxMs', 'detectMult'])
    if (typeof p[f] !== 'number' || !((p[f] as number) > 0))
      throw new ThreadProtocolError(
        channel,
        `peers[${i}].${f}`,
        `expected a positive number, got ${String(p[f])}`,
      );
  return p as unknown as BfdPeerConfig;
}

export function parseToBfd(m: unknown): ToBfd {
  const c = 'to-bfd';
  const o = obj(c, m);
  switch (o.type) {
    case 'peers':
      return { type: 'peers', peers: arr(c, o, 'peers').map((p, i) => bfdPeer(c, p, i)) };
    case 'stop':
      return { type: 'stop' };
    default:
      return unknownType(c, o.type);
  }
}

export function parseFromBfd(m: unknown): FromBfd {
  const c = 'from-bfd';
  const o = obj(c, m);
  switch (o.type) {
    case 'started':
    case 'stopped':
      return { type: o.type };
    case 'start-failed':
      return { type: 'start-failed', message: str(c, o, 'message') };
    case 'states': {
      const states = arr(c, o, 'states').map((e, i) => {
        if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'string')
          throw new ThreadProtocolError(c, `states[${i}]`, 'expected [address, state]');
        return [e[0], e[1]] as const;
      });
      return { type: 'states', states };
    }
    case 'up':
      return { type: 'up', peerAddress: str(c, o, 'peerAddress') };
    case 'down':
      return { type: 'down', peerAddress: str(c, o, 'peerAddress'), diag: num(c, o, 'diag') };
    case 'log':
      return { type: 'log', msg: str(c, o, 'msg') };
    default:
      return unknownType(c, o.type);
  }
}

/**
 * A status captured in the worker at `at` (epoch ms), seen on the main thread at `now`: uptimes are
 * advanced by the time the message spent in flight and in the cache, so `ferroctl get bgp` stays exact.
 */
export function rebaseStatus(status: BgpStatus, at: number, now: number): BgpStatus {
  const age = Math.max(0, now - at);
  if (age === 0) return status;
  return {
    ...status,
    sessions: status.sessions.map((s) =>
      s.uptimeMs === undefined ? s : { ...s, uptimeMs: s.uptimeMs + age },
    ),
  };
}

/** What the main thread shows for the speaker's sessions while its worker is down and restarting. */
export function statusWhileRestarting(last: BgpStatus, why: string): BgpStatus {
  return {
    sessions: last.sessions.map((s) => {
      const { uptimeMs: _u, bfd: _b, ...rest } = s;
      return { ...rest, state: 'Idle' as const, lastError: why };
    }),
    routes: [],
  };
}
