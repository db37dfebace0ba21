// Restart = adopt: rebuilds the established associations from what the kernel fast path holds (the
// key map's elements with their comments, and the four rewrite maps), so a daemon restart (kill -9
// or upgrade) neither flushes the paths live traffic depends on nor forgets the associations the
// engine needs for their control chunks (SHUTDOWN, ABORT, ASCONF, a path cut's re-pointing).
// Kernel elements no rebuilt association needs are drift: they are deleted; entries an association
// needs that the kernel lacks are added. Pure: nft's JSON in, associations and scripts out.
import { formatIp, tryParseIp, type IpAddr } from '../../net/ip.js';
import { type Association, hasIp, ipKey, natEntries, sameIp } from '../engine/association.js';
import { noAuth, type AuthVectors } from '../engine/auth.js';
import type { NatEntry, SctpEndpoint, SctpService } from '../engine/types.js';
import { ParamType } from '../codec/index.js';
import { parseEntryComment, type EntryComment } from './comment.js';
import { DEFAULT_NAMES, tupleKey, type FastPathNames } from './nft.js';

interface Rewrite {
  readonly src: IpAddr;
  readonly dst: IpAddr;
  readonly srcPort: number;
  readonly dstPort: number;
}

/** One key element of the fast path as the kernel holds it. */
export interface KernelPath {
  readonly family: 4 | 6;
  readonly src: IpAddr;
  readonly dst: IpAddr;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly mark: number;
  readonly comment?: string;
  readonly packets: number;
  /** undefined when one of the four rewrite maps lacks the mark. */
  readonly rewrite?: Rewrite;
}

export const VALUE_MAPS = ['nsaddr', 'ndaddr', 'nsport', 'ndport'] as const;

export interface KernelTable {
  readonly family: 4 | 6;
  readonly paths: KernelPath[];
  /** Marks in the rewrite maps no key element points at. */
  readonly orphanMarks: number[];
  /** The marks each rewrite map holds (a delete of an absent element fails the whole transaction). */
  readonly valueMarks: ReadonlyMap<string, ReadonlySet<number>>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses `nft -j list table <ip|ip6> <table>`; unknown shapes are skipped. */
export function parseFastPathTable(json: string, family: 4 | 6): KernelTable {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return { family, paths: [], orphanMarks: [], valueMarks: new Map() };
  }
  const items = isObj(doc) && Array.isArray(doc.nftables) ? doc.nftables : [];
  const maps = new Map<string, unknown[]>();
  for (const it of items) {
    const m = isObj(it) && isObj(it.map) ? it.map : undefined;
    if (m && typeof m.name === 'string') maps.set(m.name, Array.isArray(m.elem) ? m.elem : []);
  }
  const values = (name: string, kind: 'ip' | 'port') => {
    const out = new Map<number, IpAddr | number>();
    for (const e of maps.get(name) ?? []) {
      if (!Array.isArray(e) || typeof e[0] !== 'number') continue;
      if (kind === 'port' && typeof e[1] === 'number') out.set(e[0], e[1]);
      if (kind === 'ip' && typeof e[1] === 'string') {
        const ip = tryParseIp(e[1]);
        if (ip) out.set(e[0], ip);
      }
    }
    return out;
  };
  const nsaddr = values('nsaddr', 'ip');
  const ndaddr = values('ndaddr', 'ip');
  const nsport = values('nsport', 'port');
  const ndport = values('ndport', 'port');
  const paths: KernelPath[] = [];
  const used = new Set<number>();
  for (const e of maps.get('pathid') ?? []) {
    if (!Array.isArray(e) || typeof e[1] !== 'number') continue;
    const mark = e[1];
    const k0: unknown = e[0];
    const el = isObj(k0) && isObj(k0.elem) ? k0.elem : isObj(k0) ? k0 : undefined;
    const val = el && isObj(el.val) ? el.val : el;
    const c = val && Array.isArray(val.concat) ? val.concat : undefined;
    if (!el || !c || c.length !== 4) continue;
    const src = typeof c[0] === 'string' ? tryParseIp(c[0]) : undefined;
    const dst = typeof c[1] === 'string' ? tryParseIp(c[1]) : undefined;
    if (!src || !dst || typeof c[2] !== 'number' || typeof c[3] !== 'number') continue;
    used.add(mark);
    const rs = nsaddr.get(mark);
    const rd = ndaddr.get(mark);
    const ps = nsport.get(mark);
    const pd = ndport.get(mark);
    const counter = isObj(el.counter) ? el.counter : undefined;
    paths.push({
      family,
      src,
      dst,
      srcPort: c[2],
      dstPort: c[3],
      mark,
      ...(typeof el.comment === 'string' ? { comment: el.comment } : {}),
      packets: typeof counter?.packets === 'number' ? counter.packets : 0,
      ...(typeof rs === 'object' && typeof rd === 'object' && typeof ps === 'number' && typeof pd === 'number'
        ? { rewrite: { src: rs, dst: rd, srcPort: ps, dstPort: pd } }
        : {}),
    });
  }
  const orphanMarks = new Set<number>();
  for (const m of [nsaddr, ndaddr, nsport, ndport])
    for (const k of m.keys()) if (!used.has(k)) orphanMarks.add(k);
  const valueMarks = new Map<string, Set<number>>([
    ['nsaddr', new Set(nsaddr.keys())],
    ['ndaddr', new Set(ndaddr.keys())],
    ['nsport', new Set(nsport.keys())],
    ['ndport', new Set(ndport.keys())],
  ]);
  return { family, paths, orphanMarks: [...orphanMarks], valueMarks };
}

