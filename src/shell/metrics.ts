// Prometheus metrics: each role registers gauges/counters that read its live state at scrape time
// (no bookkeeping of our own), and serves them on `GET /metrics`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Snapshot } from '../state/snapshot.js';
import { poolUsage } from '../ipam/stats.js';

/** prom-client's default families that are gauges named like counters (`promtool check metrics` fails). */
const GAUGES_NAMED_TOTAL = ['active_handles_total', 'active_requests_total', 'active_resources_total'];

/**
 * A family with one series per service or endpoint (10k × 8: 80k series each). prom-client builds and
 * formats every series of a scrape in one synchronous pass — 1.3–1.6 s of a blocked event loop at
 * 10k services (issue 16: /healthz) — so these are written here, in slices.
 */
export interface SlicedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labelNames: readonly string[];
  /** Read once per scrape; rows are label values (in labelNames order) and the value. */
  readonly rows: () => Promise<Iterable<readonly [readonly string[], number]>>;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
/** Work between two yields of a scrape's sliced part (same budget as model/steps' runSliced). */
const SLICE_MS = 8;

/** The registry every role serves: prom-client's families, then the sliced ones (same text format). */
export class ServingRegistry extends Registry {
  private readonly sliced: SlicedFamily[] = [];

  addSliced(f: SlicedFamily): void {
    this.sliced.push(f);
  }

  override async metrics(): Promise<string> {
    // prom-client's layout: families joined by a blank line, one newline at the end ("\n" if none).
    const base = (await super.metrics()).replace(/\n$/, '');
    const families = base === '' ? [] : [base];
    let until = performance.now() + SLICE_MS;
    for (const f of this.sliced) {
      const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`];
      for (const [values, v] of await f.rows()) {
        const labels = f.labelNames.map((l, i) => `${l}="${escapeLabel(values[i] ?? '')}"`).join(',');
        lines.push(`${f.name}{${labels}} ${v}`);
        if (performance.now() >= until) {
          await new Promise<void>((r) => setImmediate(r));
          until = performance.now() + SLICE_MS;
        }
      }
      families.push(lines.join('\n'));
    }
    return `${families.join('\n\n')}\n`;
  }
}

export function newRegistry(): ServingRegistry {
  const r = new ServingRegistry();
  // ferrolb_process_* (CPU, memory, fds) and ferrolb_nodejs_* (event loop lag, heap, GC).
  collectDefaultMetrics({ register: r, prefix: 'ferrolb_' });
  // The same values stay in ferrolb_nodejs_active_{handles,requests,resources} (by type).
  for (const n of GAUGES_NAMED_TOTAL) r.removeSingleMetric(`ferrolb_nodejs_${n}`);
  return r;
}

/**
 * A counter read from live state at scrape time: `read` gives the running total, or undefined when
 * the source is not there (a worker restarting): then the counter shows nothing rather than 0.
 */
export function readCounter(
  r: Registry,
  name: string,
  help: string,
  read: () => number | undefined,
): Counter {
  return new Counter({
    name,
    help,
    registers: [r],
    collect() {
      this.reset();
      const v = read();
      if (v !== undefined) this.inc(v);
    },
  });
}

/** Standalone daemon / agent: services by phase, pool usage, configuration generation. */
export function registerSnapshotMetrics(r: Registry, snapshot: () => Snapshot): void {
  new Gauge({
    name: 'ferrolb_services',
    help: 'LoadBalancers by allocation phase',
    labelNames: ['phase'],
    registers: [r],
    collect() {
      this.reset();
      for (const s of snapshot().status.values()) this.inc({ phase: s.phase });
    },
  });
  new Gauge({
    name: 'ferrolb_pool_addresses',
    help: 'Addresses per pool, family and state (used/free); IPv6 counts saturate at 2^53',
    labelNames: ['pool', 'family', 'state'],
    registers: [r],
    collect() {
      this.reset();
      const snap = snapshot();
      for (const u of poolUsage(snap.state.pools.values(), snap.allocations)) {
        for (const [family, f] of [
          ['ipv4', u.ipv4],
          ['ipv6', u.ipv6],
        ] as const) {
          if (f.total === 0n) continue;
          this.set({ pool: u.name, family, state: 'used' }, Number(f.used));
          this.set({ pool: u.name, family, state: 'free' }, Number(f.free));
        }
      }
    },
  });
  new Gauge({
    name: 'ferrolb_config_generation',
    help: 'Generation of the configuration being served',
    registers: [r],
    collect() {
      this.set(snapshot().generation);
    },
  });
}

/** Counters kept elsewhere (e.g. the Kubernetes controller's), exposed as Prometheus counters. */
/** Packets refused by LoadBalancer.sourceRanges, read from the kernel's counters at scrape time. */
export function registerSourceRangeDrops(
  r: Registry,
  drops: () => Promise<readonly { family: 4 | 6; packets: number; bytes: number }[]>,
): void {
  new Counter({
    name: 'ferrolb_source_range_dropped_packets_total',
    help: "Packets from clients outside a LoadBalancer's sourceRanges, dropped (by IP family)",
    labelNames: ['family'],
    registers: [r],
    async collect() {
      this.reset();
      for (const d of await drops()) this.inc({ family: `ipv${d.family}` }, d.packets);
    },
  });
}

export function registerCounters(
  r: Registry,
  prefix: string,
  read: () => Record<string, number>,
  help: Record<string, string>,
): void {
  for (const key of Object.keys(read())) {
    new Counter({
      name: `${prefix}_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`,
      help: help[key] ?? key,
      registers: [r],
      collect() {
        this.reset();
        this.inc(read()[key] ?? 0);
      },
    });
  }
}

export async function serveMetrics(
  r: Registry,
  host: string,
  port: number,
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    // Liveness for the kubelet: the event loop answers.
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    r.metrics().then(
      (text) => res.writeHead(200, { 'content-type': r.contentType }).end(text),
      (e: unknown) => res.writeHead(500).end(String(e)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, address: server.address() as AddressInfo };
}
