// What the API returns as re-appliable objects (`?as=object`, `ferroctl get -o yaml|json`) and what
// an apply reports per object. Pure functions of the snapshot.
import { formatIssue, type ConfigIssue } from '../model/issues.js';
import { objectKey, type KindName, type RawObject } from '../model/types.js';
import { objectLabel } from '../model/validate.js';
import type { ApplyOutcome, Snapshot } from '../state/snapshot.js';

/** The stored object of kind/name exactly as it was applied (no status: it re-applies unchanged). */
export const storedObject = (snap: Snapshot, kind: KindName, name: string): RawObject | undefined =>
  snap.state.objects.get(objectKey(kind, name))?.object;

/** The stored objects of a kind, in the order of `names` (a listing's order or page). */
export function storedObjects(snap: Snapshot, kind: KindName, names: Iterable<string>): RawObject[] {
  const out: RawObject[] = [];
  for (const n of names) {
    const o = storedObject(snap, kind, n);
    if (o) out.push(o);
  }
  return out;
}

/** One object's line of an apply's answer. */
export interface ApplyResult {
  readonly object: string;
  readonly outcome: ApplyOutcome;
  /** LoadBalancers: allocated (with addresses) or pending (with the reason), after the change. */
  readonly status?: {
    readonly phase: 'Allocated' | 'Pending';
    readonly addresses?: readonly string[];
    readonly code?: string;
    readonly reason?: string;
  };
  readonly warnings?: readonly string[];
}

export interface ApplyAnswer {
  /** "Kind/name" of every object (kept for older clients). */
  readonly applied: readonly string[];
  readonly results: readonly ApplyResult[];
  /** The snapshot generation the change made (the data plane reports the one it has applied). */
  readonly generation: number;
}

export function applyAnswer(
  objects: readonly RawObject[],
  outcomes: ReadonlyMap<string, ApplyOutcome> | undefined,
  snap: Snapshot,
): ApplyAnswer {
  const warnings = new Map<string, ConfigIssue[]>();
  for (const w of snap.warnings) warnings.set(w.object, [...(warnings.get(w.object) ?? []), w]);
  const results = objects.map((o, i): ApplyResult => {
    const label = objectLabel(o, i);
    const name = String((o.metadata as { name?: unknown })?.name);
    const st = o.kind === 'LoadBalancer' ? snap.status.get(name) : undefined;
    const alloc = snap.allocations.get(name);
    const w = warnings.get(label);
    return {
      object: label,
      outcome: outcomes?.get(label) ?? 'unchanged',
      ...(st
        ? {
            status:
              st.phase === 'Allocated'
                ? {
                    phase: 'Allocated',
                    addresses: [...(alloc?.addresses ?? []), ...(alloc?.secondaryAddresses ?? [])],
                  }
                : { phase: 'Pending', code: st.code, reason: st.reason },
          }
        : {}),
      ...(w ? { warnings: w.map(formatIssue) } : {}),
    };
  });
  return { applied: results.map((r) => r.object), results, generation: snap.generation };
}
