// Feeds the per-service event history from the runtime (snapshots, probe verdicts) and from the
// components that announce (BGP, data plane failures). Each feed is O(change).
import { ServiceEventLog, snapshotEvents, type EventType } from '../state/events.js';
import type { Runtime } from './runtime.js';

export class ServiceEvents {
  readonly log = new ServiceEventLog();

  constructor(
    runtime: Runtime,
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

  note(service: string, type: EventType, reason: string, message: string): void {
    this.log.record(service, { at: this.now(), type, reason, message });
  }
}
