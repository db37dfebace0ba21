// The daemon's subsystems as Components (src/shell/component.ts). Each wraps an existing shell and
// adds nothing but the lifecycle: what start and stop mean, and whether a failure is retried.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ApiServer } from '../api/server.js';
import type { BgpShell } from '../shell/bgp.js';
import type { ClusterShell } from '../shell/cluster.js';
import type { HaShell } from '../shell/ha.js';
import { DEFAULT_START_TIMEOUT_MS, type Component } from '../shell/component.js';
import type { DataplaneShell } from '../shell/dataplane.js';
import { NetnsLock, StateDirLock } from '../shell/lock.js';
import type { Runtime } from '../shell/runtime.js';
import type { SctpShell } from '../shell/sctp.js';
import { serveMetrics } from '../shell/metrics.js';

export function stateDirLockComponent(dir: string): Component {
  const lock = new StateDirLock(dir);
  return {
    name: 'state-lock',
    start: () => lock.acquire(),
    stop: () => lock.release(),
    detail: () => ({ dir }),
  };
}

export function netnsLockComponent(table: string, about: () => Record<string, unknown>): Component {
  const lock = new NetnsLock(table, about);
  return {
    name: 'kernel-lock',
    start: () => lock.acquire(),
    stop: () => lock.release(),
    detail: () => ({ table }),
  };
}

/**
 * Start bounds that grow with the configuration: reading, validating and allocating 50k services,
 * or their first kernel apply (≈ 1 minute of nft at 50k × 8 on 2 vCPUs, several under load), must
 * not count as a hung start (the Supervisor's default is 60 s). Still bounded: a role never hangs.
 */
const STATE_START_TIMEOUT_MS = 600_000;
export const dataplaneStartTimeoutMs = (services: number): number =>
  Math.max(DEFAULT_START_TIMEOUT_MS, 60_000 + 10 * services);

/** Loads the persisted state and applies the config file (no kernel work). Stop waits for queued changes. */
export function runtimeComponent(runtime: Runtime): Component {
  return {
    name: 'state',
    startTimeoutMs: STATE_START_TIMEOUT_MS,
    start: () => runtime.start(),
    drain: () => runtime.drain(),
    stop: async () => undefined,
  };
}

/** Binds the REST API. Drained (closed) first at shutdown so no write arrives while the rest stops. */
export function apiComponent(
  api: ApiServer,
  listen: { host: string; port: number },
  onListening: (a: AddressInfo) => void,
): Component {
  return {
    name: 'api',
    startTimeoutMs: 10_000,
    start: async () => onListening(await api.listen(listen.host, listen.port)),
    drain: () => api.close(),
    stop: () => api.close(),
  };
}

/** `services`: how many the first apply programs (read when the start begins, after the state's). */
export function dataplaneComponent(shell: DataplaneShell, services: () => number = () => 0): Component {
  return {
    name: 'dataplane',
    get startTimeoutMs() {
      return dataplaneStartTimeoutMs(services());
    },
    start: () => shell.start(),
    stop: () => shell.stop(),
  };
}

/**
 * Multihomed SCTP. Not ready while the configuration has multihomed services the node cannot carry
 * (addon or NFQUEUE missing, ...): a node that would blackhole them must not pass a readiness gate.
 */
export function sctpComponent(shell: SctpShell): Component {
  return {
    name: 'sctp',
    start: () => shell.start(),
    stop: () => shell.stop(),
    ready: () => {
      const st = shell.status();
      return st.error && st.services.length > 0 ? `sctp: ${st.error}` : undefined;
    },
  };
}

/**
 * The BGP speaker (on its own thread, which retries a failed start with backoff itself): retriable
 * here too, and not ready while the speaker is down, so /readyz says why.
 */
export function bgpComponent(shell: BgpShell): Component {
  return {
    name: 'bgp',
    retry: { initialMs: 1_000, maxMs: 30_000 },
    start: () => shell.start(),
    stop: () => shell.stop(),
    ready: () => shell.speakerDown(),
  };
}

/**
 * Cluster membership (its worker thread): required, so a Cluster this node cannot join (a name not
 * in it, a missing or short key, an address not on this host) refuses the start with the reason.
 */
export function clusterComponent(shell: ClusterShell): Component {
  return {
    name: 'cluster',
    start: () => shell.start(),
    stop: () => shell.stop(),
    ready: () => shell.notReady(),
  };
}

/** HA connection-state sync (docs/ha.md): kernel conntrack of ferrolb's flows over the Cluster's channel. */
export function haComponent(shell: HaShell): Component {
  return { name: 'ha', start: () => shell.start(), stop: () => shell.stop() };
}

/**
 * Prometheus metrics (and /healthz) on their own address (`--metrics-addr`): scrapers and the kubelet
 * reach it without the API's token. Bound early, so a taken port fails before anything is written.
 */
export function metricsComponent(
  listen: { host: string; port: number },
  registry: () => Registry,
  log: Logger,
): Component {
  let server: Server | undefined;
  return {
    name: 'metrics',
    startTimeoutMs: 10_000,
    start: async () => {
      const m = await serveMetrics(registry(), listen.host, listen.port);
      server = m.server;
      log.info({ metrics: `http://${m.address.address}:${m.address.port}/metrics` }, 'metrics');
    },
    stop: async () => {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((r) => s.close(() => r()));
    },
    detail: () => ({ listen: `${listen.host}:${listen.port}` }),
  };
}
