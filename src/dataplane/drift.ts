// Drift: the kernel no longer holds what ferrolb programmed. Pure parts of the reconcile loop:
//   • parsing `nft monitor` text into transactions (each ends with "# new generation N by process P"),
//     so our own transactions (P is one of our nft processes) are told from anybody else's;
//   • turning someone else's transaction into hints naming the objects of our table it touched;
//   • applying hints to the cached kernel model, so the next diff re-adds exactly what went missing
//     (no whole-table read for a deleted element, rule or chain);
//   • classifying the differences between the model and a full read of the kernel.
import { chainSig, type TableChain, type TableMap, type TableState } from './compiler/table.js';

export const DRIFT_KINDS = [
  'table',
  'chain',
  'rule',
  'map',
  'element',
  'counter',
  'foreign',
  'vip',
  'sysctl',
] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

/** One object of our table that someone else changed. */
export type DriftHint =
  | { readonly kind: 'table' }
  | { readonly kind: 'chain' | 'rule' | 'map' | 'element' | 'counter'; readonly name: string };

export interface MonitorTransaction {
  readonly generation: number;
  readonly pid: number;
  readonly lines: readonly string[];
}

/**
 * Splits `nft monitor` output into transactions. Feed it chunks of text as they arrive; it returns
 * the transactions completed so far and keeps the rest.
 */
export class MonitorParser {
  private partial = '';
  private lines: string[] = [];
  /** Lines beyond this per transaction are dropped (a cold start echoes 100k+); `truncated` says so. */
  constructor(private readonly maxLines = 10_000) {}
  private truncated = false;

  push(chunk: string): (MonitorTransaction & { truncated: boolean })[] {
    const text = this.partial + chunk;
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    const out: (MonitorTransaction & { truncated: boolean })[] = [];
    for (const line of parts) {
      const g = /^# new generation (\d+) by process (\d+)/.exec(line);
      if (g) {
        out.push({
          generation: Number(g[1]),
          pid: Number(g[2]),
          lines: this.lines,
          truncated: this.truncated,
        });
        this.lines = [];
        this.truncated = false;
      } else if (line) {
        if (this.lines.length < this.maxLines) this.lines.push(line);
        else this.truncated = true;
      }
    }
    return out;
  }
}

const OBJ = /^(add|insert|delete|destroy) (table|chain|rule|set|map|element|counter) (\S+) (\S+)(?: (\S+))?/;

/**
 * Hints for the objects of `inet <table>` that a transaction touched. Deletions of anything, and
 * additions of rules or elements (a foreign rule in our chain, an element pointing elsewhere).
 * Additions of whole chains/sets are left to the periodic full verification.
 */
export function transactionHints(lines: readonly string[], table: string): DriftHint[] {
  const out = new Map<string, DriftHint>();
  for (const line of lines) {
    const m = OBJ.exec(line);
    if (!m || m[3] !== 'inet' || m[4] !== table) continue;
    const [, verb, what, , , name] = m;
    const del = verb === 'delete' || verb === 'destroy';
    let h: DriftHint | undefined;
    if (what === 'table') h = del ? { kind: 'table' } : undefined;
    else if (!name) continue;
    else if (what === 'rule') h = { kind: 'rule', name };
    else if (what === 'element') h = { kind: 'element', name };
    else if (del && what === 'chain') h = { kind: 'chain', name };
    else if (del && (what === 'set' || what === 'map')) h = { kind: 'map', name };
    else if (del && what === 'counter') h = { kind: 'counter', name };
    if (h) out.set(h.kind === 'table' ? 'table' : `${h.kind}:${h.name}`, h);
  }
  return out.has('table') ? [{ kind: 'table' }] : [...out.values()];
}

/** Rule id no compiled rule has: a chain carrying it differs from every compiled chain. */
export const UNKNOWN_RULE = 'fl:drift';

