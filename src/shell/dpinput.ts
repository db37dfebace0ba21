// The data plane's input kept up to date in O(change): the shell notes every snapshot swapped in and
// every endpoint verdict, and the next apply converts only the services those name instead of all
// of them. The result is always what dataplaneServices() of the same snapshot gives (property-tested);
// when the chain of changes is not known (a whole-set rebuild, an adopted snapshot) it is exactly that.
import type { DataplaneService } from '../dataplane/types.js';
import type { Snapshot } from '../state/snapshot.js';
import type { HealthLookup } from '../state/views.js';
import { dataplaneService, dataplaneServices } from './bridge.js';
import { runSync, STEP, type Steps } from '../model/steps.js';

export interface DataplaneInputResult {
  /** Every served service, in name order (code units). Never mutated once returned. */
  readonly services: readonly DataplaneService[];
  /**
   * Against `since` (the previous result): the services added or replaced, by name, and `undefined`
   * for those gone. Absent when not known (then compare everything).
   */
  readonly changed?: ReadonlyMap<string, DataplaneService | undefined>;
  readonly since?: readonly DataplaneService[];
}

/** Index of `name` in the sorted `names`, or -(insertion point) - 1. */
function search(names: readonly string[], name: string): number {
  let lo = 0;
  let hi = names.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = names[mid]!;
    if (m < name) lo = mid + 1;
    else if (m > name) hi = mid - 1;
    else return mid;
  }
  return -lo - 1;
}

export class DataplaneInput {
  private list: readonly DataplaneService[] = [];
  private names: readonly string[] = [];
  /** Generation the current list was made from, and the one the notes lead to. */
  private made: number | undefined;
  private expect: number | undefined;
  private readonly dirty = new Set<string>();
  private full = true;

  /** A snapshot was swapped in (every one, in order). */
  noteSnapshot(next: Snapshot, before: Snapshot): void {
    if (!this.full && next.changes?.since === before.generation && this.expect === before.generation) {
      for (const n of next.changes.services) this.dirty.add(n);
    } else this.full = true;
    this.expect = next.generation;
  }

  /** An endpoint verdict of `service` changed. */
  noteHealth(service: string): void {
    if (!this.full) this.dirty.add(service);
  }

  /** The input for `snap` (the last snapshot noted), converting only what the notes name. */
  update(
    snap: Snapshot,
    health: HealthLookup,
    healthVersion?: (service: string) => number,
  ): DataplaneInputResult {
    return runSync(this.updateSteps(snap, health, healthVersion));
  }

  /**
   * update() in steps (a 10,000-service apply names every service: ≈ 0.2 s of conversion). Notes
   * that arrive while it runs are kept for the next update, which the caller starts after this one.
   */
  *updateSteps(
    snap: Snapshot,
    health: HealthLookup,
    healthVersion?: (service: string) => number,
  ): Steps<DataplaneInputResult> {
    if (this.full || this.made === undefined || snap.generation !== this.expect) {
      const services = dataplaneServices(snap, health, healthVersion);
      this.list = services;
      this.names = services.map((s) => s.name);
      this.made = this.expect = snap.generation;
      this.full = false;
      this.dirty.clear();
      return { services };
    }
    const since = this.list;
    const changed = new Map<string, DataplaneService | undefined>();
    let list: DataplaneService[] | undefined;
    let names: string[] | undefined;
    const dirty = [...this.dirty];
    this.dirty.clear();
    let n = 0;
    for (const name of dirty) {
      if (++n % STEP === 0) yield;
      const lb = snap.state.loadBalancers.get(name);
      const s = lb ? dataplaneService(snap, lb, health, healthVersion) : undefined;
      const cur = list ?? this.list;
      const at = search(names ?? this.names, name);
      if (at >= 0 ? cur[at] === s : s === undefined) continue;
      list ??= [...this.list];
      names ??= [...this.names];
      if (at >= 0 && s) list[at] = s;
      else if (at >= 0) {
        list.splice(at, 1);
        names.splice(at, 1);
      } else if (s) {
        list.splice(-at - 1, 0, s);
        names.splice(-at - 1, 0, name);
      }
      changed.set(name, s);
    }
    this.made = snap.generation;
    if (!list || !names) return { services: since, changed, since };
    this.list = list;
    this.names = names;
    return { services: list, changed, since };
  }
}
