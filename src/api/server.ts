// REST API (/api/v1): LoadBalancers and pools, apply of object sets, health. Every write goes through
// the same validation as the config file, and is acknowledged only once it is durable.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { objectShapeIssues } from '../model/validate.js';
import { API_VERSION, Kind, type KindName, type RawObject } from '../model/types.js';
import type { Runtime } from '../shell/runtime.js';
import { PersistError } from '../state/persist.js';
import { isStatusPagePath, serveStatusPage } from './ui.js';
import { TransitionError, type Change, type Transition } from '../state/snapshot.js';
import { applyAnswer, storedObject, storedObjects } from './objects.js';
import {
  ContinueTokenError,
  loadBalancerNames,
  loadBalancerView,
  loadBalancerViews,
  pageOf,
  poolViews,
  type ListPage,
  type LoadBalancerView,
  type PoolView,
} from '../state/views.js';
import type { ServiceCounters } from '../dataplane/applier.js';
import type { CounterReadOptions } from '../dataplane/countercache.js';
import { withCounters, withDataplaneFailures } from '../state/views.js';
import {
  ApiError,
  ApiErrorCode,
  authorized,
  MAX_BODY_BYTES,
  readObjects,
  sendError,
  sendJson,
} from './http.js';

import { API_PREFIX } from './paths.js';

export { API_PREFIX };
/** Counter values a read accepts (listing them costs seconds at 10k services), and how long it waits. */
const COUNTERS_MAX_AGE_MS = 5_000;
const COUNTERS_WAIT_MS = 500;
/** Largest page of a paged listing (`?limit=`). */
export const MAX_LIST_LIMIT = 10_000;

/** `?limit=N&continue=TOKEN` of a listing; undefined without limit (the whole list, as before). */
function listPaging(url: URL): { limit: number; token?: string } | undefined {
  const l = url.searchParams.get('limit');
  const token = url.searchParams.get('continue') ?? undefined;
  if (l === null) {
    if (token !== undefined) throw new ApiError(ApiErrorCode.BadRequest, 'continue needs limit');
    return undefined;
  }
  const limit = Number(l);
  if (!/^\d+$/.test(l) || limit < 1 || limit > MAX_LIST_LIMIT)
    throw new ApiError(
      ApiErrorCode.BadRequest,
      `limit: "${l.slice(0, 40)}" is not an integer in 1..${MAX_LIST_LIMIT}`,
    );
  return { limit, ...(token !== undefined ? { token } : {}) };
}

export interface ApiOptions {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly token?: string;
  /** Served at GET /metrics (no auth, like /healthz: scrapers rarely carry tokens). */
  readonly metrics?: Registry;
  /** When set, every write is refused with this reason (e.g. the agent: Kubernetes owns the config). */
  readonly readOnly?: string;
  /**
   * Live packet/byte counters from the data plane, merged into LoadBalancer views: all services, or
   * one. Reads accept values a few seconds old (see src/dataplane/countercache.ts).
   */
  readonly counters?: (o: CounterReadOptions) => Promise<readonly ServiceCounters[]>;
  /** Services the data plane could not program, by name (shown in LoadBalancer views). */
  readonly dataplaneFailures?: () => ReadonlyMap<string, { kind: string; reason: string }>;
  /** GET /readyz: undefined when ready, else why not (503). Absent: ready once listening. */
  readonly notReady?: () => string | undefined;
  /** Extra detail in a 503 /readyz body (the role's components and their states). */
  readonly readyDetail?: () => unknown;
  readonly limits?: Partial<ApiLimits>;
}

