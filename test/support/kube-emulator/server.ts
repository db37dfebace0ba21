// A Kubernetes API server emulator on node:http, speaking the wire format @kubernetes/client-node
// uses: JSON objects, Lists with metadata.resourceVersion, Status errors, and watches as a stream of
// newline-delimited {type, object} events. Enough of the real semantics to test a controller's shell
// honestly: resourceVersion, bookmarks, 410 Gone after compaction, 409 on stale writes, the status
// subresource, and fault knobs (drop watches, stall them silently, restart the server).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { withNodePorts } from './defaults.js';
import { applyJsonPatch, mergePatch } from './patch.js';
import { apiVersionOf, findResource, type ResourceType } from './resources.js';
import { matchesFields, matchesLabels } from './selectors.js';
import { ApiError, clone, Store, type HistoryEntry, type Json } from './store.js';

export interface EmulatorOptions {
  /** Interval between BOOKMARK events on watches that ask for them. */
  readonly bookmarkIntervalMs?: number;
  /** Events kept for watches to replay; older resourceVersions get 410 Gone. */
  readonly historyLimit?: number;
  /** Answer a too-old watch with HTTP 410 instead of a 200 stream carrying an ERROR event. */
  readonly goneAsHttpStatus?: boolean;
  /** Listen address (default 127.0.0.1): a test whose clients run in a network namespace gives the
   * host end of a link to it. */
  readonly host?: string;
  /** Fill in spec.ports[].nodePort on created Services of type NodePort/LoadBalancer, as a real API
   * server does (off by default, so tests that compare whole objects see exactly what they sent). */
  readonly allocateNodePorts?: boolean;
}

interface ActiveWatch {
  readonly res: ServerResponse;
  stalled: boolean;
  readonly close: () => void;
}

export type Verb = 'list' | 'watch' | 'get' | 'create' | 'update' | 'patch' | 'delete';

export class KubeEmulator {
  readonly store: Store;
  private server: Server | undefined;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<ActiveWatch>();
  private injected: { count: number; code: number; match?: (method: string, path: string) => boolean }[] = [];
  /** Requests served, by verb and resource ("update services/status"), for tests and benchmarks. */
  readonly requests = new Map<string, number>();

  constructor(private readonly opts: EmulatorOptions = {}) {
    this.store = new Store(opts.historyLimit ?? 10_000);
  }

  get url(): string {
    const host = this.opts.host ?? '127.0.0.1';
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.url;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const w of this.watches) w.close();
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** An API server restart: every connection is cut, the port stays, etcd (the store) survives. With
   * `compact`, the new server's watch cache starts empty, so old resourceVersions get 410. */
  async restart(opts: { compact?: boolean; downMs?: number } = {}): Promise<void> {
    const port = this.port;
    await this.stop();
    if (opts.compact) this.store.compact();
    if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
    await this.start(port);
  }

  /** Cut every watch connection abruptly (as a load balancer in front of the API server might). */
  dropWatches(): number {
    const n = this.watches.size;
    for (const w of [...this.watches]) {
      w.res.socket?.destroy();
      w.close();
    }
    return n;
  }

  /** End every watch cleanly, as a real server does when a watch's timeout expires. */
  closeWatches(): number {
    const n = this.watches.size;
    for (const w of [...this.watches]) w.close();
    return n;
  }

  /** Every current watch goes silent: connection kept open, nothing more is sent (no bookmarks). */
  stallWatches(): number {
    for (const w of this.watches) w.stalled = true;
    return this.watches.size;
  }

  get activeWatches(): number {
    return this.watches.size;
  }

  /** The next `count` requests (matching `match`) fail with `code`. */
  injectErrors(count: number, code = 500, match?: (method: string, path: string) => boolean): void {
    this.injected.push({ count, code, ...(match ? { match } : {}) });
  }

  clearInjectedErrors(): void {
    this.injected = [];
  }

  requestCount(prefix = ''): number {
    let n = 0;
    for (const [k, v] of this.requests) if (k.startsWith(prefix)) n += v;
    return n;
  }