export interface Adoption {
  readonly associations: Association[];
  /** Kernel elements that are exactly what an adopted association needs: keep (PathIds.adopt). */
  readonly kept: { readonly entry: NatEntry; readonly mark: number; readonly packets: number }[];
  /** Entries adopted associations need that the kernel lacks (fastPathScript adds them). */
  readonly missing: NatEntry[];
  /** Deletes every kernel element nobody needs (applied before `missing`). */
  readonly strayScript: string;
  readonly stray: number;
}

/** HMAC ids and chunk types from a key vector (RANDOM ‖ CHUNKS ‖ HMAC-ALGO TLVs, unpadded). */
function vectorInfo(v: Uint8Array): { hmacs: number[]; chunks: number[] } {
  const hmacs: number[] = [];
  const chunks: number[] = [];
  for (let off = 0; off + 4 <= v.length;) {
    const type = ((v[off] as number) << 8) | (v[off + 1] as number);
    const len = ((v[off + 2] as number) << 8) | (v[off + 3] as number);
    if (len < 4 || off + len > v.length) break;
    const body = v.subarray(off + 4, off + len);
    if (type === ParamType.HMAC_ALGO)
      for (let i = 0; i + 1 < body.length; i += 2)
        hmacs.push(((body[i] as number) << 8) | (body[i + 1] as number));
    if (type === ParamType.CHUNK_LIST) chunks.push(...body);
    off += len;
  }
  return { hmacs, chunks };
}

const uniq = (xs: IpAddr[]): IpAddr[] => {
  const out: IpAddr[] = [];
  for (const x of xs) if (!out.some((y) => sameIp(x, y))) out.push(x);
  return out;
};

type Tagged = { readonly p: KernelPath & { readonly rewrite: Rewrite }; readonly c: EntryComment };

