// INIT and INIT-ACK: where associations are born and where addresses would leak. Address parameters
// are replaced (never edited in place): towards the endpoint they name the VIPs, towards the client
// they name the VIPs; every other parameter (cookie, AUTH, extensions, unknown) is kept byte-exact.
import type { IpAddr } from '../../net/ip.js';
import {
  ChunkType,
  ParamType,
  decodeInit,
  encodeInit,
  initAddresses,
  supportedFamilies,
  withAddresses,
  type Chunk,
  type Init,
  type IpPacket,
  type SctpPacket,
  SctpDecodeError,
} from '../codec/index.js';
import { tokenKey, type CookieSealer } from './cookie.js';
import { encodeHandshake } from './replica.js';
import {
  type Association,
  diffEntries,
  hasIp,
  initialReturnMap,
  ipKey,
  natEntries,
  sameIp,
} from './association.js';
import { MAX_ADDRESSES_PER_SIDE } from './asconf.js';
import { keyVector, noAuth } from './auth.js';
import type { AssociationTable } from './table.js';
import type {
  DropReason,
  EndpointSelector,
  EngineLimits,
  EngineResult,
  OutPacket,
  PathChanges,
  SctpService,
  Side,
} from './types.js';

export interface InitContext {
  readonly nowMs: number;
  readonly limits: EngineLimits;
  readonly table: AssociationTable;
  readonly select: EndpointSelector;
  readonly sealer: CookieSealer;
  newId(): number;
  translate(
    a: Association,
    side: Side,
    pkt: IpPacket,
    sctp: Omit<SctpPacket, 'checksum'>,
  ): OutPacket | undefined;
}

const drop = (reason: DropReason, changes: PathChanges = { add: [], remove: [] }): EngineResult => ({
  packets: [],
  changes,
  dropped: reason,
});

function parseInit(c: Chunk): Init | undefined {
  try {
    const i = decodeInit(c);
    initAddresses(i); // throws on a wrong-sized address parameter
    return i.initiateTag === 0 ? undefined : i;
  } catch (e) {
    if (e instanceof SctpDecodeError) return undefined;
    throw e;
  }
}

/** Addresses a peer may legitimately claim: unicast, not ours, not the other side's, bounded in number. */
function peerAddresses(src: IpAddr, listed: readonly IpAddr[], forbidden: readonly IpAddr[]): IpAddr[] {
  const out: IpAddr[] = [src];
  for (const ip of listed) {
    if (out.length >= MAX_ADDRESSES_PER_SIDE) break;
    if (ip.value === 0n || hasIp(out, ip) || hasIp(forbidden, ip)) continue;
    if (ip.family === 4 && (ip.value >> 24n === 127n || ip.value >> 28n === 0xen || ip.value === 0xffffffffn))
      continue;
    if (ip.family === 6 && (ip.value === 1n || ip.value >> 120n === 0xffn)) continue;
    out.push(ip);
  }
  return out;
}

/** The INIT with its address list replaced and the (deprecated, address-revealing) Host Name removed. */
function rewriteInit(
  type: typeof ChunkType.INIT | typeof ChunkType.INIT_ACK,
  init: Init,
  addrs: readonly IpAddr[],
): Chunk {
  const clean = { ...init, params: init.params.filter((p) => p.type !== ParamType.HOST_NAME) };
  return encodeInit(type, withAddresses(clean, addrs));
}

/** Families the sender of an INIT can reach: its Supported Address Types, else what it uses/lists. */
function familiesOf(init: Init, src: IpAddr): Set<4 | 6> {
  const sat = init.params.find((p) => p.type === ParamType.SUPPORTED_ADDRESS_TYPES);
  if (sat) {
    const s = supportedFamilies(sat);
    s.add(src.family);
    return s;
  }
  return new Set([src.family, ...initAddresses(init).map((a) => a.family)]);
}

/** Frees room for one more half-open association; returns false when the table cannot take it. */
export function makeRoom(ctx: InitContext, removed: PathChanges['remove'][number][]): boolean {
  const L = ctx.limits;
  while (ctx.table.halfOpenCount >= L.maxHalfOpen || ctx.table.size >= L.maxAssociations) {
    const victim = ctx.table.evictionVictim();
    if (!victim) return false;
    removed.push(...ctx.table.remove(victim));
  }
  return true;
}