/** Bounds on what one client can hold: connections, slow or idle sockets, body size. */
export interface ApiLimits {
  /** Open connections at once; more are accepted and closed at once (fds stay free for the kernel work). */
  readonly maxConnections: number;
  /** Time to receive a request's headers; a new connection must send its first request within it too. */
  readonly headersTimeoutMs: number;
  /** Time to receive a whole request. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** A socket with no traffic at all for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Request bodies over this are refused with 413. */
  readonly maxBodyBytes: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = {
  maxConnections: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxBodyBytes: MAX_BODY_BYTES,
};

/** Extension point for later subsystems (data plane, BGP, SCTP) to add read-only resources. */
/** A read-only resource of another component; may answer with a promise (a fresh status). */
export type ExtraRoute = (path: string[], req: IncomingMessage) => unknown;

const RESOURCES: Record<string, KindName> = {
  loadbalancers: Kind.LoadBalancer,
  pools: Kind.IPAddressPool,
  bgppeers: Kind.BGPPeer,
  bgpadvertisements: Kind.BGPAdvertisement,
  bfdprofiles: Kind.BFDProfile,
  communities: Kind.Community,
};

export class ApiServer {
  private server?: Server;
  private readonly extras = new Map<string, ExtraRoute>();
  private readonly limits: ApiLimits;
  /** Connections closed at once because maxConnections were open. */
  droppedConnections = 0;
  /** Connections that have not sent a request yet, and the timer that closes them. */
  private readonly firstRequest = new WeakMap<Socket, ReturnType<typeof setTimeout>>();

  constructor(private readonly opts: ApiOptions) {
    this.limits = { ...DEFAULT_API_LIMITS, ...opts.limits };
  }

