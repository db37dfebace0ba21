// The SCTP shell's own metrics, read from the carrier's last published status at scrape time (no work
// of their own). ferrolb_sctp_associations{service,state} and ferrolb_sctp_paths are in
// roles/metrics.ts (from the association list); these count what that list cannot show.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CarrierStatus } from '../sctp/shell/carrier.js';

export function registerSctpShellMetrics(r: Registry, st: () => CarrierStatus | undefined): void {
  // ferrolb_sctp_associations{service,state} lives in roles/metrics.ts (from the association list,
  // which holds at most 100 half-open ones): the half-open count here is the whole table's.
  new Gauge({
    name: 'ferrolb_sctp_half_open_associations',
    help: 'Half-open SCTP associations (INIT seen, not established), bounded by FERROLB_SCTP_MAX_HALF_OPEN',
    registers: [r],
    collect() {
      this.set(st()?.halfOpen ?? 0);
    },
  });
  new Counter({
    name: 'ferrolb_sctp_cookie_rebuilt_associations_total',
    help: 'Handshakes the engine completed from its own State Cookie after the half-open bound had let the association go (an INIT flood)',
    registers: [r],
    collect() {
      this.reset();
      this.inc(st()?.rebuiltFromCookie ?? 0);
    },
  });
  new Gauge({
    name: 'ferrolb_sctp_adopted_associations',
    help: 'Associations the last start rebuilt from the kernel fast path (restart = adopt)',
    registers: [r],
    collect() {
      this.set(st()?.adopted?.associations ?? 0);
    },
  });
  new Counter({
    name: 'ferrolb_sctp_packets_total',
    help: 'SCTP control packets the engine handled (NFQUEUE)',
    registers: [r],
    collect() {
      this.reset();
      this.inc(st()?.stats.packets ?? 0);
    },
  });
  new Counter({
    name: 'ferrolb_sctp_dropped_packets_total',
    help: 'SCTP packets the engine dropped, by reason (init-rate-source, init-rate-global and table-full are INIT-flood defences)',
    labelNames: ['reason'],
    registers: [r],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(st()?.stats.dropped ?? {})) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'ferrolb_sctp_fast_path_write_failures_total',
    help: 'Fast-path nft writes refused (those paths stay in userspace)',
    registers: [r],
    collect() {
      this.reset();
      this.inc(st()?.writer.failures ?? 0);
    },
  });
  new Counter({
    name: 'ferrolb_sctp_queue_overflow_packets_total',
    help: 'SCTP packets the kernel dropped before the engine saw them (NFQUEUE overflow, e.g. an INIT flood), by cause: queue-full or socket-full',
    labelNames: ['cause'],
    registers: [r],
    collect() {
      this.reset();
      const q = st()?.kernelQueue;
      this.inc({ cause: 'queue-full' }, q?.queueDropped ?? 0);
      this.inc({ cause: 'socket-full' }, q?.userDropped ?? 0);
    },
  });
  new Gauge({
    name: 'ferrolb_sctp_queue_waiting_packets',
    help: 'SCTP packets waiting in the NFQUEUE for a verdict',
    registers: [r],
    collect() {
      this.set(st()?.kernelQueue?.waiting ?? 0);
    },
  });
}
