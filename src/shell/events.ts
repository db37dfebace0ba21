// Feeds the per-service event history from the runtime (snapshots, probe verdicts) and from the
// components that announce (BGP, data plane failures). Each feed is O(change).
import { l2OwnedChanges, ServiceEventLog, snapshotEvents, type EventType } from '../state/events.js';
import { holdersByAddress } from '../ipam/allocator.js';
import type { Runtime } from './runtime.js';

export class ServiceEvents {
  readonly log = new ServiceEventLog();

  constructor(
    private readonly runtime: Runtime,
    private readonly now: () => number = Date.now,
  ) {
    runtime.on('snapshot', (next, before) => {
      for (const e of snapshotEvents(before, next, this.now())) {
        if (e.released) this.log.forget(e.service);
        else if (e.event) this.log.record(e.service, e.event);
      }
    });
    runtime.on('health', (service, address, state) =>
      this.note(
        service,
        state === 'active' ? 'Normal' : 'Warning',
        state === 'active' ? 'EndpointActive' : state === 'inactive' ? 'EndpointInactive' : 'EndpointUnknown',
        `endpoint ${address}: probe verdict ${state}`,
      ),
    );
  }

  private owned: ReadonlyMap<string, readonly string[]> = new Map();

  /**
   * This node's Layer 2 owned set changed: note it on the services of the addresses that moved. The
   * address → service index is built only when something moved (O(services) per ownership change).
   */
  l2Owned(node: string, owned: ReadonlyMap<string, readonly string[]>): void {
    const changes = l2OwnedChanges(this.owned, owned);
    this.owned = new Map(owned);
    if (changes.length === 0) return;
    const byAddress = holdersByAddress(this.runtime.snapshot.allocations);
    for (const c of changes) {
      const service = byAddress.get(c.address);
      if (service === undefined) continue;
      if (c.interfaces)
        this.note(
          service,
          'Normal',
          'L2Announcing',
          `node ${node} answers ARP/NDP for ${c.address}${c.interfaces.length > 0 ? ` on ${c.interfaces.join(', ')}` : ''}`,
        );
      else this.note(service, 'Normal', 'L2Released', `node ${node} stopped answering for ${c.address}`);
    }
  }

  note(service: string, type: EventType, reason: string, message: string): void {
    this.log.record(service, { at: this.now(), type, reason, message });
  }
}
