// The metric families operators alert on and graph, read from the components' live status at
// scrape time (no bookkeeping of our own beyond event counters). Names follow Prometheus practice:
// base units, `_total` only on counters, one family per measured thing. Documented in docs/metrics.md;
// deploy/grafana/ferrolb.json is built from these names (a test checks it against a real scrape).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BgpStatus } from '../bgp/types.js';
import type { ServiceCounters } from '../dataplane/applier.js';
import type { EndpointState } from '../probes/types.js';
import type { SctpStatus } from '../shell/sctp.js';
import type { ServingRegistry } from '../shell/metrics.js';
import type { Snapshot } from '../state/snapshot.js';
import { VERSION } from '../version.js';

export interface MetricSources {
  readonly snapshot: () => Snapshot;
  readonly endpointState: (service: string, address: string) => EndpointState | undefined;
  /** Subscribes to probe verdict changes (the runtime's 'health' event). */
  readonly onVerdict: (f: (service: string, address: string, state: EndpointState) => void) => void;
  readonly bgp: () => BgpStatus;
  readonly sctp: () => Promise<SctpStatus>;
  /** Kernel counters of every service (cached by the data plane; [] without a kernel). */
  readonly counters: () => Promise<readonly ServiceCounters[]>;
}

/** Outcome of config reloads (SIGHUP), kept by the role that reloads. */
export class ReloadRecord {
  /** undefined until the first reload. */
  ok: boolean | undefined;
  lastSuccessMs = Date.now();
  record(ok: boolean): void {
    this.ok = ok;
    if (ok) this.lastSuccessMs = Date.now();
  }
}

export function registerBuildInfo(r: Registry, role: string): void {
  new Gauge({
    name: 'ferrolb_build_info',
    help: 'Always 1; the labels say which build and role is running',
    labelNames: ['version', 'nodejs', 'role'],
    registers: [r],
  }).set({ version: VERSION, nodejs: process.versions.node, role }, 1);
}

export function registerReloadMetrics(r: Registry, rec: ReloadRecord): void {
  new Gauge({
    name: 'ferrolb_config_last_reload_successful',
    help: 'Whether the last config reload (SIGHUP) was accepted (1) or rejected (0); 1 before any',
    registers: [r],
    collect() {
      this.set(rec.ok === false ? 0 : 1);
    },
  });
  new Gauge({
    name: 'ferrolb_config_last_reload_success_timestamp_seconds',
    help: 'When the configuration last loaded successfully (start or reload), Unix time',
    registers: [r],
    collect() {
      this.set(rec.lastSuccessMs / 1000);
    },
  });
}

export function registerServingMetrics(r: ServingRegistry, src: MetricSources): void {
  registerEndpointMetrics(r, src);
  registerBgpMetrics(r, src.bgp);
  registerSctpMetrics(r, src.sctp);
  registerTrafficMetrics(r, src.counters);
}

function registerEndpointMetrics(r: ServingRegistry, src: MetricSources): void {
  r.addSliced({
    name: 'ferrolb_endpoint_up',
    help: 'Whether an endpoint takes new traffic: 0 once its health check marked it inactive, else 1',
    type: 'gauge',
    labelNames: ['service', 'endpoint'],
    rows: async () => endpointRows(src),
  });
  const verdicts = new Counter({
    name: 'ferrolb_probe_verdict_changes_total',
    help: 'Health check verdicts that changed an endpoint state, by service and new state',
    labelNames: ['service', 'state'],
    registers: [r],
  });
  src.onVerdict((service, _address, state) => verdicts.inc({ service, state }));
}

function* endpointRows(src: MetricSources): Generator<readonly [readonly string[], number]> {
  for (const [name, lb] of src.snapshot().state.loadBalancers)
    for (const e of lb.endpoints)
      yield [[name, e.address], src.endpointState(name, e.address) === 'inactive' ? 0 : 1];
}

