// A Kubernetes API server emulator on node:http, speaking the wire format @kubernetes/client-node
// uses: JSON objects, Lists with metadata.resourceVersion, Status errors, and watches as a stream of
// newline-delimited {type, object} events. Enough of the real semantics to test a controller's shell
// honestly: resourceVersion, bookmarks, 410 Gone after compaction, 409 on stale writes, the status
// subresource, and fault knobs (drop watches, stall them silently, restart the server). As strict as
// a real server where a client could be wrong: custom resources only while their CRD is installed
// (crd.ts), bearer-token authentication and RBAC over the shipped roles (rbac.ts), schema and
// built-in validation with 422 (schema.ts, builtin-validation.ts), 415 for patch types a resource
// does not take.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { admitBuiltin } from './builtin-validation.js';
import { establishedStatus, ferrolbCrds, metallbCrds, servedVersions, type CrdVersion } from './crd.js';
import { withNodePorts } from './defaults.js';
import { discovery } from './discovery.js';
import { applyJsonPatch, mergePatch } from './patch.js';
import {
  authenticate,
  authorize,
  forbiddenMessage,
  rbacManifest,
  RBAC_MANIFEST,
  serviceAccountToken,
  type Attributes,
  type AuthzRecord,
} from './rbac.js';
import {
  apiVersionOf,
  BUILTIN_TYPES,
  CRD_TYPE,
  findBuiltin,
  storageKey,
  type ResourceType,
} from './resources.js';
import { admitCustom } from './schema.js';
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
  /** CRDs installed at start: ferrolb's (deploy/crds) and stand-ins for MetalLB's. Default both;
   * [] starts a cluster where no custom resource is served until a test creates its CRD. */
  readonly crds?: readonly ('ferrolb.io' | 'metallb.io')[];
  /** RBAC objects loaded at start (ServiceAccounts, Roles, bindings); default the shipped
   * deploy/manifests/rbac.yaml. */
  readonly rbacManifest?: string;
}

interface ActiveWatch {
  readonly key: string;
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
  /** Every request RBAC allowed (not the admin's), with the rule that allowed it. */
  readonly authorized: AuthzRecord[] = [];
  /** Every request refused with 403, and the message it got. */
  readonly denied: { attrs: Attributes; message: string }[] = [];
  /** Custom resource types served now, by group/version/plural (from Established CRDs). */
  private served = new Map<string, CrdVersion>();

  constructor(private readonly opts: EmulatorOptions = {}) {
    this.store = new Store(opts.historyLimit ?? 10_000);
    this.store.admit = (t, next) => {
      if (!t.custom) return admitBuiltin(t, next);
      const v = this.served.get(`${t.group}/${t.version}/${t.plural}`);
      if (v) admitCustom(v.schema, t.kind, t.group, next);
    };
    this.store.onChange((e) => {
      if (e.key === storageKey(CRD_TYPE)) this.refreshServed();
    });
    for (const o of rbacManifest(opts.rbacManifest ?? RBAC_MANIFEST)) this.createAsAdmin(o);
    const groups = opts.crds ?? ['ferrolb.io', 'metallb.io'];
    if (groups.includes('ferrolb.io')) for (const c of ferrolbCrds()) this.installCrd(c);
    if (groups.includes('metallb.io')) for (const c of metallbCrds()) this.installCrd(c);
  }

  /** The type served at group/version/plural now (built-in, or from an Established CRD). */
  resource(group: string, version: string, plural: string): ResourceType | undefined {
    return findBuiltin(group, version, plural) ?? this.served.get(`${group}/${version}/${plural}`)?.type;
  }

  /** The bearer token of a ServiceAccount (valid while the ServiceAccount exists). */
  tokenFor(namespace: string, serviceAccount: string): string {
    return serviceAccountToken(namespace, serviceAccount);
  }

  /** Creates a CRD and establishes it, as `kubectl apply -f crd.yaml` and the API server do. */
  installCrd(crd: Json): Json {
    const created = this.store.create(CRD_TYPE, '', crd);
    const name = String((created.metadata as Json).name);
    return this.store.replace(
      CRD_TYPE,
      '',
      name,
      { ...created, status: establishedStatus(created) },
      'status',
    );
  }

  /** Deletes a CRD: every object of its kind goes first (watchers see DELETED), then its watches end. */
  deleteCrd(name: string): Json {
    const crd = this.store.get(CRD_TYPE, '', name);
    const v = servedVersions(crd)[0];
    if (v) this.store.deleteAll(v.type);
    return this.store.delete(CRD_TYPE, '', name);
  }

