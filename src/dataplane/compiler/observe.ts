// Reads back what the kernel has (`nft -j list table inet ferrolb`) into the same TableState the
// compiler produces, so a restarted ferrolb diffs against reality instead of flushing. Rules are
// recognised by the content hash stored in their comment; elements by canonical text.
import { formatIp, tryParseIp } from '../../net/ip.js';
import { counterKey } from './compile.js';
import { mapSig, type TableChain, type TableMap, type TableRule, type TableState } from './table.js';

export class NftJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NftJsonError';
  }
}

type Json = unknown;
const obj = (x: Json): Record<string, Json> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, Json>) : {};

// A table listing at 10k services holds ~700k atoms, mostly the same few thousand addresses and
// words: canonicalise each distinct string once per listing (cleared after each, so not kept).
const atomMemo = new Map<string, string>();

/** Canonical text of one element atom, matching what the compiler writes. */
export function atomText(x: Json): string {
  if (typeof x === 'number') return String(x);
  if (typeof x === 'string') {
    let v = atomMemo.get(x);
    if (v === undefined) {
      if (atomMemo.size > 1_000_000) atomMemo.clear();
      const ip = tryParseIp(x);
      v = ip ? formatIp(ip) : x;
      atomMemo.set(x, v);
    }
    return v;
  }
  const o = obj(x);
  if (Array.isArray(o.concat)) return o.concat.map(atomText).join(' . ');
  // Interval set elements (source ranges): the same text ranges.ts writes for them.
  if ('prefix' in o) return `${atomText(obj(o.prefix).addr)}/${String(obj(o.prefix).len)}`;
  if (Array.isArray(o.range) && o.range.length === 2)
    return `${atomText(o.range[0])}-${atomText(o.range[1])}`;
  if ('elem' in o) return atomText(obj(o.elem).val);
  if ('goto' in o) return `goto ${String(obj(o.goto).target)}`;
  if ('jump' in o) return `jump ${String(obj(o.jump).target)}`;
  return JSON.stringify(x);
}

const typeText = (t: Json): string => (Array.isArray(t) ? t.map(String).join(' . ') : String(t ?? ''));

function parseItems(json: string): Record<string, Json>[] {
  let doc: Json;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new NftJsonError(`nft -j output is not JSON: ${(e as Error).message}`);
  }
  const items = obj(doc).nftables;
  if (!Array.isArray(items)) throw new NftJsonError('nft -j output has no "nftables" array');
  return items.map(obj);
}

/** TableState of `table inet <table>` from `nft -j list table inet <table>` output. */
export function observeTable(json: string, table: string): TableState {
  try {
    return observeItems(json, table);
  } finally {
    atomMemo.clear();
  }
}

function observeItems(json: string, table: string): TableState {
  const chains = new Map<string, { name: string; hook: string; rules: TableRule[] }>();
  const maps = new Map<string, TableMap>();
  const counters = new Map<string, string>();
  for (const item of parseItems(json)) {
    const [kind, raw] = Object.entries(item)[0] ?? [];
    const v = obj(raw);
    if (v.table !== undefined && v.table !== table) continue;
    if (kind === 'counter') counters.set(String(v.name), String(v.comment ?? ''));
    else if (kind === 'map' || kind === 'set') {
      const elements = new Map<string, string>();
      for (const e of Array.isArray(v.elem) ? v.elem : []) {
        if (kind === 'map' && Array.isArray(e)) elements.set(atomText(e[0]), atomText(e[1]));
        else elements.set(atomText(e), '');
      }
      const value = kind === 'map' ? typeText(v.map) : '';
      const timeout = typeof v.timeout === 'number' ? v.timeout : 0;
      maps.set(String(v.name), {
        name: String(v.name),
        decl: '',
        sig: mapSig(kind, typeText(v.type), value, timeout),
        dynamic: Array.isArray(v.flags) && v.flags.includes('timeout'),
        elements,
      });
    } else if (kind === 'chain') {
      const hook = v.hook ? `${String(v.type)} ${String(v.hook)} ${String(v.prio)} ${String(v.policy)}` : '';
      chains.set(String(v.name), { name: String(v.name), hook, rules: [] });
    } else if (kind === 'rule') {
      chains.get(String(v.chain))?.rules.push({ text: '', id: String(v.comment ?? 'foreign') });
    }
  }
  return { table, chains: chains as Map<string, TableChain>, maps, counters };
}

export interface CounterValue {
  readonly packets: number;
  readonly bytes: number;
}

/** Named counter objects (name → value) from `nft -j list counters table …` (or a table listing). */
export function parseNamedCounters(json: string): Map<string, CounterValue> {
  const out = new Map<string, CounterValue>();
  for (const item of parseItems(json)) {
    const c = obj(item.counter);
    if (c.name === undefined || c.packets === undefined) continue;
    out.set(String(c.name), { packets: Number(c.packets), bytes: Number(c.bytes ?? 0) });
  }
  return out;
}

/**
 * Per-element counters of counted sets, keyed counterKey(set, element), from `nft -j list set …`
 * (or a whole table listing).
 */
export function parseCounters(json: string): Map<string, CounterValue> {
  try {
    return counterItems(json);
  } finally {
    atomMemo.clear();
  }
}

function counterItems(json: string): Map<string, CounterValue> {
  const out = new Map<string, CounterValue>();
  for (const item of parseItems(json)) {
    const set = obj(item.set);
    if (set.name === undefined || !Array.isArray(set.elem)) continue;
    for (const e of set.elem) {
      const c = obj(obj(obj(e).elem).counter);
      if (c.packets === undefined) continue;
      out.set(counterKey(String(set.name), atomText(e)), {
        packets: Number(c.packets),
        bytes: Number(c.bytes ?? 0),
      });
    }
  }
  return out;
}