/**
 * The model after `hints`: what the kernel holds now, as far as the hints tell. Element hints need
 * the map's real content (read by the caller, `reread`); the others need no read at all. Returns
 * undefined when the table is gone.
 */
export function applyHints(
  model: TableState | undefined,
  hints: readonly DriftHint[],
  reread: ReadonlyMap<string, TableMap | undefined> = new Map(),
): TableState | undefined {
  if (!model || hints.some((h) => h.kind === 'table')) return undefined;
  const chains = new Map(model.chains);
  const maps = new Map(model.maps);
  const counters = new Map(model.counters);
  for (const h of hints) {
    if (h.kind === 'table') continue;
    if (h.kind === 'chain') chains.delete(h.name);
    else if (h.kind === 'rule') {
      const c = chains.get(h.name);
      // We do not know which rule changed: mark the chain so the diff rewrites all of it.
      if (c) chains.set(h.name, { ...c, rules: [{ text: '', id: UNKNOWN_RULE }] } satisfies TableChain);
    } else if (h.kind === 'map') maps.delete(h.name);
    else if (h.kind === 'counter') counters.delete(h.name);
    else if (h.kind === 'element' && reread.has(h.name)) {
      const m = reread.get(h.name);
      const old = maps.get(h.name);
      if (!m) maps.delete(h.name);
      else if (old) maps.set(h.name, { ...old, elements: m.elements });
    }
  }
  return { table: model.table, chains, maps, counters };
}

/** What differs between the model (what we programmed) and a full read of the kernel. */
export function classifyDrift(model: TableState | undefined, kernel: TableState | undefined): DriftKind[] {
  if (!model) return [];
  if (!kernel) return ['table'];
  const kinds = new Set<DriftKind>();
  for (const [name, c] of model.chains) {
    const k = kernel.chains.get(name);
    if (!k) kinds.add('chain');
    else if (chainSig(k) !== chainSig(c)) kinds.add(k.hook !== c.hook ? 'chain' : 'rule');
  }
  for (const [name, m] of model.maps) {
    const k = kernel.maps.get(name);
    if (!k) kinds.add('map');
    else if (k.sig !== m.sig) kinds.add('map');
    else if (!m.dynamic && !sameElements(m.elements, k.elements)) kinds.add('element');
  }
  for (const name of model.counters.keys()) if (!kernel.counters.has(name)) kinds.add('counter');
  for (const name of kernel.chains.keys()) if (!model.chains.has(name)) kinds.add('foreign');
  for (const name of kernel.maps.keys()) if (!model.maps.has(name)) kinds.add('foreign');
  return DRIFT_KINDS.filter((k) => kinds.has(k));
}

