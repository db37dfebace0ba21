// Pure diff: (what the kernel has, what we want) → one nft transaction that turns the first into the
// second, touching only what differs. `nft -f` applies a file atomically, so readers never see a
// half-updated table. Statement order matters for references: objects are created before anything
// points at them and deleted only after the last reference is gone, all within the transaction.
import { runSync, type Steps } from '../../model/steps.js';
import type { Delta } from './incremental.js';
import { chainSig, type TableChain, type TableMap, type TableState } from './table.js';

/** Elements per `add/delete element` statement: keeps lines bounded for very large maps. */
const CHUNK = 2000;
/** Elements, rules or maps compared between two yields of the *Steps forms. */
const WORK = 512;

export interface Transaction {
  /** nft -f script; '' when nothing changes. */
  readonly script: string;
  /** Statements in the script (0 ⇔ no change). */
  readonly statements: number;
  /** True when the table had to be replaced whole (no table yet, or an incompatible layout). */
  readonly full: boolean;
}

const q = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

function elementStatements(verb: 'add' | 'delete', T: string, m: TableMap, keys: string[]): string[] {
  const out: string[] = [];
  const isSet = m.sig.startsWith('set|');
  for (let i = 0; i < keys.length; i += CHUNK) {
    const part = keys
      .slice(i, i + CHUNK)
      .map((k) => (verb === 'delete' || isSet ? k : `${k} : ${m.elements.get(k)}`));
    out.push(`${verb} element ${T} ${m.name} { ${part.join(', ')} }`);
  }
  return out;
}

function hookDecl(hook: string): string {
  const [type, h, prio, policy] = hook.split(' ');
  return ` { type ${type} hook ${h} priority ${prio}; policy ${policy}; }`;
}

const incompatible = (prev: TableState, next: TableState): boolean =>
  [...next.maps.values()].some((m) => {
    const p = prev.maps.get(m.name);
    return p !== undefined && p.sig !== m.sig;
  }) ||
  [...next.chains.values()].some((c) => {
    const p = prev.chains.get(c.name);
    return p !== undefined && p.hook !== c.hook;
  });

export function diffTables(prev: TableState | undefined, next: TableState): Transaction {
  return runSync(diffTablesSteps(prev, next));
}

/**
 * diffTables in steps (model/steps.ts): a whole-table diff at 10k services compares 190k elements
 * and writes a 10 MB script — 0.2–0.3 s in one piece under load, now yielding every few hundred.
 */
export function* diffTablesSteps(prev: TableState | undefined, next: TableState): Steps<Transaction> {
  const T = `inet ${next.table}`;
  let n = 0;
  if (prev && incompatible(prev, next)) {
    // A layout from another version: replace the whole table in the same transaction (conntrack
    // keeps established flows' NAT bindings, so they survive this too).
    const body = yield* diffTablesSteps(undefined, next);
    const script = `add table ${T}\ndelete table ${T}\n${body.script}`;
    return { script, statements: body.statements + 2, full: true };
  }
  const out: string[] = [];
  const before = prev ?? { table: next.table, chains: new Map(), maps: new Map(), counters: new Map() };
  if (!prev) out.push(`add table ${T}`);

  for (const [name, comment] of next.counters)
    if (!before.counters.has(name)) out.push(`add counter ${T} ${name} { comment ${q(comment)} }`);
  for (const m of next.maps.values())
    if (!before.maps.has(m.name)) out.push(`add ${m.sig.split('|')[0]} ${T} ${m.name} { ${m.decl} }`);
  for (const c of next.chains.values())
    if (!before.chains.has(c.name)) out.push(`add chain ${T} ${c.name}${c.hook ? hookDecl(c.hook) : ''}`);

  const additions: string[] = [];
  for (const m of next.maps.values()) {
    if (m.dynamic) continue;
    const old = before.maps.get(m.name);
    const del: string[] = [];
    const add: string[] = [];
    if (old)
      for (const [k, v] of old.elements) {
        if (m.elements.get(k) !== v) del.push(k);
        if (++n % WORK === 0) yield;
      }
    for (const [k, v] of m.elements) {
      if (old?.elements.get(k) !== v) add.push(k);
      if (++n % WORK === 0) yield;
    }
    if (old) for (const l of elementStatements('delete', T, old, del)) out.push(l);
    for (const l of elementStatements('add', T, m, add)) additions.push(l);
    yield;
  }
  // A new table gets its rules before its elements: a rule that binds a map makes the kernel walk
  // the map's elements, so 10k rules bound to filled slot shards cost ≈ 1 s of kernel time at a 10k
  // cold start (empty maps: nothing to walk). Nothing is served before the table exists, so the
  // order inside it does not matter to traffic. A patch keeps elements first: if a huge one is split
  // (splitScript), a changed rule then never points at elements that are not there yet.
  const rules: string[] = [];
  for (const c of next.chains.values()) {
    const old: TableChain | undefined = before.chains.get(c.name);
    if (old && chainSig(old) === chainSig(c)) continue;
    if (old && old.rules.length > 0) rules.push(`flush chain ${T} ${c.name}`);
    for (const r of c.rules) rules.push(`add rule ${T} ${c.name} ${r.text} comment ${q(r.id)}`);
    if (++n % WORK === 0) yield;
  }
  // Loops, not push(...xs): 10k+ rules as arguments could overflow the stack.
  for (const l of prev ? additions : rules) out.push(l);
  for (const l of prev ? rules : additions) out.push(l);
  yield;

  const goneChains = [...before.chains.keys()].filter((n) => !next.chains.has(n));
  for (const n of goneChains) out.push(`flush chain ${T} ${n}`);
  for (const m of before.maps.values())
    if (!next.maps.has(m.name)) out.push(`delete ${m.sig.split('|')[0]} ${T} ${m.name}`);
  for (const n of goneChains) out.push(`delete chain ${T} ${n}`);
  for (const n of before.counters.keys()) if (!next.counters.has(n)) out.push(`delete counter ${T} ${n}`);

  return { script: out.length ? out.join('\n') + '\n' : '', statements: out.length, full: !prev };
}