/** One association from its kernel elements, or undefined when they do not make a consistent one. */
function rebuild(
  id: number,
  group: Tagged[],
  services: readonly SctpService[],
  nowMs: number,
): Association | undefined {
  const toE = group.filter((g) => g.c.toward === 'endpoint');
  const toC = group.filter((g) => g.c.toward === 'client');
  const first = toE[0];
  if (!first || toC.length === 0) return undefined;
  const { clientTag, endpointTag } = first.c;
  if (!group.every((g) => g.c.clientTag === clientTag && g.c.endpointTag === endpointTag)) return undefined;
  const initVip = (group.find((g) => g.c.initVip) ?? first).p.dst;
  const clientPort = first.p.srcPort;
  const servicePort = first.p.dstPort;
  const lbPort = first.p.rewrite.srcPort;
  const endpointPort = first.p.rewrite.dstPort;
  const ok =
    toE.every(
      (g) =>
        g.p.srcPort === clientPort &&
        g.p.dstPort === servicePort &&
        g.p.rewrite.srcPort === lbPort &&
        g.p.rewrite.dstPort === endpointPort &&
        sameIp(g.p.rewrite.src, g.p.dst),
    ) &&
    toC.every(
      (g) =>
        g.p.srcPort === endpointPort &&
        g.p.dstPort === lbPort &&
        g.p.rewrite.srcPort === servicePort &&
        g.p.rewrite.dstPort === clientPort &&
        sameIp(g.p.rewrite.src, g.p.dst),
    );
  if (!ok) return undefined;
  const seenVips = uniq(group.map((g) => g.p.dst));
  const service =
    services.find((s) => s.port === servicePort && seenVips.some((v) => s.vips.some((x) => sameIp(x, v)))) ??
    ({
      name: `adopted/${servicePort}`,
      vips: seenVips,
      port: servicePort,
      endpoints: [],
    } satisfies SctpService);
  const vips = [
    ...service.vips.filter((v) => seenVips.some((x) => sameIp(x, v))),
    ...seenVips.filter((v) => !service.vips.some((x) => sameIp(x, v))),
  ];
  const clientAddrs = uniq(toE.map((g) => g.p.src));
  const endpointAddrs = uniq(toC.map((g) => g.p.src));
  const endpointDst = new Map<4 | 6, IpAddr>();
  for (const g of toE) if (!endpointDst.has(g.p.family)) endpointDst.set(g.p.family, g.p.rewrite.dst);
  const returnTo = new Map<string, IpAddr>();
  const home = new Map<string, IpAddr>();
  for (const g of toC) {
    const k = ipKey(g.p.dst);
    if (!returnTo.has(k)) returnTo.set(k, g.p.rewrite.dst);
    if (g.c.home && !home.has(k)) home.set(k, g.c.home);
  }
  for (const [k, v] of returnTo) if (!home.has(k)) home.set(k, v);
  // A path the kernel holds off its home was failed over before the restart: remember its home as
  // failed, so the path moves back once the home is heard again, as it would have without the
  // restart (otherwise the paths stay collapsed on one client address). A home another path still
  // delivers to counts as heard since (it moves back at the first tick); one no path uses waits to
  // be heard (the fast path's counters).
  const failedAt = new Map<string, number>();
  const clientSeen = new Map(clientAddrs.map((c) => [ipKey(c), nowMs]));
  const inUse = [...returnTo.values()];
  for (const [k, h] of home) {
    if (sameIp(h, returnTo.get(k) ?? h)) continue;
    const used = hasIp(inUse, h);
    failedAt.set(ipKey(h), used ? nowMs - 1 : nowMs);
    if (!used) clientSeen.set(ipKey(h), nowMs - 1);
  }
  const epAddrs = [...endpointDst.values()];
  const endpoint: SctpEndpoint = service.endpoints.find(
    (e) => e.port === endpointPort && e.addresses.some((x) => epAddrs.some((y) => sameIp(x, y))),
  ) ?? { addresses: epAddrs, port: endpointPort };
  const cv = toE.find((g) => g.c.vector)?.c.vector;
  const ev = toC.find((g) => g.c.vector)?.c.vector;
  const ci = cv ? vectorInfo(cv) : { hmacs: [], chunks: [] };
  const ei = ev ? vectorInfo(ev) : { hmacs: [], chunks: [] };
  const auth: AuthVectors = {
    ...noAuth(),
    ...(cv ? { client: cv } : {}),
    ...(ev ? { endpoint: ev } : {}),
    clientHmacs: ci.hmacs,
    clientChunks: ci.chunks,
    endpointHmacs: ei.hmacs,
    endpointChunks: ei.chunks,
  };
  return {
    id,
    service,
    endpoint,
    state: 'established',
    createdMs: nowMs,
    stateSinceMs: nowMs,
    lastActiveMs: nowMs,
    clientPort,
    lbPort,
    clientTag,
    initiator: 'client',
    endpointTag,
    clientAddrs,
    endpointAddrs,
    vips,
    initVip: vips.find((v) => sameIp(v, initVip)) ?? initVip,
    returnTo,
    home,
    unanswered: new Map(),
    failedAt,
    endpointDst,
    counters: new Map(),
    clientSeen,
    auth,
    cookies: new Map(),
  };
}