export function onClientInit(
  ctx: InitContext,
  svc: SctpService,
  pkt: IpPacket,
  sctp: SctpPacket,
  c: Chunk,
): EngineResult {
  const init = parseInit(c);
  if (!init) return drop('invalid-init');
  const src = pkt.ip.src;
  const vip = pkt.ip.dst;
  const live = ctx.table.findByClient(svc.name, src, sctp.srcPort).filter((a) => a.state !== 'closed');
  // A retransmitted INIT (same tag, still waiting): translate again, nothing new.
  const again = live.find((a) => a.clientTag === init.initiateTag && a.initiator === 'client');
  if (again && (again.state === 'init-sent' || again.state === 'cookie-wait')) {
    const o = ctx.translate(again, 'client', pkt, {
      ...sctp,
      chunks: [
        rewriteInit(
          ChunkType.INIT,
          init,
          again.vips.filter((v) => !sameIp(v, vip)),
        ),
      ],
    });
    return { packets: o ? [o] : [], changes: { add: [], remove: [] }, association: again.id };
  }
  // A live association on this client address/port means a restart: same endpoint and LB port, so
  // the endpoint sees its peer restart (RFC 9260 §5.2.2) instead of a stranger.
  const prev = live
    .filter((a) => a.state !== 'init-sent' && a.state !== 'cookie-wait')
    .sort((x, y) => y.id - x.id)[0];
  const families = familiesOf(init, src);
  let endpoint = prev?.endpoint;
  if (!endpoint) {
    const candidates = svc.endpoints
      .map((_, i) => i)
      .filter((i) => svc.endpoints[i]?.addresses.some((e) => e.family === vip.family));
    if (candidates.length === 0) return drop('no-endpoint');
    endpoint = svc.endpoints[ctx.select(svc, candidates, src, sctp.srcPort, init.initiateTag)];
    if (!endpoint) return drop('no-endpoint');
  }
  const epFamilies = new Set(endpoint.addresses.map((e) => e.family));
  const vips = svc.vips.filter((v) => epFamilies.has(v.family) && (families.has(v.family) || sameIp(v, vip)));
  const removed: PathChanges['remove'][number][] = [];
  if (!makeRoom(ctx, removed)) return drop('table-full', { add: [], remove: removed });
  const lbPort =
    prev?.lbPort ??
    ctx.table.allocatePort(
      endpoint.addresses[0],
      endpoint.port,
      sctp.srcPort,
      init.initiateTag,
      ctx.limits.portRange,
    );
  if (lbPort === undefined) return drop('ports-exhausted', { add: [], remove: removed });
  const clientAddrs = peerAddresses(src, initAddresses(init), [...svc.vips, ...endpoint.addresses]);
  const kv = keyVector(init.params);
  const endpointDst = new Map<4 | 6, IpAddr>();
  for (const e of endpoint.addresses) if (!endpointDst.has(e.family)) endpointDst.set(e.family, e);
  const a: Association = {
    id: ctx.newId(),
    service: svc,
    endpoint,
    initiator: 'client',
    state: 'init-sent',
    createdMs: ctx.nowMs,
    stateSinceMs: ctx.nowMs,
    lastActiveMs: ctx.nowMs,
    clientPort: sctp.srcPort,
    lbPort,
    clientTag: init.initiateTag,
    endpointTag: 0,
    clientAddrs,
    endpointAddrs: [...endpoint.addresses],
    vips,
    initVip: vip,
    returnTo: initialReturnMap(vips, clientAddrs, vip, src),
    home: initialReturnMap(vips, clientAddrs, vip, src),
    unanswered: new Map(),
    failedAt: new Map(),
    endpointDst,
    counters: new Map(),
    clientSeen: new Map([[ipKey(src), ctx.nowMs]]),
    cookies: new Map(),
    auth: {
      ...noAuth(),
      ...(kv.vector ? { client: kv.vector } : {}),
      clientHmacs: kv.hmacs,
      clientChunks: kv.chunks,
    },
    ...(prev ? { supersedes: prev.id } : {}),
  };
  ctx.table.put(a);
  const out = ctx.translate(a, 'client', pkt, {
    ...sctp,
    chunks: [
      rewriteInit(
        ChunkType.INIT,
        init,
        vips.filter((v) => !sameIp(v, vip)),
      ),
    ],
  });
  return { packets: out ? [out] : [], changes: { add: [], remove: removed }, association: a.id };
}

/**
 * An INIT from the endpoint on a live association's endpoint-side tuple: the endpoint restarted (or
 * re-initiates). It becomes a new association towards the same client addresses, rewritten like any
 * INIT — never forwarded raw (the gap LoxiLB #1113 describes).
 */
