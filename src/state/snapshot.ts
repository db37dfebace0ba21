// The controller core: a snapshot (objects + validated state + allocations) and pure transitions
// from one snapshot to the next. Invalid changes produce issues and leave the snapshot as it was.
import { allocateSteps, type Allocation, type IpamMemo, type ServiceStatus } from '../ipam/allocator.js';
import type { ConfigIssue } from '../model/issues.js';
import {
  buildDesiredState,
  buildDesiredStateSteps,
  objectLabel,
  shapeOf,
  updateDesiredStateSteps,
} from '../model/validate.js';
import { runSync, STEP, type Steps } from '../model/steps.js';
import { PMap } from './pmap.js';
import { countIssues } from '../model/limits.js';
import { poolHolds } from '../model/pools.js';
import { tryParseIp } from '../net/ip.js';
import {
  Kind,
  objectKey,
  type DesiredState,
  type Origin,
  type RawObject,
  type StoredObject,
} from '../model/types.js';

export interface Snapshot {
  /** Bumped on every accepted change. */
  readonly generation: number;
  readonly objects: readonly StoredObject[];
  readonly state: DesiredState;
  readonly allocations: ReadonlyMap<string, Allocation>;
  readonly status: ReadonlyMap<string, ServiceStatus>;
  readonly warnings: readonly ConfigIssue[];
  /** IPAM's carry-over, so the next change re-examines only what it touches. */
  readonly ipam?: IpamMemo;
  /** What differs from the snapshot it was made from; absent: unknown (compare everything). */
  readonly changes?: SnapshotChanges;
}

/**
 * The difference to the snapshot of generation `since`, so subscribers (data plane input, journal,
 * status log) do work proportional to the change instead of comparing every service.
 */
export interface SnapshotChanges {
  readonly since: number;
  /** "Kind/name" of every object set or deleted. */
  readonly objects: ReadonlySet<string>;
  /** LoadBalancer names whose spec, allocation or status may differ (present or gone). */
  readonly services: ReadonlySet<string>;
}

export type Change =
  /** The config file was (re)read: its objects replace every file-origin object. */
  | {
      readonly type: 'file';
      readonly objects: readonly RawObject[];
      /** Allow a file that would delete every file-defined object (refused by default: likely truncated). */
      readonly allowEmpty?: boolean;
    }
  /**
   * Create or replace these objects (API). `createOnly` refuses names that exist; `strict` refuses
   * the change when the result has a warning about one of these objects (`ferroctl apply --strict`).
   */
  | {
      readonly type: 'apply';
      readonly objects: readonly RawObject[];
      readonly createOnly?: boolean;
      readonly strict?: boolean;
    }
  | { readonly type: 'delete'; readonly kind: string; readonly name: string };

/** What an apply did to one object (kubectl's words). */
export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

export type Transition =
  | {
      readonly ok: true;
      readonly next: Snapshot;
      readonly changed: boolean;
      /** apply: per "Kind/name", what happened to it. */
      readonly outcomes?: ReadonlyMap<string, ApplyOutcome>;
    }
  | { readonly ok: false; readonly code: TransitionError; readonly issues: readonly ConfigIssue[] };

export const TransitionError = {
  Invalid: 'Invalid',
  AlreadyExists: 'AlreadyExists',
  NotFound: 'NotFound',
  /** Refused by an invariant (a pool still in use). */
  Conflict: 'Conflict',
  /** A file change that would delete every file-defined object, without allowEmpty. */
  WouldDeleteAll: 'WouldDeleteAll',
  /** A strict apply whose objects have warnings. */
  Warnings: 'Warnings',
} as const;
export type TransitionError = (typeof TransitionError)[keyof typeof TransitionError];

export function emptySnapshot(): Snapshot {
  const built = buildDesiredState([]);
  if (!built.state) throw new Error('empty state must validate');
  return {
    generation: 0,
    objects: [],
    state: built.state,
    allocations: new Map(),
    status: new Map(),
    warnings: [],
  };
}

/** Builds a snapshot from objects and the allocations held before (from disk or the previous snapshot). */
export function buildSnapshot(
  objects: readonly StoredObject[] | ReadonlyMap<string, StoredObject>,
  previous: ReadonlyMap<string, Allocation>,
  generation: number,
  before?: Snapshot,
  changed?: ReadonlySet<string>,
): Transition {
  return runSync(buildSnapshotSteps(objects, previous, generation, before, changed));
}

