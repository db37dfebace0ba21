// Composition root of the serving roles: the standalone daemon (`ferrolb run`) and, through serve(),
// the Kubernetes agent. Both are a list of components run by one Supervisor (src/shell/component.ts).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { l2View } from '../l2/view.js';
import { ApiServer, DEFAULT_API_LIMITS } from '../api/server.js';
import { StateStore } from '../state/persist.js';
import { createLogger } from '../shell/log.js';
import { Runtime } from '../shell/runtime.js';
import { DataplaneShell } from '../shell/dataplane.js';
import { BgpShell } from '../shell/bgp.js';
import { SctpShell } from '../shell/sctp.js';
import { ClusterShell } from '../shell/cluster.js';
import { ServiceEvents } from '../shell/events.js';
import type { SessionStatus } from '../bgp/types.js';
import { HaShell } from '../shell/ha.js';
import type { Logger } from 'pino';
import { newRegistry, registerSnapshotMetrics, registerSourceRangeDrops } from '../shell/metrics.js';
import { Supervisor, type Component } from '../shell/component.js';
import {
  apiComponent,
  bgpComponent,
  clusterComponent,
  haComponent,
  metricsComponent,
  dataplaneComponent,
  netnsLockComponent,
  runtimeComponent,
  sctpComponent,
  stateDirLockComponent,
} from './components.js';
import { loadApiSecurity } from '../shell/auth.js';
import { runRole } from './role.js';
import { HeapSettler } from '../shell/memory.js';
export { parseListen } from './usage.js';
import { registerBuildInfo, registerReloadMetrics, registerServingMetrics, ReloadRecord } from './metrics.js';

/** The nft table the data plane owns (one per network namespace: the kernel lock is named after it). */
const NFT_TABLE = 'ferrolb';

export interface DaemonOptions {
  readonly configPath?: string;
  readonly stateDir: string;
  readonly listen: { host: string; port: number };
  readonly tokenFile?: string;
  /** Program the kernel (nftables table, VIPs). Off: IPAM, API and probes only. */
  readonly dataplane: boolean;
  /** Run endpoint health probes. */
  readonly probes: boolean;
  /** Port for inbound BGP sessions; false: dial out only. */
  readonly bgpPort: number | false;
  readonly routerId?: string;
  /** On SIGTERM leave rules and VIPs in place so traffic keeps flowing. */
  readonly keepForwarding: boolean;
  /** Serve the API on a non-loopback address without a token. */
  readonly insecureApi?: boolean;
  /** Open API connections at once (default: from the fd limit, see defaultMaxConnections). */
  readonly apiMaxConnections?: number;
  /** Accept a config file (start or SIGHUP) that would delete every file-defined object. */
  readonly allowEmpty?: boolean;
  /** This node's name in the Cluster (default: the hostname). */
  readonly nodeName?: string;
  /** Also serve /metrics (and /healthz) here, without the API's token (scrapers, kubelet probes). */
  readonly metricsListen?: { host: string; port: number };
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const log = createLogger();
  const security = await loadApiSecurity(
    opts.tokenFile,
    process.env.FERROLB_API_TOKEN,
    opts.listen.host,
    opts.insecureApi ?? false,
  );
  for (const w of security.warnings) log.warn(w);
  const runtime = new Runtime({
    store: new StateStore(opts.stateDir),
    log,
    ...(opts.configPath ? { configPath: opts.configPath } : {}),
    ...(opts.allowEmpty ? { allowEmpty: true } : {}),
  });
  const reloads = new ReloadRecord();
  return serve(runtime, log, opts, {
    role: 'run',
    reloads,
    ...(security.token ? { token: security.token } : {}),
    input: [runtimeComponent(runtime)],
    onHup: () => {
      if (!opts.configPath) return log.warn('SIGHUP ignored: no --config file to reload');
      void runtime.reload().then((t) => reloads.record(t.ok));
    },
  });
}

export type ServeOptions = Pick<
  DaemonOptions,
  | 'stateDir'
  | 'listen'
  | 'dataplane'
  | 'probes'
  | 'bgpPort'
  | 'routerId'
  | 'keepForwarding'
  | 'apiMaxConnections'
  | 'nodeName'
  | 'metricsListen'
>;

