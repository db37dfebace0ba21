// Fast path for big configs: js-yaml reads a 10,000-service file ≈ 14× faster than the `yaml`
// package's Document API (0.4 s vs 5.5 s; its CST parser alone takes 3.6 s). It is used only for
// input it reads exactly as `yaml` does, so the result never depends on which path ran:
//   • scalars resolve by the schema below, a copy of `yaml`'s YAML 1.2 core schema (js-yaml's own
//     CORE_SCHEMA also takes `1_000`, `0b101`, ... as numbers, `yaml` takes them as strings);
//   • no anchor, alias, tag or directive can occur in the text (`yaml` limits aliases and resolves
//     tags and `%YAML 1.1` its own way): any `&`, `*` or `!` at the start of a token, or a line
//     starting with `%`, sends the text to the `yaml` path (a quoted "R &D" does too: slower, same);
//   • anything js-yaml refuses (syntax, duplicate keys, nesting) goes to the `yaml` path as well,
//     which produces the errors with line numbers, exactly as before.
import jsyaml from 'js-yaml';
import type { Steps } from './steps.js';

const scalar = (tag: string, test: RegExp, construct: (s: string) => unknown) =>
  new jsyaml.Type(`tag:yaml.org,2002:${tag}`, {
    kind: 'scalar',
    resolve: (s: string | null) => test.test(s ?? ''),
    construct: (s: string | null) => construct(s ?? ''),
  });

/** `yaml`'s core schema (yaml/dist/schema/core), in its order: null, bool, int (oct, dec, hex), float. */
const CORE = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar('null', /^(?:~|[Nn]ull|NULL)?$/, () => null),
    scalar('bool', /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T'),
    scalar('int', /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+)$/, (s) =>
      s.startsWith('0o')
        ? parseInt(s.slice(2), 8)
        : s.startsWith('0x')
          ? parseInt(s.slice(2), 16)
          : parseInt(s, 10),
    ),
    scalar(
      'float',
      /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/,
      (s) =>
        s.slice(-3).toLowerCase() === 'nan'
          ? NaN
          : /inf$/i.test(s)
            ? s[0] === '-'
              ? -Infinity
              : Infinity
            : parseFloat(s),
    ),
  ],
});

/**
 * js-yaml's scalars are slices of the text it read; V8 keeps a slice of ≥ 13 characters as a view
 * into its parent, so every kept address or name would keep its whole 32 KB chunk alive (3.6 MB of
 * config text at 10k services, issue 16: RSS). Using a string as a property key internalizes it: V8
 * makes a flat copy and turns the slice itself into a forward to it, which lets the chunk go. In
 * place, so nothing is reassigned (0.4 µs per string; a copy through an object's keys was 2.4 µs).
 */
const SLICE_MIN = 13;
const KEYS: Record<string, never> = Object.create(null) as Record<string, never>;

/** Detaches every long string in `v` (values only: keys are internalized already). */
function detach(v: unknown): void {
  if (typeof v === 'string') {
    if (v.length >= SLICE_MIN) void (v in KEYS);
  } else if (Array.isArray(v)) {
    for (const x of v) detach(x);
  } else if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v as Record<string, unknown>)) detach(x);
  }
}

const detached = <T>(v: T): T => {
  detach(v);
  return v;
};

/** An anchor, alias or tag at a token start, or a directive line. */
const SPECIAL = /(?:^|[\s[\]{},])[&*!]|^%/m;

/**
 * The documents of `text` as plain values, or undefined when the text needs the full `yaml` path
 * (anchors, aliases, tags, directives, or anything js-yaml does not accept).
 */
export function fastDocuments(text: string): unknown[] | undefined {
  if (SPECIAL.test(text)) return undefined;
  try {
    return jsyaml.loadAll(text, null, { schema: CORE, json: false }).map(detached);
  } catch {
    return undefined;
  }
}

/** A document marker line: YAML forbids it inside any content (c-forbidden), so it always splits. */
const MARKER = /^---(?=[ \t\r\n]|$)/gm;
/** Text per js-yaml call of the sliced path (≈ 100 LoadBalancers of 8 endpoints). */
const CHUNK_CHARS = 32 << 10;

/**
 * fastDocuments in steps: the text cut at document markers into chunks of whole documents, one
 * js-yaml call per chunk, a yield after each (a 10,000-object body is ≈ 0.3–1 s of parsing). Same
 * values as fastDocuments(text); undefined where it would be (the caller then takes the `yaml` path).
 */
export function* fastDocumentsSteps(text: string, chunkChars = CHUNK_CHARS): Steps<unknown[] | undefined> {
  if (SPECIAL.test(text)) return undefined;
  const out: unknown[] = [];
  let from = 0;
  MARKER.lastIndex = 0;
  for (;;) {
    // The next marker at least CHUNK_CHARS on (or the end): [from, to) holds whole documents.
    MARKER.lastIndex = from + chunkChars;
    const m = from + chunkChars < text.length ? MARKER.exec(text) : null;
    const to = m ? m.index : text.length;
    try {
      // One by one: push(...docs) of a huge chunk could overflow the stack.
      for (const d of jsyaml.loadAll(text.slice(from, to), null, { schema: CORE, json: false }))
        out.push(detached(d));
    } catch {
      return undefined;
    }
    if (to >= text.length) return out;
    from = to;
    yield;
  }
}