function* buildSnapshotSteps(
  objects: readonly StoredObject[] | ReadonlyMap<string, StoredObject>,
  previous: ReadonlyMap<string, Allocation>,
  generation: number,
  before?: Snapshot,
  /** With `before`: the labels that differ from it, so validation looks at those alone. */
  changed?: ReadonlySet<string>,
): Steps<Transition> {
  const built =
    before && changed && !Array.isArray(objects)
      ? yield* updateDesiredStateSteps(
          before.state,
          before.warnings,
          objects as ReadonlyMap<string, StoredObject>,
          changed,
        )
      : yield* buildDesiredStateSteps(Array.isArray(objects) ? objects : [...objects.values()]);
  if (!built.state) return { ok: false, code: TransitionError.Invalid, issues: built.issues };
  // The LoadBalancers the change touched: with the same pools every other spec is the same object,
  // so IPAM need not compare them all to find out.
  const touchedServices =
    before && changed && built.state.pools === before.state.pools ? serviceNames(changed) : undefined;
  const ipam = yield* allocateSteps(
    built.state,
    previous,
    before && {
      state: before.state,
      status: before.status,
      ...(before.ipam ? { memo: before.ipam } : {}),
      ...(touchedServices ? { touched: touchedServices } : {}),
    },
  );
  const changes: SnapshotChanges | undefined =
    before && changed && touchedServices && ipam.changed
      ? { since: before.generation, objects: changed, services: ipam.changed }
      : undefined;
  const next: Snapshot = withObjectList(
    {
      generation,
      state: built.state,
      allocations: ipam.allocations,
      status: ipam.status,
      warnings: built.warnings,
      ...(ipam.memo ? { ipam: ipam.memo } : {}),
      ...(changes ? { changes } : {}),
    },
    Array.isArray(objects) ? objects : undefined,
  );
  return { ok: true, changed: true, next };
}

/**
 * `objects` as a list, made on first use: most changes never need it (the map in state.objects is
 * what the change path reads), and building it is a pass over every object.
 */
function withObjectList(s: Omit<Snapshot, 'objects'>, list: readonly StoredObject[] | undefined): Snapshot {
  if (list) return { ...s, objects: list };
  let made: readonly StoredObject[] | undefined;
  const out = { ...s } as Snapshot;
  Object.defineProperty(out, 'objects', {
    enumerable: true,
    get: () => (made ??= [...s.state.objects.values()]),
  });
  return out;
}

const LB_PREFIX = `${Kind.LoadBalancer}/`;
function serviceNames(labels: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const l of labels) if (l.startsWith(LB_PREFIX)) out.add(l.slice(LB_PREFIX.length));
  return out;
}

/** Same content (key order included: a reordered object counts as changed, which is harmless). */
const sameObject = (a: StoredObject | undefined, origin: Origin, o: RawObject): boolean =>
  a !== undefined &&
  a.origin === origin &&
  (a.object === o || JSON.stringify(a.object) === JSON.stringify(o));

/**
 * What the change's objects get wrong on their own (limits, kind, shape, duplicates), labelled by
 * their place in the change itself ("document 2" of a two-document file, never of the whole set).
 */
function* changeIssues(objects: readonly RawObject[]): Steps<ConfigIssue[]> {
  const count = countIssues(objects.length);
  if (count.length > 0) return count;
  const issues: ConfigIssue[] = [];
  for (const [i, o] of objects.entries()) {
    if (i % STEP === STEP - 1) yield;
    issues.push(...shapeOf(o, i));
  }
  return issues.length > 0 ? issues : duplicateIssues(objects);
}

/** Two objects of one change with the same Kind/name: refused by every front door alike. */
function duplicateIssues(objects: readonly RawObject[]): ConfigIssue[] {
  const seen = new Map<string, number>();
  const issues: ConfigIssue[] = [];
  objects.forEach((o, i) => {
    const label = objectLabel(o, i);
    if (label.startsWith('document ')) return;
    const first = seen.get(label);
    if (first === undefined) seen.set(label, i);
    else
      issues.push({
        object: label,
        field: 'metadata.name',
        value: (o.metadata as { name?: unknown }).name,
        message: `defined twice (documents ${first + 1} and ${i + 1}); names must be unique per kind`,
      });
  });
  return issues;
}

const invalid = (
  issues: readonly ConfigIssue[],
  code: TransitionError = TransitionError.Invalid,
): Transition => ({
  ok: false,
  code,
  issues,
});

/**
 * "A pool in use may not be deleted": the rule lives here so the file, SIGHUP, REST and every other
 * front door obey it alike. A pool is in use while a service that stays holds one of its addresses.
 */
