// API authentication is fail-closed: a token file that yields no token is an error (never "auth
// off"), and an API reachable from other hosts needs a token unless the operator says otherwise.
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { StartupError } from './runtime.js';

export interface TokenSource {
  /** --api-token-file: path, content and permission bits. */
  readonly file?: { readonly path: string; readonly content: string; readonly mode: number };
  /** $FERROLB_API_TOKEN (undefined when unset). */
  readonly env?: string;
}

export interface ApiSecurity {
  readonly token?: string;
  readonly warnings: readonly string[];
}

/** Loopback only: 127.0.0.0/8, ::1, ::ffff:127.x, "localhost". Anything else (incl. 0.0.0.0, "") is not. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** The token rules, pure: returns the token and warnings, or throws StartupError. */
export function apiSecurity(src: TokenSource, host: string, insecure: boolean): ApiSecurity {
  const warnings: string[] = [];
  let token: string | undefined;
  if (src.file) {
    token = src.file.content.trim();
    if (token === '')
      throw new StartupError(
        `--api-token-file ${src.file.path} is empty; refusing to start with authentication off`,
      );
    if ((src.file.mode & 0o004) !== 0)
      warnings.push(
        `--api-token-file ${src.file.path} is readable by every user (mode ${(src.file.mode & 0o777).toString(8)}); chmod 600 it`,
      );
  } else if (src.env !== undefined) {
    token = src.env.trim();
    if (token === '')
      throw new StartupError(
        '$FERROLB_API_TOKEN is set but empty; refusing to start with authentication off',
      );
  }
  if (!token && !isLoopbackHost(host)) {
    const where = `--api ${host.includes(':') ? `[${host}]` : host || '(all addresses)'}`;
    if (!insecure)
      throw new StartupError(
        `${where} is reachable from other hosts but no API token is set; give --api-token-file FILE, ` +
          `bind to 127.0.0.1, or pass --insecure-api to run without authentication`,
      );
    warnings.push(
      `${where} without a token (--insecure-api): anyone who can reach it can change the configuration`,
    );
  }
  return { ...(token ? { token } : {}), warnings };
}

/** Reads the token file (if any) and applies the rules. */
export async function loadApiSecurity(
  tokenFile: string | undefined,
  env: string | undefined,
  host: string,
  insecure: boolean,
): Promise<ApiSecurity> {
  let file: TokenSource['file'];
  if (tokenFile) {
    try {
      const [content, st] = await Promise.all([readFile(tokenFile, 'utf8'), stat(tokenFile)]);
      file = { path: tokenFile, content, mode: st.mode };
    } catch (e) {
      throw new StartupError(`--api-token-file ${tokenFile}: ${(e as Error).message}`);
    }
  }
  return apiSecurity({ ...(file ? { file } : {}), ...(env !== undefined ? { env } : {}) }, host, insecure);
}
