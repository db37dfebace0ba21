// A tiny interpreter for the nft statements the diff emits, over TableState. It enforces nft's
// reference rules (no dangling @map / goto / counter, no deleting what is still referenced), so
// "apply(diff(a, b)) to a gives b" can be checked as a property without a kernel.
import type { TableChain, TableMap, TableRule, TableState } from '../../../src/dataplane/compiler/table.js';
import { parseRange, rangesOverlap } from '../../../src/net/ip.js';

export class SimError extends Error {}

interface SimMap {
  decl: string;
  kind: string;
  elements: Map<string, string>;
}
export interface Sim {
  chains: Map<string, { hook: string; rules: TableRule[] }>;
  maps: Map<string, SimMap>;
  counters: Map<string, string>;
}

export const fromState = (s: TableState | undefined): Sim | undefined =>
  s && {
    chains: new Map([...s.chains].map(([n, c]) => [n, { hook: c.hook, rules: [...c.rules] }])),
    maps: new Map(
      [...s.maps].map(([n, m]) => [
        n,
        { decl: m.decl, kind: m.sig.split('|')[0]!, elements: new Map(m.elements) },
      ]),
    ),
    counters: new Map(s.counters),
  };

const splitTop = (body: string): string[] =>
  body
    .split(', ')
    .map((x) => x.trim())
    .filter(Boolean);

function refsOf(text: string): { maps: string[]; chains: string[] } {
  return {
    maps: [...text.matchAll(/@([A-Za-z0-9_]+)/g)].map((m) => m[1]!),
    chains: [...text.matchAll(/\b(?:goto|jump) ([A-Za-z0-9_]+)/g)].map((m) => m[1]!),
  };
}

export function run(start: Sim | undefined, script: string): Sim | undefined {
  let t = start;
  for (const line of script.split('\n').filter(Boolean)) {
    const m =
      /^(add|delete|flush) (table|counter|map|set|chain|element|rule) inet (\S+)(?: (\S+))?(.*)$/.exec(line);
    if (!m) throw new SimError(`unparsed: ${line}`);
    const [, verb, what, , name = '', rest = ''] = m;
    if (what === 'table') {
      if (verb === 'add') t ??= { chains: new Map(), maps: new Map(), counters: new Map() };
      else t = undefined;
      continue;
    }
    if (!t) throw new SimError(`no table: ${line}`);
    const tab: Sim = t;
    const allElementValues = () => [...tab.maps.values()].flatMap((x) => [...x.elements.values()]);
    const allRuleText = () => [...tab.chains.values()].flatMap((c) => c.rules.map((r) => r.text));
    const body = /\{ (.*) \}$/.exec(rest)?.[1] ?? '';
    if (what === 'counter') {
      if (verb === 'add') tab.counters.set(name, /comment "(.*)"/.exec(rest)?.[1] ?? '');
      else {
        if (allElementValues().includes(name)) throw new SimError(`counter ${name} still referenced`);
        if (!tab.counters.delete(name)) throw new SimError(`no counter ${name}`);
      }
    } else if (what === 'map' || what === 'set') {
      if (verb === 'add') {
        if (tab.maps.has(name)) throw new SimError(`map ${name} exists`);
        tab.maps.set(name, { decl: body, kind: what, elements: new Map() });
      } else {
        if (allRuleText().some((r) => refsOf(r).maps.includes(name)))
          throw new SimError(`map ${name} in use`);
        if (!tab.maps.delete(name)) throw new SimError(`no map ${name}`);
      }
    } else if (what === 'chain') {
      if (verb === 'add') {
        const h = /type (\S+) hook (\S+) priority (\S+); policy (\S+);/.exec(rest);
        tab.chains.set(name, { hook: h ? `${h[1]} ${h[2]} ${h[3]} ${h[4]}` : '', rules: [] });
      } else if (verb === 'flush') {
        const c = tab.chains.get(name);
        if (!c) throw new SimError(`no chain ${name}`);
        c.rules = [];
      } else {
        const c = tab.chains.get(name);
        if (!c) throw new SimError(`no chain ${name}`);
        if (c.rules.length) throw new SimError(`chain ${name} not empty`);
        const used =
          allElementValues().some((v) => refsOf(v).chains.includes(name)) ||
          allRuleText().some((r) => refsOf(r).chains.includes(name));
        if (used) throw new SimError(`chain ${name} in use`);
        tab.chains.delete(name);
      }
    } else if (what === 'element') {
      const mp = tab.maps.get(name);
      if (!mp) throw new SimError(`no map ${name}`);
      for (const item of splitTop(body)) {
        if (verb === 'delete') {
          if (!mp.elements.delete(item)) throw new SimError(`no element ${item} in ${name}`);
          continue;
        }
        const [k, v = ''] = mp.kind === 'set' ? [item] : item.split(' : ');
        if (mp.elements.has(k!)) throw new SimError(`element ${k} exists in ${name}`);
        if (mp.decl.includes('flags interval')) overlapCheck(mp, k!, name);
        for (const c of refsOf(v).chains) if (!tab.chains.has(c)) throw new SimError(`dangling goto ${c}`);
        if (mp.decl.includes(': counter') && !tab.counters.has(v))
          throw new SimError(`dangling counter ${v}`);
        mp.elements.set(k!, v);
      }
    } else if (what === 'rule') {
      const c = tab.chains.get(name);
      if (!c) throw new SimError(`no chain ${name}`);
      const r = /^ (.*) comment "([^"]*)"$/.exec(rest);
      if (!r) throw new SimError(`rule without id: ${line}`);
      const refs = refsOf(r[1]!);
      for (const x of refs.maps) if (!tab.maps.has(x)) throw new SimError(`dangling @${x}`);
      for (const x of refs.chains) if (!tab.chains.has(x)) throw new SimError(`dangling chain ${x}`);
      c.rules.push({ text: r[1]!, id: r[2]! });
    }
  }
  return t;
}

