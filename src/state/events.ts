// A short history per LoadBalancer (`ferroctl describe lb`): allocation and pending changes, probe
// verdicts, data plane failures, announcements. Pure: the shell feeds it, the API reads it.
import { sameAllocation, sameStatus } from '../ipam/allocator.js';
import type { Snapshot } from './snapshot.js';

export const EVENT_TYPES = ['Normal', 'Warning'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface ServiceEvent {
  /** Epoch ms. */
  readonly at: number;
  readonly type: EventType;
  /** CamelCase, like Kubernetes event reasons: Allocated, Pending, EndpointActive, ... */
  readonly reason: string;
  readonly message: string;
  /** Times this same reason+message was seen in a row (repeats are folded, like kubectl's count). */
  readonly count: number;
}

/** Events kept per service, and services kept at all (a bulk load must not grow this without end). */
export const EVENTS_PER_SERVICE = 20;
export const MAX_SERVICES_WITH_EVENTS = 50_000;

export class ServiceEventLog {
  private readonly byService = new Map<string, ServiceEvent[]>();

  constructor(
    private readonly perService = EVENTS_PER_SERVICE,
    private readonly maxServices = MAX_SERVICES_WITH_EVENTS,
  ) {}

  record(service: string, e: Omit<ServiceEvent, 'count'>): void {
    let list = this.byService.get(service);
    if (!list) {
      if (this.byService.size >= this.maxServices) {
        // Oldest service first (Map keeps insertion order).
        const first = this.byService.keys().next().value;
        if (first !== undefined) this.byService.delete(first);
      }
      list = [];
      this.byService.set(service, list);
    }
    const last = list[list.length - 1];
    if (last && last.reason === e.reason && last.message === e.message) {
      list[list.length - 1] = { ...last, at: e.at, count: last.count + 1 };
      return;
    }
    list.push({ ...e, count: 1 });
    if (list.length > this.perService) list.splice(0, list.length - this.perService);
  }

  /** Oldest first. */
  events(service: string): readonly ServiceEvent[] {
    return this.byService.get(service) ?? [];
  }

  forget(service: string): void {
    this.byService.delete(service);
  }
}

/**
 * The events a snapshot replacement means for its services: allocated (with the addresses), pending
 * (with the reason), released. Only the services the change touched when that is known: O(change).
 */
export function snapshotEvents(
  before: Snapshot,
  after: Snapshot,
  at: number,
): { service: string; event?: Omit<ServiceEvent, 'count'>; released?: true }[] {
  const names =
    after.changes?.since === before.generation
      ? after.changes.services
      : new Set([...after.status.keys(), ...before.status.keys()]);
  const out: { service: string; event?: Omit<ServiceEvent, 'count'>; released?: true }[] = [];
  for (const service of names) {
    const st = after.status.get(service);
    const prev = before.status.get(service);
    if (!st) {
      if (prev) out.push({ service, released: true });
      continue;
    }
    const alloc = after.allocations.get(service);
    const prevAlloc = before.allocations.get(service);
    const addrs = (a: typeof alloc) => [...(a?.addresses ?? []), ...(a?.secondaryAddresses ?? [])].join(',');
    if (prev && sameStatus(prev, st) && sameAllocation(alloc, prevAlloc)) continue;
    out.push({
      service,
      event:
        st.phase === 'Allocated'
          ? { at, type: 'Normal', reason: 'Allocated', message: `addresses ${addrs(alloc) || '-'}` }
          : { at, type: 'Warning', reason: 'Pending', message: `${st.code}: ${st.reason}` },
    });
  }
  return out;
}

/** What changed in this node's Layer 2 owned set (the addresses it answers ARP/NDP for). */
export interface L2OwnedChange {
  readonly address: string;
  /** Interfaces it now answers on; undefined = released. */
  readonly interfaces?: readonly string[];
}

/** Diff of two owned sets, in address order; interface changes count (a new burst goes out). */
export function l2OwnedChanges(
  before: ReadonlyMap<string, readonly string[]>,
  after: ReadonlyMap<string, readonly string[]>,
): L2OwnedChange[] {
  const out: L2OwnedChange[] = [];
  for (const [address, ifs] of after) {
    const was = before.get(address);
    if (was === undefined || was.join(',') !== ifs.join(',')) out.push({ address, interfaces: ifs });
  }
  for (const address of before.keys()) if (!after.has(address)) out.push({ address });
  return out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}