function registerBgpMetrics(r: Registry, bgp: () => BgpStatus): void {
  type Session = BgpStatus['sessions'][number];
  const labelNames = ['peer', 'peer_address'] as const;
  const key = (s: Session) => ({ peer: s.peer, peer_address: s.peerAddress });
  const gauge = (name: string, help: string, value: (s: Session) => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [r],
      collect() {
        this.reset();
        for (const s of bgp().sessions) this.set(key(s), value(s));
      },
    });
  const counter = (name: string, help: string, value: (s: Session) => number) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [r],
      collect() {
        this.reset();
        for (const s of bgp().sessions) this.inc(key(s), value(s));
      },
    });
  gauge('ferrolb_bgp_session_up', 'Whether the BGP session is Established', (s) =>
    s.state === 'Established' ? 1 : 0,
  );
  gauge('ferrolb_bgp_announced_prefixes', 'Prefixes announced to the peer', (s) => s.prefixesSent);
  gauge('ferrolb_bgp_received_prefixes', 'Prefixes the peer announced to us', (s) => s.prefixesReceived);
  counter('ferrolb_bgp_updates_sent_total', 'UPDATE messages sent to the peer', (s) => s.updatesOut);
  counter('ferrolb_bgp_updates_received_total', 'UPDATE messages received from the peer', (s) => s.updatesIn);
  counter(
    'ferrolb_bgp_connect_failures_total',
    'Failed attempts to open the session',
    (s) => s.connectFailures,
  );
  new Gauge({
    name: 'ferrolb_bfd_session_up',
    help: 'Whether the BFD session protecting a BGP peer is Up (only peers with BFD)',
    labelNames,
    registers: [r],
    collect() {
      this.reset();
      for (const s of bgp().sessions) if (s.bfd !== undefined) this.set(key(s), s.bfd === 'Up' ? 1 : 0);
    },
  });
}

function registerSctpMetrics(r: Registry, sctp: () => Promise<SctpStatus>): void {
  // One status read per scrape feeds both families (the carrier thread is asked once).
  let pending: Promise<SctpStatus> | undefined;
  const read = () => (pending ??= sctp().finally(() => setImmediate(() => (pending = undefined))));
  new Gauge({
    name: 'ferrolb_sctp_associations',
    help: 'Multihomed SCTP associations carried, by service and state',
    labelNames: ['service', 'state'],
    registers: [r],
    async collect() {
      this.reset();
      for (const a of (await read()).associations) this.inc({ service: a.service, state: a.state });
    },
  });
  new Gauge({
    name: 'ferrolb_sctp_paths',
    help: 'Paths of multihomed SCTP associations, by service, side (client/endpoint) and state',
    labelNames: ['service', 'side', 'state'],
    registers: [r],
    async collect() {
      this.reset();
      for (const a of (await read()).associations)
        for (const p of a.paths) this.inc({ service: a.service, side: p.side, state: p.state });
    },
  });
}

function registerTrafficMetrics(
  r: ServingRegistry,
  counters: () => Promise<readonly ServiceCounters[]>,
): void {
  let pending: Promise<readonly ServiceCounters[]> | undefined;
  const read = () => (pending ??= counters().finally(() => setImmediate(() => (pending = undefined))));
  const family = (
    name: string,
    help: string,
    labelNames: readonly string[],
    rows: (c: ServiceCounters) => Iterable<readonly [readonly string[], number]>,
  ) =>
    r.addSliced({
      name,
      help,
      type: 'counter',
      labelNames,
      rows: async () => {
        const all = await read();
        return (function* () {
          for (const c of all) yield* rows(c);
        })();
      },
    });
  family(
    'ferrolb_service_packets_total',
    'Packets of new and established flows to a service (kernel counters)',
    ['service'],
    (c) => [[[c.service], c.packets]],
  );
  family('ferrolb_service_bytes_total', 'Bytes to a service (kernel counters)', ['service'], (c) => [
    [[c.service], c.bytes],
  ]);
  family(
    'ferrolb_endpoint_packets_total',
    'Packets forwarded to an endpoint, all service ports',
    ['service', 'endpoint'],
    (c) => c.endpoints.map((e) => [[c.service, e.address], e.packets] as const),
  );
  family(
    'ferrolb_endpoint_bytes_total',
    'Bytes forwarded to an endpoint, all service ports',
    ['service', 'endpoint'],
    (c) => c.endpoints.map((e) => [[c.service, e.address], e.bytes] as const),
  );
}
