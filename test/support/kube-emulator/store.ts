// The emulator's storage: objects, one global resourceVersion counter (as etcd's revision), and an
// event history that watches replay from. Compaction drops history, so a watch or a stale client
// asking for an older resourceVersion gets 410 Gone, exactly the case a controller must survive.
import { randomUUID } from 'node:crypto';
import { apiVersionOf, storageKey, type ResourceType } from './resources.js';

export type Json = Record<string, unknown>;
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface HistoryEntry {
  readonly rv: number;
  readonly key: string; // storageKey of the resource type
  readonly type: WatchEventType;
  readonly object: Json;
}

/** A typed failure the HTTP layer turns into a Kubernetes Status with this code and reason. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    /** Status.details: the object named, and for 422 each field's cause. */
    readonly details?: Json,
  ) {
    super(message);
  }
}

/** Server-side checks on what is about to be stored (may prune `next` in place); throws ApiError. */
export type Admit = (t: ResourceType, next: Json, cur: Json | undefined) => void;

export const clone = <T>(x: T): T => structuredClone(x);
const metaOf = (o: Json): Json => (o.metadata ?? {}) as Json;
const objectKey = (ns: string, name: string) => `${ns}/${name}`;

export class Store {
  private rv = 1;
  /** Every history entry with rv <= compactedRv is gone. */
  private compactedRv = 1;
  private readonly objects = new Map<string, Map<string, Json>>(); // storageKey → ns/name → object
  private readonly history: HistoryEntry[] = [];
  private readonly listeners = new Set<(e: HistoryEntry) => void>();

  /** Set by the server: schema validation and the built-in types' checks. */
  admit: Admit = () => undefined;

  constructor(private historyLimit = 10_000) {}

  get resourceVersion(): number {
    return this.rv;
  }
  get oldestWatchable(): number {
    return this.compactedRv;
  }

  onChange(fn: (e: HistoryEntry) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Forget all history up to now: any watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.history.length = 0;
    this.compactedRv = this.rv;
  }

  setHistoryLimit(n: number): void {
    this.historyLimit = n;
    this.trim();
  }

  private trim(): void {
    while (this.history.length > this.historyLimit) {
      const dropped = this.history.shift() as HistoryEntry;
      this.compactedRv = dropped.rv;
    }
  }

  private bucket(t: ResourceType): Map<string, Json> {
    const k = storageKey(t);
    let b = this.objects.get(k);
    if (!b) this.objects.set(k, (b = new Map()));
    return b;
  }

  private record(t: ResourceType, type: WatchEventType, object: Json): void {
    const e: HistoryEntry = { rv: this.rv, key: storageKey(t), type, object: clone(object) };
    this.history.push(e);
    this.trim();
    for (const l of this.listeners) l(e);
  }

  /** History of one resource type after `since`; undefined when that part was compacted away. */
  historySince(t: ResourceType, since: number): HistoryEntry[] | undefined {
    if (since < this.compactedRv) return undefined;
    const k = storageKey(t);
    return this.history.filter((e) => e.key === k && e.rv > since);
  }

  list(t: ResourceType, ns?: string): Json[] {
    const out = [...this.bucket(t).values()].filter((o) => ns === undefined || metaOf(o).namespace === ns);
    return out.map((o) => withVersion(t, clone(o)));
  }

  has(t: ResourceType, ns: string, name: string): boolean {
    return this.bucket(t).has(objectKey(ns, name));
  }

  get(t: ResourceType, ns: string, name: string): Json {
    const o = this.bucket(t).get(objectKey(ns, name));
    if (!o) throw notFound(t, name);
    return withVersion(t, clone(o));
  }

