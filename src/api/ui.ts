// The status page: three static files (src/api/ui/, copied next to the compiled server by the
// build) served at `/` of the API address. They carry no data: the page reads the API with the
// same token as ferroctl, so the page itself needs no auth and leaks nothing.
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'status.html', type: 'text/html; charset=utf-8' },
  '/ui/status.js': { file: 'status.js', type: 'text/javascript; charset=utf-8' },
  '/ui/status.css': { file: 'status.css', type: 'text/css; charset=utf-8' },
};

// Nothing but our own files; no inline script, no framing (clickjacking), no other origins.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const cache = new Map<string, Promise<Buffer>>();

export function isStatusPagePath(pathname: string): boolean {
  return pathname in ASSETS;
}

/** Serves one of the page's files; a missing file (broken install) is a 500 that says which. */
export async function serveStatusPage(pathname: string, res: ServerResponse): Promise<void> {
  const a = ASSETS[pathname];
  if (!a) throw new Error(`not a status page path: ${pathname}`);
  let body = cache.get(a.file);
  if (!body) {
    body = readFile(new URL(`./ui/${a.file}`, import.meta.url));
    cache.set(a.file, body);
    body.catch(() => cache.delete(a.file));
  }
  res.writeHead(200, { 'content-type': a.type, ...SECURITY_HEADERS }).end(await body);
}
