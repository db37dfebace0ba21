// The controller core: a snapshot (objects + validated state + allocations) and pure transitions
// from one snapshot to the next. Invalid changes produce issues and leave the snapshot as it was.
import { allocate, type Allocation, type ServiceStatus } from '../ipam/allocator.js';
import type { ConfigIssue } from '../model/issues.js';
import { buildDesiredState, objectLabel } from '../model/validate.js';
import type { DesiredState, Origin, RawObject, StoredObject } from '../model/types.js';

export interface Snapshot {
  /** Bumped on every accepted change. */
  readonly generation: number;
  readonly objects: readonly StoredObject[];
  readonly state: DesiredState;
  readonly allocations: ReadonlyMap<string, Allocation>;
  readonly status: ReadonlyMap<string, ServiceStatus>;
  readonly warnings: readonly ConfigIssue[];
}

export type Change =
  /** The config file was (re)read: its objects replace every file-origin object. */
  | { readonly type: 'file'; readonly objects: readonly RawObject[] }
  /** Create or replace these objects (API). `createOnly` refuses names that exist. */
  | { readonly type: 'apply'; readonly objects: readonly RawObject[]; readonly createOnly?: boolean }
  | { readonly type: 'delete'; readonly kind: string; readonly name: string };

export type Transition =
  | { readonly ok: true; readonly next: Snapshot; readonly changed: boolean }
  | { readonly ok: false; readonly code: TransitionError; readonly issues: readonly ConfigIssue[] };

export const TransitionError = {
  Invalid: 'Invalid',
  AlreadyExists: 'AlreadyExists',
  NotFound: 'NotFound',
} as const;
export type TransitionError = (typeof TransitionError)[keyof typeof TransitionError];

const labelOf = (o: RawObject) => objectLabel(o, 0);

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
  objects: readonly StoredObject[],
  previous: ReadonlyMap<string, Allocation>,
  generation: number,
): Transition {
  const built = buildDesiredState(objects);
  if (!built.state) return { ok: false, code: TransitionError.Invalid, issues: built.issues };
  const ipam = allocate(built.state, previous);
  return {
    ok: true,
    changed: true,
    next: {
      generation,
      objects,
      state: built.state,
      allocations: ipam.allocations,
      status: ipam.status,
      warnings: built.warnings,
    },
  };
}

function upsert(list: StoredObject[], o: RawObject, origin: Origin): void {
  const label = labelOf(o);
  const i = list.findIndex((s) => labelOf(s.object) === label);
  if (i >= 0) list[i] = { origin, object: o };
  else list.push({ origin, object: o });
}

/** Applies a change to a snapshot. Pure. */
export function transition(current: Snapshot, change: Change): Transition {
  let objects: StoredObject[];
  switch (change.type) {
    case 'file': {
      objects = current.objects.filter((s) => s.origin !== 'file');
      for (const o of change.objects) upsert(objects, o, 'file');
      break;
    }
    case 'apply': {
      objects = [...current.objects];
      for (const o of change.objects) {
        if (change.createOnly && objects.some((s) => labelOf(s.object) === labelOf(o))) {
          return {
            ok: false,
            code: TransitionError.AlreadyExists,
            issues: [
              {
                object: labelOf(o),
                field: 'metadata.name',
                value: (o.metadata as { name?: unknown })?.name,
                message: 'already exists',
              },
            ],
          };
        }
        // An object the file defines stays file-owned: the next reload re-applies the file's version.
        const existing = objects.find((s) => labelOf(s.object) === labelOf(o));
        upsert(objects, o, existing?.origin ?? 'api');
      }
      break;
    }
    case 'delete': {
      const label = `${change.kind}/${change.name}`;
      objects = current.objects.filter((s) => labelOf(s.object) !== label);
      if (objects.length === current.objects.length) {
        return {
          ok: false,
          code: TransitionError.NotFound,
          issues: [{ object: label, field: 'metadata.name', value: change.name, message: 'not found' }],
        };
      }
      break;
    }
  }
  const t = buildSnapshot(objects, current.allocations, current.generation + 1);
  if (!t.ok) return t;
  const changed = JSON.stringify(t.next.objects) !== JSON.stringify(current.objects);
  return changed ? t : { ok: true, changed: false, next: current };
}