function poolsInUseIssues(current: Snapshot, next: ReadonlyMap<string, StoredObject>): ConfigIssue[] {
  const gone = [...current.state.pools.values()].filter(
    (p) => !next.has(objectKey(Kind.IPAddressPool, p.meta.name)),
  );
  if (gone.length === 0) return [];
  const holders = new Map<string, string[]>();
  for (const [service, a] of current.allocations) {
    if (!next.has(objectKey(Kind.LoadBalancer, service))) continue;
    for (const text of [...a.addresses, ...a.secondaryAddresses]) {
      const ip = tryParseIp(text);
      const pool = ip && gone.find((p) => poolHolds(p, ip));
      if (pool) holders.set(pool.meta.name, [...(holders.get(pool.meta.name) ?? []), `${service} (${text})`]);
    }
  }
  return [...holders].map(([name, users]) => ({
    object: objectKey(Kind.IPAddressPool, name),
    field: 'metadata.name',
    value: name,
    message: `still in use by ${users.length} LoadBalancer(s): ${users.slice(0, 5).join(', ')}${users.length > 5 ? ', ...' : ''}; delete or move those services first`,
  }));
}

/** Applies a change to a snapshot. Pure. Work is proportional to the change (plus a few O(n) copies). */
export function transition(current: Snapshot, change: Change): Transition {
  return runSync(transitionSteps(current, change));
}

/** transition() in resumable steps: the runtime runs big changes in slices (model/steps.ts). */
export function* transitionSteps(current: Snapshot, change: Change): Steps<Transition> {
  // A draft over the current objects (structurally shared: no copy of every object's entry).
  const index = PMap.of(current.state.objects).edit();
  const touched = new Set<string>();
  const outcomes = new Map<string, ApplyOutcome>();
  switch (change.type) {
    case 'file': {
      const bad = yield* changeIssues(change.objects);
      if (bad.length > 0) return invalid(bad);
      const labels = new Set(change.objects.map((o, i) => objectLabel(o, i)));
      const before = [...index.values()].filter((s) => s.origin === 'file');
      if (
        !change.allowEmpty &&
        before.length > 0 &&
        !before.some((s) => labels.has(objectLabel(s.object, 0)))
      ) {
        return invalid(
          [
            {
              object: 'config',
              field: '',
              value: undefined,
              message: `the file would delete every file-defined object (${before.length}, none kept: ${change.objects.length === 0 ? 'the file is empty' : 'no name in common'}); refused as a likely truncated file — fix the file, or start ferrolb with --allow-empty to allow it`,
            },
          ],
          TransitionError.WouldDeleteAll,
        );
      }
      for (const s of before) {
        const label = objectLabel(s.object, 0);
        if (!labels.has(label)) {
          index.delete(label);
          touched.add(label);
        }
      }
      for (const [i, o] of change.objects.entries()) {
        if (i % STEP === STEP - 1) yield;
        const label = objectLabel(o, i);
        const prev = index.get(label);
        if (sameObject(prev, 'file', o)) continue;
        index.set(label, { origin: 'file', object: o });
        touched.add(label);
      }
      break;
    }
    case 'apply': {
      const bad = yield* changeIssues(change.objects);
      if (bad.length > 0) return invalid(bad);
      for (const [i, o] of change.objects.entries()) {
        if (i % STEP === STEP - 1) yield;
        const label = objectLabel(o, i);
        const prev = index.get(label);
        if (change.createOnly && prev) {
          return invalid(
            [
              {
                object: label,
                field: 'metadata.name',
                value: (o.metadata as { name?: unknown })?.name,
                message: 'already exists',
              },
            ],
            TransitionError.AlreadyExists,
          );
        }
        // An object the file defines stays file-owned: the next reload re-applies the file's version.
        const origin = prev?.origin ?? 'api';
        if (sameObject(prev, origin, o)) {
          if (!outcomes.has(label)) outcomes.set(label, 'unchanged');
          continue;
        }
        outcomes.set(label, prev ? 'configured' : 'created');
        index.set(label, { origin, object: o });
        touched.add(label);
      }
      break;
    }
    case 'delete': {
      const label = objectKey(change.kind, change.name);
      if (!index.delete(label)) {
        return invalid(
          [{ object: label, field: 'metadata.name', value: change.name, message: 'not found' }],
          TransitionError.NotFound,
        );
      }
      touched.add(label);
      break;
    }
  }
  const done = outcomes.size > 0 ? { outcomes } : {};
  if (touched.size === 0) return { ok: true, changed: false, next: current, ...done };
  const objects = index.done();
  const inUse = poolsInUseIssues(current, objects);
  if (inUse.length > 0) return invalid(inUse, TransitionError.Conflict);
  const t = yield* buildSnapshotSteps(objects, current.allocations, current.generation + 1, current, touched);
  if (!t.ok) return t;
  if (change.type === 'apply' && change.strict) {
    // Warnings about these objects (an unused field, host bits set) refuse the change under --strict.
    const own = t.next.warnings.filter((w) => outcomes.has(w.object));
    if (own.length > 0) return invalid(own, TransitionError.Warnings);
  }
  return { ...t, ...done };
}