  addRoute(resource: string, handler: ExtraRoute): void {
    this.extras.set(resource, handler);
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const l = this.limits;
    const server = createServer(
      {
        headersTimeout: l.headersTimeoutMs,
        requestTimeout: l.requestTimeoutMs,
        keepAliveTimeout: l.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.min(1_000, l.headersTimeoutMs),
      },
      (req, res) => {
        const t = this.firstRequest.get(req.socket);
        if (t) clearTimeout(t);
        this.firstRequest.delete(req.socket);
        void this.handle(req, res);
      },
    );
    server.maxConnections = l.maxConnections;
    server.timeout = l.idleTimeoutMs;
    // Node's headersTimeout counts from a request's first byte; a connection that sends nothing at
    // all would hold its slot until the idle timeout. Close it after headersTimeout too.
    server.on('connection', (sock: Socket) => {
      const t = setTimeout(() => sock.destroy(), l.headersTimeoutMs);
      t.unref();
      this.firstRequest.set(sock, t);
      sock.once('close', () => clearTimeout(t));
    });
    server.on('drop', () => {
      if (this.droppedConnections++ % 1000 === 0)
        this.opts.log.warn(
          { maxConnections: l.maxConnections, dropped: this.droppedConnections },
          'api: connection limit reached; new connections are closed',
        );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Once listening, an accept error (EMFILE when fds run out) is logged, never a crash.
    server.on('error', (err) => this.opts.log.error({ err }, 'api: server error'));
    this.server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private lbViews(): LoadBalancerView[] {
    return withDataplaneFailures(
      loadBalancerViews(this.opts.runtime.snapshot, (s, a) => this.opts.runtime.endpointState(s, a)),
      this.opts.dataplaneFailures?.(),
    );
  }

  private poolViews(): PoolView[] {
    return poolViews(this.opts.runtime.snapshot);
  }

  /**
   * LoadBalancer views with counters: every one, one page of them (`?limit=&continue=`), or only
   * `name` (undefined when there is none) — built for those alone, counters read for those alone.
   * `?counters=false` leaves the counters out (the plain table shows none).
   */
  private async lbViewsWithCounters(
    req: IncomingMessage,
    name?: string,
  ): Promise<{ items: LoadBalancerView[]; page?: ListPage }> {
    const snap = this.opts.runtime.snapshot;
    const health = (s: string, a: string) => this.opts.runtime.endpointState(s, a);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const paging = name === undefined ? listPaging(url) : undefined;
    let lbs: LoadBalancerView[];
    let page: ListPage | undefined;
    if (paging) {
      try {
        page = pageOf(loadBalancerNames(snap), paging.limit, paging.token);
      } catch (e) {
        if (e instanceof ContinueTokenError) throw new ApiError(ApiErrorCode.BadRequest, e.message);
        throw e;
      }
      lbs = page.names.map((n) => loadBalancerView(snap, snap.state.loadBalancers.get(n)!, health));
    } else if (name === undefined) lbs = loadBalancerViews(snap, health);
    else {
      const lb = snap.state.loadBalancers.get(name);
      lbs = lb ? [loadBalancerView(snap, lb, health)] : [];
    }
    lbs = withDataplaneFailures(lbs, this.opts.dataplaneFailures?.());
    const wanted = url.searchParams.get('counters') !== 'false';
    if (!this.opts.counters || !wanted || lbs.length === 0) return { items: lbs, ...(page ? { page } : {}) };
    try {
      // A listing waits for fresh counters on its first page only: the pages after it take what
      // the cache has by then (else each of 20 pages could wait the whole bound again).
      const o = { maxAgeMs: COUNTERS_MAX_AGE_MS, waitMs: paging?.token ? 0 : COUNTERS_WAIT_MS };
      const which = name !== undefined ? { service: name } : page ? { services: page.names } : {};
      const items = withCounters(lbs, await this.opts.counters({ ...o, ...which }));
      return { items, ...(page ? { page } : {}) };
    } catch (err) {
      this.opts.log.warn({ err }, 'counters unavailable');
      return { items: lbs, ...(page ? { page } : {}) };
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/metrics' && this.opts.metrics) {
        const text = await this.opts.metrics.metrics();
        res.writeHead(200, { 'content-type': this.opts.metrics.contentType });
        res.end(text);
        return;
      }
      if (isStatusPagePath(url.pathname) && (req.method === 'GET' || req.method === 'HEAD'))
        return await serveStatusPage(url.pathname, res);
      if (url.pathname === '/healthz') {
        return sendJson(res, 200, { status: 'ok', generation: this.opts.runtime.snapshot.generation });
      }
      if (url.pathname === '/readyz') {
        const reason = this.opts.notReady?.();
        // Detail only when not ready: a ready answer stays `{"status": "ready"}`.
        const detail = reason ? this.opts.readyDetail?.() : undefined;
        return sendJson(res, reason ? 503 : 200, {
          ...(reason ? { status: 'not ready', reason } : { status: 'ready' }),
          ...(detail !== undefined ? { components: detail } : {}),
        });
      }
      if (!url.pathname.startsWith(`${API_PREFIX}/`) && url.pathname !== API_PREFIX) {
        throw new ApiError(ApiErrorCode.NotFound, `no such path ${url.pathname}`);
      }
      if (!authorized(req, this.opts.token)) {
        res.setHeader('www-authenticate', 'Bearer');
        throw new ApiError(ApiErrorCode.Unauthorized, 'missing or wrong bearer token');
      }
      const path = url.pathname
        .slice(API_PREFIX.length)
        .split('/')
        .filter(Boolean)
        .map((seg) => {
          try {
            return decodeURIComponent(seg);
          } catch {
            throw new ApiError(ApiErrorCode.BadRequest, `bad %-encoding in path segment "${seg}"`);
          }
        });
      const [status, body] = await this.route(req, path);
      sendJson(res, status, body, !url.searchParams.has('limit'));
    } catch (e) {
      const err =
        e instanceof ApiError
          ? e
          : e instanceof PersistError
            ? new ApiError(ApiErrorCode.Unavailable, e.message)
            : new ApiError(ApiErrorCode.Internal, (e as Error).message);
      if (err.code === ApiErrorCode.Internal) this.opts.log.error({ err: e }, 'api internal error');
      // The rest of an oversized body is not read: close the connection instead.
      if (err.code === ApiErrorCode.PayloadTooLarge) res.setHeader('connection', 'close');
      if (res.headersSent) res.destroy();
      else sendError(res, err);
    } finally {
      this.opts.log.debug(
        { method: req.method, url: req.url, status: res.statusCode, ms: Date.now() - started },
        'api',
      );
    }
  }

  private async route(req: IncomingMessage, path: string[]): Promise<[number, unknown]> {
    const method = req.method ?? 'GET';
    if (this.opts.readOnly && method !== 'GET')
      throw new ApiError(ApiErrorCode.MethodNotAllowed, this.opts.readOnly);
    const [resource, name, ...rest] = path;
    if (resource === undefined)
      return [200, { resources: [...Object.keys(RESOURCES), 'apply', ...this.extras.keys()] }];
    if (resource === 'apply') {
      if (method !== 'POST') throw new ApiError(ApiErrorCode.MethodNotAllowed, 'use POST');
      const objects = await readObjects(req, this.limits.maxBodyBytes);
      const strict = new URL(req.url ?? '/', 'http://localhost').searchParams.get('strict') === 'true';
      return this.change({ type: 'apply', objects, ...(strict ? { strict } : {}) }, 200, (t) =>
        applyAnswer(objects, t.outcomes, t.next),
      );
    }
    const extra = this.extras.get(resource);
    if (extra) {
      if (method !== 'GET') throw new ApiError(ApiErrorCode.MethodNotAllowed, 'read-only resource');
      return [200, await extra(path.slice(1), req)];
    }
    const kind = RESOURCES[resource];
    if (!kind || rest.length > 0)
      throw new ApiError(ApiErrorCode.NotFound, `no such resource /${path.join('/')}`);
    // LoadBalancers and pools have read models; the other kinds are returned as stored.
    const raw = () =>
      this.opts.runtime.snapshot.objects
        .filter((o) => o.object.kind === kind)
        .map((o) => ({ name: String((o.object.metadata as { name?: unknown })?.name), ...o.object }));
    const list = () =>
      kind === Kind.LoadBalancer ? this.lbViews() : kind === Kind.IPAddressPool ? this.poolViews() : raw();
    const one = (n: string) => {
      // One LoadBalancer's view directly (a write's answer must not cost a view of every service).
      const snap = this.opts.runtime.snapshot;
      const spec = kind === Kind.LoadBalancer ? snap.state.loadBalancers.get(n) : undefined;
      if (spec) return loadBalancerView(snap, spec, (s, a) => this.opts.runtime.endpointState(s, a));
      const v = (list() as { name: string }[]).find((x) => x.name === n);
      if (!v) throw new ApiError(ApiErrorCode.NotFound, `${kind}/${n} not found`);
      return v;
    };

    switch (method) {
      case 'GET': {
        if (new URL(req.url ?? '/', 'http://localhost').searchParams.get('as') === 'object')
          return [200, this.asObjects(req, kind, name)];
        const { items, page } =
          kind === Kind.LoadBalancer
            ? await this.lbViewsWithCounters(req, name)
            : { items: list(), page: undefined };
        if (name === undefined)
          return [
            200,
            page
              ? {
                  items,
                  metadata: {
                    remainingItemCount: page.remainingItemCount,
                    ...(page.continue ? { continue: page.continue } : {}),
                  },
                }
              : { items },
          ];
        const v = (items as { name: string }[]).find((x) => x.name === name);
        if (!v) throw new ApiError(ApiErrorCode.NotFound, `${kind}/${name} not found`);
        return [200, v];
      }
      case 'POST': {
        if (name !== undefined)
          throw new ApiError(
            ApiErrorCode.MethodNotAllowed,
            `POST to /${resource}, or PUT to /${resource}/${name}`,
          );
        const o = this.single(await readObjects(req, this.limits.maxBodyBytes), kind);
        return this.change({ type: 'apply', objects: [o], createOnly: true }, 201, () => one(this.nameOf(o)));
      }
      case 'PUT': {
        if (name === undefined) throw new ApiError(ApiErrorCode.MethodNotAllowed, `PUT to /${resource}/NAME`);
        const o = this.single(await readObjects(req, this.limits.maxBodyBytes), kind, name);
        return this.change({ type: 'apply', objects: [o] }, 200, () => one(name));
      }
      case 'DELETE': {
        if (name === undefined) throw new ApiError(ApiErrorCode.MethodNotAllowed, `DELETE /${resource}/NAME`);
        return this.change({ type: 'delete', kind, name }, 200, () => ({ deleted: `${kind}/${name}` }));
      }
      default:
        throw new ApiError(ApiErrorCode.MethodNotAllowed, `${method} not supported`);
    }
  }

  /** Fills apiVersion/kind/name from the URL when absent, and checks the shape alone first. */
  private single(objects: RawObject[], kind: KindName, name?: string): RawObject {
    if (objects.length !== 1)
      throw new ApiError(ApiErrorCode.BadRequest, `expected one ${kind} object, got ${objects.length}`);
    const raw = objects[0] as RawObject;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new ApiError(ApiErrorCode.BadRequest, 'body must be an object');
    const meta = (raw.metadata && typeof raw.metadata === 'object' ? raw.metadata : {}) as Record<
      string,
      unknown
    >;
    if (name !== undefined && meta.name !== undefined && meta.name !== name) {
      throw new ApiError(
        ApiErrorCode.BadRequest,
        `metadata.name "${String(meta.name)}" does not match the URL's "${name}"`,
      );
    }
    const o: RawObject = {
      apiVersion: API_VERSION,
      kind,
      ...raw,
      metadata: { ...meta, ...(name !== undefined ? { name } : {}) },
    };
    if (o.kind !== kind)
      throw new ApiError(
        ApiErrorCode.BadRequest,
        `kind "${String(o.kind)}" does not belong under this path (${kind})`,
      );
    const issues = objectShapeIssues(o);
    if (issues.length > 0) throw new ApiError(ApiErrorCode.Invalid, `invalid ${kind}`, issues);
    return o;
  }

  private nameOf(o: RawObject): string {
    return String((o.metadata as { name: string }).name);
  }

  /**
   * `?as=object`: the stored objects exactly as applied (no status), which re-apply unchanged. A
   * listing is a Kubernetes List, paged like the views (`?limit=&continue=`).
   */
  private asObjects(req: IncomingMessage, kind: KindName, name: string | undefined): unknown {
    const snap = this.opts.runtime.snapshot;
    if (name !== undefined) {
      const o = storedObject(snap, kind, name);
      if (!o) throw new ApiError(ApiErrorCode.NotFound, `${kind}/${name} not found`);
      return o;
    }
    const names =
      kind === Kind.LoadBalancer
        ? loadBalancerNames(snap)
        : kind === Kind.IPAddressPool
          ? this.poolViews().map((p) => p.name)
          : (this.rawNames(kind) ?? []);
    const paging = listPaging(new URL(req.url ?? '/', 'http://localhost'));
    let page: ListPage | undefined;
    try {
      page = paging ? pageOf(names, paging.limit, paging.token) : undefined;
    } catch (e) {
      if (e instanceof ContinueTokenError) throw new ApiError(ApiErrorCode.BadRequest, e.message);
      throw e;
    }
    return {
      apiVersion: 'v1',
      kind: 'List',
      items: storedObjects(snap, kind, page ? page.names : names),
      ...(page
        ? {
            metadata: {
              remainingItemCount: page.remainingItemCount,
              ...(page.continue ? { continue: page.continue } : {}),
            },
          }
        : {}),
    };
  }

  private rawNames(kind: KindName): string[] | undefined {
    return this.opts.runtime.snapshot.objects
      .filter((o) => o.object.kind === kind)
      .map((o) => String((o.object.metadata as { name?: unknown })?.name));
  }

  private async change(
    change: Change,
    okStatus: number,
    body: (t: Extract<Transition, { ok: true }>) => unknown,
  ): Promise<[number, unknown]> {
    const t = await this.opts.runtime.submit(change);
    if (t.ok) return [okStatus, body(t)];
    if (t.code === TransitionError.AlreadyExists)
      throw new ApiError(ApiErrorCode.AlreadyExists, 'already exists', t.issues);
    if (t.code === TransitionError.NotFound) throw new ApiError(ApiErrorCode.NotFound, 'not found', t.issues);
    // An invariant (a pool still in use) refused it: the request is valid but conflicts with state.
    if (t.code === TransitionError.Conflict)
      throw new ApiError(
        ApiErrorCode.Conflict,
        t.issues[0]?.message
          ? `${t.issues[0].object} ${t.issues[0].message}`
          : 'conflicts with the current state',
        t.issues,
      );
    if (t.code === TransitionError.Warnings)
      throw new ApiError(
        ApiErrorCode.Invalid,
        'strict: the objects have warnings; nothing was changed',
        t.issues,
      );
    throw new ApiError(
      ApiErrorCode.Invalid,
      'the change would make the configuration invalid; nothing was changed',
      t.issues,
    );
  }
}
