// The pure half of the state store: the state file's structural checks, the journal's record format
// (what one change touched), replay, and serialisation with per-object JSON memoised by identity.
import { sameAllocation, type Allocation } from '../ipam/allocator.js';
import { tryParseIp } from '../net/ip.js';
import { ORIGINS, type StoredObject } from '../model/types.js';
import { objectLabel } from '../model/validate.js';
import { STEP, type Steps } from '../model/steps.js';

export const FORMAT_VERSION = 1;

/** A state as the store holds it: objects by "Kind/name", allocations by service. */
export interface Durable {
  readonly index: ReadonlyMap<string, StoredObject>;
  readonly allocations: ReadonlyMap<string, Allocation>;
}

/** One journal line: what one change set, deleted and (re)allocated; `null` releases. */
export interface JournalRecord {
  seq: number;
  set: StoredObject[];
  del: string[];
  alloc: Record<string, Allocation | null>;
}

export const indexOf = (objects: readonly StoredObject[]): Map<string, StoredObject> =>
  new Map(objects.map((o) => [objectLabel(o.object, 0), o]));

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Structural checks of a parsed state file; every problem, each naming where it is. */
export function stateFileProblems(data: unknown): string[] {
  if (!isPlainObject(data)) return ['the top level must be an object'];
  const out: string[] = [];
  if (data.version !== FORMAT_VERSION)
    out.push(`unsupported format version ${JSON.stringify(data.version)} (expected ${FORMAT_VERSION})`);
  if (!Array.isArray(data.objects)) out.push(`"objects" must be an array, got ${kindOf(data.objects)}`);
  else
    data.objects.forEach((s: unknown, i) => {
      if (!isPlainObject(s) || !ORIGINS.includes(s.origin as never) || !isPlainObject(s.object))
        out.push(`objects[${i}] must be {origin: ${ORIGINS.join('|')}, object: {...}}`);
    });
  if (!isPlainObject(data.allocations))
    out.push(`"allocations" must be a map of service name to allocation, got ${kindOf(data.allocations)}`);
  else
    for (const [name, a] of Object.entries(data.allocations)) {
      const where = `allocations[${JSON.stringify(name)}]`;
      if (!isPlainObject(a) || !Array.isArray(a.addresses) || !Array.isArray(a.secondaryAddresses)) {
        out.push(`${where} must be {addresses: [...], secondaryAddresses: [...]}`);
        continue;
      }
      for (const x of [...(a.addresses as unknown[]), ...(a.secondaryAddresses as unknown[])])
        if (typeof x !== 'string' || !tryParseIp(x))
          out.push(`${where}: ${JSON.stringify(x)} is not an IP address`);
    }
  return out;
}

const kindOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : v === undefined ? 'nothing' : typeof v;

/**
 * Applies the journal's records after `baseSeq` to index/allocations (in place). A last line without
 * its newline that does not parse is an append a crash cut short (never acknowledged): skipped and
 * reported as `tornTail`. Anything else that does not fit throws (the caller refuses the start).
 */
export function replayJournal(
  text: string,
  baseSeq: number,
  index: Map<string, StoredObject>,
  allocations: Map<string, Allocation>,
): { seq: number; tornTail: boolean } {
  let seq = baseSeq;
  let tornTail = false;
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    let rec: JournalRecord;
    try {
      rec = JSON.parse(line) as JournalRecord;
    } catch {
      if (i === lines.length - 1) {
        tornTail = true;
        continue;
      }
      throw new Error(`line ${i + 1} is corrupt; restore the state directory`);
    }
    if (
      !isPlainObject(rec) ||
      typeof rec.seq !== 'number' ||
      !Array.isArray(rec.set) ||
      !Array.isArray(rec.del) ||
      !isPlainObject(rec.alloc)
    )
      throw new Error(`line ${i + 1} is not a journal record`);
    if (rec.seq <= seq) continue; // already folded into the base
    if (rec.seq !== seq + 1) throw new Error(`line ${i + 1}: sequence ${rec.seq} after ${seq}`);
    const problems = stateFileProblems({
      version: FORMAT_VERSION,
      objects: rec.set,
      allocations: Object.fromEntries(Object.entries(rec.alloc).filter(([, a]) => a !== null)),
    });
    if (problems.length > 0) throw new Error(`line ${i + 1}: ${problems.slice(0, 5).join('; ')}`);
    for (const label of rec.del) index.delete(label);
    for (const o of rec.set) index.set(objectLabel(o.object, 0), o);
    for (const [name, a] of Object.entries(rec.alloc)) {
      if (a === null) allocations.delete(name);
      else allocations.set(name, a);
    }
    seq = rec.seq;
  }
  return { seq, tornTail };
}