  // ---- HTTP ----

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        this.route(req, res, Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        const err = e instanceof ApiError ? e : new ApiError(500, 'InternalError', (e as Error).message);
        sendStatus(res, err);
      }
    });
  }

  private count(verb: Verb, t: ResourceType, sub?: string): void {
    const k = `${verb} ${t.plural}${sub ? `/${sub}` : ''}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  private route(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const inj = this.injected.find((i) => i.count > 0 && (!i.match || i.match(method, url.pathname)));
    if (inj) {
      inj.count--;
      throw new ApiError(inj.code, inj.code === 429 ? 'TooManyRequests' : 'InternalError', 'injected error');
    }
    const p = parsePath(url.pathname);
    if (!p)
      throw new ApiError(
        404,
        'NotFound',
        `the server could not find the requested resource (${url.pathname})`,
      );
    const { t, ns, name, sub } = p;
    const q = url.searchParams;
    const json = (): Json => {
      try {
        return JSON.parse(body || '{}') as Json;
      } catch {
        throw new ApiError(400, 'BadRequest', 'request body is not JSON');
      }
    };
    switch (method) {
      case 'GET':
        if (name !== undefined) {
          this.count('get', t, sub);
          return send(res, 200, this.store.get(t, ns, name));
        }
        if (q.get('watch') === 'true' || q.get('watch') === '1') {
          this.count('watch', t);
          return this.watch(t, p.allNamespaces ? undefined : ns, q, res);
        }
        this.count('list', t);
        return send(res, 200, this.list(t, p.allNamespaces ? undefined : ns, q));
      case 'POST': {
        this.count('create', t);
        const o = json();
        const bodyNs = (o.metadata as Json | undefined)?.namespace;
        if (t.namespaced && bodyNs !== undefined && bodyNs !== ns)
          throw new ApiError(
            400,
            'BadRequest',
            'the namespace of the object does not match the namespace on the request',
          );
        const body =
          this.opts.allocateNodePorts && t.group === '' && t.plural === 'services'
            ? withNodePorts(o, this.store.list(t, undefined))
            : o;
        return send(res, 201, this.store.create(t, ns, body));
      }
      case 'PUT':
        this.count('update', t, sub);
        return send(res, 200, this.store.replace(t, ns, need(name), json(), sub));
      case 'PATCH': {
        this.count('patch', t, sub);
        const cur = this.store.get(t, ns, need(name));
        const type = (req.headers['content-type'] ?? '').split(';')[0];
        const patched =
          type === 'application/json-patch+json'
            ? applyJsonPatch(cur, JSON.parse(body) as unknown[])
            : mergePatch(cur, json());
        return send(res, 200, this.store.replace(t, ns, need(name), patched as Json, sub));
      }
      case 'DELETE': {
        this.count('delete', t);
        const pre = body
          ? ((json().preconditions as Json | undefined)?.resourceVersion as string | undefined)
          : undefined;
        return send(res, 200, this.store.delete(t, ns, need(name), pre));
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported`);
    }
  }

  private list(t: ResourceType, ns: string | undefined, q: URLSearchParams): Json {
    const items = this.store
      .list(t, ns)
      .filter((o) => matchesLabels(o, q.get('labelSelector')) && matchesFields(o, q.get('fieldSelector')));
    return {
      kind: `${t.kind}List`,
      apiVersion: apiVersionOf(t),
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items,
    };
  }

  private watch(t: ResourceType, ns: string | undefined, q: URLSearchParams, res: ServerResponse): void {
    const rvText = q.get('resourceVersion') ?? '';
    const fromList = rvText === '' || rvText === '0';
    const since = fromList ? this.store.resourceVersion : Number(rvText);
    if (!Number.isInteger(since)) throw new ApiError(400, 'BadRequest', `invalid resourceVersion ${rvText}`);
    const replay = fromList ? [] : this.store.historySince(t, since);
    const selected = (o: Json) =>
      (ns === undefined || (o.metadata as Json).namespace === ns) &&
      matchesLabels(o, q.get('labelSelector')) &&
      matchesFields(o, q.get('fieldSelector'));
    if (!replay && this.opts.goneAsHttpStatus)
      throw new ApiError(
        410,
        'Expired',
        `too old resource version: ${since} (${this.store.oldestWatchable})`,
      );
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (!replay) {
      // What a real server does once the watch cache no longer has `since`: one ERROR event, then EOF.
      const status = goneStatus(since, this.store.oldestWatchable);
      res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
      return;
    }
    const timers: NodeJS.Timeout[] = [];
    let closed = false;
    const w: ActiveWatch = {
      res,
      stalled: false,
      close: () => {
        if (closed) return;
        closed = true;
        unsubscribe();
        for (const x of timers) clearTimeout(x);
        this.watches.delete(w);
        if (!res.destroyed) res.end();
      },
    };
    const write = (type: string, object: Json) => {
      if (!w.stalled && !closed) res.write(JSON.stringify({ type, object }) + '\n');
    };
    const deliver = (e: HistoryEntry) => {
      if (selected(e.object)) write(e.type, { ...clone(e.object), apiVersion: apiVersionOf(t) });
    };
    const unsubscribe = this.store.onChange((e) => {
      if (e.key === `${t.group}/${t.plural}`) deliver(e);
    });
    this.watches.add(w);
    res.on('close', () => w.close());
    if (fromList) for (const o of this.store.list(t, ns)) if (selected(o)) write('ADDED', o);
    for (const e of replay) deliver(e);
    if (q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1') {
      const every = this.opts.bookmarkIntervalMs ?? 1000;
      const tick = () => {
        write('BOOKMARK', {
          kind: t.kind,
          apiVersion: apiVersionOf(t),
          metadata: { resourceVersion: String(this.store.resourceVersion) },
        });
        timers.push(setTimeout(tick, every));
      };
      timers.push(setTimeout(tick, every));
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(() => w.close(), timeout * 1000));
  }
}

