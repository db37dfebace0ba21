// Composition root of the standalone daemon: state store, runtime, REST API, signals.
import { readFile } from 'node:fs/promises';
import { ApiServer } from '../api/server.js';
import { formatIssue } from '../model/issues.js';
import { StateStore } from '../state/persist.js';
import { createLogger } from './log.js';
import { Runtime, StartupError } from './runtime.js';
import { DataplaneShell } from './dataplane.js';
import { BgpShell } from './bgp.js';
import { SctpShell } from './sctp.js';
import type { Logger } from 'pino';
import { newRegistry, registerSnapshotMetrics, registerSourceRangeDrops } from './metrics.js';

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
  /** Accept a config file (start or SIGHUP) that would delete every file-defined object. */
  readonly allowEmpty?: boolean;
}

export function parseListen(s: string, flag = '--api'): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  const port = Number(m?.[2]);
  if (!m || !(port >= 0 && port <= 65535)) throw new StartupError(`${flag}: "${s}" is not HOST:PORT`);
  return { host: m[1] as string, port };
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const log = createLogger();
  const token = opts.tokenFile
    ? (await readFile(opts.tokenFile, 'utf8')).trim()
    : process.env.FERROLB_API_TOKEN;
  const runtime = new Runtime({
    store: new StateStore(opts.stateDir),
    log,
    ...(opts.configPath ? { configPath: opts.configPath } : {}),
    ...(opts.allowEmpty ? { allowEmpty: true } : {}),
  });
  try {
    await runtime.start();
  } catch (e) {
    if (e instanceof StartupError) log.fatal({ issues: e.issues.map(formatIssue) }, e.message);
    throw e;
  }
  return serve(runtime, log, opts, {
    token,
    onHup: () => {
      if (!opts.configPath) return log.warn('SIGHUP ignored: no --config file to reload');
      void runtime.reload();
    },
  });
}

export type ServeOptions = Pick<
  DaemonOptions,
  'stateDir' | 'listen' | 'dataplane' | 'probes' | 'bgpPort' | 'routerId' | 'keepForwarding'
>;

/**
 * The shells every role runs around a Runtime: data plane + probes, BGP, REST API; then waits for
 * SIGTERM/SIGINT and stops them in order. Shared by `ferrolb run` and `ferrolb agent`.
 */
export async function serve(
  runtime: Runtime,
  log: Logger,
  opts: ServeOptions,
  extra: {
    token?: string;
    readOnly?: string;
    onHup?: () => void;
    onStop?: () => Promise<void>;
    mayAnnounce?: (service: string) => boolean;
    /** Why the role is not ready yet (e.g. the agent before its first full view of the cluster). */
    notReady?: () => string | undefined;
  },
): Promise<number> {
  const dataplane = new DataplaneShell({
    runtime,
    log,
    kernel: opts.dataplane,
    probes: opts.probes,
    keepForwarding: opts.keepForwarding,
  });
  await dataplane.start();
  // Multihomed SCTP (fullnat + secondary addresses) runs beside the nft data plane, never inside it.
  const sctp = new SctpShell({ runtime, log, kernel: opts.dataplane });
  await sctp.start();
  const bgp = new BgpShell({
    runtime,
    log,
    stateDir: opts.stateDir,
    listenPort: opts.bgpPort,
    ...(opts.routerId ? { routerId: opts.routerId } : {}),
    ...(extra.mayAnnounce ? { mayAnnounce: extra.mayAnnounce } : {}),
  });
  await bgp.start();
  // Ready (GET /readyz) once the role's own input is in and the kernel serves it; latched, so a busy
  // data plane never turns a serving node unready (readiness gates rollouts, not traffic).
  let ready = false;
  const notReady = (): string | undefined => {
    // Not latched: a kernel that no longer matches while repair keeps failing is not serving.
    const broken = dataplane.problem();
    if (broken) return broken;
    if (ready) return undefined;
    const why = extra.notReady?.();
    if (why) return why;
    if (opts.dataplane && dataplane.generationApplied < runtime.snapshot.generation)
      return `data plane has not applied generation ${runtime.snapshot.generation} yet`;
    ready = true;
    return undefined;
  };
  const metrics = newRegistry();
  registerSnapshotMetrics(metrics, () => runtime.snapshot);
  registerSourceRangeDrops(metrics, () => dataplane.sourceRangeDrops());
  dataplane.registerMetrics(metrics);
  const api = new ApiServer({
    runtime,
    log,
    metrics,
    counters: (o) => dataplane.counters(o),
    dataplaneFailures: () => dataplane.failures(),
    notReady,
    ...(extra.token ? { token: extra.token } : {}),
    ...(extra.readOnly ? { readOnly: extra.readOnly } : {}),
  });
  api.addRoute('bgp', () => bgp.status());
  api.addRoute('sctp', () => sctp.status());
  api.addRoute('dataplane', () => dataplane.status());
  const addr = await api.listen(opts.listen.host, opts.listen.port);
  log.info(
    {
      api: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
      stateDir: opts.stateDir,
      dataplane: opts.dataplane,
      probes: opts.probes,
      auth: Boolean(extra.token),
    },
    'ferrolb running',
  );

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      void (async () => {
        await extra.onStop?.();
        await api.close();
        await runtime.drain();
        await bgp.stop().catch((err: unknown) => log.error({ err }, 'bgp shutdown failed'));
        await sctp.stop().catch((err: unknown) => log.error({ err }, 'sctp shutdown failed'));
        await dataplane.stop().catch((err: unknown) => log.error({ err }, 'data plane shutdown failed'));
        log.info('stopped');
        resolve(0);
      })();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => extra.onHup?.());
  });
}