/**
 * The transaction from the table an update started from to `next`, written from the update's Delta
 * alone: O(what changed), whatever the size of the table. Undefined when only a whole-table diff can
 * do it (a map changed type or a base chain its hook in place). Same statement order as diffTables.
 */
export function deltaTransaction(next: TableState, d: Delta): Transaction | undefined {
  return runSync(deltaTransactionSteps(next, d));
}

/** deltaTransaction in steps: a bulk change of 10k services writes ≈ 0.25 s of script otherwise. */
export function* deltaTransactionSteps(next: TableState, d: Delta): Steps<Transaction | undefined> {
  if (!d.tracked) return undefined;
  const T = `inet ${next.table}`;
  let n = 0;
  const out: string[] = [];
  for (const [name, old] of d.maps) {
    const now = next.maps.get(name);
    if (old && now && (old.sig !== now.sig || old.decl !== now.decl)) return undefined;
  }
  for (const [name, old] of d.chains) {
    const now = next.chains.get(name);
    if (old && now && old.hook !== now.hook) return undefined;
  }
  for (const [name, old] of d.counters) {
    const now = next.counters.get(name);
    if (old === undefined && now !== undefined) out.push(`add counter ${T} ${name} { comment ${q(now)} }`);
  }
  for (const [name, old] of d.maps) {
    const now = next.maps.get(name);
    if (!old && now) out.push(`add ${now.sig.split('|')[0]} ${T} ${name} { ${now.decl} }`);
  }
  for (const [name, old] of d.chains) {
    const now = next.chains.get(name);
    if (!old && now) out.push(`add chain ${T} ${name}${now.hook ? hookDecl(now.hook) : ''}`);
  }
  const additions: string[] = [];
  for (const [name, keys] of d.elements) {
    const now = next.maps.get(name);
    if (!now || now.dynamic) continue; // gone with its map, or kernel-managed
    const existed = d.maps.has(name) ? d.maps.get(name) !== undefined : true;
    const del: string[] = [];
    const add: string[] = [];
    for (const [k, old] of keys) {
      const v = now.elements.get(k);
      const before = existed ? old : undefined;
      if (before !== undefined && before !== v) del.push(k);
      if (v !== undefined && v !== before) add.push(k);
      if (++n % WORK === 0) yield;
    }
    for (const l of elementStatements('delete', T, now, del)) out.push(l);
    for (const l of elementStatements('add', T, now, add)) additions.push(l);
    yield;
  }
  for (const l of additions) out.push(l);
  const gone: string[] = [];
  for (const [name, old] of d.chains) {
    const c = next.chains.get(name);
    if (!c) {
      if (old) gone.push(name);
      continue;
    }
    if (old && chainSig(old) === chainSig(c)) continue;
    if (old && old.rules.length > 0) out.push(`flush chain ${T} ${name}`);
    for (const r of c.rules) out.push(`add rule ${T} ${name} ${r.text} comment ${q(r.id)}`);
    if (++n % WORK === 0) yield;
  }
  for (const n of gone) out.push(`flush chain ${T} ${n}`);
  for (const [name, old] of d.maps)
    if (old && !next.maps.has(name)) out.push(`delete ${old.sig.split('|')[0]} ${T} ${name}`);
  for (const n of gone) out.push(`delete chain ${T} ${n}`);
  for (const [name, old] of d.counters)
    if (old !== undefined && !next.counters.has(name)) out.push(`delete counter ${T} ${name}`);
  return { script: out.length ? out.join('\n') + '\n' : '', statements: out.length, full: false };
}

/**
 * Splits a transaction too big for one `nft -f` (the kernel and nft hold a whole transaction in
 * memory: millions of Maglev slots do not fit) into parts of at most `maxElementLines` element
 * additions each. Cuts fall only inside the run of `add element` lines, which every script here has
 * after all creations and element deletions and before any flush or removal (and before any rule,
 * except in a new table's script, whose rules come first): at each cut the kernel holds a valid table
 * (every referenced object exists), just not all elements yet. Parts are
 * then no longer one atomic change, so the applier splits only transactions this large.
 */
export function splitScript(script: string, maxElementLines: number): string[] {
  const lines = script.split('\n').filter(Boolean);
  const isAdd = (l: string) => l.startsWith('add element ');
  const first = lines.findIndex(isAdd);
  if (first < 0) return script ? [script] : [];
  let end = first;
  while (end < lines.length && isAdd(lines[end]!)) end++;
  if (end - first <= maxElementLines) return [script];
  const parts: string[][] = [];
  let cur = lines.slice(0, first);
  for (let i = first; i < end; i++) {
    cur.push(lines[i]!);
    if ((i - first + 1) % maxElementLines === 0 && i + 1 < end) {
      parts.push(cur);
      cur = [];
    }
  }
  cur.push(...lines.slice(end));
  parts.push(cur);
  return parts.map((p) => p.join('\n') + '\n');
}