/** The keys a change touched (the rest of both states are the same objects): delta looks at these. */
export interface DeltaHint {
  /** "Kind/name" of the objects set or deleted. */
  readonly objects: Iterable<string>;
  /** Services whose allocation may differ. */
  readonly services: Iterable<string>;
}

/**
 * What changed between two durable states, by identity (unchanged objects are shared). With a hint
 * only the keys it names are compared: O(change) instead of O(state).
 */
export function delta(a: Durable, b: Durable, seq: number, hint?: DeltaHint): JournalRecord {
  const set: StoredObject[] = [];
  const del: string[] = [];
  const alloc: Record<string, Allocation | null> = {};
  if (hint) {
    for (const label of hint.objects) {
      const o = b.index.get(label);
      if (o === undefined) {
        if (a.index.has(label)) del.push(label);
      } else if (a.index.get(label) !== o) set.push(o);
    }
    for (const name of hint.services) {
      const x = b.allocations.get(name);
      if (x === undefined) {
        if (a.allocations.has(name)) alloc[name] = null;
      } else if (!sameAllocation(x, a.allocations.get(name))) alloc[name] = x;
    }
    return { seq, set, del, alloc };
  }
  for (const [label, o] of b.index) if (a.index.get(label) !== o) set.push(o);
  for (const label of a.index.keys()) if (!b.index.has(label)) del.push(label);
  for (const [name, x] of b.allocations) if (!sameAllocation(x, a.allocations.get(name))) alloc[name] = x;
  for (const name of a.allocations.keys()) if (!b.allocations.has(name)) alloc[name] = null;
  return { seq, set, del, alloc };
}

/**
 * `"objects":[...],"allocations":{...}`, in steps (a 10k-object base is written without holding the
 * event loop). Not memoised: a JSON copy of every object kept for the next base was 7 MB at 10k
 * services (issue 16: RSS), and a base is rewritten rarely; a journal line serialises only what
 * its change touched anyway.
 */
const jsonOf = (s: StoredObject): string => JSON.stringify({ origin: s.origin, object: s.object });
const allocJsonOf = (a: Allocation): string =>
  JSON.stringify({ addresses: a.addresses, secondaryAddresses: a.secondaryAddresses });
export function* serialise(
  objects: Iterable<StoredObject>,
  allocations: ReadonlyMap<string, Allocation>,
): Steps<string> {
  const parts: string[] = [];
  let n = 0;
  for (const s of objects) {
    if (++n % STEP === 0) yield;
    parts.push(jsonOf(s));
  }
  const allocs: string[] = [];
  for (const [name, a] of allocations) {
    if (++n % STEP === 0) yield;
    allocs.push(`${JSON.stringify(name)}:${allocJsonOf(a)}`);
  }
  return `"objects":[${parts.join(',')}],"allocations":{${allocs.join(',')}}`;
}

/** One journal line (newline included), built like serialise(). */
export function* recordLine(rec: JournalRecord): Steps<string> {
  const set: string[] = [];
  let n = 0;
  for (const s of rec.set) {
    if (++n % STEP === 0) yield;
    set.push(jsonOf(s));
  }
  const alloc: string[] = [];
  for (const [name, a] of Object.entries(rec.alloc)) {
    if (++n % STEP === 0) yield;
    alloc.push(`${JSON.stringify(name)}:${a === null ? 'null' : allocJsonOf(a)}`);
  }
  return `{"seq":${rec.seq},"set":[${set.join(',')}],"del":${JSON.stringify(rec.del)},"alloc":{${alloc.join(',')}}}\n`;
}
