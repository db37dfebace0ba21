// HTTP client for the ferrolb REST API (used by ferroctl and tests). node:http, not fetch: fetch
// loads undici on first use, ≈ 0.1 s of every ferroctl command's start (issue 16: `get lb` ≤ 1 s).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { formatIssue, type ConfigIssue } from '../model/issues.js';

/** How long one request may take (a listing of 50k services takes seconds). */
export const REQUEST_TIMEOUT_MS = 30_000;

export class ApiClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: readonly ConfigIssue[] = [],
  ) {
    super(message);
    this.name = 'ApiClientError';
  }

  /** Message plus one line per issue, as printed by ferroctl. */
  describe(): string {
    return [
      `${this.message} (${this.status} ${this.code})`,
      ...this.issues.map((i) => `  - ${formatIssue(i)}`),
    ].join('\n');
  }
}

export class ApiClient {
  constructor(
    readonly server: string,
    private readonly token?: string,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  async request<T>(method: string, path: string, body?: { text: string; type: string }): Promise<T> {
    let res: { status: number; statusText: string; text: string };
    try {
      res = await send(
        new URL(path, this.server),
        method,
        this.timeoutMs,
        {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body ? { 'content-type': body.type } : {}),
        },
        body?.text,
      );
    } catch (e) {
      // The server accepted the connection but did not answer in time: say so, not "unreachable".
      if (e instanceof RequestTimeout)
        throw new ApiClientError(
          0,
          'Timeout',
          `ferrolb API at ${this.server} did not answer ${method} ${path} within ${this.timeoutMs / 1000} s`,
        );
      throw new ApiClientError(0, 'Unreachable', `cannot reach ferrolb API at ${this.server}: ${String(e)}`);
    }
    const ok = res.status >= 200 && res.status < 300;
    const text = res.text;
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiClientError(
        res.status,
        'BadResponse',
        `non-JSON response from ${this.server}: ${text.slice(0, 200)}`,
      );
    }
    if (!ok) {
      const err = (data as { error?: { code?: string; message?: string; issues?: ConfigIssue[] } })?.error;
      throw new ApiClientError(
        res.status,
        err?.code ?? 'Error',
        err?.message ?? res.statusText,
        err?.issues ?? [],
      );
    }
    return data as T;
  }
}

/**
 * The API address as given to --server or $FERROLB_API: a URL (http/https), or HOST:PORT as
 * `ferrolb run --api` takes it (`127.0.0.1:11111`, `[::1]:11111`, `localhost:11111`). Anything else
 * is refused with the value named.
 */
export function serverUrl(value: string, source = '--server'): string {
  const v = value.trim();
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `http://${v}`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ServerAddressError(source, value);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '')
    throw new ServerAddressError(source, value);
  return u.href;
}

export class ServerAddressError extends Error {
  constructor(
    readonly source: string,
    readonly value: string,
  ) {
    super(`${source}: "${value}" is not an API address (a URL like http://127.0.0.1:11111, or HOST:PORT)`);
  }
}

class RequestTimeout extends Error {}

/** One request; the whole exchange (connect, headers, body) within timeoutMs. */
async function send(
  url: URL,
  method: string,
  timeoutMs: number,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; statusText: string; text: string }> {
  const request = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    const timer = setTimeout(() => fail(new RequestTimeout()), timeoutMs);
    function fail(e: Error) {
      clearTimeout(timer);
      req.destroy();
      reject(e);
    }
    req.on('error', fail);
    req.end(body);
  });
}
