// Small HTTP helpers for the REST API: bounded body reading, JSON/YAML bodies, typed API errors.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { ConfigIssue } from '../model/issues.js';
import { parseDocuments, parseDocumentsSteps } from '../model/load.js';
import type { RawObject } from '../model/types.js';
import { runSliced, type Steps } from '../model/steps.js';

export const MAX_BODY_BYTES = 8 << 20;
/** Bodies above this are parsed in slices (see parseJsonSteps, parseDocumentsSteps). */
const SLICED_JSON_BYTES = 256 << 10;

export const ApiErrorCode = {
  BadRequest: 'BadRequest',
  Unauthorized: 'Unauthorized',
  NotFound: 'NotFound',
  MethodNotAllowed: 'MethodNotAllowed',
  AlreadyExists: 'AlreadyExists',
  Conflict: 'Conflict',
  Invalid: 'Invalid',
  PayloadTooLarge: 'PayloadTooLarge',
  /** The change was valid but could not be made durable (e.g. disk full); nothing changed. */
  Unavailable: 'Unavailable',
  Internal: 'Internal',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

const STATUS: Record<ApiErrorCode, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  NotFound: 404,
  MethodNotAllowed: 405,
  AlreadyExists: 409,
  Conflict: 409,
  Invalid: 422,
  PayloadTooLarge: 413,
  Unavailable: 503,
  Internal: 500,
};

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly issues: readonly ConfigIssue[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
  get status(): number {
    return STATUS[this.code];
  }
}

/** `pretty`: indented for people (curl); paged listings are read by programs, compact is ≈ ½ the bytes. */
export function sendJson(res: ServerResponse, status: number, body: unknown, pretty = true): void {
  const text = (pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body)) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendError(res: ServerResponse, e: ApiError): void {
  sendJson(res, e.status, {
    error: { code: e.code, message: e.message, ...(e.issues.length ? { issues: e.issues } : {}) },
  });
}

export async function readBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes)
    throw new ApiError(
      ApiErrorCode.PayloadTooLarge,
      `body of ${declared} bytes is over the limit of ${maxBytes}`,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes)
      throw new ApiError(ApiErrorCode.PayloadTooLarge, `body over the limit of ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A body is JSON (one object, an array, or {objects:[...]}) or YAML (one or more documents). */
export async function readObjects(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<RawObject[]> {
  const text = await readBody(req, maxBytes);
  if (text.trim() === '') throw new ApiError(ApiErrorCode.BadRequest, 'empty body');
  const type = req.headers['content-type'] ?? '';
  if (type.includes('json')) {
    let v: unknown;
    try {
      // A bulk body (10,000 objects: megabytes) is parsed object by object with the loop given back
      // in between; one JSON.parse of it would hold /healthz, probes and BGP for its whole length.
      v = text.length > SLICED_JSON_BYTES ? await runSliced(parseJsonSteps(text)) : JSON.parse(text);
    } catch (e) {
      throw new ApiError(ApiErrorCode.BadRequest, `body is not valid JSON: ${(e as Error).message}`);
    }
    if (Array.isArray(v)) return v as RawObject[];
    if (v && typeof v === 'object' && Array.isArray((v as { objects?: unknown }).objects))
      return (v as { objects: RawObject[] }).objects;
    return [v as RawObject];
  }
  // A bulk YAML body (ferroctl apply -f of 10,000 objects) in slices too, as the JSON one above.
  const parsed =
    text.length > SLICED_JSON_BYTES
      ? await runSliced(parseDocumentsSteps(text, 'body'))
      : parseDocuments(text, 'body');
  if (parsed.issues.length > 0)
    throw new ApiError(ApiErrorCode.BadRequest, 'body is not valid YAML', parsed.issues);
  return parsed.objects;
}

/** Bearer-token check in constant time; no token configured means open (the API binds to loopback). */
export function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const h = req.headers.authorization ?? '';
  const m = /^Bearer (.+)$/.exec(h);
  if (!m) return false;
  const a = Buffer.from(m[1] as string);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Where the top-level array (or the array under a top-level "objects" key) starts, or -1. */
function arrayStart(text: string): number {
  const m = /^\s*(\[|\{\s*"objects"\s*:\s*\[)/.exec(text);
  return m ? m[0].length - 1 : -1;
}

/**
 * JSON.parse of `text` in steps: a top-level array (or {"objects": [...]}) is split into its elements
 * by a scan that tracks strings and nesting, and each element is parsed on its own. Anything else,
 * and any text the scan cannot split cleanly, goes to one JSON.parse (which names the error).
 * Same result as JSON.parse(text) for every input.
 */
export function* parseJsonSteps(text: string): Steps<unknown> {
  const open = arrayStart(text);
  if (open < 0) return JSON.parse(text) as unknown;
  const wrapped = text.trimStart().startsWith('{');
  const items: unknown[] = [];
  // A malformed element: JSON.parse of the whole text throws the error, positioned in the body.
  const element = (from: number, to: number): unknown => {
    try {
      return JSON.parse(text.slice(from, to)) as unknown;
    } catch {
      return JSON.parse(text) as unknown;
    }
  };
  let depth = 0;
  let inString = false;
  let start = -1;
  let end = -1;
  let since = 0;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (++since === 65536) {
      since = 0;
      yield;
    }
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      if (depth === 1 && start < 0) start = i;
    } else if (c === 0x5b || c === 0x7b) {
      if (depth === 1 && start < 0) start = i;
      depth++;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
      if (depth === 0) {
        end = i;
        break;
      }
    } else if (depth === 1 && c === 0x2c) {
      if (start < 0) return JSON.parse(text) as unknown; // an empty element: let JSON.parse say so
      items.push(element(start, i));
      start = -1;
      if (items.length % 64 === 0) yield;
    } else if (depth === 1 && start < 0 && c > 0x20) start = i;
  }
  if (end < 0 || text[end] !== ']') return JSON.parse(text) as unknown;
  if (start >= 0) items.push(element(start, end));
  else if (items.length > 0) return JSON.parse(text) as unknown; // a trailing comma
  // Whatever follows the array must be what JSON allows: the wrapper's end, or nothing.
  const rest = text.slice(end + 1);
  if (!wrapped) return rest.trim() === '' ? items : (JSON.parse(text) as unknown);
  if (!/^\s*\}\s*$/.test(rest)) return JSON.parse(text) as unknown;
  return { objects: items };
}