export interface ServeExtra {
  /** ferrolb_build_info{role}. */
  role: 'run' | 'agent';
  /** Outcome of SIGHUP reloads, for the reload metrics (roles without a config file: absent). */
  reloads?: ReloadRecord;
  token?: string;
  readOnly?: string;
  onHup?: () => void;
  /** The role's input (the state store and config file; the Kubernetes watch): after the locks, before the API. */
  input?: readonly Component[];
  mayAnnounce?: (service: string) => boolean;
  /** The Layer 2 addresses this node announces, after each change (the agent's ServiceL2Status). */
  onOwned?: (owned: ReadonlyMap<string, readonly string[]>) => void;
  /** Why the role is not ready yet (e.g. the agent before its first full view of the cluster). */
  notReady?: () => string | undefined;
  /** Components that report the BGP sessions elsewhere (the agent's BGPSessionState), after BGP. */
  bgpReporters?: (sessions: () => readonly SessionStatus[]) => readonly Component[];
}

/** Open API connections allowed: a quarter of the fd limit (the rest is for nft, ip, probes), 16..1024. */
export function defaultMaxConnections(limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return DEFAULT_API_LIMITS.maxConnections;
    }
  }
  const soft = Number(/^Max open files\s+(\d+|unlimited)/m.exec(text)?.[1]);
  if (!Number.isFinite(soft)) return 1024;
  return Math.max(16, Math.min(1024, Math.floor(soft / 4)));
}

/**
 * Every role that serves traffic (`ferrolb run`, `ferrolb agent`) is this list of components, started
 * in order by one Supervisor: locks (state dir, then the kernel table of this network namespace)
 * before anything is touched, the role's input, the API bound before the kernel is, then cluster
 * membership (Layer 2 ownership: its ARP/NDP suppression must exist before the data plane adds a
 * service address), data plane + probes, SCTP multihoming and BGP. A required
 * component that fails rolls the others back and the process exits non-zero. A new subsystem (L2, cluster sync) is one more entry in the list.
 */