export function onEndpointInit(
  ctx: InitContext,
  live: Association,
  pkt: IpPacket,
  sctp: SctpPacket,
  c: Chunk,
): EngineResult {
  const init = parseInit(c);
  if (!init) return drop('invalid-init');
  const removed: PathChanges['remove'][number][] = [];
  if (!makeRoom(ctx, removed)) return drop('table-full', { add: [], remove: removed });
  const kv = keyVector(init.params);
  const vip = pkt.ip.dst;
  const endpointAddrs = peerAddresses(
    pkt.ip.src,
    initAddresses(init).filter((x) => live.vips.some((v) => v.family === x.family)),
    [...live.service.vips, ...live.clientAddrs],
  );
  const endpointDst = new Map<4 | 6, IpAddr>();
  for (const e of endpointAddrs) if (!endpointDst.has(e.family)) endpointDst.set(e.family, e);
  const a: Association = {
    ...live,
    id: ctx.newId(),
    initiator: 'endpoint',
    state: 'init-sent',
    createdMs: ctx.nowMs,
    stateSinceMs: ctx.nowMs,
    lastActiveMs: ctx.nowMs,
    clientTag: 0,
    endpointTag: init.initiateTag,
    clientAddrs: [...live.clientAddrs],
    endpointAddrs,
    returnTo: new Map(live.returnTo),
    home: new Map(live.home),
    unanswered: new Map(),
    failedAt: new Map(),
    endpointDst,
    counters: new Map(),
    clientSeen: new Map(live.clientSeen),
    cookies: new Map(),
    auth: {
      ...noAuth(),
      ...(kv.vector ? { endpoint: kv.vector } : {}),
      endpointHmacs: kv.hmacs,
      endpointChunks: kv.chunks,
    },
    supersedes: live.id,
  };
  ctx.table.put(a);
  const out = ctx.translate(a, 'endpoint', pkt, {
    ...sctp,
    chunks: [
      rewriteInit(
        ChunkType.INIT,
        init,
        a.vips.filter((v) => !sameIp(v, vip)),
      ),
    ],
  });
  return { packets: out ? [out] : [], changes: { add: [], remove: removed }, association: a.id };
}

/** INIT-ACK from the side that received the INIT: learn its tag and addresses, install the paths. */
export function onInitAck(
  ctx: InitContext,
  a: Association,
  side: Side,
  pkt: IpPacket,
  sctp: SctpPacket,
  c: Chunk,
): EngineResult {
  const expected: Side = a.initiator === 'client' ? 'endpoint' : 'client';
  if (side !== expected || (a.state !== 'init-sent' && a.state !== 'cookie-wait') || sctp.chunks.length > 1)
    return drop('no-association');
  const ack = parseInit(c);
  if (!ack) return drop('invalid-init');
  const before = natEntries(a);
  const kv = keyVector(ack.params);
  const usable = (x: IpAddr) => a.vips.some((v) => v.family === x.family);
  if (side === 'endpoint') {
    a.endpointTag = ack.initiateTag;
    a.endpointAddrs = peerAddresses(
      pkt.ip.src,
      [...a.endpoint.addresses, ...initAddresses(ack)].filter(usable),
      [...a.service.vips, ...a.clientAddrs],
    );
    a.auth = {
      ...a.auth,
      ...(kv.vector ? { endpoint: kv.vector } : {}),
      endpointHmacs: kv.hmacs,
      endpointChunks: kv.chunks,
    };
  } else {
    a.clientTag = ack.initiateTag;
    a.clientAddrs = peerAddresses(pkt.ip.src, initAddresses(ack), [...a.service.vips, ...a.endpointAddrs]);
    a.returnTo = initialReturnMap(a.vips, a.clientAddrs, pkt.ip.dst, pkt.ip.src);
    a.home = new Map(a.returnTo);
    a.auth = {
      ...a.auth,
      ...(kv.vector ? { client: kv.vector } : {}),
      clientHmacs: kv.hmacs,
      clientChunks: kv.chunks,
    };
  }
  if (a.state === 'init-sent') {
    a.state = 'cookie-wait';
    a.stateSinceMs = ctx.nowMs;
  }
  a.lastActiveMs = ctx.nowMs;
  ctx.table.put(a);
  const out = ctx.translate(a, side, pkt, {
    ...sctp,
    chunks: [
      rewriteInit(
        ChunkType.INIT_ACK,
        swapCookie(ctx, a, ack),
        a.vips.filter((v) => !sameIp(v, pkt.ip.dst)),
      ),
    ],
  });
  return { packets: out ? [out] : [], changes: diffEntries(before, natEntries(a)), association: a.id };
}

/**
 * Replaces the State Cookie with an LB token (cookie.ts); COOKIE-ECHO swaps the real one back.
 * Normally a 16-byte token indexes the cookie this association holds. Under pressure — the half-open
 * table at least half full, i.e. an INIT flood may evict this association before its COOKIE-ECHO — the
 * token is sealed and carries the association too (a SYN-cookie analogue), at about 10 µs per INIT-ACK.
 */
function swapCookie(ctx: InitContext, a: Association, ack: Init): Init {
  const MAX_COOKIES = 4; // INIT retransmissions each get an INIT-ACK with its own cookie
  const pressure = ctx.table.halfOpenCount * 2 >= ctx.limits.maxHalfOpen;
  return {
    ...ack,
    params: ack.params.map((p) => {
      if (p.type !== ParamType.STATE_COOKIE) return p;
      const token = pressure
        ? ctx.sealer.seal({ id: a.id, createdMs: ctx.nowMs, record: encodeHandshake(a), cookie: p.value })
        : ctx.sealer.plainToken(a.id, p.value);
      if (a.cookies.size >= MAX_COOKIES) a.cookies.delete(a.cookies.keys().next().value as string);
      a.cookies.set(tokenKey(token), { token, cookie: p.value });
      ctx.table.setRecoverable(a, pressure);
      return { type: p.type, value: token };
    }),
  };
}
