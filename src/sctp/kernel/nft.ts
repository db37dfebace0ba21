// Compiles the engine's per-path NAT entries into nftables: a stateless fast path in the raw
// prerouting hook. One lookup keyed on (saddr . daddr . sport . dport) yields a path id in the packet
// mark; four maps keyed on that id rewrite addresses and ports (nft cannot set several fields
// from one lookup, and a second lookup on the already-rewritten header would miss). Packets carrying
// any control chunk skip it and reach the NFQUEUE rule, so the engine sees every INIT, INIT-ACK,
// COOKIE-*, ABORT, SHUTDOWN-COMPLETE and ASCONF*. Pure: text in, text out; the shell runs `nft -f`.
import { formatIp, tryParseIp } from '../../net/ip.js';
import { entryKey } from '../engine/association.js';
import type { NatEntry, PathChanges } from '../engine/types.js';
import { entryComment } from './comment.js';

export interface FastPathNames {
  readonly table: string;
  /** First mark value used for path ids; the range [base, base + 2^24) is ours. */
  readonly markBase: number;
}

export const DEFAULT_NAMES: FastPathNames = { table: 'ferrolb_sctp', markBase: 0x5c000000 };

// ERROR is here because its causes can carry addresses (Unresolvable Address, Restart With New
// Addresses): the engine scrubs them, the kernel could not.
const CONTROL = [
  'init',
  'init-ack',
  'abort',
  'error',
  'shutdown-complete',
  'cookie-echo',
  'cookie-ack',
  'asconf',
  'asconf-ack',
];

const familyParts = (f: 'ip' | 'ip6') => {
  // The vtag is not in the kernel key: nft 1.0.x types `sctp vtag` as a zero-length integer, so no
  // element can be written for it. The 5-tuple is unambiguous anyway: the engine gives every
  // association its own LB port per endpoint, and a restart (same 5-tuple) reuses its
  // predecessor's rewrite; PathIds lets the newest entry own a shared key.
  const t = f === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
  const skip = CONTROL.map((c) => `sctp chunk ${c} missing`).join(' ');
  return {
    // Per-element counters tell the shell which paths the kernel carried (liveness, idle timeout).
    maps: [
      ['pathid', `type ${t} . ${t} . inet_service . inet_service : mark; counter;`],
      ['nsaddr', `type mark : ${t};`],
      ['ndaddr', `type mark : ${t};`],
      ['nsport', `type mark : inet_service;`],
      ['ndport', `type mark : inet_service;`],
    ] as const,
    chain: 'type filter hook prerouting priority raw; policy accept;',
    rule: `meta l4proto sctp ${skip} meta mark set ${f} saddr . ${f} daddr . sctp sport . sctp dport map @pathid ${f} saddr set meta mark map @nsaddr ${f} daddr set meta mark map @ndaddr sctp sport set meta mark map @nsport sctp dport set meta mark map @ndport notrack`,
  };
};

/** The table (both families) with empty maps. Replacing it flushes every path. */
export function fastPathTable(n: FastPathNames = DEFAULT_NAMES): string {
  const fam = (f: 'ip' | 'ip6') => {
    const p = familyParts(f);
    return [
      `table ${f} ${n.table} {`,
      ...p.maps.map(([m, body]) => `  map ${m} { ${body} }`),
      `  chain pre {`,
      `    ${p.chain}`,
      `    ${p.rule}`,
      `  }`,
      `}`,
    ].join('\n');
  };
  return `${fam('ip')}\n${fam('ip6')}\n`;
}

/**
 * Creates the table where it is missing and brings its rule up to date, keeping every map element:
 * a restarted LB adopts the paths the kernel carried while it was away instead of flushing them. One
 * transaction (the chain is flushed and refilled atomically, no packet sees it empty). Fails (nft
 * "File exists") when a map of the same name has another type: the caller then replaces the table.
 */