function sameElements(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Kinds named by hints, for the drift metric. */
export const hintKinds = (hints: readonly DriftHint[]): DriftKind[] =>
  DRIFT_KINDS.filter((k) => hints.some((h) => h.kind === k));

/**
 * `ip -o monitor address route link` lines that concern `dev` and can mean a VIP went missing:
 * deletions of its addresses or routes, the device itself, or the device going down.
 */
export function vipEventHint(line: string, dev: string): boolean {
  if (!line.includes(dev)) return false;
  const onDev = new RegExp(`(?:dev |\\d+: )${dev.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:[:@ ]|$)`);
  if (!onDev.test(line)) return false;
  if (line.startsWith('Deleted')) return true;
  // A link line: "12: ferrolb0: <BROADCAST,NOARP> ..." without UP means it went down.
  const flags = /^\d+: [^:]+: <([^>]*)>/.exec(line);
  return flags !== null && !flags[1]!.split(',').includes('UP');
}

/**
 * Order-independent fingerprint of a table: per chain its signature, per map its signature and an
 * element digest (count + sum of 32-bit FNV-1a hashes of "key\tvalue"). Small enough to hand to a
 * worker thread, so a full verification's JSON parse and comparison never run on the event loop.
 */
export interface StateDigest {
  readonly chains: readonly (readonly [name: string, sig: string])[];
  readonly maps: readonly (readonly [name: string, sig: string, dynamic: boolean, elements: string])[];
  readonly counters: readonly string[];
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const elementsDigest = (m: TableMap): string => {
  let sum = 0;
  for (const [k, v] of m.elements) sum = (sum + fnv(`${k}\t${v}`)) >>> 0;
  return `${m.elements.size}:${sum}`;
};

/** digestState, yielding to the event loop every `slice` elements (a 10k-service model has 300k). */
export async function digestStateAsync(s: TableState, slice = 20_000): Promise<StateDigest> {
  const maps: [string, string, boolean, string][] = [];
  let budget = slice;
  for (const m of s.maps.values()) {
    let sum = 0;
    if (!m.dynamic)
      for (const [k, v] of m.elements) {
        sum = (sum + fnv(`${k}\t${v}`)) >>> 0;
        if (--budget === 0) {
          budget = slice;
          await new Promise((r) => setImmediate(r));
        }
      }
    maps.push([m.name, m.sig, m.dynamic, m.dynamic ? '' : `${m.elements.size}:${sum}`]);
  }
  return {
    chains: [...s.chains.values()].map((c) => [c.name, chainSig(c)] as const),
    maps,
    counters: [...s.counters.keys()],
  };
}

export function digestState(s: TableState): StateDigest {
  return {
    chains: [...s.chains.values()].map((c) => [c.name, chainSig(c)] as const),
    maps: [...s.maps.values()].map(
      (m) => [m.name, m.sig, m.dynamic, m.dynamic ? '' : elementsDigest(m)] as const,
    ),
    counters: [...s.counters.keys()],
  };
}

/**
 * classifyDrift on digests, plus the hints that repair it: a differing map's elements re-read, a
 * differing chain rewritten, a missing object re-added. Foreign objects have no hint (the next
 * apply's diff removes chains and maps we do not want only once the model knows of them).
 */
export function compareDigests(
  model: StateDigest,
  kernel: StateDigest | undefined,
): { drift: DriftKind[]; hints: DriftHint[] } {
  if (!kernel) return { drift: ['table'], hints: [{ kind: 'table' }] };
  const kinds = new Set<DriftKind>();
  const hints: DriftHint[] = [];
  const kc = new Map(kernel.chains);
  for (const [name, sig] of model.chains) {
    const k = kc.get(name);
    if (k === undefined) {
      kinds.add('chain');
      hints.push({ kind: 'chain', name });
    } else if (k !== sig) {
      kinds.add(k.split('|')[0] !== sig.split('|')[0] ? 'chain' : 'rule');
      hints.push({ kind: 'rule', name });
    }
  }
  const km = new Map(kernel.maps.map((m) => [m[0], m] as const));
  for (const [name, sig, dynamic, elements] of model.maps) {
    const k = km.get(name);
    if (!k || k[1] !== sig) {
      kinds.add('map');
      // A map of another layout cannot be patched: have the whole table re-read.
      hints.push(k ? { kind: 'table' } : { kind: 'map', name });
    } else if (!dynamic && k[3] !== elements) {
      kinds.add('element');
      hints.push({ kind: 'element', name });
    }
  }
  const kcount = new Set(kernel.counters);
  for (const name of model.counters)
    if (!kcount.has(name)) {
      kinds.add('counter');
      hints.push({ kind: 'counter', name });
    }
  const mc = new Set(model.chains.map((c) => c[0]));
  const mm = new Set(model.maps.map((m) => m[0]));
  if (kernel.chains.some(([n]) => !mc.has(n)) || kernel.maps.some(([n]) => !mm.has(n))) {
    kinds.add('foreign');
    hints.push({ kind: 'table' }); // re-read, so the diff knows them and removes them
  }
  return {
    drift: DRIFT_KINDS.filter((k) => kinds.has(k)),
    hints: hints.some((h) => h.kind === 'table') ? [{ kind: 'table' }] : hints,
  };
}
