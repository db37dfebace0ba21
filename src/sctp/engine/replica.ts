// The replicated state of one SCTP association (HA state sync, issue 12): what another LB node needs
// to carry the association from its own kernel fast path and engine — tags, ports, the service's
// addresses, the endpoint, the client and endpoint address sets, the return paths and their homes,
// and both AUTH key vectors (so ASCONFs are still verified and signed after a failover). Pure,
// versioned, binary; a record that does not decode into a consistent association is refused with
// an error naming the field. Liveness bookkeeping (counters, unanswered deliveries) is not
// replicated: the node that takes over learns it from its own traffic.
import type { IpAddr } from '../../net/ip.js';
import { formatIp } from '../../net/ip.js';
import { type Association, hasIp, ipKey, sameIp } from './association.js';
import type { AuthVectors } from './auth.js';
import type { AssociationState, SctpEndpoint, SctpService, Side } from './types.js';

/** Bumped on any change of the encoding; a peer with another version is refused, never guessed at. */
export const SCTP_REPLICA_VERSION = 1;
const MAGIC = 0x53; // 'S'

export class SctpReplicaError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`sctp replica record: ${field}: ${detail}`);
    this.name = 'SctpReplicaError';
  }
}

/**
 * States in the encoding (by index). Only the first two are replicated: half-open associations have
 * no kernel entries to carry. `cookie-wait` is the handshake record sealed into the LB's State Cookie
 * (cookie.ts), never sent to a peer and refused from one.
 */
const STATES: readonly AssociationState[] = ['established', 'shutdown', 'cookie-wait'];
const REPLICATED: readonly AssociationState[] = ['established', 'shutdown'];
const tagged = (a: Pick<Association, 'clientTag' | 'endpointTag'>) =>
  a.clientTag !== 0 && a.endpointTag !== 0;
export const isReplicated = (a: Pick<Association, 'state' | 'clientTag' | 'endpointTag'>): boolean =>
  REPLICATED.includes(a.state) && tagged(a);

/**
 * The record key: the same association has the same key on every node (tags and ports, not the
 * node-local id), so a later record replaces it wherever it is held.
 */
export const replicaKey = (a: Pick<Association, 'clientTag' | 'endpointTag' | 'clientPort' | 'service'>) =>
  `${hex(a.clientTag)}.${hex(a.endpointTag)}.${a.clientPort}.${a.service.port}`;
const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