  private createAsAdmin(o: Json): void {
    const [group, version] = String(o.apiVersion).includes('/')
      ? (String(o.apiVersion).split('/') as [string, string])
      : ['', String(o.apiVersion)];
    const t = BUILTIN_TYPES.find((x) => x.group === group && x.version === version && x.kind === o.kind);
    if (!t) throw new Error(`emulator: cannot load ${String(o.kind)} (${String(o.apiVersion)})`);
    const ns = t.namespaced ? String(((o.metadata ?? {}) as Json).namespace ?? 'default') : '';
    this.store.create(t, ns, o);
  }

  private refreshServed(): void {
    const next = new Map<string, CrdVersion>();
    for (const crd of this.store.list(CRD_TYPE))
      for (const v of servedVersions(crd)) next.set(`${v.type.group}/${v.type.version}/${v.type.plural}`, v);
    const still = new Set([...next.values()].map((v) => storageKey(v.type)));
    this.served = next;
    // A type that is no longer served ends its watches, as the real server's do.
    for (const w of [...this.watches]) if (this.isCustomKey(w.key) && !still.has(w.key)) w.close();
  }

  private isCustomKey(key: string): boolean {
    return !BUILTIN_TYPES.some((t) => storageKey(t) === key);
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
    const q = url.searchParams;
    // Authentication, then authorization on what the URL asks (before the type is looked up, so a
    // caller without rights learns nothing about which types exist), as kube-apiserver's filters.
    const auth = req.headers.authorization ?? '';
    const user = authenticate(auth.startsWith('Bearer ') ? auth.slice(7) : undefined, (ns, name) =>
      this.store.has(findBuiltin('', 'v1', 'serviceaccounts') as ResourceType, ns, name),
    );
    if (!user) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    const info = requestInfo(url.pathname, method, q);
    const attrs: Attributes = { user, ...info.attrs };
    const grant = authorize(this.rbacObjects, attrs);
    if (!grant) {
      const message = forbiddenMessage(attrs);
      this.denied.push({ attrs, message });
      throw new ApiError(403, 'Forbidden', message, {
        ...(attrs.name ? { name: attrs.name } : {}),
        group: attrs.apiGroup,
        kind: attrs.resource,
      });
    }
    if (grant !== 'superuser') this.authorized.push({ attrs, grant });
    if (!info.resource) {
      const doc = method === 'GET' ? discovery(url.pathname, this.servedTypes()) : undefined;
      if (!doc) throw notFoundPath(url.pathname);
      return send(res, 200, doc);
    }
    const p = info.resource;
    const t = this.resource(p.group, p.version, p.plural);
    if (
      !t ||
      (t.namespaced && p.name !== undefined && p.allNamespaces) ||
      (p.sub && !(p.sub === 'status' && t.statusSubresource))
    )
      throw notFoundPath(url.pathname);
    const ns = t.namespaced ? p.ns : '';
    const allNamespaces = t.namespaced ? p.allNamespaces : true;
    const name = p.name;
    const sub = p.sub as 'status' | undefined; // checked above: only status is served
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
          return this.watch(t, allNamespaces ? undefined : ns, q, res);
        }
        this.count('list', t);
        return send(res, 200, this.list(t, allNamespaces ? undefined : ns, q));
      case 'POST': {
        if (name !== undefined) throw new ApiError(405, 'MethodNotAllowed', 'POST names no object');
        this.count('create', t);
        const o = json();
        const bodyNs = (o.metadata as Json | undefined)?.namespace;
        if (t.namespaced && bodyNs !== undefined && bodyNs !== ns)
          throw new ApiError(
            400,
            'BadRequest',
            'the namespace of the object does not match the namespace on the request',
          );
        if (t === CRD_TYPE) return send(res, 201, this.installCrd(o));
        const created =
          this.opts.allocateNodePorts && t.group === '' && t.plural === 'services'
            ? withNodePorts(o, this.store.list(t, undefined))
            : o;
        return send(res, 201, this.store.create(t, ns, created));
      }
      case 'PUT':
        this.count('update', t, sub);
        return send(res, 200, this.store.replace(t, ns, need(name), json(), sub));
      case 'PATCH': {
        this.count('patch', t, sub);
        const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
        checkPatchType(t, type);
        const cur = this.store.get(t, ns, need(name));
        let ops: unknown;
        try {
          ops = JSON.parse(body);
        } catch {
          throw new ApiError(400, 'BadRequest', 'the patch is not JSON');
        }
        const patched =
          type === JSON_PATCH ? applyJsonPatch(cur, Array.isArray(ops) ? ops : []) : mergePatch(cur, ops);
        return send(res, 200, this.store.replace(t, ns, need(name), patched as Json, sub));
      }
      case 'DELETE': {
        this.count('delete', t);
        const pre = body
          ? ((json().preconditions as Json | undefined)?.resourceVersion as string | undefined)
          : undefined;
        if (t === CRD_TYPE) return send(res, 200, this.deleteCrd(need(name)));
        return send(res, 200, this.store.delete(t, ns, need(name), pre));
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported`);
    }
  }

  private readonly rbacObjects = {
    clusterRoles: () => this.store.list(rbacType('clusterroles')),
    clusterRoleBindings: () => this.store.list(rbacType('clusterrolebindings')),
    roles: (ns: string) => this.store.list(rbacType('roles'), ns),
    roleBindings: (ns: string) => this.store.list(rbacType('rolebindings'), ns),
  };

  private servedTypes(): ResourceType[] {
    return [...BUILTIN_TYPES, ...[...this.served.values()].map((v) => v.type)];
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
      key: storageKey(t),
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
      if (e.key === storageKey(t)) deliver(e);
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

const rbacType = (plural: string) => findBuiltin('rbac.authorization.k8s.io', 'v1', plural) as ResourceType;

const JSON_PATCH = 'application/json-patch+json';
const MERGE_PATCH = 'application/merge-patch+json';
const STRATEGIC_PATCH = 'application/strategic-merge-patch+json';
const APPLY_PATCH = 'application/apply-patch+yaml';

/**
 * Custom resources take JSON and merge patches (and apply), never strategic merge: there is no Go
 * struct to read patch strategies from. Server-side apply is not emulated: refused so a test that
 * needs it fails loudly instead of passing against a fake merge.
 */
function checkPatchType(t: ResourceType, type: string): void {
  const accepted = t.custom
    ? [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
    : [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH];
  if (type === APPLY_PATCH)
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      'server-side apply (application/apply-patch+yaml) is not implemented by the emulator',
    );
  if (!accepted.includes(type))
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    );
}

const notFoundPath = (path: string) =>
  new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`);

export interface ResourcePath {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly ns: string;
  readonly allNamespaces: boolean;
  readonly name?: string;
  readonly sub?: string;
}

/**
 * What a request asks, from its URL alone (k8s.io/apiserver RequestInfoFactory): the RBAC
 * attributes, and for a resource request the path parts. Paths that are not resource requests
 * (/api, /apis/GROUP/VERSION: discovery) are judged as non-resource URLs.
 */
export function requestInfo(
  path: string,
  method: string,
  q: URLSearchParams,
): { attrs: Omit<Attributes, 'user'>; resource?: ResourcePath } {
  const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
  const nonResource = {
    attrs: {
      verb: method.toLowerCase(),
      resourceRequest: false,
      path,
      apiGroup: '',
      resource: '',
      subresource: '',
      namespace: '',
      name: '',
    },
  };
  let group: string, version: string, rest: string[];
  if (seg[0] === 'api' && seg[1] && seg.length > 2) [group, version, rest] = ['', seg[1], seg.slice(2)];
  else if (seg[0] === 'apis' && seg[1] && seg[2] && seg.length > 3)
    [group, version, rest] = [seg[1], seg[2], seg.slice(3)];
  else return nonResource;
  let ns = '';
  let allNamespaces = true;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    ns = rest[1] as string;
    allNamespaces = false;
    rest = rest.slice(2);
  } else if (rest[0] === 'namespaces' && rest[1]) ns = rest[1]; // the Namespace object itself
  const [plural = '', name, sub, ...extra] = rest;
  const watch = q.get('watch') === 'true' || q.get('watch') === '1';
  const nameFromSelector = /^metadata\.name==?([^,]+)$/.exec(q.get('fieldSelector') ?? '')?.[1];
  const verb =
    method === 'GET'
      ? name !== undefined
        ? 'get'
        : watch
          ? 'watch'
          : 'list'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : method === 'DELETE'
              ? name !== undefined
                ? 'delete'
                : 'deletecollection'
              : method.toLowerCase();
  const resource: ResourcePath = {
    group,
    version,
    plural,
    ns,
    allNamespaces,
    ...(name !== undefined ? { name } : {}),
    ...(sub !== undefined ? { sub: extra.length ? `${sub}/${extra.join('/')}` : sub } : {}),
  };
  return {
    attrs: {
      verb,
      resourceRequest: true,
      path,
      apiGroup: group,
      resource: plural,
      subresource: resource.sub ?? '',
      namespace: ns,
      name: name ?? ((verb === 'list' || verb === 'watch') && nameFromSelector ? nameFromSelector : ''),
    },
    resource,
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
    ...(e.details ? { details: e.details } : {}),
    code: e.code,
  });
}
