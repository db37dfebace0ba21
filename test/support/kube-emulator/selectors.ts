// Label and field selectors in their wire form ("a=b,c!=d,e,!f", "metadata.name=x").
import type { Json } from './store.js';

export function matchesLabels(o: Json, selector: string | null): boolean {
  if (!selector) return true;
  const labels = ((o.metadata as Json | undefined)?.labels ?? {}) as Record<string, string>;
  return selector.split(',').every((term) => {
    const t = term.trim();
    let m: RegExpMatchArray | null;
    if ((m = t.match(/^([^!=]+)!=(.*)$/))) return labels[(m[1] as string).trim()] !== (m[2] as string).trim();
    if ((m = t.match(/^([^!=]+)==?(.*)$/)))
      return labels[(m[1] as string).trim()] === (m[2] as string).trim();
    if (t.startsWith('!')) return !(t.slice(1) in labels);
    return t in labels;
  });
}

export function matchesFields(o: Json, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const m = term.match(/^([^!=]+)(!=|==?)(.*)$/);
    if (!m) return true;
    let cur: unknown = o;
    for (const k of (m[1] as string).split('.')) cur = (cur as Json | undefined)?.[k];
    const eq = String(cur ?? '') === m[3];
    return m[2] === '!=' ? !eq : eq;
  });
}
