// Small HTTP helpers for the REST API: bounded body reading, JSON/YAML bodies, typed API errors.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { ConfigIssue } from '../model/issues.js';
import { parseDocuments } from '../model/load.js';
import type { RawObject } from '../model/types.js';

export const MAX_BODY_BYTES = 8 << 20;

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
      v = JSON.parse(text);
    } catch (e) {
      throw new ApiError(ApiErrorCode.BadRequest, `body is not valid JSON: ${(e as Error).message}`);
    }
    if (Array.isArray(v)) return v as RawObject[];
    if (v && typeof v === 'object' && Array.isArray((v as { objects?: unknown }).objects))
      return (v as { objects: RawObject[] }).objects;
    return [v as RawObject];
  }
  const parsed = parseDocuments(text, 'body');
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