class Writer {
  private buf = new Uint8Array(256);
  private n = 0;
  private room(k: number) {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  u8(v: number) {
    this.room(1);
    this.buf[this.n++] = v & 0xff;
  }
  u16(v: number) {
    this.u8(v >> 8);
    this.u8(v);
  }
  u32(v: number) {
    this.u16(v >>> 16);
    this.u16(v & 0xffff);
  }
  bytes(b: Uint8Array) {
    this.u16(b.length);
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  addr(ip: IpAddr) {
    this.u8(ip.family);
    const len = ip.family === 4 ? 4 : 16;
    for (let i = len - 1; i >= 0; i--) this.u8(Number((ip.value >> BigInt(8 * i)) & 0xffn));
  }
  addrs(xs: readonly IpAddr[]) {
    this.u8(xs.length);
    for (const x of xs) this.addr(x);
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

class Reader {
  private off = 0;
  constructor(private readonly b: Uint8Array) {}
  private need(k: number, field: string) {
    if (this.off + k > this.b.length)
      throw new SctpReplicaError(field, `truncated at byte ${this.off} (${this.b.length} bytes)`);
  }
  u8(field: string): number {
    this.need(1, field);
    return this.b[this.off++] as number;
  }
  u16(field: string): number {
    return (this.u8(field) << 8) | this.u8(field);
  }
  u32(field: string): number {
    return ((this.u16(field) << 16) | this.u16(field)) >>> 0;
  }
  bytes(field: string): Uint8Array {
    const len = this.u16(field);
    this.need(len, field);
    const out = this.b.slice(this.off, this.off + len);
    this.off += len;
    return out;
  }
  addr(field: string): IpAddr {
    const family = this.u8(field);
    if (family !== 4 && family !== 6) throw new SctpReplicaError(field, `address family ${family}`);
    let value = 0n;
    for (let i = 0; i < (family === 4 ? 4 : 16); i++) value = (value << 8n) | BigInt(this.u8(field));
    return { family, value };
  }
  addrs(field: string): IpAddr[] {
    const n = this.u8(field);
    const out: IpAddr[] = [];
    for (let i = 0; i < n; i++) {
      const a = this.addr(`${field}[${i}]`);
      if (hasIp(out, a)) throw new SctpReplicaError(`${field}[${i}]`, `${formatIp(a)} listed twice`);
      out.push(a);
    }
    return out;
  }
  end() {
    if (this.off !== this.b.length)
      throw new SctpReplicaError('record', `${this.b.length - this.off} bytes after the end`);
  }
}

const vipMap = (w: Writer, m: ReadonlyMap<string, IpAddr>, vips: readonly IpAddr[]) => {
  const pairs = vips.filter((v) => m.has(ipKey(v)));
  w.u8(pairs.length);
  for (const v of pairs) {
    w.addr(v);
    w.addr(m.get(ipKey(v)) as IpAddr);
  }
};

/** The replicated state of an established (or shutting down) association. */
export function encodeReplica(a: Readonly<Association>): Uint8Array {
  if (!isReplicated(a)) throw new SctpReplicaError('state', `${a.state} associations are not replicated`);
  return encodeRecord(a);
}

/** The handshake record of an association waiting for its COOKIE-ECHO (both tags known). */
export function encodeHandshake(a: Readonly<Association>): Uint8Array {
  if (a.state !== 'cookie-wait' || !tagged(a))
    throw new SctpReplicaError('state', `${a.state} is not a handshake with both tags`);
  return encodeRecord(a);
}

function encodeRecord(a: Readonly<Association>): Uint8Array {
  const w = new Writer();
  w.u8(MAGIC);
  w.u8(SCTP_REPLICA_VERSION);
  w.u8(STATES.indexOf(a.state));
  w.u8(a.initiator === 'client' ? 0 : 1);
  w.u32(a.clientTag);
  w.u32(a.endpointTag);
  w.u16(a.clientPort);
  w.u16(a.lbPort);
  w.u16(a.service.port);
  w.u16(a.endpoint.port);
  w.bytes(new TextEncoder().encode(a.service.name));
  w.addrs(a.vips);
  w.addr(a.initVip);
  w.addrs(a.clientAddrs);
  w.addrs(a.endpointAddrs);
  w.addrs(a.endpoint.addresses);
  w.addrs([...a.endpointDst.values()]);
  vipMap(w, a.returnTo, a.vips);
  vipMap(w, a.home, a.vips);
  w.bytes(a.auth.client ?? new Uint8Array(0));
  w.bytes(a.auth.endpoint ?? new Uint8Array(0));
  for (const list of [a.auth.clientHmacs, a.auth.endpointHmacs]) {
    w.u8(list.length);
    for (const h of list) w.u16(h);
  }
  for (const list of [a.auth.clientChunks, a.auth.endpointChunks]) {
    w.u8(list.length);
    for (const c of list) w.u8(c);
  }
  return w.done();
}

/** What a record carries, before it is bound to a local id and service. */
export interface Replica {
  readonly key: string;
  readonly state: AssociationState;
  readonly initiator: Side;
  readonly clientTag: number;
  readonly endpointTag: number;
  readonly clientPort: number;
  readonly lbPort: number;
  readonly servicePort: number;
  readonly serviceName: string;
  readonly endpoint: SctpEndpoint;
  readonly vips: readonly IpAddr[];
  readonly initVip: IpAddr;
  readonly clientAddrs: readonly IpAddr[];
  readonly endpointAddrs: readonly IpAddr[];
  readonly endpointDst: readonly IpAddr[];
  readonly returnTo: ReadonlyMap<string, IpAddr>;
  readonly home: ReadonlyMap<string, IpAddr>;
  readonly auth: AuthVectors;
}

const port = (r: Reader, field: string) => {
  const p = r.u16(field);
  if (p === 0) throw new SctpReplicaError(field, 'port 0');
  return p;
};

/**
 * Decodes and checks a record; throws SctpReplicaError naming the first field that is wrong. A peer's
 * record must be replicated state; `handshake` takes only the State Cookie's handshake record.
 */
export function decodeReplica(bytes: Uint8Array, opts: { handshake?: boolean } = {}): Replica {
  const r = new Reader(bytes);
  const magic = r.u8('magic');
  if (magic !== MAGIC) throw new SctpReplicaError('magic', `0x${magic.toString(16)} is not an SCTP record`);
  const version = r.u8('version');
  if (version !== SCTP_REPLICA_VERSION)
    throw new SctpReplicaError('version', `${version} (this node speaks ${SCTP_REPLICA_VERSION})`);
  const st = r.u8('state');
  const state = STATES[st];
  if (!state || (opts.handshake ? state !== 'cookie-wait' : !REPLICATED.includes(state)))
    throw new SctpReplicaError('state', `${state ?? st}`);
  const ini = r.u8('initiator');
  if (ini > 1) throw new SctpReplicaError('initiator', `${ini}`);
  const clientTag = r.u32('clientTag');
  const endpointTag = r.u32('endpointTag');
  if (clientTag === 0) throw new SctpReplicaError('clientTag', '0');
  if (endpointTag === 0) throw new SctpReplicaError('endpointTag', '0');
  const clientPort = port(r, 'clientPort');
  const lbPort = port(r, 'lbPort');
  const servicePort = port(r, 'servicePort');
  const endpointPort = port(r, 'endpointPort');
  let serviceName: string;
  try {
    serviceName = new TextDecoder('utf-8', { fatal: true }).decode(r.bytes('service'));
  } catch (e) {
    if (e instanceof SctpReplicaError) throw e;
    throw new SctpReplicaError('service', 'not UTF-8');
  }
  const vips = r.addrs('vips');
  const initVip = r.addr('initVip');
  const clientAddrs = r.addrs('clientAddrs');
  const endpointAddrs = r.addrs('endpointAddrs');
  const endpointAddresses = r.addrs('endpoint.addresses');
  const endpointDst = r.addrs('endpointDst');
  const pairs = (field: string) => {
    const m = new Map<string, IpAddr>();
    const n = r.u8(field);
    let last = -1;
    for (let i = 0; i < n; i++) {
      const v = r.addr(`${field}[${i}].vip`);
      const c = r.addr(`${field}[${i}].client`);
      // In VIP order, each VIP once: one encoding per association (records compare byte for byte).
      const at = vips.findIndex((x) => sameIp(x, v));
      if (at <= last)
        throw new SctpReplicaError(`${field}[${i}].vip`, `${formatIp(v)} is not a VIP (in order, once)`);
      last = at;
      if (!hasIp(clientAddrs, c) || c.family !== v.family)
        throw new SctpReplicaError(
          `${field}[${i}].client`,
          `${formatIp(c)} is not a client address of that family`,
        );
      m.set(ipKey(v), c);
    }
    return m;
  };
  const returnTo = pairs('returnTo');
  const home = pairs('home');
  const cv = r.bytes('auth.client');
  const ev = r.bytes('auth.endpoint');
  const hmacs = (field: string) => Array.from({ length: r.u8(field) }, () => r.u16(field));
  const chunks = (field: string) => Array.from({ length: r.u8(field) }, () => r.u8(field));
  const clientHmacs = hmacs('auth.clientHmacs');
  const endpointHmacs = hmacs('auth.endpointHmacs');
  const clientChunks = chunks('auth.clientChunks');
  const endpointChunks = chunks('auth.endpointChunks');
  r.end();
  if (vips.length === 0) throw new SctpReplicaError('vips', 'empty');
  if (!hasIp(vips, initVip)) throw new SctpReplicaError('initVip', `${formatIp(initVip)} is not a VIP`);
  if (clientAddrs.length === 0) throw new SctpReplicaError('clientAddrs', 'empty');
  if (endpointAddrs.length === 0) throw new SctpReplicaError('endpointAddrs', 'empty');
  if (endpointAddresses.length === 0) throw new SctpReplicaError('endpoint.addresses', 'empty');
  endpointDst.forEach((d, i) => {
    if (!hasIp(endpointAddrs, d) || endpointDst.findIndex((x) => x.family === d.family) !== i)
      throw new SctpReplicaError(
        `endpointDst[${i}]`,
        `${formatIp(d)} is not one endpoint address per family`,
      );
  });
  if (returnTo.size === 0) throw new SctpReplicaError('returnTo', 'empty');
  const key = `${hex(clientTag)}.${hex(endpointTag)}.${clientPort}.${servicePort}`;
  return {
    key,
    state,
    initiator: ini === 0 ? 'client' : 'endpoint',
    clientTag,
    endpointTag,
    clientPort,
    lbPort,
    servicePort,
    serviceName,
    endpoint: { addresses: endpointAddresses, port: endpointPort },
    vips,
    initVip,
    clientAddrs,
    endpointAddrs,
    endpointDst,
    returnTo,
    home,
    auth: {
      ...(cv.length ? { client: cv } : {}),
      ...(ev.length ? { endpoint: ev } : {}),
      clientHmacs,
      endpointHmacs,
      clientChunks,
      endpointChunks,
    },
  };
}

/**
 * The association a replica describes, bound to a local id and to this node's service of that name
 * and port (or a stand-in naming both, as adoption does, when this node does not have it). Standby:
 * it forwards as soon as packets of it arrive here; its liveness starts from `nowMs`.
 */
export function replicaAssociation(
  id: number,
  rep: Replica,
  services: readonly SctpService[],
  nowMs: number,
): Association {
  const service =
    services.find((s) => s.name === rep.serviceName && s.port === rep.servicePort) ??
    services.find((s) => s.port === rep.servicePort && rep.vips.every((v) => hasIp(s.vips, v))) ??
    ({ name: rep.serviceName, vips: rep.vips, port: rep.servicePort, endpoints: [] } satisfies SctpService);
  const endpoint =
    service.endpoints.find(
      (e) => e.port === rep.endpoint.port && e.addresses.some((x) => hasIp(rep.endpoint.addresses, x)),
    ) ?? rep.endpoint;
  return {
    id,
    service,
    endpoint,
    state: rep.state,
    createdMs: nowMs,
    stateSinceMs: nowMs,
    lastActiveMs: nowMs,
    clientPort: rep.clientPort,
    lbPort: rep.lbPort,
    clientTag: rep.clientTag,
    initiator: rep.initiator,
    endpointTag: rep.endpointTag,
    clientAddrs: [...rep.clientAddrs],
    endpointAddrs: [...rep.endpointAddrs],
    vips: rep.vips,
    initVip: rep.vips.find((v) => sameIp(v, rep.initVip)) ?? rep.initVip,
    returnTo: new Map(rep.returnTo),
    home: new Map(rep.home),
    unanswered: new Map(),
    failedAt: new Map(),
    endpointDst: new Map(rep.endpointDst.map((d) => [d.family, d])),
    counters: new Map(),
    clientSeen: new Map(rep.clientAddrs.map((c) => [ipKey(c), nowMs])),
    auth: { ...rep.auth },
    cookies: new Map(),
  };
}