const sameRewrite = (a: Rewrite, b: Rewrite) =>
  sameIp(a.src, b.src) && sameIp(a.dst, b.dst) && a.srcPort === b.srcPort && a.dstPort === b.dstPort;

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** What to adopt, keep, add and delete, from the kernel's tables of both families. */
export function planAdoption(
  tables: readonly KernelTable[],
  services: readonly SctpService[],
  nowMs: number,
  n: FastPathNames = DEFAULT_NAMES,
): Adoption {
  const all = tables.flatMap((t) => t.paths);
  const groups = new Map<number, Tagged[]>();
  for (const p of all) {
    const c = parseEntryComment(p.comment);
    if (!c || !p.rewrite) continue;
    let g = groups.get(c.association);
    if (!g) groups.set(c.association, (g = []));
    g.push({ p: p as Tagged['p'], c });
  }
  const associations: Association[] = [];
  for (const [id, g] of groups) {
    const a = rebuild(id, g, services, nowMs);
    if (a) associations.push(a);
  }
  const byTuple = new Map(
    all.map((p) => [`${p.family}|${formatIp(p.src)}|${formatIp(p.dst)}|${p.srcPort}|${p.dstPort}`, p]),
  );
  const kept: Adoption['kept'][number][] = [];
  const missing: NatEntry[] = [];
  const keptTuples = new Set<string>();
  for (const a of associations)
    for (const e of natEntries(a)) {
      const t = tupleKey(e);
      const p = byTuple.get(t);
      if (p?.rewrite && !keptTuples.has(t) && sameRewrite(p.rewrite, e.rewrite)) {
        kept.push({ entry: e, mark: p.mark, packets: p.packets });
        keptTuples.add(t);
      } else if (!keptTuples.has(t)) missing.push(e);
    }
  const lines: string[] = [];
  let stray = 0;
  for (const t of tables) {
    const f = t.family === 4 ? 'ip' : 'ip6';
    const delValues = (mark: number) => {
      for (const m of VALUE_MAPS)
        if (t.valueMarks.get(m)?.has(mark))
          lines.push(`delete element ${f} ${n.table} ${m} { ${hex(mark)} }`);
    };
    for (const p of t.paths) {
      const k = `${p.family}|${formatIp(p.src)}|${formatIp(p.dst)}|${p.srcPort}|${p.dstPort}`;
      if (keptTuples.has(k)) continue;
      stray++;
      lines.push(
        `delete element ${f} ${n.table} pathid { ${formatIp(p.src)} . ${formatIp(p.dst)} . ${p.srcPort} . ${p.dstPort} }`,
      );
      delValues(p.mark);
    }
    for (const m of t.orphanMarks) {
      stray++;
      delValues(m);
    }
  }
  return { associations, kept, missing, strayScript: lines.length ? lines.join('\n') + '\n' : '', stray };
}