export function fastPathEnsureScript(n: FastPathNames = DEFAULT_NAMES): string {
  const lines: string[] = [];
  for (const f of ['ip', 'ip6'] as const) {
    const p = familyParts(f);
    lines.push(`add table ${f} ${n.table}`);
    for (const [m, body] of p.maps) lines.push(`add map ${f} ${n.table} ${m} { ${body} }`);
    lines.push(
      `add chain ${f} ${n.table} pre { ${p.chain} }`,
      `flush chain ${f} ${n.table} pre`,
      `add rule ${f} ${n.table} pre ${p.rule}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Deletes the table of both families (no error when absent). */
export function fastPathDropScript(n: FastPathNames = DEFAULT_NAMES): string {
  return ['ip', 'ip6'].map((f) => `table ${f} ${n.table} {}\ndelete table ${f} ${n.table}\n`).join('');
}

export const tupleKey = (e: NatEntry): string =>
  `${e.match.src.family}|${formatIp(e.match.src)}|${formatIp(e.match.dst)}|${e.match.srcPort}|${e.match.dstPort}`;

/**
 * Hands out path ids (marks) per kernel key (5-tuple). When two entries share a key (an association
 * and its restart), the newest owns it; removing the older one then leaves the kernel alone.
 */
export class PathIds {
  private readonly byTuple = new Map<string, { entry: string; id: number }>();
  private free: number[] = [];
  private next = 1;
  constructor(private readonly base = DEFAULT_NAMES.markBase) {}
  /** The id for this entry's key; `fresh` is false when the key already existed (rewrite in place). */
  take(e: NatEntry): { id: number; fresh: boolean } {
    const t = tupleKey(e);
    const cur = this.byTuple.get(t);
    if (cur) {
      cur.entry = entryKey(e);
      return { id: this.base + cur.id, fresh: false };
    }
    const id = this.free.pop() ?? this.next++;
    if (id >= 1 << 24) throw new RangeError('fast-path id space exhausted');
    this.byTuple.set(t, { entry: entryKey(e), id });
    return { id: this.base + id, fresh: true };
  }
  /** Records a key the kernel already holds under `mark` (adoption after a restart). */
  adopt(e: NatEntry, mark: number): void {
    const id = mark - this.base;
    if (id <= 0 || id >= 1 << 24) throw new RangeError(`mark ${mark} outside our id space`);
    this.byTuple.set(tupleKey(e), { entry: entryKey(e), id });
    this.free = this.free.filter((x) => x !== id);
    if (id >= this.next) this.next = id + 1;
  }
  /** The id to delete, or undefined when another entry owns the key now. */
  release(e: NatEntry): number | undefined {
    const t = tupleKey(e);
    const cur = this.byTuple.get(t);
    if (!cur || cur.entry !== entryKey(e)) return undefined;
    this.byTuple.delete(t);
    this.free.push(cur.id);
    return this.base + cur.id;
  }
  get size(): number {
    return this.byTuple.size;
  }
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
const comment = (e: NatEntry): string => {
  const c = entryComment(e);
  return c ? ` comment "${c}"` : '';
};

/** `nft -f` script applying incremental changes (removals first, so a re-added key never collides). */
export function fastPathScript(c: PathChanges, ids: PathIds, n: FastPathNames = DEFAULT_NAMES): string {
  const lines: string[] = [];
  for (const e of c.remove) {
    const id = ids.release(e);
    if (id === undefined) continue;
    const f = e.match.src.family === 4 ? 'ip' : 'ip6';
    const m = e.match;
    lines.push(
      `delete element ${f} ${n.table} pathid { ${formatIp(m.src)} . ${formatIp(m.dst)} . ${m.srcPort} . ${m.dstPort} }`,
    );
    for (const map of ['nsaddr', 'ndaddr', 'nsport', 'ndport'])
      lines.push(`delete element ${f} ${n.table} ${map} { ${hex(id)} }`);
  }
  for (const e of c.add) {
    const { id, fresh } = ids.take(e);
    const f = e.match.src.family === 4 ? 'ip' : 'ip6';
    const m = e.match;
    const r = e.rewrite;
    // A shared key is rewritten in place: delete the old values first (nft `add` does not replace).
    if (!fresh)
      for (const map of ['nsaddr', 'ndaddr', 'nsport', 'ndport'])
        lines.push(`delete element ${f} ${n.table} ${map} { ${hex(id)} }`);
    lines.push(
      `add element ${f} ${n.table} nsaddr { ${hex(id)} : ${formatIp(r.src)} }`,
      `add element ${f} ${n.table} ndaddr { ${hex(id)} : ${formatIp(r.dst)} }`,
      `add element ${f} ${n.table} nsport { ${hex(id)} : ${r.srcPort} }`,
      `add element ${f} ${n.table} ndport { ${hex(id)} : ${r.dstPort} }`,
    );
    // The key last: a packet can only take the path once all four rewrites exist.
    if (fresh)
      lines.push(
        `add element ${f} ${n.table} pathid { ${formatIp(m.src)} . ${formatIp(m.dst)} . ${m.srcPort} . ${m.dstPort}${comment(e)} : ${hex(id)} }`,
      );
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

/**
 * Packet counters per kernel key from `nft -j list map <family> <table> pathid`, keyed like
 * tupleKey(). Unknown shapes are skipped (the JSON schema is nft's, not ours).
 */
export function parseCounters(json: string, family: 4 | 6): Map<string, number> {
  const out = new Map<string, number>();
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return out;
  }
  const items = (doc as { nftables?: unknown[] }).nftables ?? [];
  for (const it of items) {
    const elems = (it as { map?: { elem?: unknown[] } }).map?.elem ?? [];
    for (const e of elems) {
      const pair = e as [
        { elem?: { val?: { concat?: unknown[] }; counter?: { packets?: number } } },
        unknown,
      ];
      const el = pair[0]?.elem;
      const c = el?.val?.concat;
      if (!Array.isArray(c) || c.length !== 4 || typeof el?.counter?.packets !== 'number') continue;
      const ip = (x: unknown) => (typeof x === 'string' ? canonicalOr(x) : '');
      out.set(`${family}|${ip(c[0])}|${ip(c[1])}|${String(c[2])}|${String(c[3])}`, el.counter.packets);
    }
  }
  return out;
}

const canonicalOr = (s: string): string => {
  const ip = tryParseIp(s);
  return ip ? formatIp(ip) : s;
};
