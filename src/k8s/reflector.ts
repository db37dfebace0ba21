// List + watch of one resource into a local cache, surviving what real API servers do: watch expiry
// (410 Gone → relist), connections that drop (re-watch from the last resourceVersion), connections
// that go silent (a watchdog that hears nothing — not even a bookmark — aborts and relists), and API
// server restarts (backoff, then the same). client-node's ListWatch stops for good on the first
// error and cannot ask for bookmarks, so this thin loop replaces it; the wire work stays the client's.
import { Watch, type KubeConfig } from '@kubernetes/client-node';

export interface Listed<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export interface ReflectorOptions<T> {
  readonly kc: KubeConfig;
  /** Watch path, e.g. /api/v1/services. */
  readonly path: string;
  readonly list: () => Promise<Listed<T>>;
  /** Called after every change to the cache (coalesce downstream); `obj` is absent after a relist. */
  readonly onChange: (obj?: T) => void;
  /** Server-side watch timeout; the watch is renewed after it. */
  readonly watchTimeoutSeconds?: number;
  /** Relist when nothing arrives for this long; must exceed the server's bookmark interval (~1 min). */
  readonly stallMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly log?: (msg: string, extra?: Record<string, unknown>) => void;
  /** A missing resource type (CRD not installed) is an empty list, retried at this interval. */
  readonly absentRetryMs?: number;
}

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export const objKey = (o: Meta): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export class Reflector<T extends Meta> {
  readonly items = new Map<string, T>();
  private rv = '';
  private readonly stopper = new AbortController();
  private loop: Promise<void> | undefined;
  private syncedResolve!: () => void;
  /** Resolves after the first successful list. */
  readonly synced = new Promise<void>((r) => (this.syncedResolve = r));
  readonly stats = { lists: 0, watches: 0, relistsAfterGone: 0, watchdogFires: 0, errors: 0 };

  constructor(private readonly opts: ReflectorOptions<T>) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
  }

  /** Force a relist on the next turn (used by tests and by the controller's own watchdog). */
  relist(): void {
    this.rv = '';
    this.endWatch?.();
  }
  private endWatch: (() => void) | undefined;

  private log(msg: string, extra: Record<string, unknown> = {}): void {
    this.opts.log?.(msg, { path: this.opts.path, ...extra });
  }

  private async run(): Promise<void> {
    const max = this.opts.backoffMaxMs ?? 10_000;
    let backoff = this.opts.backoffInitialMs ?? 200;
    while (!this.stopper.signal.aborted) {
      try {
        if (!this.rv) await this.doList();
        const heard = await this.watchOnce();
        if (heard) backoff = this.opts.backoffInitialMs ?? 200;
      } catch (e) {
        if (this.stopper.signal.aborted) break;
        const code =
          (e as { code?: number; statusCode?: number }).code ?? (e as { statusCode?: number }).statusCode;
        if (code === 410) {
          this.rv = '';
          this.stats.relistsAfterGone++;
          continue;
        }
        this.stats.errors++;
        // A CRD installed after start is picked up within seconds (a 404 list costs the server little).
        const wait = code === 404 ? (this.opts.absentRetryMs ?? 3_000) : backoff;
        this.log('list/watch failed; retrying', { code, error: (e as Error).message, retryMs: wait });
        await sleep(wait, this.stopper.signal);
        backoff = Math.min(max, backoff * 2);
      }
    }
  }

  private async doList(): Promise<void> {
    this.stats.lists++;
    let list: Listed<T>;
    try {
      // A list the server never answers must not hold up stop().
      let onStop = () => undefined as void;
      const stopped = new Promise<never>((_, reject) => {
        onStop = () => reject(new Error('stopped'));
        this.stopper.signal.addEventListener('abort', onStop, { once: true });
      });
      try {
        list = await Promise.race([this.opts.list(), stopped]);
      } finally {
        this.stopper.signal.removeEventListener('abort', onStop);
        stopped.catch(() => undefined);
      }
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code !== 404) throw e;
      // The resource type is not served (e.g. MetalLB's CRDs are not installed): empty, check later.
      this.replaceAll([]);
      this.syncedResolve();
      throw e;
    }
    this.replaceAll(list.items);
    this.rv = list.metadata?.resourceVersion ?? '';
    this.syncedResolve();
    this.opts.onChange();
  }

  private replaceAll(items: T[]): void {
    this.items.clear();
    for (const o of items) this.items.set(objKey(o), o);
  }

  /** One watch connection. Resolves when it ends for any reason; true when it delivered anything. */
  private watchOnce(): Promise<boolean> {
    this.stats.watches++;
    const stallMs = this.opts.stallMs ?? 90_000;
    return new Promise<boolean>((resolve, reject) => {
      let finished = false;
      let heard = false;
      let ctl: AbortController | undefined;
      let dog: NodeJS.Timeout | undefined;
      const finish = (err?: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(dog);
        this.stopper.signal.removeEventListener('abort', onStop);
        ctl?.abort();
        if (err) reject(err);
        else resolve(heard);
      };
      const onStop = () => finish();
      this.endWatch = onStop;
      this.stopper.signal.addEventListener('abort', onStop, { once: true });
      const pet = () => {
        clearTimeout(dog);
        dog = setTimeout(() => {
          // Silence longer than any bookmark interval: the connection is dead without saying so.
          this.stats.watchdogFires++;
          this.log('watch silent; relisting', { stallMs });
          this.rv = '';
          finish();
        }, stallMs);
      };
      pet();
      const handler = (type: string, obj: T & { code?: number }) => {
        if (finished) return;
        pet();
        heard = true;
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            this.items.set(objKey(obj), obj);
            break;
          case 'DELETED':
            this.items.delete(objKey(obj));
            break;
          case 'BOOKMARK':
            break;
          case 'ERROR':
            if (obj.code === 410) {
              this.rv = '';
              this.stats.relistsAfterGone++;
            } else this.log('watch error event', { status: obj });
            finish();
            return;
          default:
            return;
        }
        const rv = obj.metadata?.resourceVersion;
        if (rv) this.rv = rv;
        if (type !== 'BOOKMARK') this.opts.onChange(obj);
      };
      const params: Record<string, string | number | boolean> = {
        resourceVersion: this.rv,
        allowWatchBookmarks: true,
        timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300,
      };
      new Watch(this.opts.kc)
        .watch(this.opts.path, params, handler, (err: unknown) => {
          // A clean end (server timeout) re-watches from rv; an abort we caused is not an error.
          if (finished) return;
          const e = err as { name?: string; type?: string } | null;
          if (!err || e?.name === 'AbortError' || e?.type === 'aborted') finish();
          else finish(err);
        })
        .then(
          (c) => {
            ctl = c;
            if (finished) c.abort();
          },
          (err: unknown) => finish(err),
        );
    });
  }
}