  create(t: ResourceType, ns: string, body: Json): Json {
    const meta = { ...metaOf(body) };
    if (typeof meta.name !== 'string' || meta.name === '') {
      if (typeof meta.generateName === 'string') meta.name = meta.generateName + randomUUID().slice(0, 5);
      else throw new ApiError(422, 'Invalid', `${t.kind} "": metadata.name: Required value`);
    }
    const name = meta.name as string;
    const b = this.bucket(t);
    if (b.has(objectKey(ns, name)))
      throw new ApiError(409, 'AlreadyExists', `${t.plural} "${name}" already exists`);
    this.rv++;
    const obj: Json = {
      ...clone(body),
      apiVersion: apiVersionOf(t),
      kind: t.kind,
      metadata: {
        ...meta,
        ...(t.namespaced ? { namespace: ns } : {}),
        uid: randomUUID(),
        resourceVersion: String(this.rv),
        creationTimestamp: rfc3339(),
        generation: 1,
      },
    };
    // With a status subresource the server owns status: what a create sends is dropped.
    if (t.statusSubresource) delete obj.status;
    this.admit(t, obj, undefined);
    b.set(objectKey(ns, name), obj);
    this.record(t, 'ADDED', obj);
    return withVersion(t, clone(obj));
  }

  /** PUT: `subresource` 'status' changes only status; the main resource never changes status. */
  replace(t: ResourceType, ns: string, name: string, body: Json, subresource?: 'status'): Json {
    const b = this.bucket(t);
    const cur = b.get(objectKey(ns, name));
    if (!cur) throw notFound(t, name);
    const meta = metaOf(body);
    if (meta.name !== undefined && meta.name !== name)
      throw new ApiError(400, 'BadRequest', `the name of the object (${String(meta.name)}) does not match`);
    const sent = meta.resourceVersion;
    const curMeta = metaOf(cur);
    if (sent !== undefined && sent !== '' && sent !== curMeta.resourceVersion)
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${t.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    let next: Json;
    if (subresource === 'status') {
      next = { ...clone(cur), status: clone(body.status) };
    } else {
      next = { ...clone(body), apiVersion: cur.apiVersion, kind: t.kind };
      if (t.statusSubresource) next.status = clone(cur.status);
      if (next.status === undefined) delete next.status;
      const keep = ['uid', 'creationTimestamp', 'namespace', 'name', 'generation'];
      const m: Json = { ...clone(meta) };
      for (const k of keep) if (curMeta[k] !== undefined) m[k] = curMeta[k];
      if (JSON.stringify(body.spec) !== JSON.stringify(cur.spec))
        m.generation = Number(curMeta.generation ?? 1) + 1;
      next.metadata = m;
    }
    // A write that changes nothing is a no-op, as in a real server (no new resourceVersion, no event).
    this.admit(t, next, cur);
    const strip = (o: Json) => JSON.stringify({ ...o, metadata: { ...metaOf(o), resourceVersion: '' } });
    if (strip(next) === strip(cur)) return withVersion(t, clone(cur));
    this.rv++;
    (next.metadata as Json).resourceVersion = String(this.rv);
    b.set(objectKey(ns, name), next);
    this.record(t, 'MODIFIED', next);
    return withVersion(t, clone(next));
  }

  delete(t: ResourceType, ns: string, name: string, preconditionRv?: string): Json {
    const b = this.bucket(t);
    const cur = b.get(objectKey(ns, name));
    if (!cur) throw notFound(t, name);
    if (preconditionRv !== undefined && preconditionRv !== metaOf(cur).resourceVersion)
      throw new ApiError(409, 'Conflict', `precondition failed for ${t.plural} "${name}"`);
    b.delete(objectKey(ns, name));
    this.rv++;
    const gone = { ...cur, metadata: { ...metaOf(cur), resourceVersion: String(this.rv) } };
    this.record(t, 'DELETED', gone);
    return withVersion(t, clone(gone));
  }

  /** Every object of a type goes (its CRD was deleted); watchers see each DELETED. */
  deleteAll(t: ResourceType): number {
    const b = this.bucket(t);
    const all = [...b.values()];
    for (const o of all) {
      const m = metaOf(o);
      this.delete(t, String(m.namespace ?? ''), String(m.name));
    }
    return all.length;
  }

  /** Counts per storage key, for tests and benchmarks. */
  count(t: ResourceType): number {
    return this.bucket(t).size;
  }
}

function withVersion(t: ResourceType, o: Json): Json {
  o.apiVersion = apiVersionOf(t);
  return o;
}

const notFound = (t: ResourceType, name: string) =>
  new ApiError(404, 'NotFound', `${t.plural}${t.group ? `.${t.group}` : ''} "${name}" not found`);

export const rfc3339 = (d = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