function need(name: string | undefined): string {
  if (name === undefined) throw new ApiError(405, 'MethodNotAllowed', 'this verb needs an object name');
  return name;
}

interface ParsedPath {
  readonly t: ResourceType;
  readonly ns: string;
  readonly allNamespaces: boolean;
  readonly name?: string;
  readonly sub?: 'status';
}

/** /api/v1/... or /apis/GROUP/VERSION/..., then [namespaces/NS/]PLURAL[/NAME[/status]]. */
export function parsePath(path: string): ParsedPath | undefined {
  const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string, version: string, rest: string[];
  if (seg[0] === 'api' && seg[1]) [group, version, rest] = ['', seg[1], seg.slice(2)];
  else if (seg[0] === 'apis' && seg[1] && seg[2]) [group, version, rest] = [seg[1], seg[2], seg.slice(3)];
  else return undefined;
  let ns = '';
  let allNamespaces = true;
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status') {
    ns = rest[1] as string;
    allNamespaces = false;
    rest = rest.slice(2);
  }
  const [plural, name, sub, ...extra] = rest;
  if (!plural || extra.length > 0 || (sub !== undefined && sub !== 'status')) return undefined;
  const t = findResource(group, version, plural);
  if (!t) return undefined;
  if (t.namespaced && name !== undefined && allNamespaces) return undefined;
  return {
    t,
    ns: t.namespaced ? ns : '',
    allNamespaces: t.namespaced ? allNamespaces : true,
    ...(name !== undefined ? { name } : {}),
    ...(sub === 'status' && t.statusSubresource ? { sub: 'status' as const } : {}),
  };
}

const goneStatus = (since: number, oldest: number): Json => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: `too old resource version: ${since} (${oldest})`,
  reason: 'Expired',
  code: 410,
});

function send(res: ServerResponse, code: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, e: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, e.code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: e.message,
    reason: e.reason,
    code: e.code,
  });
}
