// The daemon's subsystems as Components (src/shell/component.ts). Each wraps an existing shell and
// adds nothing but the lifecycle: what start and stop mean, and whether a failure is retried.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ApiServer } from '../api/server.js';
import type { BgpShell } from '../shell/bgp.js';
import type { ClusterShell } from '../shell/cluster.js';
import type { Component } from '../shell/component.js';
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

/** Loads the persisted state and applies the config file (no kernel work). Stop waits for queued changes. */
export function runtimeComponent(runtime: Runtime): Component {
  return {
    name: 'state',
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

export function dataplaneComponent(shell: DataplaneShell): Component {
  // The first apply programs the whole configuration: its time grows with it (10k Maglev services
  // under load take minutes), so the generic 60 s start deadline would kill a healthy start.
  return { name: 'dataplane', startTimeoutMs: 900_000, start: () => shell.start(), stop: () => shell.stop() };
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