export async function serve(
  runtime: Runtime,
  log: Logger,
  opts: ServeOptions,
  extra: ServeExtra,
): Promise<number> {
  // Subscribed before the input starts, so the first allocations are in the history too.
  const events = new ServiceEvents(runtime);
  const dataplane = new DataplaneShell({
    runtime,
    log,
    kernel: opts.dataplane,
    probes: opts.probes,
    keepForwarding: opts.keepForwarding,
    // Layer 2 first: a new service address is silent on non-owners before it is routed here.
    beforeApply: () => cluster.prepared(),
    afterApply: (generation) => cluster.dataplaneApplied(generation),
  });
  // Multihomed SCTP (fullnat + secondary addresses) runs beside the nft data plane, never inside it.
  const sctp = new SctpShell({ runtime, log, kernel: opts.dataplane, keepForwarding: opts.keepForwarding });
  // Membership and Layer 2 ownership run on their own thread; this shell only feeds it.
  const nodeName = opts.nodeName ?? hostname();
  const cluster = new ClusterShell({
    runtime,
    log,
    stateDir: opts.stateDir,
    nodeName,
    onOwned: (owned) => {
      events.l2Owned(nodeName, owned);
      extra.onOwned?.(owned);
    },
  });
  const bgp = new BgpShell({
    runtime,
    log,
    stateDir: opts.stateDir,
    listenPort: opts.bgpPort,
    keepForwarding: opts.keepForwarding,
    ...(opts.routerId ? { routerId: opts.routerId } : {}),
    ...(extra.mayAnnounce ? { mayAnnounce: extra.mayAnnounce } : {}),
    onAdvertised: (changes) => {
      for (const c of changes)
        if (c.prefixes.length > 0)
          events.note(c.service, 'Normal', 'BgpAdvertised', `advertised by BGP: ${c.prefixes.join(', ')}`);
        else
          events.note(
            c.service,
            'Warning',
            'BgpWithdrawn',
            'withdrawn from BGP (no active endpoint, or no advertisement selects it)',
          );
    },
  });
  // Ready (GET /readyz) once every component runs, the role's own input is in and the kernel serves
  // it. The data plane part is latched, so a busy data plane never turns a serving node unready
  // (readiness gates rollouts, not traffic); a component that fails (BGP retrying) always shows.
  let latched = false;
  const notReady = (): string | undefined => {
    const comp = supervisor.notReady();
    if (comp) return comp;
    // Not latched: a kernel that no longer matches while repair keeps failing is not serving.
    const broken = dataplane.problem();
    if (broken) return broken;
    if (latched) return undefined;
    const why = extra.notReady?.();
    if (why) return why;
    if (opts.dataplane && dataplane.generationApplied < runtime.snapshot.generation)
      return `data plane has not applied generation ${runtime.snapshot.generation} yet`;
    latched = true;
    return undefined;
  };
  const metrics = newRegistry();
  registerSnapshotMetrics(metrics, () => runtime.snapshot);
  registerSourceRangeDrops(metrics, () => dataplane.sourceRangeDrops());
  dataplane.registerMetrics(metrics);
  sctp.registerMetrics(metrics);
  registerBuildInfo(metrics, extra.role);
  registerReloadMetrics(metrics, extra.reloads ?? new ReloadRecord());
  registerServingMetrics(metrics, {
    snapshot: () => runtime.snapshot,
    endpointState: (s, a) => runtime.endpointState(s, a),
    onVerdict: (f) => runtime.on('health', f),
    bgp: () => bgp.status(),
    sctp: () => sctp.currentStatus(),
    counters: () => dataplane.counters(),
  });
  cluster.registerMetrics(metrics);
  const ha = opts.dataplane ? new HaShell({ runtime, log, cluster, sctp }) : undefined;
  ha?.registerMetrics(metrics);
  const api = new ApiServer({
    runtime,
    log,
    metrics,
    counters: (o) => dataplane.counters(o),
    dataplaneFailures: () => dataplane.failures(),
    notReady,
    readyDetail: () => supervisor.status(),
    limits: { maxConnections: opts.apiMaxConnections ?? defaultMaxConnections() },
    ...(extra.token ? { token: extra.token } : {}),
    ...(extra.readOnly ? { readOnly: extra.readOnly } : {}),
  });
  api.addRoute('bgp', () => bgp.status());
  api.addRoute('sctp', () => sctp.currentStatus());
  api.addRoute('dataplane', () => dataplane.status());
  api.addRoute('cluster', () => cluster.status());
  api.addRoute(
    'ct',
    () => ha?.connections() ?? { items: [], error: 'no data plane on this node (--dataplane)' },
  );
  api.addRoute('l2', async () => l2View(await cluster.status()));
  api.addRoute('components', () => ({ items: supervisor.status() }));
  api.addRoute('events', ([name]) => ({ items: name === undefined ? [] : events.log.events(name) }));
  let url = '';
  const components: Component[] = [
    stateDirLockComponent(opts.stateDir),
    ...(opts.dataplane ? [netnsLockComponent(NFT_TABLE, () => ({ stateDir: opts.stateDir, api: url }))] : []),
    ...(extra.input ?? []),
    apiComponent(api, opts.listen, (addr) => {
      url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    }),
    ...(opts.metricsListen ? [metricsComponent(opts.metricsListen, () => metrics, log)] : []),
    // Connection-state sync registers before the cluster starts: its port comes with the worker.
    ...(ha ? [haComponent(ha)] : []),
    // Before the data plane: the announcer's ARP/NDP suppression exists before any service address.
    clusterComponent(cluster),
    dataplaneComponent(dataplane, () => runtime.snapshot.state.loadBalancers.size),
    sctpComponent(sctp),
    bgpComponent(bgp),
    ...(extra.bgpReporters?.(() => bgp.status().sessions) ?? []),
  ];
  const supervisor = new Supervisor(components, { log });
  // The start's peak (compile, nft script) is garbage by now: an incremental collection gives its
  // pages back (src/shell/memory.ts).
  const heap = new HeapSettler(log);
  const code = await runRole(supervisor, log, {
    ...(extra.onHup ? { onHup: extra.onHup } : {}),
    running: () => {
      heap.start();
      setTimeout(() => heap.poke(), 1_000).unref();
      log.info(
        {
          api: url,
          stateDir: opts.stateDir,
          dataplane: opts.dataplane,
          probes: opts.probes,
          auth: Boolean(extra.token),
        },
        'ferrolb running',
      );
    },
  });
  heap.stop();
  return code;
}