/**
 * Interval sets (source ranges): the kernel refuses an element whose last (interval) field overlaps
 * that of an element with the same leading fields — "File exists".
 */
function overlapCheck(mp: SimMap, key: string, name: string): void {
  const cut = key.lastIndexOf(' . ');
  const head = key.slice(0, cut);
  const r = parseRange(key.slice(cut + 3));
  for (const other of mp.elements.keys()) {
    const oc = other.lastIndexOf(' . ');
    if (other.slice(0, oc) === head && rangesOverlap(r, parseRange(other.slice(oc + 3))))
      throw new SimError(`element ${key} overlaps ${other} in ${name}`);
  }
}

/** Sim equals the compiled state (dynamic sets compare by declaration only). */
export function sameAs(sim: Sim | undefined, s: TableState): string | undefined {
  if (!sim) return 'no table';
  const names = (a: Iterable<string>) => [...a].sort().join(',');
  if (names(sim.chains.keys()) !== names(s.chains.keys())) return 'chain names differ';
  if (names(sim.maps.keys()) !== names(s.maps.keys())) return 'map names differ';
  if (names(sim.counters.keys()) !== names(s.counters.keys())) return 'counters differ';
  for (const [n, c] of s.chains as Map<string, TableChain>) {
    const x = sim.chains.get(n)!;
    if (x.hook !== c.hook || JSON.stringify(x.rules) !== JSON.stringify(c.rules)) return `chain ${n} differs`;
  }
  for (const [n, m] of s.maps as Map<string, TableMap>) {
    const x = sim.maps.get(n)!;
    if (x.decl !== m.decl) return `map ${n} declaration differs`;
    if (m.dynamic) continue;
    const a = [...x.elements].sort().join(';');
    const b = [...m.elements].sort().join(';');
    if (a !== b) return `map ${n} elements differ`;
  }
  return undefined;
}
